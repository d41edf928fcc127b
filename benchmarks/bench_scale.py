"""Models with many covariance parameters (issue 13, goal 1): kb07 with 20 and 72 theta.

Per case, in a fresh subprocess each (so that peak RSS is the case's own):

- **cold s**: the first fit in the process (tracing and XLA compilation included; no persistent
  cache, ``MIXEDJAX_CACHE_DIR=off``, unless ``--cache``);
- **warm s**: the median of ``--repeats`` further fits of the same model in that process, from the
  DataFrame to the fitted-model object;
- **peak MB**: ``ru_maxrss`` of that process;
- **criterion**: our REML criterion, and lme4's beside it;
- **lme4 s**: lme4's time, run now by ``Rscript`` (``--lme4-now``, for the 20-theta model; it
  takes about 10 s) or the stored ``time_s`` of ``tests/reference_scale/fits`` (the maximal model
  runs for 30 minutes in lme4 1.1-31 on this machine).

Goals: kb07 maximal <= 10 s warm and <= 4 GB peak, 20 theta <= 2 s warm, criteria at or below
lme4's.

    python benchmarks/bench_scale.py [--repeats 3] [--cases 20,72] [--lme4-now] [--cache]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
REFERENCE = os.path.join(REPO, "tests", "reference_scale")
KB07 = os.path.join(REFERENCE, "data", "kb07.csv")

CASES = {
    # key: (name, formula, lme4 reference id)
    "20": ("kb07, 20 theta", "Y ~ 1 + S + T + U + (1 + S + T + U | G) + (1 + S + T + U | H)",
           "kb07_20theta_reml"),
    "72": ("kb07 maximal, 72 theta",
           ("Y ~ 1 + S + T + U + V + W + X + Z + (1 + S + T + U + V + W + X + Z | G)"
            " + (1 + S + T + U + V + W + X + Z | H)"), "kb07_maximal_reml"),
}

SCRIPT = textwrap.dedent("""
    import json, resource, statistics, sys, time, warnings
    import pandas as pd
    sys.path.insert(0, {repo!r})
    import mixedjax as mj
    warnings.simplefilter("ignore")
    data = pd.read_csv({csv!r}, dtype={{"G": str, "H": str}})
    start = time.perf_counter()
    fit = mj.lmer({formula!r}, data)
    cold = time.perf_counter() - start
    warm = []
    for _ in range({repeats}):
        start = time.perf_counter()
        fit = mj.lmer({formula!r}, data)
        warm.append(time.perf_counter() - start)
    print(json.dumps(dict(cold=cold, warm=statistics.median(warm), crit=fit.reml_criterion,
                          iterations=int(fit.optimizer.iterations),
                          evaluations=int(fit.optimizer.evaluations),
                          status=fit.optimizer.message,
                          peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
""")

R_SCRIPT = textwrap.dedent("""
    suppressPackageStartupMessages(library(lme4))
    invisible(Sys.setlocale("LC_COLLATE", "C"))
    d <- read.csv({csv!r}, stringsAsFactors = FALSE); d$G <- factor(d$G); d$H <- factor(d$H)
    t <- system.time(fit <- suppressMessages(lmer({formula}, data = d)))[["elapsed"]]
    cat(t, format(REMLcrit(fit), digits = 15), "\\n")
""")


def run_case(key: str, repeats: int, cache: bool) -> dict:
    _, formula, _ = CASES[key]
    env = dict(os.environ)
    if not cache:
        env["MIXEDJAX_CACHE_DIR"] = "off"
    script = SCRIPT.format(repo=REPO, csv=KB07, formula=formula, repeats=repeats)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    if run.returncode != 0:
        return dict(error=run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "failed")
    return json.loads(run.stdout.strip().splitlines()[-1])


def lme4_now(key: str):
    """(seconds, REML criterion) of lme4 fitting the case now, or None without Rscript."""
    _, formula, _ = CASES[key]
    try:
        run = subprocess.run(["Rscript", "-e", R_SCRIPT.format(csv=KB07, formula=formula)],
                             capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if run.returncode != 0:
        return None
    seconds, criterion = run.stdout.split()[:2]
    return float(seconds), float(criterion)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", default="20,72")
    parser.add_argument("--lme4-now", action="store_true",
                        help="time lme4 now on the 20-theta model (the maximal one always uses "
                             "its stored time: 30 minutes)")
    parser.add_argument("--cache", action="store_true", help="keep the persistent cache on")
    args = parser.parse_args()
    rows = []
    for key in args.cases.split(","):
        name, _, reference_id = CASES[key]
        with open(os.path.join(REFERENCE, "fits", f"{reference_id}.json")) as handle:
            stored = json.load(handle)["results"]
        lme4_s, lme4_crit, lme4_source = stored["time_s"], stored["REMLcrit"], "stored"
        if args.lme4_now and key != "72":
            now = lme4_now(key)
            if now is not None:
                (lme4_s, lme4_crit), lme4_source = now, "now"
        started = time.perf_counter()
        ours = run_case(key, args.repeats, args.cache)
        print(f"{name}: {time.perf_counter() - started:.0f} s in its process", file=sys.stderr)
        rows.append((name, ours, lme4_s, lme4_crit, lme4_source))
    print("| model | cold s | warm s | peak MB | iterations (evaluations) | criterion | lme4 criterion "
          "| ours - lme4 | lme4 s | lme4 / warm |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, ours, lme4_s, lme4_crit, source in rows:
        if "error" in ours:
            print(f"| {name} | failed: {ours['error']} | | | | | {lme4_crit:.7f} | | {lme4_s:.1f} "
                  f"({source}) | |")
            continue
        print(f"| {name} | {ours['cold']:.1f} | {ours['warm']:.2f} | {ours['peak_mb']:.0f} | "
              f"{ours['iterations']} ({ours['evaluations']}) | {ours['crit']:.7f} | {lme4_crit:.7f} | "
              f"{ours['crit'] - lme4_crit:.1e} | {lme4_s:.1f} ({source}) | "
              f"{lme4_s / ours['warm']:.0f}x |")


if __name__ == "__main__":
    main()
