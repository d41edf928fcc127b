"""Batch refits (simulation studies, parametric bootstrap) beside lme4's serial loop.

For each case: simulate nsim responses from the fitted model, refit them all with
``fit.refit_batch`` (one compiled, vmapped call per chunk), and report

* compile     seconds of the first batch call beyond its run time (tracing + XLA compile);
* batch       fits per second of a second, warm batch call;
* serial      fits per second of our own compiled single fit called in a Python loop
              (``fit.refit(y)``): the fastest serial Python alternative's stand-in;
* lme4        fits per second of lme4's serial refit loop (``refit(fit, y)`` over simulate()),
              run now when ``Rscript`` is available, else the figures measured on this machine class
              (13 ms per sleepstudy bootMer refit, 12 ms per seed-model refit, 99 ms per cbpp refit);
* glmm        fits per second of glmm (Rust core), the fastest serial Python peer, in a serial
              loop of ``glmm.fit`` over the same simulated responses, run now in
              ``benchmarks/.venv`` when it has glmm (``python benchmarks/bench_lmer.py
              --install-peers`` creates it), else the figures measured on this machine class
              (0.39 ms per sleepstudy fit, 0.68 ms per cbpp fit);
* peak RSS    of this process so far (MB).

    python benchmarks/bench_batch.py            # all cases
    python benchmarks/bench_batch.py --quick    # 1,000 refits only

Cases: sleepstudy (lmer, correlated slopes), seed1 (lmer, one intercept term), cbpp (binomial,
(1 | herd)), grouseticks (poisson, TICKS ~ YEAR + cHEIGHT + (1 | BROOD)).
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
DATA = os.path.join(REPO, "tests", "reference", "data")

import mixedjax as mj  # noqa: E402

STORED_LME4_SECONDS = {"sleepstudy": 0.013, "seed1": 0.012, "cbpp": 0.099, "grouseticks": float("nan")}
# the fastest serial Python peer, glmm (Rust core), per single fit on this machine class
STORED_GLMM_SECONDS = {"sleepstudy": 0.00039, "cbpp": 0.00068}

CASES = {
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", "sleepstudy.csv", "lmer", None, "Subject"),
    "seed1": ("y ~ x + (1 | grupo)", "seed1_normal.csv", "lmer", None, "grupo"),
    "cbpp": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp.csv", "glmer",
             "binomial", "herd"),
    "grouseticks": ("TICKS ~ YEAR + cHEIGHT + (1 | BROOD)", "grouseticks.csv", "glmer", "poisson",
                    "BROOD"),
}
DATA_FOLDERS = {"grouseticks": os.path.join(REPO, "tests", "reference_extra", "data")}

R_LOOP = r"""
suppressMessages(library(lme4))
args <- commandArgs(TRUE); case <- args[1]; n <- as.integer(args[2]); csv <- args[3]
d <- read.csv(csv)
if (case == "sleepstudy") { d$Subject <- factor(d$Subject); m <- lmer(Reaction ~ Days + (Days | Subject), d) }
if (case == "seed1") { d$grupo <- factor(d$grupo); m <- lmer(y ~ x + (1 | grupo), d) }
if (case == "cbpp") { d$herd <- factor(d$herd); d$period <- factor(d$period)
  m <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), d, family = binomial) }
if (case == "grouseticks") { d$BROOD <- factor(d$BROOD); d$YEAR <- factor(d$YEAR)
  m <- glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD), d, family = poisson) }
ys <- simulate(m, n, seed = 1)
t <- system.time(for (i in seq_len(n)) suppressWarnings(suppressMessages(refit(m, ys[[i]]))))[["elapsed"]]
cat(t / n, "\n")
"""


def load(case):
    formula, csv, fun, family, group = CASES[case]
    data = pd.read_csv(os.path.join(DATA_FOLDERS.get(case, DATA), csv))
    data[group] = data[group].astype(str)
    if case == "cbpp":
        data["period"] = data["period"].astype(str)
    if case == "grouseticks":
        data["YEAR"] = data["YEAR"].astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fun == "lmer":
            return mj.lmer(formula, data)
        return mj.glmer(formula, data, family=family)


def lme4_seconds_per_fit(case, n):
    if shutil.which("Rscript") is None:
        return STORED_LME4_SECONDS[case], "stored"
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as script:
        script.write(R_LOOP)
    try:
        csv = os.path.join(DATA_FOLDERS.get(case, DATA), CASES[case][1])
        out = subprocess.run(["Rscript", script.name, case, str(n), csv],
                             capture_output=True, text=True, timeout=1800)
        return float(out.stdout.split()[-1]), "measured now"
    except Exception:  # R missing lme4, timeout...
        return STORED_LME4_SECONDS[case], "stored"
    finally:
        os.unlink(script.name)


PEER_PYTHON = os.path.join(HERE, ".venv", "bin", "python")
GLMM_LOOP = r"""
import sys, time, warnings
import pandas as pd
import glmm
warnings.simplefilter("ignore")
formula, family, reml, responses, csv = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4], sys.argv[5]
frame = pd.read_csv(csv, dtype={c: str for c in sys.argv[6:]})
data = {c: frame[c].to_numpy() for c in frame}  # numpy columns: glmm's fastest input (0.7 ms cbpp, a frame 1.1)
Y = pd.read_csv(responses).to_numpy()
response = formula.split("~")[0].strip()
if family == "binomial":
    data["fail"] = data["size"] - data["incidence"]
fit = lambda d: glmm.fit(d, formula, family=family, **({"reml": True} if reml else {}))
fit(data)  # (any one-time setup outside the timing)
start = time.perf_counter()
for j in range(Y.shape[1]):
    if family == "binomial":  # Y holds proportions; glmm's cbind takes two columns
        data["incidence"] = (Y[:, j] * data["size"]).round()
        data["fail"] = data["size"] - data["incidence"]
    else:
        data[response] = Y[:, j]
    fit(data)
print((time.perf_counter() - start) / Y.shape[1])
"""
GLMM_FORMULAS = {"cbpp": "cbind(incidence, fail) ~ period + (1 | herd)"}
FACTORS = {"sleepstudy": ["Subject"], "seed1": ["grupo"], "cbpp": ["herd", "period"],
           "grouseticks": ["BROOD", "YEAR"]}


def glmm_seconds_per_fit(case, Y, n):
    """glmm's serial loop over the first n simulated responses, now, or its stored figure."""
    stored = STORED_GLMM_SECONDS.get(case, float("nan")), "stored"
    if not os.path.exists(PEER_PYTHON):
        return stored
    formula, csv, fun, family, _ = CASES[case]
    with tempfile.TemporaryDirectory() as folder:
        responses = os.path.join(folder, "Y.csv")
        pd.DataFrame(Y[:, :n]).to_csv(responses, index=False)
        try:
            out = subprocess.run([PEER_PYTHON, "-c", GLMM_LOOP, GLMM_FORMULAS.get(case, formula),
                                  family or "gaussian", "1" if fun == "lmer" else "0", responses,
                                  os.path.join(DATA_FOLDERS.get(case, DATA), csv), *FACTORS[case]],
                                 capture_output=True, text=True, timeout=1800)
            return float(out.stdout.split()[0]), "measured now"
        except Exception:  # glmm missing from the venv, a failed fit...
            return stored


def serial_fits_per_second(fit, Y, n=30):
    warnings.simplefilter("ignore")
    fit.refit(Y[:, 0])
    start = time.perf_counter()
    for j in range(n):
        fit.refit(Y[:, j])
    return n / (time.perf_counter() - start)


def run_case(case, nsim, r_refits, glmm_refits):
    fit = load(case)
    Y = fit.simulate(nsim, seed=42, as_frame=False)
    small = Y[:, : min(nsim, 2000)]
    start = time.perf_counter()
    fit.refit_batch(small)
    first = time.perf_counter() - start
    start = time.perf_counter()
    batch = fit.refit_batch(small)
    warm_small = time.perf_counter() - start
    compile_seconds = max(first - warm_small, 0.0)
    if nsim > small.shape[1]:
        start = time.perf_counter()
        batch = fit.refit_batch(Y)
        seconds = time.perf_counter() - start
    else:
        seconds = warm_small
    rate = nsim / seconds
    serial = serial_fits_per_second(fit, Y)
    lme4_s, source = lme4_seconds_per_fit(case, r_refits)
    glmm_s, glmm_source = glmm_seconds_per_fit(case, Y, glmm_refits)
    return dict(case=case, nsim=nsim, compile_s=compile_seconds, batch_s=seconds, fits_per_s=rate,
                converged=float(batch.converged.mean()), serial_fits_per_s=serial,
                lme4_fits_per_s=1.0 / lme4_s, lme4_source=source, x_lme4=rate * lme4_s,
                x_serial=rate / serial if serial == serial else float("nan"),
                glmm_fits_per_s=1.0 / glmm_s, glmm_source=glmm_source, x_glmm=rate * glmm_s,
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--r-refits", type=int, default=100, help="lme4 loop length when R runs")
    parser.add_argument("--glmm-refits", type=int, default=300, help="glmm loop length when it runs")
    args = parser.parse_args()
    import jax
    print(f"devices: {jax.devices()}  (2-core CPU unless a GPU is listed)")
    plan = [("sleepstudy", 1000), ("seed1", 1000), ("cbpp", 1000), ("grouseticks", 1000)]
    if not args.quick:
        plan.insert(1, ("sleepstudy", 10000))
    rows = [run_case(case, n, args.r_refits, args.glmm_refits) for case, n in plan]
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
