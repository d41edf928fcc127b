"""One process, many distinct model structures: does it stay up, and how do its memory maps grow?
(the reliability issue's "1,000 distinct model structures, lmer and glmer mixed, without crashing").

A structure is (kind, fixed-effects formula, random-effects formula): 9 kinds (lmer, and glmer
with binomial logit / probit / cloglog, Poisson log / sqrt, Gamma log, inverse Gaussian log,
gaussian log), 12 fixed-effects parts with 1 to 12 model-matrix columns, and 10 random-effects
parts with different numbers of terms and columns per term: 1,080 structures, each with its own
compiled programs (a different family, link, number of fixed columns or random-effects layout
changes the programs' shapes or code; data sizes alone would share shape classes). They run in
a seeded order, so lmer and glmer fits are mixed, as a notebook trying one model after another
does. With the persistent cache off (``MIXEDJAX_CACHE_DIR=off``) every structure compiles.

Every structure gets a row in ``--csv`` as soon as it is done, so a stopped run still reports:
index, kind, formula, fixed columns, random-effects columns per term, seconds, programs compiled
(and the seconds XLA took), memory maps (``/proc/self/maps`` lines), RSS and peak RSS, evictions by
``compilation.MEMORY_MAPS`` (dropping compiled executables to keep maps bounded) and the error,
if any. Every ``--report`` structures a summary line goes to stdout. Linux's limit is
``vm.max_map_count`` (65,530 by default): before the bound, a process died at about 38 GLMM or
150 lmer structures.

    MIXEDJAX_CACHE_DIR=off python benchmarks/bench_many_structures.py [--count 1000] [--csv FILE]
    python benchmarks/bench_many_structures.py --summarize --csv FILE   # the table of a run so far
"""
from __future__ import annotations

import argparse
import csv
import itertools
import os
import resource
import sys
import time
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mixedjax as mj  # noqa: E402
from mixedjax._src.compilation import MEMORY_MAPS, CompileCounter, memory_map_count  # noqa: E402

# Fixed-effects parts with 1, 2, ..., 12 model-matrix columns (f: a 3-level factor).
FIXED = ["1", "x1", "x1 + x2", "x1 * x2", "x1 + x2 + f", "x1 * x2 + f", "x1 + x2 + x3 + x4 + f",
         "x1 * x2 * x3", "x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8", "f * x1 + x2 + x3 + x4 + x5",
         "x1 * x2 * x3 + x4 + x5 + x6", "f * (x1 + x2) + x3 + x4 + x5"]
# Random-effects parts: columns per term (1,), (2,), (3,), (4,), (1, 1), (2, 1), (1, 2), (2, 2),
# (1, 1, 1), (2, 1, 1); g has the most levels, then h, then k.
RANDOM = ["(1 | g)", "(x1 | g)", "(x1 + x2 | g)", "(x1 + x2 + x3 | g)", "(1 | g) + (1 | h)",
          "(x1 | g) + (1 | h)", "(1 | g) + (x2 | h)", "(x1 | g) + (x2 | h)",
          "(1 | g) + (1 | h) + (1 | k)", "(x1 | g) + (1 | h) + (1 | k)"]
KINDS = [("lmer", None), ("binomial", "logit"), ("binomial", "probit"), ("binomial", "cloglog"),
         ("poisson", "log"), ("poisson", "sqrt"), ("Gamma", "log"), ("inverse.gaussian", "log"),
         ("gaussian", "log")]
FAMILY = {"binomial": mj.binomial, "poisson": mj.poisson, "Gamma": mj.Gamma,
          "inverse.gaussian": mj.inverse_gaussian, "gaussian": mj.gaussian}
COLUMNS = ["index", "kind", "formula", "fixed_columns", "random_columns", "rows", "seconds",
           "compiled", "compile_seconds", "maps", "rss_mb", "peak_rss_mb", "evictions", "error"]


def structures(seed: int):
    """Every (kind, fixed, random) combination, in a seeded order."""
    every = list(itertools.product(KINDS, FIXED, RANDOM))
    return [every[i] for i in np.random.default_rng(seed).permutation(len(every))]


def dataset(kind: tuple[str, str | None], seed: int) -> pd.DataFrame:
    """8 rows per level of g (20-40 levels), h with a third as many levels, k with 5."""
    rng = np.random.default_rng(seed)
    groups = int(rng.integers(20, 41))
    n = groups * 8
    g = np.repeat(np.arange(groups), 8)
    h = rng.integers(0, groups // 3, n)
    k = rng.integers(0, 5, n)
    x = rng.normal(size=(8, n))
    eta = 0.3 * x[0] - 0.2 * x[1] + 0.1 * x[2] + rng.normal(0, 0.5, groups)[g] + \
        rng.normal(0, 0.3, groups // 3)[h] + rng.normal(0, 0.2, 5)[k]
    name, link = kind
    if name == "lmer":
        y = eta + rng.normal(0, 1, n)
    elif name == "binomial":
        y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    elif name == "poisson":
        y = rng.poisson(np.exp(0.5 + eta) if link == "log" else (2 + eta).clip(0.1) ** 2)
    elif name == "Gamma":
        y = rng.gamma(4.0, np.exp(eta) / 4.0)
    elif name == "inverse.gaussian":
        y = rng.wald(np.exp(eta), 8.0)
    else:
        y = np.exp(1 + 0.3 * eta) + rng.normal(0, 0.2, n)
    frame = pd.DataFrame({f"x{j + 1}": x[j] for j in range(8)})
    frame["y"] = y
    frame["f"] = rng.choice(["a", "b", "c"], n)
    frame["g"] = [f"g{i}" for i in g]
    frame["h"] = [f"h{i}" for i in h]
    frame["k"] = [f"k{i}" for i in k]
    return frame


def fit(kind: tuple[str, str | None], formula: str, data: pd.DataFrame):
    name, link = kind
    if name == "lmer":
        return mj.lmer(formula, data)
    return mj.glmer(formula, data, family=FAMILY[name](link))


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def summarize(path: str, marks=(25, 50, 100, 250, 500, 750, 1000)) -> None:
    """The README's table from a run's CSV (a finished or a stopped run): the rows at ``marks``
    and the last one, with the largest maps and RSS up to there."""
    rows = pd.read_csv(path, keep_default_na=False)
    print("| structures | lmer | glmer | errors | maps | max maps | RSS MB | peak RSS MB | evictions | "
          "median s | minutes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for mark in sorted({m for m in marks if m <= len(rows)} | {len(rows)}):
        done = rows.iloc[:mark]
        last = done.iloc[-1]
        lmer = int((done["kind"] == "lmer").sum())
        print(f"| {mark} | {lmer} | {mark - lmer} | {int((done['error'] != '').sum())} | {last['maps']} | "
              f"{done['maps'].max()} | {last['rss_mb']} | {last['peak_rss_mb']} | {last['evictions']} | "
              f"{done['seconds'].median():.0f} | {done['seconds'].sum() / 60:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--report", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--csv", default="many_structures.csv", help="per-structure rows, written as they finish")
    parser.add_argument("--summarize", action="store_true", help="only print the table of an existing --csv")
    args = parser.parse_args()
    if args.summarize:
        return summarize(args.csv)
    chosen = structures(args.seed)
    if args.count > len(chosen):
        raise SystemExit(f"only {len(chosen)} distinct structures are defined; ask for fewer")
    print(f"vm.max_map_count limit used by mixedjax: {2 * MEMORY_MAPS.limit}; "
          f"persistent cache: {mj.cache_directory or 'off'}; rows to {args.csv}")
    print("| structures | lmer | glmer | errors | maps | RSS MB | peak RSS MB | evictions | structures/min |")
    print("|---|---|---|---|---|---|---|---|---|")
    counts = {"lmer": 0, "glmer": 0, "errors": 0}
    seen = set()
    start = time.perf_counter()
    with open(args.csv, "w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        for i, (kind, fixed, random) in enumerate(chosen[:args.count], start=1):
            formula = f"y ~ {fixed} + {random}"
            data = dataset(kind, seed=i)
            row = {"index": i, "kind": kind[0] if kind[1] is None else f"{kind[0]}({kind[1]})",
                   "formula": formula, "rows": len(data), "error": ""}
            began = time.perf_counter()
            try:
                with warnings.catch_warnings(), CompileCounter() as compiled:
                    warnings.simplefilter("ignore")
                    model = fit(kind, formula, data)
                layout = (len(model.beta), tuple(t.n_columns for t in model.spec.terms))
                if (kind, layout) in seen:  # the lists above are meant to make every one distinct
                    raise AssertionError(f"structure {layout} of {kind} repeated")
                seen.add((kind, layout))
                row["fixed_columns"], row["random_columns"] = layout[0], " ".join(map(str, layout[1]))
                counts["lmer" if kind[0] == "lmer" else "glmer"] += 1
            except Exception as error:  # noqa: BLE001 (counted and shown: any error is a finding)
                counts["errors"] += 1
                row["error"] = f"{type(error).__name__}: {error}".replace("\n", " ")[:300]
                print(f"  structure {i} ({formula}, {row['kind']}): {row['error']}", flush=True)
            row.update(seconds=f"{time.perf_counter() - began:.2f}", compiled=compiled.compiled,
                       compile_seconds=f"{compiled.compile_seconds:.2f}",
                       maps=memory_map_count(), rss_mb=f"{rss_mb():.0f}",
                       peak_rss_mb=f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}",
                       evictions=MEMORY_MAPS.evictions)
            writer.writerow(row)
            handle.flush()
            if i % args.report == 0 or i == args.count:
                rate = i / (time.perf_counter() - start) * 60
                print(f"| {i} | {counts['lmer']} | {counts['glmer']} | {counts['errors']} | {row['maps']} | "
                      f"{row['rss_mb']} | {row['peak_rss_mb']} | {row['evictions']} | {rate:.1f} |", flush=True)


if __name__ == "__main__":
    main()
