"""Profile intervals of GLMMs with a dispersion against the parametric bootstrap, on the lme4
chapter's Gamma(log) ``y ~ x + (1 | grupo)`` and inverse.gaussian(log) ``y ~ x + (1 + x | grupo)``
examples (tests/reference/data/seed2_gamma.csv, seed3_invgauss.csv).

lme4 cannot profile these; mixedjax profiles the Laplace likelihood with sigma = sqrt(phi) as a
parameter (mixedjax/_src/inference/dispersion_likelihood.py). Per design and parameter this prints:

  * profile: the 95% profile interval (``fit.confint()``), centred at the Laplace estimates;
  * ml_boot: the percentile interval of a parametric bootstrap of the same estimator: ``--nsim``
    responses simulated from the Laplace estimates, each refitted by the Laplace likelihood;
  * inside: the fraction of those bootstrap estimates inside the profile interval (nominal 0.95;
    Monte Carlo standard error sqrt(0.95 * 0.05 / nsim), 0.007 at 1,000), and below / above it
    (nominal 0.025 each);
  * glmer_boot: ``fit.confint(method="boot", nsim=...)``, lme4's bootMer analogue: glmer's own
    estimator (lme4's objective, sigma from Pearson residuals) simulated from glmer's estimates,
    which is a different estimator of sigma, so its interval is shifted for .sigma;
  * with ``--coverage K``: K of the bootstrap replicates each get their own profile interval, and
    the fraction covering the generating value (the actual coverage of the profile interval in
    the bootstrap world; Monte Carlo standard error sqrt(0.95 * 0.05 / K)).

    python benchmarks/bench_profile_boot.py [--nsim 1000] [--coverage 0] [--designs gamma,invgauss]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
import mixedjax as mj  # noqa: E402
from mixedjax._src.inference import dispersion_likelihood  # noqa: E402
from mixedjax._src.inference.profile import _correlation_mask  # noqa: E402

DATA = os.path.join(REPO, "tests", "reference", "data")
DESIGNS = {
    "gamma": ("seed2_gamma.csv", "y ~ x + (1 | grupo)", mj.Gamma("log")),
    "invgauss": ("seed3_invgauss.csv", "y ~ x + (1 + x | grupo)", mj.inverse_gaussian("log")),
}


def _fit(name: str, response=None):
    csv, formula, family = DESIGNS[name]
    data = pd.read_csv(os.path.join(DATA, csv))
    data["grupo"] = pd.Categorical(data["grupo"].astype(str))
    if response is not None:
        data["y"] = response
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mj.glmer(formula, data, family=family), data


def simulate(name: str, data: pd.DataFrame, estimate: pd.Series, nsim: int, seed: int) -> np.ndarray:
    """Responses from the model at ``estimate`` (sds/correlation, .sigma, beta): b ~ N(0, Sigma)
    per group, log mu = X beta + Z b, y ~ Gamma(shape 1 / phi, scale mu phi) or inverse
    Gaussian(mu, lambda = 1 / phi)."""
    rng = np.random.default_rng(seed)
    codes = data["grupo"].cat.codes.to_numpy()
    x = data["x"].to_numpy()
    groups = int(codes.max()) + 1
    beta = estimate[["(Intercept)", "x"]].to_numpy()
    phi = estimate[".sigma"] ** 2
    if name == "gamma":
        b = rng.normal(0.0, estimate[".sig01"], (nsim, groups))
        eta = beta[0] + beta[1] * x + b[:, codes]
    else:
        sd = np.array([estimate[".sig01"], estimate[".sig03"]])
        corr = estimate[".sig02"]
        cov = np.outer(sd, sd) * np.array([[1.0, corr], [corr, 1.0]])
        b = rng.multivariate_normal(np.zeros(2), cov, (nsim, groups))
        eta = beta[0] + beta[1] * x + b[:, codes, 0] + b[:, codes, 1] * x
    mu = np.exp(eta)
    if name == "gamma":
        return rng.gamma(1.0 / phi, mu * phi)
    return rng.wald(mu, 1.0 / phi)


def run(name: str, nsim: int, coverage: int, seed: int) -> dict:
    fit, data = _fit(name)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        profile = fit.profile()
    profile_seconds = time.perf_counter() - started
    interval = profile.confint(0.95)
    estimate = profile.estimate
    correlation = np.concatenate([_correlation_mask(fit.spec.design.layout),
                                  np.zeros(1 + len(fit.beta), bool)])
    Y = simulate(name, data, estimate, nsim, seed)
    started = time.perf_counter()
    replicates, failed = [], 0
    for y in Y:
        result = dispersion_likelihood.laplace_fit(fit, correlation, start=estimate.to_numpy(), response=y)
        if np.isfinite(float(result.deviance)) and int(result.status) in (0, 2):
            replicates.append(np.asarray(result.params))
        else:
            failed += 1
    boot_seconds = time.perf_counter() - started
    replicates = pd.DataFrame(replicates, columns=estimate.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glmer_boot = fit.confint(method="boot", nsim=nsim, seed=seed)
    rows = {}
    for parameter in estimate.index:
        low, high = interval.loc[parameter]
        values = replicates[parameter].to_numpy()
        rows[parameter] = dict(
            estimate=float(estimate[parameter]), profile=[float(low), float(high)],
            ml_boot=[float(v) for v in np.quantile(values, [0.025, 0.975])],
            boot_median=float(np.median(values)),
            inside=float(np.mean((values >= low) & (values <= high))),
            below=float(np.mean(values < low)), above=float(np.mean(values > high)),
            glmer_boot=[float(v) for v in glmer_boot.loc[parameter]])
    out = dict(design=name, nsim=nsim, failed_refits=failed, profile_seconds=profile_seconds,
               boot_seconds=boot_seconds, profile_warnings=[str(w.message) for w in caught],
               parameters=rows)
    if coverage:
        covered = {parameter: [] for parameter in estimate.index}
        for y in Y[:coverage]:
            replicate_fit, _ = _fit(name, y)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    ends = replicate_fit.confint()
                except Exception as exc:  # counted, not hidden
                    out.setdefault("coverage_errors", []).append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
            for parameter in estimate.index:
                low, high = ends.loc[parameter]
                covered[parameter].append(bool(low <= estimate[parameter] <= high))
        out["coverage"] = {p: float(np.mean(c)) for p, c in covered.items()}
        out["coverage_n"] = len(next(iter(covered.values())))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nsim", type=int, default=1000)
    parser.add_argument("--coverage", type=int, default=0, help="replicates given their own profile")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--designs", default=",".join(DESIGNS))
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    results = []
    for name in args.designs.split(","):
        results.append(run(name, args.nsim, args.coverage, args.seed))
        print(json.dumps(results[-1]), flush=True)
    if args.json:
        json.dump(results, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
