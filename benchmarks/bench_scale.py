"""Models with many covariance parameters (issue 13, goal 1): kb07 with 20 and 72 theta, InstEval
with ``(0 + service | dept)`` and a simulated d3-shaped design (``d3_design.py``).

Per case, in a fresh subprocess each (so that peak RSS is the case's own):

- **cold s**: the first fit in the process (tracing and XLA compilation included; no persistent
  cache, ``MIXEDJAX_CACHE_DIR=off``, unless ``--cache``);
- **warm s**: the median of ``--repeats`` further fits of the same model in that process, from the
  DataFrame to the fitted-model object;
- **peak MB**: ``ru_maxrss`` of that process;
- **criterion**: our REML criterion, and lme4's beside it; the largest relative difference of
  the fixed-effect standard errors from lme4's;
- **lme4 s**: lme4's time, run now by ``Rscript`` (``--lme4-now``, for the 20-theta model; it
  takes about 10 s) or the stored ``time_s`` of ``tests/reference_scale/fits``
  (``make_scale.R``: the maximal model runs for 30 minutes in lme4 1.1-31 on this machine).

Goals: kb07 maximal <= 10 s warm and <= 4 GB peak; 20 theta, InstEval and d3 <= 2 s warm;
criteria at or below lme4's.

MovieLens-shaped crossed designs (goal 2; ``movielens_design.py``, seeded): ``y ~ 1 + (1 | user)
+ (1 | item)`` by REML at 100k, 1M (6,040 x 3,706 levels, 1,000,209 rows) and 3M rows, each in a
fresh process: the fit (first in its process, compilation included), one deviance evaluation and
one evaluation with exact derivatives (warm, at the optimum), peak RSS, and lme4's time and
criterion from one stored run (``LME4_MOVIELENS``: lme4 takes many minutes here; ``--lme4-now``
runs it again, ``movielens_lme4.R``). With ``--plot FILE`` the times are drawn against the rows
on log-log axes and the fitted slopes printed.

    python benchmarks/bench_scale.py [--repeats 3] [--cases 20,72,insteval,d3] [--lme4-now] [--cache]
    nice python benchmarks/bench_scale.py --cases ml100k,ml1m --plot benchmarks/scale_movielens.png
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
REFERENCE = os.path.join(REPO, "tests", "reference_scale")
KB07 = os.path.join(REFERENCE, "data", "kb07.csv")

# how each case's process reads its data (the seeded d3-shaped design is drawn again there)
DATA = {
    "kb07": f"pd.read_csv({KB07!r}, dtype={{'G': str, 'H': str}})",
    "InstEval": "mj.datasets.load('InstEval')",
    "d3_sim": "d3_design.d3_like()",
}

CASES = {
    # key: (name, formula, lme4 reference id, data)
    "20": ("kb07, 20 theta", "Y ~ 1 + S + T + U + (1 + S + T + U | G) + (1 + S + T + U | H)",
           "kb07_20theta_reml", "kb07"),
    "72": ("kb07 maximal, 72 theta",
           ("Y ~ 1 + S + T + U + V + W + X + Z + (1 + S + T + U + V + W + X + Z | G)"
            " + (1 + S + T + U + V + W + X + Z | H)"), "kb07_maximal_reml", "kb07"),
    "insteval": ("InstEval, (0 + service | dept), 6 theta",
                 "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept) + (0 + service | dept)",
                 "insteval_service_dept_reml", "InstEval"),
    "d3": ("d3-shaped (simulated), 9 theta", "y ~ 1 + u + (1 + u | g) + (1 + u | h) + (1 + u | i)",
           "d3_sim_reml", "d3_sim"),
}

SCRIPT = textwrap.dedent("""
    import json, resource, statistics, sys, time, warnings
    import numpy as np
    import pandas as pd
    sys.path.insert(0, {repo!r})
    sys.path.insert(0, {here!r})
    import mixedjax as mj
    import d3_design
    warnings.simplefilter("ignore")
    data = {data}
    start = time.perf_counter()
    fit = mj.lmer({formula!r}, data)
    cold = time.perf_counter() - start
    warm = []
    for _ in range({repeats}):
        start = time.perf_counter()
        fit = mj.lmer({formula!r}, data)
        warm.append(time.perf_counter() - start)
    print(json.dumps(dict(cold=cold, warm=statistics.median(warm), crit=fit.reml_criterion,
                          se=list(map(float, np.sqrt(np.diag(fit.vcov_matrix)))),
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


MOVIELENS_FORMULA = "y ~ 1 + (1 | user) + (1 | item)"
MOVIELENS_ROWS = {"ml100k": 100_000, "ml1m": 1_000_209, "ml3m": 3_000_000}

# lme4 1.1-31 (R 4, its reference BLAS), one run each of movielens_lme4.R on this 2-core machine,
# niced, with the other work of the day beside it, on the CSV that movielens_design.py writes for
# these rows (seed 20181). ``y_sum`` fingerprints the data lme4 saw: numpy's Generator does not
# promise the same stream across numpy versions (the first 1M run, 2026-12-01, was on data that
# numpy 2.4.6's generator no longer gives; both cases were refitted on its data); a stored run
# whose data differ is not compared
LME4_MOVIELENS = {
    "ml100k": dict(date="2026-12-02", time_s=52.29, cpu_s=8.38, REMLcrit=265288.7079290418,
                   theta=(0.529996109979875, 0.436608482893718), evaluations=39, y_sum=350424.0),
    # numpy 2.4.6's data (y_sum), 2026-12-02, at a load average of 5-7 (stop 23)
    "ml1m": dict(date="2026-12-02", time_s=4303.46, cpu_s=3757.88, REMLcrit=2594026.4709271425,
                 theta=(0.468254912173476, 0.512001714756271), evaluations=33, y_sum=3543382.0),
}


def stored_lme4(key: str, y_sum: float) -> dict | None:
    """The stored lme4 run of ``key`` if it was made on these data (same sum of the response)."""
    stored = LME4_MOVIELENS.get(key)
    return stored if stored is not None and stored["y_sum"] == y_sum else None


ML_SCRIPT = textwrap.dedent("""
    import json, resource, sys, time, warnings
    sys.path.insert(0, {repo!r})
    sys.path.insert(0, {here!r})
    import jax
    import numpy as np
    import mixedjax as mj
    from mixedjax._src import blocks, linear_fitting, lmm
    import movielens_design
    warnings.simplefilter("ignore")
    data = movielens_design.movielens_like({rows})
    cpu, start = time.process_time(), time.perf_counter()
    fit = mj.lmer({formula!r}, data)
    cold, cold_cpu = time.perf_counter() - start, time.process_time() - cpu
    warm = []
    for _ in range({repeats}):
        start = time.perf_counter()
        mj.lmer({formula!r}, data)
        warm.append(time.perf_counter() - start)
    problem, theta = fit.problem, np.asarray(fit.optimizer.end, np.float64)

    def timed(evaluate):
        jax.block_until_ready(evaluate(theta))  # compiled by the fit
        start = time.perf_counter()
        jax.block_until_ready(evaluate(theta))
        return time.perf_counter() - start

    with blocks.single_threaded_lapack():
        value_s = timed(lambda t: linear_fitting._deviance(t, problem, True))
        derivatives_s = timed(lambda t: linear_fitting._deviance_derivatives(t, problem, True))
    layout = problem.design.layout
    print(json.dumps(dict(cold=cold, cold_cpu=cold_cpu, warm=min(warm) if warm else None,
                          value_s=value_s, derivatives_s=derivatives_s, crit=fit.reml_criterion,
                          theta=list(map(float, fit.theta_values)), sigma=float(fit.sigma),
                          y_sum=float(data["y"].sum()),
                          levels=list(layout.term_levels), dense=bool(lmm.level_dense_update(problem.design)),
                          iterations=int(fit.optimizer.iterations),
                          evaluations=int(fit.optimizer.evaluations),
                          status=fit.optimizer.message,
                          peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
""")


def run_movielens(key: str, repeats: int, cache: bool) -> dict:
    env = dict(os.environ)
    if not cache:
        env["MIXEDJAX_CACHE_DIR"] = "off"
    script = ML_SCRIPT.format(repo=REPO, here=HERE, rows=MOVIELENS_ROWS[key],
                              formula=MOVIELENS_FORMULA, repeats=repeats)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    if run.returncode != 0:
        return dict(error=run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "failed")
    return json.loads(run.stdout.strip().splitlines()[-1])


def movielens_lme4_now(key: str):
    """lme4's elapsed and CPU seconds and REML criterion on the case's data now (a CSV in a
    temporary folder), or None without Rscript and lme4."""
    import tempfile
    sys.path.insert(0, HERE)
    import movielens_design
    with tempfile.TemporaryDirectory() as folder:
        csv = os.path.join(folder, "ratings.csv")
        movielens_design.movielens_like(MOVIELENS_ROWS[key]).to_csv(csv, index=False)
        try:
            run = subprocess.run(["Rscript", os.path.join(HERE, "movielens_lme4.R"), csv],
                                 capture_output=True, text=True, timeout=4 * 3600)
        except (OSError, subprocess.TimeoutExpired):
            return None
    if run.returncode != 0:
        return None
    fields = dict(line.split(None, 1) for line in run.stdout.splitlines() if " " in line)
    return {name: float(fields[name]) for name in ("time_s", "cpu_s", "REMLcrit")}


def slope(rows, seconds) -> float:
    """The least-squares slope of log(seconds) on log(rows)."""
    return float(np.polyfit(np.log(rows), np.log(seconds), 1)[0])


def plot_movielens(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    keys = [k for k in MOVIELENS_ROWS if k in results and "error" not in results[k]]
    rows = [MOVIELENS_ROWS[k] for k in keys]
    figure, axes = plt.subplots(figsize=(6, 4.5))
    series = [("fit (first, compilation included)", [results[k]["cold"] for k in keys], "o-"),
              ("one deviance evaluation", [results[k]["value_s"] for k in keys], "s-"),
              ("one evaluation with derivatives", [results[k]["derivatives_s"] for k in keys], "^-")]
    stored = [k for k in keys if stored_lme4(k, results[k].get("y_sum"))]
    if stored:
        series.append(("lme4 fit (stored)", [LME4_MOVIELENS[k]["time_s"] for k in stored], "x--"))
    for label, seconds, style in series:
        x = rows if len(seconds) == len(rows) else [MOVIELENS_ROWS[k] for k in stored]
        fitted = f", slope {slope(x, seconds):.2f}" if len(x) > 1 else ""
        axes.loglog(x, seconds, style, label=label + fitted)
    axes.set_xlabel("rows")
    axes.set_ylabel("seconds")
    axes.set_title("y ~ 1 + (1|user) + (1|item), MovieLens-shaped, REML")
    axes.legend(fontsize=8)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def movielens_table(results: dict, lme4_now: dict) -> None:
    print("| rows | levels (term 1 x trailing) | update | fit s (CPU s) | one deviance s "
          "| with derivatives s | iterations (evaluations) | peak MB | criterion | lme4 criterion "
          "| ours - lme4 | lme4 s (CPU s) | ours / lme4 (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, ours in results.items():
        rows = MOVIELENS_ROWS[key]
        lme4 = lme4_now.get(key) or stored_lme4(key, ours.get("y_sum"))
        lme4_s, lme4_crit = (lme4["time_s"], lme4["REMLcrit"]) if lme4 else (None, None)
        lme4_cpu = lme4.get("cpu_s") if lme4 else None
        print(f"{key}: {json.dumps(ours)}", file=sys.stderr)
        if "error" in ours:
            print(f"| {rows:,} | failed: {ours['error']} |" + " |" * 11)
            continue
        cpu = (f" ({lme4_cpu:.0f})", f" ({ours['cold_cpu'] / lme4_cpu:.2f}x)") if lme4_cpu else ("", "")
        versus = (f"{lme4_crit:.4f} | {ours['crit'] - lme4_crit:.1e} | {lme4_s:.0f}{cpu[0]} | "
                  f"{ours['cold'] / lme4_s:.2f}x{cpu[1]}") if lme4 else "| | |"
        print(f"| {rows:,} | {ours['levels'][0]:,} x {ours['levels'][1]:,} | "
              f"{'dense' if ours['dense'] else 'triples'} | {ours['cold']:.1f} ({ours['cold_cpu']:.0f}) | "
              f"{ours['value_s']:.2f} | "
              f"{ours['derivatives_s']:.2f} | {ours['iterations']} ({ours['evaluations']}) | "
              f"{ours['peak_mb']:.0f} | {ours['crit']:.4f} | {versus} |")
    keys = [k for k in results if "error" not in results[k]]
    if len(keys) > 1:
        rows = [MOVIELENS_ROWS[k] for k in keys]
        print("log-log slopes against rows: fit "
              f"{slope(rows, [results[k]['cold'] for k in keys]):.2f}, one deviance "
              f"{slope(rows, [results[k]['value_s'] for k in keys]):.2f}, with derivatives "
              f"{slope(rows, [results[k]['derivatives_s'] for k in keys]):.2f}")


def run_case(key: str, repeats: int, cache: bool) -> dict:
    _, formula, _, data = CASES[key]
    env = dict(os.environ)
    if not cache:
        env["MIXEDJAX_CACHE_DIR"] = "off"
    script = SCRIPT.format(repo=REPO, here=HERE, data=DATA[data], formula=formula, repeats=repeats)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    if run.returncode != 0:
        return dict(error=run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "failed")
    return json.loads(run.stdout.strip().splitlines()[-1])


def lme4_now(key: str):
    """(seconds, REML criterion) of lme4 fitting a kb07 case now, or None without Rscript."""
    _, formula, _, _ = CASES[key]
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
    parser.add_argument("--cases", default="20,72,insteval,d3")
    parser.add_argument("--lme4-now", action="store_true",
                        help="time lme4 now on the 20-theta model (the maximal one always uses "
                             "its stored time: 30 minutes)")
    parser.add_argument("--cache", action="store_true", help="keep the persistent cache on")
    parser.add_argument("--repeats-movielens", type=int, default=None,
                        help="warm refits of each MovieLens case (default none: minutes each)")
    parser.add_argument("--plot", help="where to save the MovieLens cases' log-log plot (png)")
    args = parser.parse_args()
    keys = args.cases.split(",")
    movielens, lme4_now = {}, {}
    for key in [k for k in keys if k in MOVIELENS_ROWS]:
        if args.lme4_now:
            now = movielens_lme4_now(key)
            if now is not None:
                lme4_now[key] = now
        started = time.perf_counter()
        movielens[key] = run_movielens(key, 0 if args.repeats_movielens is None
                                       else args.repeats_movielens, args.cache)
        print(f"{key}: {time.perf_counter() - started:.0f} s in its process", file=sys.stderr)
    if movielens:
        movielens_table(movielens, lme4_now)
        if args.plot:
            plot_movielens(movielens, args.plot)
            print(f"plot: {args.plot}")
    rows = []
    for key in [k for k in keys if k in CASES]:
        name, _, reference_id, data = CASES[key]
        path = os.path.join(REFERENCE, "fits", f"{reference_id}.json")  # make_scale.R
        if not os.path.exists(path):  # a reference not made yet: our columns only
            stored = dict(time_s=np.nan, REMLcrit=np.nan, fixef_se=np.nan)
        else:
            with open(path) as handle:
                stored = json.load(handle)["results"]
        lme4_s, lme4_crit, lme4_source = stored["time_s"], stored["REMLcrit"], "stored"
        if args.lme4_now and key == "20":
            now = lme4_now(key)
            if now is not None:
                (lme4_s, lme4_crit), lme4_source = now, "now"
        started = time.perf_counter()
        ours = run_case(key, args.repeats, args.cache)
        print(f"{name}: {time.perf_counter() - started:.0f} s in its process: {json.dumps(ours)}",
              file=sys.stderr)
        rows.append((name, ours, lme4_s, lme4_crit, lme4_source, stored["fixef_se"]))
    if not rows:
        return
    print("| model | cold s | warm s | peak MB | iterations (evaluations) | criterion | lme4 criterion "
          "| ours - lme4 | SEs vs lme4 (max rel.) | lme4 s | lme4 / warm |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, ours, lme4_s, lme4_crit, source, lme4_se in rows:
        if "error" in ours:
            print(f"| {name} | failed: {ours['error']} | | | | | {lme4_crit:.7f} | | | {lme4_s:.1f} "
                  f"({source}) | |")
            continue
        se = np.max(np.abs(np.array(ours["se"]) / np.array(lme4_se) - 1.0))
        print(f"| {name} | {ours['cold']:.1f} | {ours['warm']:.2f} | {ours['peak_mb']:.0f} | "
              f"{ours['iterations']} ({ours['evaluations']}) | {ours['crit']:.7f} | {lme4_crit:.7f} | "
              f"{ours['crit'] - lme4_crit:.1e} | {se:.1e} | {lme4_s:.1f} ({source}) | "
              f"{lme4_s / ours['warm']:.0f}x |")


if __name__ == "__main__":
    main()
