"""Shared test helpers and fixtures: comparisons with lme4's numbers and printed text, the
sleepstudy data, and ``fitted``, the one cache of fitted models a test module shares between its
tests. The references are read by tests/references.py."""
from __future__ import annotations

import os
import re
import warnings

# Every compiled XLA CPU program maps its kernels' code into the process, about 650 maps for one
# lmer fit, and a test worker compiles hundreds of programs: near Linux's vm.max_map_count (65,530)
# mmap fails and XLA crashes while compiling (seen as segfaults late in long runs, with 31,000+
# maps in a worker). The older fusion code generator maps 2.4x less per program (and compiles
# faster), so the suite uses it; results are the same numbers to rounding.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_use_fusion_emitters=false").strip()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402


# the references' reader (imported from here by older tests)
from references import (HERE, ROOTS, dataset, reference, reference_data, reference_fit,  # noqa: E402,F401
                        reference_ids)


def relative_error(ours, theirs, floor: float) -> float:
    ours, theirs = np.asarray(ours, float).ravel(), np.asarray(theirs, float).ravel()
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    if ours.size == 0:
        return 0.0
    return float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), floor)))


NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?")


def summary_lines_agree(ours: str, theirs: str, rel_tol: float) -> list[str]:
    """Lines where our summary differs from lme4's by more than last-digit movement: the words
    must be identical and every number within ``rel_tol`` relative (or one unit of its last
    printed decimal). Returns descriptions of the offending lines (empty when they agree)."""
    optimizer_line = re.compile(r"^optimizer \([^)]*\) convergence code")
    convergence_warning = re.compile(r"^(Model failed to converge|unable to evaluate scaled gradient|"
                                     r"Model is nearly unidentifiable| - Rescale)")
    normalize = lambda lines: [optimizer_line.sub("optimizer (*) convergence code", l) for l in lines]
    a, b = normalize(ours.rstrip().splitlines()), normalize(theirs.rstrip().splitlines())
    # lme4's own convergence warnings (from its finite-difference checks) have no counterpart when
    # our exact checks pass; the optimizer line they bring is dropped with them
    if not any(convergence_warning.match(l) for l in a) and any(convergence_warning.match(l) for l in b):
        b = [l for l in b if not convergence_warning.match(l)]
        if not any("singular" in l for l in b):
            b = [l for l in b if not l.startswith("optimizer (*)")]
    problems = []
    if len(a) != len(b):
        return [f"{len(a)} lines vs lme4's {len(b)}"]
    for i, (x, y) in enumerate(zip(a, b)):
        x, y = x.rstrip(), y.rstrip()
        if x == y:
            continue
        if NUMBER.sub("#", x).replace(" ", "") != NUMBER.sub("#", y).replace(" ", ""):
            problems.append(f"line {i}: {x!r} vs {y!r}")
            continue
        for u, v in zip(NUMBER.findall(x), NUMBER.findall(y)):
            decimals = len(v.split(".")[1].split("e")[0]) if "." in v else 0
            unit = 10.0 ** (-decimals) * (10.0 ** int(v.split("e")[1]) if "e" in v else 1.0)
            if abs(float(u) - float(v)) > max(rel_tol * abs(float(v)), 1.01 * unit):
                problems.append(f"line {i}: {x!r} vs {y!r}")
                break
    return problems


@pytest.fixture(scope="session")
def sleepstudy() -> pd.DataFrame:
    spec = reference("public", "sleepstudy_slopes_reml")
    return reference_data("public", spec)


@pytest.fixture(scope="module")
def fitted():
    """``fitted(key, fit)``: ``fit()`` (warnings silenced) the first time a test module asks for
    ``key``, the same object afterwards, so its tests share each fitted model."""
    cache = {}

    def get(key, fit):
        if key not in cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cache[key] = fit()
        return cache[key]
    return get
