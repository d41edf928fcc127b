"""Concurrent fits from threads (issue 11): run as a script by tests/test_threads.py (in its own
process, under a timeout, so that a hang fails the test instead of stalling the suite) and by
benchmarks/bench_threads.py.

    python threaded_fits.py REPETITIONS

fits four models sequentially, then REPETITIONS times all four at once from four threads, and
prints one JSON line: the largest difference from the sequential numbers and the seconds taken.
The models: two crossed designs whose trailing system (101 rows) takes the blocked factorization
with single-threaded LAPACK (``blocks.single_threaded_lapack``; two threads fitting such models
at once hung before), a random-slope model and a one-term model."""
from __future__ import annotations

import json
import sys
import threading
import time
import warnings

import numpy as np
import pandas as pd

import mixedjax as mj


def crossed(seed: int, rows: int = 3000, a_levels: int = 300, b_levels: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, a_levels, rows), rng.integers(0, b_levels, rows)
    y = rng.normal(size=rows) + rng.normal(size=a_levels)[a] + 0.5 * rng.normal(size=b_levels)[b]
    return pd.DataFrame({"y": y, "a": pd.Categorical(a), "b": pd.Categorical(b)})


def slopes(seed: int, groups: int = 30, per_group: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per_group)
    x = rng.normal(size=g.size)
    effects = rng.normal(size=(groups, 2))
    y = 1.0 + x + effects[g, 0] + 0.5 * effects[g, 1] * x + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g)})


MODELS = [("y ~ 1 + (1|a) + (1|b)", crossed(1)), ("y ~ 1 + (1|a) + (1|b)", crossed(2)),
          ("y ~ x + (x|g)", slopes(3)), ("y ~ x + (1|g)", slopes(4))]


def numbers(formula: str, data: pd.DataFrame) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = mj.lmer(formula, data)
    return np.concatenate([[fit.reml_criterion, fit.sigma], fit.theta_values, fit.beta,
                           np.sqrt(np.diag(fit.vcov_matrix))])


def main(repetitions: int) -> dict:
    sequential = [numbers(*model) for model in MODELS]
    worst, start = 0.0, time.perf_counter()
    for _ in range(repetitions):
        results, errors = [None] * len(MODELS), []

        def work(i, results=results, errors=errors):
            try:
                results[i] = numbers(*MODELS[i])
            except Exception as error:  # noqa: BLE001  (reported: the test fails on it)
                errors.append(repr(error))

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(MODELS))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            return {"errors": errors}
        worst = max(worst, max(float(np.max(np.abs(r - s) / np.maximum(np.abs(s), 1.0)))
                               for r, s in zip(results, sequential)))
    return {"max_relative_difference": worst, "seconds": time.perf_counter() - start,
            "repetitions": repetitions}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
