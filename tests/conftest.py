"""Shared test helpers and fixtures: comparisons with lme4's numbers and printed text, the
sleepstudy data, and ``fitted``, the one cache of fitted models a test module shares between its
tests. The references are read by tests/references.py."""
from __future__ import annotations

import gc
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


# A worker's memory. JAX keeps every program it compiles in its own caches (executables, traces,
# and the programs of each fit's deviance closures, with the fit's data as constants) for as long as
# the process lives, so a worker running hundreds of fits grew to 6.5 GB; dropping mixedjax's
# store alone frees nothing while JAX holds the same executables. So after a test the worker drops
# both (``release_compiled_programs``) when it is resident above
#   RELEASE_AFTER_MODULE_MB, at a module's last test: that module's fits are gone, and later
#     modules load mixedjax's programs from the disk store;
#   RELEASE_AFTER_TEST_MB, after any test: the module's later tests recompile its fits' closures
#     (about 10 s a release in test_variance_components.py), so only where the worker must.
# One test grows a worker by at most 1.2 GB (test_scale.py's structured Hessian), so workers stay
# under the guide's 3 GB.
RELEASE_AFTER_MODULE_MB = 1000
RELEASE_AFTER_TEST_MB = 1600


def _resident_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # not Linux: nothing measured, nothing released
        pass
    return 0.0


def release_compiled_programs() -> None:
    """Drop every compiled program held in memory (mixedjax's store and JAX's caches)."""
    import jax

    from mixedjax._src import compilation
    compilation.clear_programs()
    jax.clear_caches()
    gc.collect()
    compilation.release_free_heap()  # glibc keeps freed heap pages otherwise


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield  # after the test's fixtures (a module's last test: the module's too) are torn down
    last_of_module = nextitem is None or nextitem.module is not item.module
    if _resident_mb() > (RELEASE_AFTER_MODULE_MB if last_of_module else RELEASE_AFTER_TEST_MB):
        release_compiled_programs()


def pytest_configure(config):
    # -n's default distribution ("load") hands workers runs of consecutive tests, so a module can be
    # split between both workers, each fitting the module's models and compiling their programs;
    # whole modules per worker ("loadfile") do that once (-n alone means "load"; another --dist stays).
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadfile"


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
