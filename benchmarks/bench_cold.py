"""First fits as a new user meets them: whole fresh processes, `python script.py` to the printed
summary, beside R + lme4 timed in the same run (the first-fit issue's goals).

Per model (sleepstudy lmer, cbpp binomial glmer, the lme4 chapter's Gamma(log) example):

- **R s**: `Rscript` reading the CSV, fitting with lme4 and printing `summary()`;
- **first s**: mixedjax with an empty compilation cache (a fresh `MIXEDJAX_CACHE_DIR`): the first
  fit ever on a machine;
- **cached s**: a second fresh process with that cache: a structure this machine fitted before;
- **nearby s / compiles**: in one process after the first fit, the same formula on a dataset of
  nearby size (the issue's example: 10 rows fewer), with the programs JAX lowered for it;
- **glmm s**: the glmm package's fresh process (lmer models only; when benchmarks/.venv has it:
  `python benchmarks/bench_lmer.py --install-peers`);
- compile counts, memory maps (`/proc/self/maps` lines) and peak RSS of the first-fit process;
- **CPU s**: user + system seconds of R's and of mixedjax's first-fit processes (all threads):
  on a loaded machine wall times stretch with the load, CPU seconds much less.

Each figure is the median of ``--repeats`` runs (default 3). Goals: first <= 1.5 x R, cached
<= 1.0 x R, nearby <= 0.5 s with no compilation.

    python benchmarks/bench_cold.py [--repeats 3] [--no-r]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATA = os.path.join(REPO, "tests", "reference", "data")
PEER_PYTHON = os.path.join(HERE, ".venv", "bin", "python")

CASES = [
    # name, formula, csv, factors, mixedjax family, R family (None: lmer)
    ("sleepstudy lmer", "Reaction ~ Days + (Days | Subject)", "sleepstudy.csv", ["Subject"], None, None),
    ("cbpp binomial", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp.csv",
     ["herd", "period"], "'binomial'", "binomial"),
    ("chapter Gamma(log)", "y ~ x + (1 | grupo)", "seed2_gamma.csv", ["grupo"], "mj.Gamma('log')",
     "Gamma(link = 'log')"),
]

SCRIPT = textwrap.dedent("""
    import json, resource, sys, time, warnings
    import pandas as pd
    sys.path.insert(0, {repo!r})
    import mixedjax as mj
    data = pd.read_csv({csv!r})
    for column in {factors!r}:
        data[column] = data[column].astype(str)
    fit = lambda frame: (mj.lmer({formula!r}, frame) if {family!r} is None
                         else mj.glmer({formula!r}, frame, family={family_code}))
    print(fit(data).summary())
    if {nearby}:
        with warnings.catch_warnings(), mj.CompileCounter() as count:
            warnings.simplefilter("ignore")
            start = time.perf_counter(); fit(data.iloc[10:]); nearby = time.perf_counter() - start
    else:
        nearby, count = None, None
    maps = sum(1 for _ in open("/proc/self/maps"))
    print("RESULT " + json.dumps(dict(nearby=nearby, nearby_compiles=count and count.lowered,
                                      maps=maps, rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
""")

R_SCRIPT = textwrap.dedent("""
    suppressMessages(library(lme4))
    data <- read.csv({csv!r})
    for (column in c({factors})) data[[column]] <- factor(data[[column]])
    fit <- {call}
    print(summary(fit))
""")

GLMM_SCRIPT = textwrap.dedent("""
    import pandas as pd, glmm
    data = pd.read_csv({csv!r}).astype({{c: str for c in {factors!r}}})
    print(glmm.fit(data, {formula!r}, reml=True))
""")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command, env=None) -> tuple[float, str, float]:
    """Wall seconds, standard output and CPU seconds of a child process."""
    cpu, start = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    elapsed, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {(done.stderr or done.stdout).strip()[-400:]}")
    return elapsed, done.stdout, cpu


def mixedjax_run(case, cache: str, nearby: bool):
    name, formula, csv, factors, family, _ = case
    code = SCRIPT.format(repo=REPO, csv=os.path.join(DATA, csv), factors=factors, formula=formula,
                         family=family, family_code=family or "None", nearby=nearby)
    env = dict(os.environ, MIXEDJAX_CACHE_DIR=cache)
    elapsed, out, cpu = timed([sys.executable, "-c", code], env)
    result = json.loads(out.split("RESULT ")[-1])
    return elapsed, dict(result, cpu=cpu)


def r_run(case) -> tuple[float, float]:
    name, formula, csv, factors, _, r_family = case
    call = (f"lmer({formula}, data)" if r_family is None
            else f"glmer({formula}, data, family = {r_family})")
    code = R_SCRIPT.format(csv=os.path.join(DATA, csv), factors=", ".join(f'"{f}"' for f in factors),
                           call=call)
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as handle:
        handle.write(code)
    try:
        elapsed, _, cpu = timed(["Rscript", handle.name])
        return elapsed, cpu
    finally:
        os.unlink(handle.name)


def glmm_run(case) -> float | None:
    name, formula, csv, factors, family, _ = case
    if family is not None or not os.path.exists(PEER_PYTHON):
        return None
    code = GLMM_SCRIPT.format(csv=os.path.join(DATA, csv), factors=factors, formula=formula)
    try:
        return timed([PEER_PYTHON, "-c", code])[0]
    except RuntimeError:
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-r", action="store_true", help="skip R (when Rscript/lme4 are missing)")
    options = parser.parse_args()
    has_r = not options.no_r and shutil.which("Rscript") is not None
    rows = []
    for case in CASES:
        first, cached, nearby, compiles, r_times, glmm_times, info = [], [], [], [], [], [], {}
        first_cpu, r_cpu = [], []
        for _ in range(options.repeats):
            cache = tempfile.mkdtemp(prefix="mixedjax-cache-")
            try:
                elapsed, info = mixedjax_run(case, cache, nearby=True)
                first.append(elapsed)
                first_cpu.append(info["cpu"])
                nearby.append(info["nearby"])
                compiles.append(info["nearby_compiles"])
                cached.append(mixedjax_run(case, cache, nearby=False)[0])
            finally:
                shutil.rmtree(cache, ignore_errors=True)
            if has_r:
                r_elapsed, r_cpu_seconds = r_run(case)
                r_times.append(r_elapsed)
                r_cpu.append(r_cpu_seconds)
            glmm_time = glmm_run(case)
            if glmm_time is not None:
                glmm_times.append(glmm_time)
        median = lambda xs: statistics.median(xs) if xs else None
        rows.append(dict(model=case[0], r=median(r_times), first=median(first), cached=median(cached),
                         nearby=median(nearby), nearby_compiles=max(compiles), glmm=median(glmm_times),
                         maps=info.get("maps"), rss_mb=info.get("rss_mb"), r_cpu=median(r_cpu),
                         first_cpu=median(first_cpu)))
    print_table(rows)


def print_table(rows):
    fmt = lambda v, spec: "-" if v is None else format(v, spec)
    ratio = lambda a, b: "-" if a is None or b is None else f"{a / b:.2f}x"
    print("| model | R s | first s | first / R | cached s | cached / R | nearby s | nearby compiles "
          "| glmm s | maps | peak MB | R CPU s | first CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['model']} | {fmt(row['r'], '.2f')} | {fmt(row['first'], '.2f')} | "
              f"{ratio(row['first'], row['r'])} | {fmt(row['cached'], '.2f')} | "
              f"{ratio(row['cached'], row['r'])} | {fmt(row['nearby'], '.3f')} | "
              f"{row['nearby_compiles']} | {fmt(row['glmm'], '.2f')} | {row['maps']} | "
              f"{fmt(row['rss_mb'], '.0f')} | {fmt(row['r_cpu'], '.2f')} | {fmt(row['first_cpu'], '.2f')} |")


if __name__ == "__main__":
    main()
