"""Single-fit timings of mixedjax's lmer beside lme4 and the Python peers glmm and mixedlm.

Every figure comes from a fresh subprocess, so that "cold" really is cold:

* cold        the first fit in a new process: tracing and XLA compilation included (imports and
              reading the CSV are not);
* cold+cache  the same with the opt-in persistent compilation cache
              (``mixedjax.enable_compilation_cache(dir)``), measured in a second process after a
              first one filled the cache;
* warm        the median of repeated fits in that first process, end to end from the DataFrame to
              the result object (formula parsing, design, fit, summary statistics);
* peak RSS    ``ru_maxrss`` of that process;
* lme4        ``results.time_s`` of the reference fits (tests/reference/fits/*.json), measured with
              lme4 1.1-31 on this machine class; InstEval's 21.5 s is from the issue.

The peers run from a separate virtual environment, benchmarks/.venv (``--install-peers`` creates it
and pip-installs glmm and mixedlm there; they are never dependencies of mixedjax). Without it they
are skipped with a note.

    python benchmarks/bench_lmer.py                 # everything (InstEval takes a few minutes)
    python benchmarks/bench_lmer.py --skip-insteval # the small models only
    python benchmarks/bench_lmer.py --install-peers # create benchmarks/.venv first
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATA = os.path.join(REPO, "tests", "reference", "data")
FITS = os.path.join(REPO, "tests", "reference", "fits")
PEER_PYTHON = os.path.join(HERE, ".venv", "bin", "python")

CASES = [
    # name, formula, csv, factor columns, reference fit id (lme4 time) or lme4 seconds
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "sleepstudy.csv", ["Subject"],
     "sleepstudy_slopes_reml"),
    ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin.csv",
     ["plate", "sample"], "penicillin_crossed_reml"),
    ("InstEval", "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)", "InstEval.csv",
     ["s", "d", "dept", "service"], 21.5),
]
TARGETS = "targets: warm sleepstudy <= 5 ms, cold <= 3 s, cold+cache <= 1 s, InstEval <= 2 s warm, peak <= 2 GB"

# The child process: load the data (untimed), time the first fit, then the warm repeats.
CHILD = textwrap.dedent("""
    import json, resource, sys, time, warnings
    warnings.simplefilter("ignore")
    import pandas as pd
    args = json.loads(sys.argv[1])
    data = pd.read_csv(args["csv"])
    for column in args["factors"]:
        data[column] = pd.Categorical(data[column].astype(str))
    {setup}
    def fit():
        {fit}
    start = time.perf_counter(); result = fit(); cold = time.perf_counter() - start
    {after_first}
    warm = []
    for _ in range(args["repeats"]):
        start = time.perf_counter(); fit(); warm.append(time.perf_counter() - start)
    warm.sort()
    print("RESULT " + json.dumps(dict(
        cold=cold, warm=warm[len(warm) // 2] if warm else None, criterion={criterion},
        maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
""")

ENGINES = {
    "mixedjax": dict(
        setup=("sys.path.insert(0, args['repo']); import mixedjax as mj\n"
               "if args['cache']: mj.enable_compilation_cache(args['cache'])"),
        fit="return mj.lmer(args['formula'], data, REML=True)",
        # warm: a long session's speed, with the quick first builds optimized
        after_first="mj.optimize_programs()",
        criterion="float(result.reml_criterion)"),
    "glmm": dict(
        setup="import glmm",
        fit="return glmm.fit(data.astype({c: str for c in args['factors']}), args['formula'], reml=True)",
        criterion="-2.0 * float(result.loglik)"),
    "mixedlm": dict(
        setup="import mixedlm",
        fit="return mixedlm.lmer(args['formula'], data.astype({c: str for c in args['factors']}), REML=True)",
        criterion="float(result.REMLcrit())"),
}


def run_child(engine: str, case, repeats: int, cache: str | None = None, python=sys.executable,
              timeout: float = 1200.0):
    """Run one measurement in a fresh process; returns the child's dict, or an error string."""
    name, formula, csv, factors, _ = case
    spec = ENGINES[engine]
    code = CHILD.format(setup=spec["setup"], fit=spec["fit"], criterion=spec["criterion"],
                        after_first=spec.get("after_first", "pass"))
    args = dict(csv=os.path.join(DATA, csv), factors=factors, formula=formula, repeats=repeats,
                repo=REPO, cache=cache)
    # cold means an empty compilation cache: the default one is off unless a directory is given
    env = dict(os.environ, MIXEDJAX_CACHE_DIR=cache or "off")
    if engine != "mixedjax":
        env.pop("PYTHONPATH", None)
    try:
        done = subprocess.run([python, "-c", code, json.dumps(args)], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (done.stderr or done.stdout).strip().splitlines()
    return "failed: " + (tail[-1] if tail else f"exit code {done.returncode}")


def lme4_seconds(reference) -> float | None:
    if isinstance(reference, (int, float)):
        return float(reference)
    try:
        with open(os.path.join(FITS, f"{reference}.json")) as handle:
            return float(json.load(handle)["results"]["time_s"])
    except (OSError, KeyError, ValueError):
        return None


def install_peers() -> None:
    """Create benchmarks/.venv and pip-install the peers there (never into this environment)."""
    venv = os.path.join(HERE, ".venv")
    if not os.path.exists(PEER_PYTHON):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([PEER_PYTHON, "-m", "pip", "install", "-q", "glmm", "mixedlm"], check=False)


def peer_available(engine: str) -> str | None:
    """None when the peer imports in benchmarks/.venv, else why not."""
    if not os.path.exists(PEER_PYTHON):
        return "benchmarks/.venv missing (run with --install-peers)"
    done = subprocess.run([PEER_PYTHON, "-c", f"import {engine}"], capture_output=True, text=True)
    return None if done.returncode == 0 else f"{engine} does not import in benchmarks/.venv"


def seconds(value, digits=2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def milliseconds(value) -> str:
    if value is None:
        return "-"
    return f"{1e3 * value:.1f}" if value < 10 else f"{1e3 * value:.0f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-insteval", action="store_true", help="only the small models")
    parser.add_argument("--no-peers", action="store_true", help="skip glmm and mixedlm")
    parser.add_argument("--no-cache", action="store_true", help="skip the compilation-cache runs")
    parser.add_argument("--install-peers", action="store_true",
                        help="create benchmarks/.venv with glmm and mixedlm first")
    parser.add_argument("--peer-timeout", type=float, default=600.0,
                        help="seconds allowed for each peer measurement (default 600)")
    parser.add_argument("--repeats", type=int, default=0,
                        help="warm repeats (default: 50 for small models, 5 for InstEval)")
    options = parser.parse_args(argv)
    if options.install_peers:
        install_peers()
    cases = [c for c in CASES if not (options.skip_insteval and c[0] == "InstEval")]
    peers = [] if options.no_peers else ["glmm", "mixedlm"]
    notes = []
    available = {}
    for peer in peers:
        available[peer] = peer_available(peer)
        if available[peer]:
            notes.append(f"{peer} skipped: {available[peer]}")

    rows = []
    for case in cases:
        name = case[0]
        repeats = options.repeats or (5 if name == "InstEval" else 50)
        print(f"[{name}] mixedjax ...", file=sys.stderr, flush=True)
        ours = run_child("mixedjax", case, repeats)
        cached = None
        if not options.no_cache:
            cache = tempfile.mkdtemp(prefix="mixedjax-cache-")
            try:
                run_child("mixedjax", case, 0, cache=cache)  # fills the cache
                cached = run_child("mixedjax", case, 0, cache=cache)
            finally:
                shutil.rmtree(cache, ignore_errors=True)
        row = dict(name=name, ours=ours, cached=cached, lme4=lme4_seconds(case[4]))
        for peer in peers:
            if available[peer] is None:
                print(f"[{name}] {peer} ...", file=sys.stderr, flush=True)
                row[peer] = run_child(peer, case, min(repeats, 3) if name == "InstEval" else repeats,
                                      python=PEER_PYTHON, timeout=options.peer_timeout)
        rows.append(row)

    def get(result, key):
        return result.get(key) if isinstance(result, dict) else None

    header = ["model", "lme4 s", "cold s", "cold+cache s", "warm ms", "peak MB", "REML criterion"]
    for peer in peers:
        if available[peer] is None:
            header += [f"{peer} warm ms", f"{peer} cold s"]
    table = [header]
    for row in rows:
        line = [row["name"], seconds(row["lme4"], 3 if (row["lme4"] or 1) < 1 else 1),
                seconds(get(row["ours"], "cold")), seconds(get(row["cached"], "cold")),
                milliseconds(get(row["ours"], "warm")), seconds(get(row["ours"], "maxrss_mb"), 0),
                seconds(get(row["ours"], "criterion"), 4)]
        for peer in peers:
            if available[peer] is None:
                line += [milliseconds(get(row[peer], "warm")), seconds(get(row[peer], "cold"))]
        table.append(line)
        for key in ["ours", "cached"] + [p for p in peers if available[p] is None]:
            if isinstance(row.get(key), str):
                notes.append(f"{row['name']} {key}: {row[key]}")
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print(f"mixedjax lmer, REML, single fits; {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")
    for i, r in enumerate(table):
        print("  ".join(cell.ljust(w) if j == 0 else cell.rjust(w) for j, (cell, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(TARGETS)
    for note in notes:
        print("note: " + note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
