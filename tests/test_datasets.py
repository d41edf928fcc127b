"""mixedjax.datasets against the data the lme4 references were made from (tests/reference*)."""
import os

import numpy as np
import pandas as pd
import pytest

import mixedjax as mj
from mixedjax import datasets

from references import ROOTS, reference, reference_ids

# The reference CSV each data set was checked against; factor levels where a reference fit gives them.
_CSV = {"seed_normal": "seed1_normal", "seed_gamma": "seed2_gamma", "seed_inverse_gaussian": "seed3_invgauss"}
_LEVELS = {}
for _root, _fit_id in reference_ids("lmer") + reference_ids("glmer"):
    _spec = reference(_root, _fit_id)
    if _spec["dataset"] == f"{_spec['data_symbol']}.csv":
        _LEVELS.setdefault(_spec["data_symbol"], _spec.get("factor_levels") or {})


def _reference_csv(name: str) -> str | None:
    for root in ROOTS.values():
        path = os.path.join(root, "data", f"{_CSV.get(name, name)}.csv")
        if os.path.exists(path):
            return path
    return None


def test_every_dataset_but_kb07_has_a_reference_copy():
    assert {n for n in datasets.names() if _reference_csv(n) is None} <= {"kb07"}
    assert {"sleepstudy", "cbpp", "Dyestuff", "Pastes", "Penicillin", "grouseticks"} <= set(_LEVELS)


def _as_labels(column: pd.Series, factor: pd.Series | None = None) -> np.ndarray:
    """A factor's labels; a numeric reference column as the labels it codes."""
    if factor is None or not pd.api.types.is_numeric_dtype(column):
        return column.astype(str).to_numpy()
    if all(level.isdigit() for level in factor.cat.categories):
        return column.astype(int).astype(str).to_numpy()
    return factor.cat.categories.to_numpy()[column.astype(int)]  # a binary factor stored as 0/1


@pytest.mark.parametrize("name", [n for n in datasets.names() if _reference_csv(n)])
def test_dataset_equals_the_reference_data(name):
    ours, theirs = datasets.load(name), pd.read_csv(_reference_csv(name))
    assert len(ours) == len(theirs)
    for column, levels in _LEVELS.get(name, {}).items():
        assert list(ours[column].cat.categories) == [str(level) for level in levels], column
    for column in theirs.columns:
        if isinstance(ours[column].dtype, pd.CategoricalDtype):
            assert (_as_labels(ours[column]) == _as_labels(theirs[column], ours[column])).all(), column
        else:
            np.testing.assert_array_equal(ours[column].to_numpy(float), theirs[column].to_numpy(float))


def test_fit_on_a_dataset_gives_lme4s_numbers():
    spec = reference("public", "sleepstudy_slopes_reml")
    fit = mj.lmer(spec["formula"], datasets.load("sleepstudy"))
    theirs = spec["results"]
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(theirs["fixef"].values()), rtol=1e-7)
    assert list(fit.ranef["Subject"].index) == [str(level) for level in spec["factor_levels"]["Subject"]]


def test_load_returns_a_copy():
    first = datasets.load("Dyestuff")
    first["Yield"] = 0.0
    assert datasets.load("Dyestuff")["Yield"].iloc[0] != 0.0


def test_ordered_factors_stay_ordered_and_sources_are_recorded():
    assert datasets.load("InstEval")["studage"].cat.ordered
    assert not datasets.load("cbpp")["herd"].cat.ordered
    assert datasets.source("cbpp").startswith("lme4 ")


def test_unknown_name_names_the_known_ones():
    with pytest.raises(mj.DataError, match="sleepstudy"):
        datasets.load("sleepstudyy")


ISSUE_16_SETS = ("sleepstudy", "cbpp", "Dyestuff", "Penicillin", "Pastes", "InstEval", "VerbAgg",
                 "grouseticks", "kb07")


@pytest.mark.parametrize("name", ISSUE_16_SETS)
def test_each_set_loads_with_r_factor_coding_and_a_one_line_source(name):
    data = datasets.load(name)
    source = datasets.source(name)
    assert source.strip() and "\n" not in source
    factors = [c for c in data.columns if isinstance(data[c].dtype, pd.CategoricalDtype)]
    assert factors, "every one of these sets has R factors"
    for column in factors:  # every level is used, as in R's data
        assert set(data[column].astype(str)) == set(data[column].cat.categories), column


def test_cbpp_period_is_a_factor_as_in_lme4():
    cbpp = datasets.load("cbpp")
    assert list(cbpp["period"].cat.categories) == ["1", "2", "3", "4"]
    assert list(cbpp["herd"].cat.categories) == [str(i) for i in range(1, 16)]
    fit = mj.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    assert list(fit.fixef.index) == ["(Intercept)", "period2", "period3", "period4"]  # lme4's names
