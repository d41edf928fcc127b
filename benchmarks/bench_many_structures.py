"""One process, many distinct model structures: does it stay up, and how do its memory maps grow?
(the reliability issue's "1,000 distinct model structures, lmer and glmer mixed, without crashing").

Each structure is a different formula, family or data size, drawn without replacement from a
seeded list, so that (with the persistent cache off) every fit compiles new programs, as a
notebook trying one model after another does. Every ``--report`` fits the table gets a row:
memory maps (``/proc/self/maps`` lines), peak RSS, how often mixedjax dropped compiled
executables to keep maps bounded, and fits per minute. Linux's limit is ``vm.max_map_count``
(65,530 by default): before the bound, a process died at about 38 GLMM or 150 lmer structures.

    MIXEDJAX_CACHE_DIR=off python benchmarks/bench_many_structures.py [--count 1000] [--report 50]
"""
from __future__ import annotations

import argparse
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
from mixedjax.compilation import MEMORY_MAPS, memory_map_count  # noqa: E402

FIXED = ["1", "x1", "x1 + x2", "x1 * x2", "x1 + f", "x1 + x2 + x3", "f", "x2 + f + x3"]
RANDOM = ["(1 | g)", "(x1 | g)", "(1 | g) + (1 | h)", "(x1 || g)", "(1 | g) + (x2 | h)"]
FAMILIES = [None, "binomial", "poisson", "Gamma"]
GROUPS = [6, 9, 14, 20, 30, 45, 70, 100]


def structures(count: int, seed: int):
    """``count`` distinct (fixed, random, family, groups) combinations in a seeded order."""
    every = list(itertools.product(FIXED, RANDOM, FAMILIES, GROUPS))
    order = np.random.default_rng(seed).permutation(len(every))
    if count > len(every):
        raise SystemExit(f"only {len(every)} distinct structures are defined; ask for fewer")
    return [every[i] for i in order[:count]]


def dataset(groups: int, family: str | None, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = groups * 8
    g = np.repeat(np.arange(groups), 8)
    h = rng.integers(0, max(3, groups // 3), n)
    x1, x2, x3 = rng.normal(size=(3, n))
    eta = 0.3 + 0.4 * x1 - 0.2 * x2 + rng.normal(0, 0.5, groups)[g] + rng.normal(0, 0.3, h.max() + 1)[h]
    y = {None: lambda: eta + rng.normal(0, 1, n),
         "binomial": lambda: rng.binomial(1, 1 / (1 + np.exp(-eta))),
         "poisson": lambda: rng.poisson(np.exp(eta)),
         "Gamma": lambda: rng.gamma(2.0, np.exp(eta) / 2.0)}[family]()
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "x3": x3, "f": rng.choice(["a", "b", "c"], n),
                         "g": [f"g{i}" for i in g], "h": [f"h{i}" for i in h]})


def fit(fixed: str, random: str, family: str | None, data: pd.DataFrame):
    formula = f"y ~ {fixed} + {random}"
    if family is None:
        return mj.lmer(formula, data)
    return mj.glmer(formula, data, family=mj.Gamma("log") if family == "Gamma" else family)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--report", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"vm.max_map_count limit used by mixedjax: {2 * MEMORY_MAPS.limit}; "
          f"persistent cache: {mj.cache_directory or 'off'}")
    print("| fits | lmer | glmer | errors | maps | peak RSS MB | evictions | fits/min |")
    print("|---|---|---|---|---|---|---|---|")
    counts = {"lmer": 0, "glmer": 0, "errors": 0}
    start = time.perf_counter()
    for i, (fixed, random, family, groups) in enumerate(structures(args.count, args.seed), start=1):
        data = dataset(groups, family, seed=i)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit(fixed, random, family, data)
            counts["lmer" if family is None else "glmer"] += 1
        except Exception as error:  # noqa: BLE001 (counted and shown: any error is a finding)
            counts["errors"] += 1
            print(f"  structure {i} ({fixed} + {random}, {family}, {groups} groups): "
                  f"{type(error).__name__}: {error}", flush=True)
        if i % args.report == 0 or i == args.count:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rate = i / (time.perf_counter() - start) * 60
            print(f"| {i} | {counts['lmer']} | {counts['glmer']} | {counts['errors']} | "
                  f"{memory_map_count()} | {rss:.0f} | {MEMORY_MAPS.evictions} | {rate:.0f} |", flush=True)


if __name__ == "__main__":
    main()
