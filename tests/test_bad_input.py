"""Bad input gets a clear error naming the column, term or value; missing rows are reported."""
import numpy as np
import pandas as pd
import pytest

import mixedjax as mj


@pytest.fixture
def data(sleepstudy):
    return sleepstudy.copy()


def test_missing_column_is_named_with_suggestion(data):
    with pytest.raises(mj.DataError, match=r"'Dayz'.*did you mean 'Days'"):
        mj.lmer("Reaction ~ Dayz + (1 | Subject)", data)


def test_non_numeric_response(data):
    data["label"] = "a"
    with pytest.raises(mj.DataError, match="response column 'label' must be numeric"):
        mj.lmer("label ~ Days + (1 | Subject)", data)


def test_grouping_factor_with_one_level(data):
    data["one"] = "x"
    with pytest.raises(mj.DataError, match="'one' has 1 level"):
        mj.lmer("Reaction ~ Days + (1 | one)", data)


def test_grouping_factor_with_a_level_per_row(data):
    data["row"] = np.arange(len(data))
    with pytest.raises(mj.DataError, match=r"must be < number of observations \(problems: row"):
        mj.lmer("Reaction ~ Days + (1 | row)", data)


def test_formula_without_random_effects(data):
    with pytest.raises(mj.FormulaError, match="no random-effects terms"):
        mj.lmer("Reaction ~ Days", data)


def test_empty_and_all_missing_data(data):
    with pytest.raises(mj.DataError, match="no rows"):
        mj.lmer("Reaction ~ Days + (1 | Subject)", data.iloc[:0])
    data["Reaction"] = np.nan
    with pytest.raises(mj.DataError, match="no complete rows"):
        mj.lmer("Reaction ~ Days + (1 | Subject)", data)


def test_missing_values_are_dropped_counted_and_reported(data):
    original = data.copy()
    data.loc[[3, 10, 50], "Reaction"] = np.nan
    snapshot = data.copy()
    with pytest.warns(mj.MissingValuesWarning, match="3 of 180 rows dropped .* Reaction"):
        fit = mj.lmer("Reaction ~ Days + (Days | Subject)", data)
    assert fit.nobs == 177
    pd.testing.assert_frame_equal(data, snapshot)  # the caller's frame is untouched
    complete = mj.lmer("Reaction ~ Days + (Days | Subject)", original.drop(index=[3, 10, 50]))
    assert abs(fit.reml_criterion - complete.reml_criterion) < 1e-8


def test_rank_deficient_fixed_effects_drop_columns_with_message(data):
    data["Days2"] = 2.0 * data["Days"]
    with pytest.warns(mj.RankDeficiencyWarning, match="dropping 1 column / coefficient: Days2"):
        fit = mj.lmer("Reaction ~ Days + Days2 + (1 | Subject)", data)
    assert list(fit.fixef.index) == ["(Intercept)", "Days"]
    assert "fit warnings:" in str(fit.summary())


def test_weights_argument_errors(data):
    with pytest.raises(mj.DataError, match="'wt'.*weights= argument"):
        mj.lmer("Reaction ~ Days + (1 | Subject)", data, weights="wt")
    with pytest.raises(mj.DataError, match="has 3 values but data has 180 rows"):
        mj.lmer("Reaction ~ Days + (1 | Subject)", data, weights=[1, 2, 3])


def test_caller_frame_is_not_modified(data):
    before = data.copy()
    mj.lmer("Reaction ~ Days + (Days | Subject)", data)
    pd.testing.assert_frame_equal(data, before)
