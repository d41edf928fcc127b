"""pandas in, pandas out: fitted, residuals, predict and simulate on the caller's row index (R's
na.omit, or na.exclude's NaN at the dropped rows), R's re.form forms in predict and simulate,
clear errors for arguments of the wrong length or type, and what summary prints after ``Data:``.

Reference: tests/reference_print/na_exclude.json, lme4 1.1-31 on sleepstudy with named rows and
four incomplete ones (make_na_exclude_reference.R).
"""
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedjax as mj
from mixedjax import datasets
from mixedjax._src.arguments import ArgumentError
from mixedjax._src.formula import FormulaError

from conftest import relative_error
from references import read_json, reference_fit

REFERENCE = read_json("reference_print", "na_exclude.json")
FORMULA = "Reaction ~ Days + (Days | Subject)"
KEPT = [name for name, value in zip(REFERENCE["names"], REFERENCE["fitted"]) if value is not None]
# lme4 stops a little short of the optimum here (our REML criterion is 3.1e-8 lower): the fixed
# effects agree to 1e-7 and the conditional modes, so the fitted values, to 1.5e-6 of the fitted
# values' size (3.4e-4 on ~300). Residuals (y - fitted) carry that same absolute difference, so they
# are compared on the fitted values' scale.
FITTED_RTOL = 1e-5
FITTED_SCALE = float(np.nanmax(np.abs(np.array(REFERENCE["fitted"], float))))


def from_r(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], float)


@pytest.fixture(scope="module")
def sleep():
    data = datasets.load("sleepstudy")
    data.index = REFERENCE["names"]
    data.loc[data.index[np.array(REFERENCE["missing_reaction"]) - 1], "Reaction"] = np.nan
    data.loc[data.index[REFERENCE["missing_days"] - 1], "Days"] = np.nan
    return data


@pytest.fixture(scope="module")
def fit(sleep):
    with pytest.warns(mj.MissingValuesWarning, match="4 of 180 rows dropped"):
        return mj.lmer(FORMULA, sleep)


def test_outputs_are_series_on_the_callers_rows_without_the_dropped_ones(fit):
    assert REFERENCE["omit_names"] == KEPT  # lme4's names(fitted(fit)) under na.omit
    fitted = from_r(REFERENCE["fitted"])
    outputs = {"fitted": fit.fitted, "fittedvalues": fit.fittedvalues, "predict": fit.predict(),
               "residuals": fit.residuals(), "resid": fit.resid,
               "population": fit.predict(re_form=np.nan)}
    for name, series in outputs.items():
        assert isinstance(series, pd.Series) and list(series.index) == KEPT, name
    kept = ~np.isnan(fitted)
    assert fit.reml_criterion <= REFERENCE["reml_criterion"] + 1e-7 * REFERENCE["reml_criterion"]
    assert relative_error(outputs["fitted"], fitted[kept], 1.0) < FITTED_RTOL
    assert relative_error(outputs["predict"], from_r(REFERENCE["predict_conditional"])[kept], 1.0) < FITTED_RTOL
    assert relative_error(outputs["population"], from_r(REFERENCE["predict_population"])[kept], 1.0) < 1e-6
    assert relative_error(outputs["residuals"], from_r(REFERENCE["residuals"])[kept], FITTED_SCALE) < FITTED_RTOL
    np.testing.assert_array_equal(outputs["resid"], outputs["residuals"])


@pytest.mark.parametrize("call, key, floor", [
    (lambda f: f.residuals(na_action="exclude"), "residuals", lambda f: FITTED_SCALE),
    (lambda f: f.residuals("pearson", scaled=True, na_action="exclude"), "pearson_scaled",
     lambda f: FITTED_SCALE / f.sigma),
    (lambda f: f.predict(type="response", na_action="exclude"), "fitted", lambda f: 1.0),
    (lambda f: f.predict(re_form=np.nan, na_action="exclude"), "predict_population", lambda f: 1.0),
])
def test_na_exclude_gives_nan_at_the_dropped_rows_as_r(fit, call, key, floor):
    ours, theirs = call(fit), from_r(REFERENCE[key])
    assert list(ours.index) == REFERENCE["names"]
    np.testing.assert_array_equal(np.isnan(ours.to_numpy()), np.isnan(theirs))
    present = ~np.isnan(theirs)
    assert relative_error(ours.to_numpy()[present], theirs[present], floor(fit)) < FITTED_RTOL


def test_se_fit_frame_on_the_rows(fit):
    table = fit.predict(se_fit=True, na_action="exclude")
    assert list(table.columns) == ["fit", "se_fit"] and list(table.index) == REFERENCE["names"]
    np.testing.assert_array_equal(table["fit"].dropna(), fit.predict())


def test_simulate_gives_a_frame_on_the_rows(fit):
    sims = fit.simulate(3, seed=1)
    assert list(sims.columns) == ["sim_1", "sim_2", "sim_3"] and list(sims.index) == KEPT
    np.testing.assert_array_equal(sims.to_numpy(), fit.simulate(3, seed=1, as_frame=False))
    padded = fit.simulate(3, seed=1, na_action="exclude")
    assert list(padded.index) == REFERENCE["names"]
    np.testing.assert_array_equal(padded.dropna().to_numpy(), sims.to_numpy())
    assert padded.isna().all(axis=1).sum() == 4


def test_refit_takes_pandas_and_names_a_wrong_argument(fit, sleep):
    # the data's own column: matched to the fit's rows by label (its dropped rows are left out)
    assert fit.refit(sleep["Reaction"]).reml_criterion == pytest.approx(fit.reml_criterion, rel=1e-10)
    assert fit.refit(fit.simulate(1, seed=2)).nobs == fit.nobs  # a one-column frame, as lme4
    with pytest.raises(ArgumentError, match=r"refit's y, the new response must have 176 values .*\(100,\)"):
        fit.refit(np.ones(100))
    with pytest.raises(ArgumentError, match=r"refit's y: 176 of the fit's 176 row labels are not in its index"):
        fit.refit(pd.Series(np.ones(176)))
    with pytest.raises(ArgumentError, match="refit's y, the new response must be 176 numbers"):
        fit.refit(["a"] * 176)


def test_newdata_errors_name_the_argument_and_the_column(fit, sleep):
    rows = sleep.dropna().iloc[:3]
    with pytest.raises(mj.DataError, match="newdata must be a pandas DataFrame"):
        fit.predict(rows.to_dict("list"))
    with pytest.raises(mj.DataError, match="newdata lacks column 'Days' used by the fixed effects"):
        fit.predict(rows.drop(columns="Days"))
    with pytest.raises(mj.DataError, match="newdata lacks grouping column 'Subject'"):
        fit.predict(rows.drop(columns="Subject"))
    # without the random effects the grouping column is not needed
    population = fit.predict(rows.drop(columns="Subject"), re_form="~0")
    assert list(population.index) == list(rows.index)
    np.testing.assert_allclose(population, fit.predict(re_form=np.nan)[rows.index], rtol=1e-12)
    with pytest.raises(ArgumentError, match="na_action must be 'omit'.*or 'exclude'"):
        fit.predict(na_action="pass")
    with pytest.raises(ArgumentError, match="residuals type must be 'response' or 'pearson'"):
        fit.residuals("deviance")
    with pytest.raises(ArgumentError, match="allow_new_levels must be True or False"):
        fit.predict(rows, allow_new_levels="yes")


@pytest.fixture(scope="module")
def uncorrelated():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mj.lmer("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", datasets.load("sleepstudy"))


def test_simulate_re_form_in_r_forms(uncorrelated):
    fit = uncorrelated
    drawn = fit.simulate(4, seed=3, as_frame=False)
    for none in (np.nan, "~0", pd.NA):
        np.testing.assert_array_equal(fit.simulate(4, seed=3, re_form=none, as_frame=False), drawn)
    np.testing.assert_array_equal(fit.simulate(4, seed=3, re_form=None, as_frame=False),
                                  fit.simulate(4, seed=3, use_u=True, as_frame=False))
    with pytest.raises(ArgumentError, match="only one of use_u and re_form"):
        fit.simulate(2, use_u=True, re_form="~0")
    with pytest.raises(FormulaError, match=r"re_form term .*\(1 \| Plate\) is not a random-effects term"):
        fit.simulate(2, re_form="~(1 | Plate)")


def test_simulate_holds_only_the_terms_re_form_names(uncorrelated):
    """Intercepts held at their modes, slopes drawn: at Days = 0 only the residual varies, and the
    mean is the prediction with the intercepts alone (lme4's simulate(re.form = ~(1 | Subject)))."""
    fit, nsim = uncorrelated, 2000
    Y = fit.simulate(nsim, seed=4, re_form="~(1 | Subject)", as_frame=False)
    day0 = fit.spec.frame.data["Days"].to_numpy() == 0
    assert abs(Y[day0].var(axis=1).mean() / fit.sigma ** 2 - 1) < 0.05
    slope_sd = np.sqrt(fit.varcorr.vcov[1])
    spread = np.sqrt((slope_sd * fit.spec.frame.data["Days"].to_numpy()) ** 2 + fit.sigma ** 2)
    error = np.abs(Y.mean(axis=1) - fit.predict(re_form="~(1 | Subject)").to_numpy())
    assert np.all(error < 4.5 * spread / np.sqrt(nsim))


FORMULA_SMALL = "Reaction ~ Days + (1 | Subject)"


def test_data_line_prints_the_expression_passed():
    sleepstudy = datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for frame in [sleepstudy]:
            by_loop = mj.lmer(FORMULA_SMALL, frame)
        subset = mj.lmer(FORMULA_SMALL, sleepstudy[sleepstudy.Days > 0])
        spread = mj.lmer(FORMULA_SMALL,
                         data=sleepstudy[sleepstudy.Days
                                         > 0])
        in_comprehension = [mj.lmer(FORMULA_SMALL, d) for d in (sleepstudy,)][0]
        glmm = mj.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                        data=datasets.load("cbpp"), family="binomial")
        # no source to read (exec): the one name bound to the data, else "data"
        scope = {"mj": mj, "F": FORMULA_SMALL, "sleepstudy": sleepstudy}
        exec("fit = mj.lmer(F, sleepstudy)", scope)
        by_name = scope["fit"]
        scope["copy"] = sleepstudy
        exec("fit = mj.lmer(F, sleepstudy)", scope)
        ambiguous = scope["fit"]
    assert by_loop.data_name == "frame" and "   Data: frame\n" in str(by_loop.summary())
    assert subset.data_name == spread.data_name == "sleepstudy[sleepstudy.Days > 0]"
    assert "   Data: sleepstudy[sleepstudy.Days > 0]\n" in str(subset.summary())
    assert in_comprehension.data_name == "d"
    assert glmm.data_name == 'datasets.load("cbpp")'
    assert by_name.data_name == "sleepstudy" and ambiguous.data_name == "data"
    assert "   Data: data\n" in str(ambiguous.summary())


def test_bootstrap_passes_re_form_to_simulate(uncorrelated):
    held = uncorrelated.bootstrap(3, seed=5, re_form="~(1 | Subject)")
    batch = uncorrelated.refit_batch(uncorrelated.simulate(3, seed=5, re_form="~(1 | Subject)"))
    np.testing.assert_array_equal(held.batch.beta, batch.beta)


def test_glmer_results_are_pandas_and_refit_takes_simulate_frames():
    fit = reference_fit("public", "cbpp_binomial_laplace")
    index = list(range(fit.nobs))
    for series in (fit.fitted, fit.residuals(), fit.residuals("pearson"), fit.predict(type="response")):
        assert isinstance(series, pd.Series) and list(series.index) == index
    np.testing.assert_array_equal(fit.predict(type="response"), fit.fitted)
    one = fit.simulate(1, seed=7)
    refitted = fit.refit(one)
    np.testing.assert_array_equal(refitted.y, one["sim_1"].to_numpy())
    with pytest.raises(mj.DataError, match="refit: newresp must be numbers"):
        fit.refit(["a"] * fit.nobs)
