"""Robustness of glmer on simulated data: how many fits return, converge, warn or fail, with
lme4 fitting the same datasets in the same run where ``Rscript`` is available.

Designs (each ``--n`` datasets, default 1,000, seeded):
  * gamma: the lme4 chapter's Gamma(log) model, y ~ x + (1 | grupo), simulated from its fit;
  * invgauss: the chapter's inverse.gaussian(log) model with (1 + x | grupo), likewise;
  * cbpp: binomial cbind(incidence, size - incidence) ~ period + (1 | herd), likewise;
  * olre: Poisson counts with an observation-level random effect, y ~ x + (1 | g) + (1 | obs),
    40 groups of 8, simulated from beta = (0.5, 0.5), sd(g) = 0.6, sd(obs) = 0.4.

Per design: mixedjax's converged / convergence-warning / error counts (single glmer fits, as a
user makes them; ``--batch`` adds refit_batch statuses), lme4's, and where lme4 converged how
often mixedjax's criterion (-2 log L) is above lme4's by more than 1e-4 (and 1e-2), and below.
Crashing seeds are listed (dataset index and exception).

    python benchmarks/bench_glmm_robust.py --n 100 [--designs gamma,cbpp] [--batch] [--no-r]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
import mixedjax as mj  # noqa: E402
from mixedjax._src.results import ConvergenceWarning  # noqa: E402

DATA = os.path.join(REPO, "tests", "reference", "data")


def _read(csv: str, factors) -> pd.DataFrame:
    data = pd.read_csv(os.path.join(DATA, csv))
    for column in factors:
        data[column] = pd.Categorical(data[column].astype(str))
    return data


def _olre_data(seed: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(40), 8)
    return pd.DataFrame({"x": np.round(rng.uniform(0, 1, g.size), 4),
                         "g": pd.Categorical([f"g{i:02d}" for i in g]),
                         "obs": pd.Categorical([f"o{i:03d}" for i in range(g.size)]), "y": 0.0})


DESIGNS = {
    # name: (csv or callable, factors, formula, family, R family call, response column, trials)
    "gamma": ("seed2_gamma.csv", ["grupo"], "y ~ x + (1 | grupo)", mj.Gamma("log"),
              'Gamma(link = "log")', "y", ""),
    "invgauss": ("seed3_invgauss.csv", ["grupo"], "y ~ x + (1 + x | grupo)",
                 mj.inverse_gaussian("log"), 'inverse.gaussian(link = "log")', "y", ""),
    "cbpp": ("cbpp.csv", ["herd", "period"], "cbind(incidence, size - incidence) ~ period + (1 | herd)",
             mj.binomial(), "binomial", "incidence", "size"),
    "olre": (_olre_data, ["g", "obs"], "y ~ x + (1 | g) + (1 | obs)", mj.poisson(), "poisson", "y", ""),
}


def simulated_responses(name: str, n: int, seed: int):
    source, factors, formula, family, _, response, trials = DESIGNS[name]
    data = source() if callable(source) else _read(source, factors)
    if name == "olre":
        rng = np.random.default_rng(seed)
        g = data["g"].cat.codes.to_numpy()
        eta = 0.5 + 0.5 * data["x"].to_numpy()
        Y = rng.poisson(np.exp(eta[:, None] + rng.normal(0, 0.6, (40, n))[g]
                               + rng.normal(0, 0.4, (len(data), n)))).astype(float)
        data["y"] = Y[:, 0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = mj.glmer(formula, data, family=family)
        return data, Y, fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = mj.glmer(formula, data, family=family)
    return data, fit.simulate(n, seed=seed, as_frame=False), fit


def fit_mixedjax(name: str, data: pd.DataFrame, Y: np.ndarray):
    _, _, formula, family, _, response, trials = DESIGNS[name]
    rows = []
    for j in range(Y.shape[1]):
        d = data.copy()
        d[response] = np.round(Y[:, j] * d[trials]) if trials else Y[:, j]
        started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fit = mj.glmer(formula, d, family=family)
                error, criterion = "", fit.deviance
            except Exception as exc:  # counted and listed: the point of the benchmark
                error, criterion = f"{type(exc).__name__}: {exc}", np.nan
        messages = sorted({str(w.message).splitlines()[0] for w in caught
                           if issubclass(w.category, ConvergenceWarning)})
        rows.append(dict(dataset=j + 1, criterion=criterion, error=error, warning=" | ".join(messages),
                         converged=not error and not messages and bool(np.isfinite(criterion)),
                         seconds=time.perf_counter() - started))
    return pd.DataFrame(rows)


def fit_lme4(name: str, data: pd.DataFrame, Y: np.ndarray) -> pd.DataFrame | None:
    if shutil.which("Rscript") is None:
        return None
    source, factors, formula, _, family_call, response, trials = DESIGNS[name]
    with tempfile.TemporaryDirectory() as folder:
        covariates = data.copy()
        covariates.to_csv(os.path.join(folder, "covariates.csv"), index=False)
        pd.DataFrame(Y, columns=[f"sim_{j + 1}" for j in range(Y.shape[1])]).to_csv(
            os.path.join(folder, "responses.csv"), index=False, float_format="%.17g")
        json.dump(dict(formula=formula, family_call=family_call, response=response, trials=trials,
                       factors=factors), open(os.path.join(folder, "spec.json"), "w"))
        run = subprocess.run(["Rscript", os.path.join(HERE, "bench_glmm_robust.R"), folder],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"  lme4 run failed: {run.stderr[-500:]}")
            return None
        return pd.read_csv(os.path.join(folder, "lme4.csv"), keep_default_na=False,
                           na_values=["NA"], dtype={"estimates": str})


def our_criterion_at(name: str, data: pd.DataFrame, y: np.ndarray, estimates: str) -> float:
    """Our Laplace criterion at lme4's estimates (theta, then beta): where lme4 reports a lower
    criterion than ours, this tells whether its estimates are better or its value is not the
    Laplace value there (lme4's PIRLS stops at tolPwrss = 1e-7)."""
    _, _, formula, family, _, response, trials = DESIGNS[name]
    d = data.copy()
    d[response] = np.round(y * d[trials]) if trials else y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        deviance = mj.glmer(formula, d, family=family, devfun_only=True)
    return float(deviance(np.array([float(v) for v in estimates.split(";")])))


def report(name: str, ours: pd.DataFrame, lme4: pd.DataFrame | None, batch=None, data=None,
           Y=None) -> dict:
    out = dict(design=name, n=len(ours), converged=int(ours.converged.sum()),
               warnings=int((ours.warning != "").sum()), errors=int((ours.error != "").sum()),
               seconds_per_fit=float(ours.seconds.median()))
    if batch is not None:
        out.update(batch_converged=int(batch.converged.sum()),
                   batch_nonfinite=int((~np.isfinite(batch.criterion)).sum()))
    if lme4 is not None:
        lme4_ok = lme4.converged.astype(str).str.upper().eq("TRUE").to_numpy()
        difference = ours.criterion.to_numpy() - lme4.criterion.to_numpy(dtype=float)
        out.update(lme4_converged=int(lme4_ok.sum()), lme4_warnings=int((lme4.warning.fillna("") != "").sum()),
                   lme4_errors=int((lme4.error.fillna("") != "").sum()),
                   above_lme4_1e4=int(np.sum(lme4_ok & (difference > 1e-4))),
                   above_lme4_1e2=int(np.sum(lme4_ok & (difference > 1e-2))),
                   below_lme4_1e4=int(np.sum(lme4_ok & (difference < -1e-4))),
                   not_converged_where_lme4_did=int(np.sum(lme4_ok & ~ours.converged.to_numpy())),
                   lme4_seconds_per_fit=float(lme4.seconds.median()))
        above = np.flatnonzero(lme4_ok & (difference > 1e-4))
        # ours at lme4's estimates minus our optimum: >= 0 means our estimates are the better ones
        at_lme4 = [our_criterion_at(name, data, Y[:, k], lme4.estimates[k]) - ours.criterion[k]
                   for k in above]
        out["above_lme4_but_lme4_estimates_worse_for_our_criterion"] = int(np.sum(np.array(at_lme4) >= -1e-8))
        out["worst_above"] = sorted([(int(ours.dataset[k]), float(difference[k]), float(a))
                                     for k, a in zip(above, at_lme4)], key=lambda r: -r[1])[:5]
    out["crashing_datasets"] = [(int(r.dataset), r.error[:120]) for r in ours.itertuples() if r.error][:10]
    out["warning_datasets"] = [(int(r.dataset), r.warning[:120]) for r in ours.itertuples() if r.warning][:10]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="datasets per design (default 1000)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--designs", default=",".join(DESIGNS))
    parser.add_argument("--batch", action="store_true", help="also refit every design with refit_batch")
    parser.add_argument("--no-r", action="store_true", help="skip lme4")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    results = []
    for name in args.designs.split(","):
        data, Y, fit = simulated_responses(name, args.n, args.seed)
        ours = fit_mixedjax(name, data, Y)
        batch = fit.refit_batch(Y) if args.batch else None
        lme4 = None if args.no_r else fit_lme4(name, data, Y)
        results.append(report(name, ours, lme4, batch, data, Y))
        print(json.dumps(results[-1]), flush=True)
    if args.json:
        json.dump(results, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
