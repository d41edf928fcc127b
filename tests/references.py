"""The one reader of the references the tests compare with (lme4, lmerTest, pbkrtest, glmmTMB).

Each reference is written by the R script next to it, which records its provenance. They come in
four layouts, all read here:

* reference fits: ``tests/reference/`` (the public root) and ``tests/reference_extra/`` (the
  extra root), each with ``fits/<id>.json`` and ``fits/<id>.summary.txt`` (lme4's numbers and
  printed summary) and ``data/<name>.csv`` (the data, factors with R's levels in the fit's
  ``factor_levels``): ``reference_ids``, ``reference``, ``reference_data``, ``reference_fit``;
* case lists: one JSON file holding a list of cases, each with an ``id``
  (``reference_inference/anova.json``, ``predict.json``, ``variance_components.json``): ``cases``,
  with ``case_data`` and ``fit_case`` for the models they describe;
* one JSON file per case in a folder (``reference_inference/ddf/``, ``profile/``,
  ``profile_dispersion/``, ``reference_print/``, ``reference_scale/fits/``): ``case_ids`` and
  ``read_json``;
* one JSON document (``reference_formula.json``, ``reference_shift_scale.json``,
  ``reference_structured/structured.json``, ``reference_glmm/fits.json``,
  ``reference_negative_binomial/fits.json``): ``read_json``.

Paths are relative to ``tests/``. jsonlite writes R's NA as the string ``"NA"``.
"""
from __future__ import annotations

import functools
import glob
import json
import os
import warnings

import pandas as pd

import mixedjax as mj

HERE = os.path.dirname(os.path.abspath(__file__))
ROOTS = {"public": os.path.join(HERE, "reference"), "extra": os.path.join(HERE, "reference_extra")}
ROOT_OF_FOLDER = {"reference": "public", "reference_extra": "extra"}  # how the R scripts name a root


def path(*parts: str) -> str:
    return os.path.join(HERE, *parts)


def read_json(*parts: str):
    with open(path(*parts)) as stream:
        return json.load(stream)


def read_text(*parts: str) -> str:
    with open(path(*parts)) as stream:
        return stream.read()


def cases(*parts: str) -> dict[str, dict]:
    """A case list, by case id."""
    return {case["id"]: case for case in read_json(*parts)}


def case_ids(*folder: str) -> list[str]:
    """The ids of a folder of one JSON file per case, sorted."""
    return sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(path(*folder), "*.json")))


# ---- reference fits ------------------------------------------------------------------------------

def reference_ids(fun: str) -> list[tuple[str, str]]:
    """(root, fit id) of every reference fit of ``fun`` ("lmer" or "glmer")."""
    out = []
    for root_name, root in ROOTS.items():
        for fit_path in sorted(glob.glob(os.path.join(root, "fits", "*.json"))):
            with open(fit_path) as stream:
                spec = json.load(stream)
            if spec.get("fun") == fun:
                out.append((root_name, spec["id"]))
    return out


@functools.cache
def reference(root_name: str, fit_id: str) -> dict:
    """A reference fit's JSON, with its printed summary as ``summary_text``."""
    spec = read_json(ROOTS[root_name], "fits", f"{fit_id}.json")
    spec["summary_text"] = read_text(ROOTS[root_name], "fits", f"{fit_id}.summary.txt")
    return spec


@functools.cache
def dataset(root_name: str, csv: str, factors: tuple[tuple[str, tuple[str, ...]], ...]) -> pd.DataFrame:
    """A root's data file, ``factors`` ((column, levels), ...) as categoricals with R's levels.
    Shared between callers: copy before changing it."""
    data = pd.read_csv(os.path.join(ROOTS[root_name], "data", csv))
    for column, levels in factors:
        data[column] = pd.Categorical(data[column].astype(str), categories=list(levels))
    return data


def _factors(factor_levels) -> tuple:
    return tuple((c, tuple(str(level) for level in levels)) for c, levels in (factor_levels or {}).items())


def reference_data(root_name: str, spec: dict) -> pd.DataFrame:
    """A copy of the data a reference fit was made on."""
    return dataset(root_name, spec["dataset"], _factors(spec.get("factor_levels"))).copy()


@functools.cache
def reference_fit(root_name: str, fit_id: str):
    """Our fit of a reference fit's model, one per process (warnings silenced)."""
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


# ---- the models of case lists --------------------------------------------------------------------

def case_data(case: dict, csv: str | None = None) -> pd.DataFrame:
    """A copy of a case's data: ``csv`` (default the case's ``csv``, e.g.
    ``reference/data/sleepstudy.csv``) with the case's ``factor_levels``."""
    folder, _, name = (csv or case["csv"]).partition("/data/")
    return dataset(ROOT_OF_FOLDER[folder], name, _factors(case["factor_levels"])).copy()


def fit_case(model: dict, data: pd.DataFrame, data_name: str | None = None):
    """lmer or glmer of a case's model (``fun``, ``formula``, ``REML`` or ``family``)."""
    if model["fun"] == "lmer":
        return mj.lmer(model["formula"], data, REML=model["REML"], data_name=data_name)
    return mj.glmer(model["formula"], data, family=model["family"], data_name=data_name)
