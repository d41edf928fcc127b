"""Single glmer fits beside lme4: cold (fresh process, compile included) and warm (median of
repeats, end to end from DataFrame to result), peak memory of the process.

lme4's times are ``results.time_s`` of the reference fits (lme4 1.1-31, this machine class);
VerbAgg's 3.3 s (Laplace) is from the issue.

    python benchmarks/bench_glmer.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATA = os.path.join(REPO, "tests", "reference", "data")
FITS = os.path.join(REPO, "tests", "reference", "fits")

CASES = [
    ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp.csv",
     ["herd", "period"], "mj.binomial()", 1, "cbpp_binomial_laplace"),
    ("cbpp nAGQ=25", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp.csv",
     ["herd", "period"], "mj.binomial()", 25, "cbpp_binomial_nagq25"),
    ("seed2 Gamma(log)", "y ~ x + (1 | grupo)", "seed2_gamma.csv", ["grupo"], "mj.Gamma('log')", 1,
     "seed2_glmer_gamma_log"),
    ("seed3 inverse.gaussian(log)", "y ~ x + (1 + x | grupo)", "seed3_invgauss.csv", ["grupo"],
     "mj.inverse_gaussian('log')", 1, "seed3_glmer_invgauss_log"),
    ("VerbAgg", "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "VerbAgg.csv",
     ["id", "item", "Gender", "btype", "situ"], "mj.binomial()", 1, 3.3),
]

CHILD = textwrap.dedent("""
    import json, resource, statistics, sys, time, warnings
    import pandas as pd
    sys.path.insert(0, {repo!r})
    warnings.simplefilter("ignore")
    import mixedjax as mj
    data = pd.read_csv({csv!r})
    for column in {factors!r}:
        data[column] = data[column].astype(str)
    fit = lambda: mj.glmer({formula!r}, data, family={family}, nAGQ={nagq})
    start = time.perf_counter(); model = fit(); cold = time.perf_counter() - start
    mj.optimize_programs()  # warm: a long session's speed, the quick builds optimized
    times = []
    for _ in range({repeats}):
        start = time.perf_counter(); fit(); times.append(time.perf_counter() - start)
    print(json.dumps(dict(cold=cold, warm=statistics.median(times), deviance=model.deviance,
                          rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
""")


def main():
    rows = []
    for name, formula, csv, factors, family, nagq, lme4 in CASES:
        lme4_s = lme4 if isinstance(lme4, float) else \
            json.load(open(os.path.join(FITS, f"{lme4}.json")))["results"]["time_s"]
        repeats = 3 if name == "VerbAgg" else 10
        code = CHILD.format(repo=REPO, csv=os.path.join(DATA, csv), factors=factors, formula=formula,
                            family=family, nagq=nagq, repeats=repeats)
        # cold: no compilation cache (the default one would serve programs of earlier runs)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800,
                             env=dict(os.environ, MIXEDJAX_CACHE_DIR="off"))
        result = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append((name, result["cold"], result["warm"] * 1000, lme4_s * 1000, lme4_s / result["warm"],
                     result["rss_mb"], result["deviance"]))
    print(f"{'model':30s} {'cold s':>8s} {'warm ms':>9s} {'lme4 ms':>9s} {'x lme4':>7s} {'peak MB':>8s} "
          f"{'deviance':>12s}")
    for row in rows:
        print(f"{row[0]:30s} {row[1]:8.2f} {row[2]:9.1f} {row[3]:9.1f} {row[4]:7.1f} {row[5]:8.0f} {row[6]:12.4f}")


if __name__ == "__main__":
    main()
