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


def test_infinite_weights_stop_as_in_lme4(data):
    weights = np.ones(len(data))
    weights[5] = np.inf  # lme4: "objective in x0 returns NA"
    with pytest.raises(mj.DataError, match=r"weights has 1 infinite value \(first in row 5\)"):
        mj.lmer("Reaction ~ Days + (1 | Subject)", data, weights=weights)
    data["off"] = 0.0
    data.loc[2, "off"] = -np.inf
    with pytest.raises(mj.DataError, match="offset column 'off' has 1 infinite value "):
        mj.lmer("Reaction ~ Days + (1 | Subject)", data, offset="off")


def test_all_zero_weights(data):
    with pytest.raises(mj.DataError, match="weights are all zero"):
        mj.lmer("Reaction ~ Days + (1 | Subject)", data, weights=np.zeros(len(data)))


def test_object_column_of_numbers_is_numeric(data):
    reference = mj.lmer("Reaction ~ Days + (1 | Subject)", data)
    data["Days"] = data["Days"].astype(float).astype(object)
    fit = mj.lmer("Reaction ~ Days + (1 | Subject)", data)
    assert list(fit.fixef.index) == ["(Intercept)", "Days"]  # not a 10-level factor
    assert fit.reml_criterion == pytest.approx(reference.reml_criterion, rel=1e-12)
    data.loc[3, "Days"] = None  # a missing value in a numeric column, as R's NA
    with pytest.warns(mj.MissingValuesWarning, match="1 of 180 rows dropped .* Days"):
        with_missing = mj.lmer("Reaction ~ Days + (1 | Subject)", data)
    assert list(with_missing.fixef.index) == ["(Intercept)", "Days"]


def test_object_column_mixing_numbers_and_strings(data):
    data["mixed"] = pd.Series([1.5, "a"] * 90, dtype=object)
    with pytest.raises(mj.DataError, match=r"column 'mixed' mixes numbers with other values \(e.g. 'a'\)"):
        mj.lmer("Reaction ~ mixed + (1 | Subject)", data)


def test_duplicate_column_names(data):
    doubled = pd.concat([data, data[["Days"]]], axis=1)
    with pytest.raises(mj.DataError, match="more than one column named 'Days'"):
        mj.lmer("Reaction ~ Days + (1 | Subject)", doubled)
    mj.lmer("Reaction ~ 1 + (1 | Subject)", doubled)  # an unused duplicate does not matter


@pytest.mark.parametrize("formula, message", [
    ("Reaction ~ Days + (1 | Subject) +", r"'\+' with no term after it .*end of the formula"),
    ("Reaction ~ Days + (1 + | Subject)", r"'\+' with no term after it .*before '\|'"),
    ("Reaction ~ Days + (1 | Subject/)", r"'/' with no term after it .*before '\)'"),
    ("Reaction ~ . + (1 | Subject)", r"'\.' \(all other columns\) .* is not supported"),
    ("Days ~ Days + (1 | Subject)", r"response 'Days' is also a fixed-effects term"),
])
def test_malformed_formulas(data, formula, message):
    with pytest.raises(mj.FormulaError, match=message):
        mj.lmer(formula, data)


def test_backticked_dotted_names_work_as_in_r(data):
    reference = mj.lmer("Reaction ~ Days + (Days | Subject)", data)
    dotted = data.rename(columns={"Days": "days.of.sleep"})
    fit = mj.lmer("Reaction ~ `days.of.sleep` + (`days.of.sleep` | Subject)", dotted)
    assert list(fit.fixef.index) == ["(Intercept)", "days.of.sleep"]
    assert fit.reml_criterion == pytest.approx(reference.reml_criterion, rel=1e-12)
    # R reads a dotted name whole, backticked or not
    bare = mj.lmer("Reaction ~ days.of.sleep + (days.of.sleep | Subject)", dotted)
    assert list(bare.fixef.index) == ["(Intercept)", "days.of.sleep"]
    assert bare.reml_criterion == pytest.approx(reference.reml_criterion, rel=1e-12)


def test_weights_given_as_text_are_an_error(data):
    with pytest.raises(mj.DataError, match="weights= must be a column name or numbers"):
        mj.lmer("Reaction ~ Days + (1 | Subject)", data, weights=["1.0"] * len(data))


@pytest.mark.parametrize("convert", [
    lambda days: pd.to_timedelta(days, unit="D"),  # raised a TypeError from float()
    lambda days: pd.Timestamp("2020-01-01") + pd.to_timedelta(days, unit="D"),
    lambda days: days.astype(complex)])  # numpy dropped the imaginary part
def test_dates_durations_and_complex_columns(data, convert):
    data["Days"] = convert(data["Days"])
    with pytest.raises(mj.DataError, match=r"column 'Days' has type .* which a model cannot use"):
        mj.lmer("Reaction ~ Days + (1 | Subject)", data)
