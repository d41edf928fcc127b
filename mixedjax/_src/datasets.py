"""Example data sets, with R's column types and factor levels.

>>> from mixedjax import datasets
>>> sleepstudy = datasets.load("sleepstudy")          # lme4's data(sleepstudy)
>>> datasets.names()                                  # doctest: +ELLIPSIS
('Dyestuff', 'Dyestuff2', ...)

R factors become pandas categoricals with R's levels in R's order (cbpp's herd runs 1, 2, ..., 15,
not 1, 10, 11, ...), so random effects, coefficients and contrasts come out in lme4's order. Ordered
factors stay ordered. The files were written from R's own objects by ``data/make_datasets.R``,
which also records each set's source in ``data/datasets.json``.
"""
from __future__ import annotations

import functools
import json
from importlib import resources

import pandas as pd

from .frame import DataError

_DATA = resources.files(__package__) / "data"


@functools.cache
def _catalogue() -> dict:
    return json.loads((_DATA / "datasets.json").read_text(encoding="utf-8"))


def names() -> tuple[str, ...]:
    """The names :func:`load` accepts, sorted."""
    return tuple(sorted(_catalogue()))


def source(name: str) -> str:
    """Where data set ``name`` comes from (an R package and version, or a reference file)."""
    return _entry(name)["source"]


def _entry(name: str) -> dict:
    catalogue = _catalogue()
    if name not in catalogue:
        raise DataError(f"no data set named {name!r}; mixedjax.datasets.names() lists them: "
                        f"{', '.join(names())}")
    return catalogue[name]


def _typed(column: pd.Series, description: dict) -> pd.Series:
    kind = description["kind"]
    if kind in ("factor", "ordered"):
        dtype = pd.CategoricalDtype(description["levels"], ordered=kind == "ordered")
        return column.astype(str).astype(dtype)
    return column.astype("int64" if kind == "integer" else "float64")


@functools.cache
def _read(name: str) -> pd.DataFrame:
    columns = _entry(name)["columns"]
    with (_DATA / f"{name}.csv.gz").open("rb") as stream:
        raw = pd.read_csv(stream, compression="gzip", dtype=str, keep_default_na=False)
    return pd.DataFrame({column: _typed(raw[column], columns[column]) for column in columns})


def load(name: str) -> pd.DataFrame:
    """Data set ``name`` as a new DataFrame (a copy: changing it changes no later load)."""
    return _read(name).copy()
