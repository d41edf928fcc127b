"""Shared test helpers: lme4 reference fits (tests/reference*, made by the R scripts there) and
one cached fit per reference, so every test module reuses the same fitted models."""
from __future__ import annotations

import functools
import glob
import json
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

import mixedjax as mj  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOTS = {"public": os.path.join(HERE, "reference"), "extra": os.path.join(HERE, "reference_extra")}


def reference_ids(fun: str) -> list[tuple[str, str]]:
    out = []
    for root_name, root in ROOTS.items():
        for path in sorted(glob.glob(os.path.join(root, "fits", "*.json"))):
            spec = json.load(open(path))
            if spec.get("fun") == fun:
                out.append((root_name, spec["id"]))
    return out


@functools.cache
def reference(root_name: str, fit_id: str) -> dict:
    spec = json.load(open(os.path.join(ROOTS[root_name], "fits", f"{fit_id}.json")))
    spec["summary_text"] = open(os.path.join(ROOTS[root_name], "fits", f"{fit_id}.summary.txt")).read()
    return spec


@functools.cache
def dataset(root_name: str, csv: str, factors: tuple[tuple[str, tuple[str, ...]], ...]) -> pd.DataFrame:
    data = pd.read_csv(os.path.join(ROOTS[root_name], "data", csv))
    for column, levels in factors:
        data[column] = pd.Categorical(data[column].astype(str), categories=list(levels))
    return data


def reference_data(root_name: str, spec: dict) -> pd.DataFrame:
    factors = tuple((c, tuple(str(l) for l in levels))
                    for c, levels in (spec.get("factor_levels") or {}).items())
    return dataset(root_name, spec["dataset"], factors).copy()


@functools.cache
def reference_fit(root_name: str, fit_id: str):
    spec = reference(root_name, fit_id)
    kwargs = {k: spec[k] for k in ("weights", "offset") if spec.get(k)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec["fun"] == "lmer":
            return mj.lmer(spec["formula"], reference_data(root_name, spec), REML=bool(spec["REML"]),
                           data_name=spec["data_symbol"], **kwargs)
        family = getattr(mj, {"inverse.gaussian": "inverse_gaussian"}.get(spec["family"], spec["family"]))
        return mj.glmer(spec["formula"], reference_data(root_name, spec), family=family(link=spec["link"]),
                        nAGQ=spec["nAGQ"] if spec.get("nAGQ") is not None else 1,
                        data_name=spec["data_symbol"], **kwargs)


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
