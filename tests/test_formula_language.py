"""R's formula idioms (top-level bars, dotted names, a column named I, R calls, poly, scale,
%in%), each fitted by lmer and compared with lme4 1.1-31 (tests/make_formula_reference.R wrote
tests/reference_formula.json); and the calls we do not support, each an error naming the call."""

import numpy as np
import pandas as pd
import pytest

import mixedjax as mj
from mixedjax import datasets
from references import path, read_json

REFERENCE = read_json("reference_formula.json")
MODELS = sorted(k for k in REFERENCE if k not in ("provenance", "glmer_poisson", "anova_type3"))


def _frames() -> dict[str, pd.DataFrame]:
    sleep = datasets.load("sleepstudy")
    sleep["I"] = sleep["Days"] + 1  # the derived columns of make_formula_reference.R
    sleep["N"] = 2.0
    sleep["half"] = np.where(sleep["Days"] >= 5, "b", "a")
    sleep["subject_number"] = sleep["Subject"].astype(str).astype(float)
    iris = pd.read_csv(path("reference_formula_iris.csv"))
    return {"sleepstudy": sleep, "Dyestuff": datasets.load("Dyestuff"), "iris": iris}


@pytest.fixture(scope="module")
def frames():
    return _frames()


@pytest.fixture(scope="module")
def fits(frames):
    return {name: mj.lmer(REFERENCE[name]["formula"], frames[REFERENCE[name]["data"]])
            for name in MODELS}


@pytest.mark.parametrize("name", MODELS)
def test_fit_matches_lme4(fits, name):
    ref, fit = REFERENCE[name], fits[name]
    assert list(fit.fixef.index) == list(np.atleast_1d(ref["fixef_names"]))
    assert fit.reml_criterion == pytest.approx(ref["criterion"], rel=1e-6)
    assert list(dict.fromkeys(t.group for t in fit.spec.terms)) == list(np.atleast_1d(ref["groups"]))
    np.testing.assert_allclose(fit.fixef.to_numpy(), np.atleast_1d(ref["fixef"]), rtol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov_matrix)), np.atleast_1d(ref["se"]), rtol=1e-4)


@pytest.mark.parametrize("name", [m for m in MODELS if "predict_population" in REFERENCE[m]])
def test_predictions_on_new_data_use_the_fits_basis(fits, name):
    """poly() and scale() on new data keep the fitted data's coefficients, centre and scale."""
    ref = REFERENCE[name]
    newdata = pd.DataFrame({"Days": ref["newdata_days"], "Subject": ref["newdata_subject"]})
    np.testing.assert_allclose(fits[name].predict(newdata, re_form="~0"), ref["predict_population"],
                               rtol=1e-6)
    np.testing.assert_allclose(fits[name].predict(newdata), ref["predict_conditional"], rtol=1e-5)


def test_glmer_with_r_calls_matches_lme4():
    ref = REFERENCE["glmer_poisson"]
    fit = mj.glmer(ref["formula"], datasets.load(ref["data"]), family=mj.poisson())
    assert list(fit.fixef.index) == ref["fixef_names"]
    assert -2 * fit.loglik == pytest.approx(ref["minus_two_loglik"], rel=1e-6)
    np.testing.assert_allclose(fit.fixef.to_numpy(), ref["fixef"], rtol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov_matrix)), ref["se"], rtol=1e-2)


def test_type_3_anova_of_an_r_call_in_an_interaction_matches_lmertest(frames):
    ref = REFERENCE["anova_type3"]
    table = mj.lmer(ref["formula"], frames[ref["data"]]).anova(type=3).table
    assert list(table.index) == ref["terms"]
    np.testing.assert_allclose(table["F value"].to_numpy(float), ref["F"], rtol=1e-4)
    np.testing.assert_allclose(table["NumDF"].to_numpy(float), ref["NumDF"], rtol=1e-12)
    np.testing.assert_allclose(table["DenDF"].to_numpy(float), ref["DenDF"], rtol=1e-4)


@pytest.mark.parametrize("formula,call,instead", [
    ("Reaction ~ center(Days) + (1 | Subject)", "center()", "scale(x, scale = FALSE)"),
    ("Reaction ~ ns(Days, 3) + (1 | Subject)", "ns()", "a column computed"),
    ("Reaction ~ log10(Days + 1) + (1 | Subject)", "log10()", "I(log(x) / log(10))"),
    ("log2(Reaction) ~ Days + (1 | Subject)", "log2()", "I(log(x) / log(2))"),
    ("Reaction ~ Days + (poly2(Days) | Subject)", "poly2()", "supported calls"),
    ("Reaction ~ C(half, contr.sum) + (1 | Subject)", "contr.sum", "treatment contrasts"),
    # lme4 1.1-31: "couldn't evaluate grouping factor factor(subject_number) within model frame"
    ("Reaction ~ Days + (Days | factor(subject_number))", "always read as a factor",
     "(Days | subject_number)"),
])
def test_unsupported_calls_name_the_call_and_the_fix(frames, formula, call, instead):
    with pytest.raises(mj.FormulaError) as error:
        mj.lmer(formula, frames["sleepstudy"])
    assert call in str(error.value) and instead in str(error.value)


def test_top_level_double_bar_is_uncorrelated_terms(frames):
    fit = mj.lmer("Reaction ~ Days || Subject", frames["sleepstudy"])
    assert [str(t.bar) for t in fit.spec.terms] == ["(1 | Subject)", "(0 + Days | Subject)"]
    assert list(fit.fixef.index) == ["(Intercept)"]
    # lme4 1.1-31: formula(lmer(Reaction ~ Days || Subject, sleepstudy))
    assert fit.spec.formula.expanded_text == "Reaction ~ (1 | Subject) + (0 + Days | Subject)"


@pytest.mark.parametrize("name", ["factor_call", "as_factor_call", "in_operator", "dotted_names", "transforms",
                                  "column_named_I", "numeric_grouping", "top_level_slope_log"])
def test_predictions_on_the_fitted_rows_as_new_data_are_the_fitted_values(fits, frames, name):
    data = frames[REFERENCE[name]["data"]]
    rows = data.iloc[::7].reset_index(drop=True)
    fit = fits[name]
    np.testing.assert_allclose(fit.predict(rows), fit.predict()[::7], rtol=1e-10)


def test_a_factor_level_the_fit_never_saw_is_an_error(fits):
    with pytest.raises(mj.DataError, match="11"):
        fits["factor_call"].predict(pd.DataFrame({"Days": [11.0], "Subject": ["308"]}))


def test_a_column_that_hides_a_call_the_formula_uses_is_an_error(frames):
    with pytest.raises(mj.FormulaError, match=r"column 'I' has the name of the call I\(\)"):
        mj.lmer("Reaction ~ I + I(Days^2) + (1 | Subject)", frames["sleepstudy"])


def test_c_of_a_factor_is_named_as_r_names_it(frames):
    # R 4: colnames(model.matrix(~ C(g), data.frame(g = factor(c("a", "b", "c", "a"))))) is
    # "(Intercept)" "C(g)b" "C(g)c"; fitted as the same model as factor(half)
    fit = mj.lmer("Reaction ~ C(half) + (1 | Subject)", frames["sleepstudy"])
    same = mj.lmer("Reaction ~ half + (1 | Subject)", frames["sleepstudy"])
    assert list(fit.fixef.index) == ["(Intercept)", "C(half)b"]
    np.testing.assert_allclose(fit.fixef.to_numpy(), same.fixef.to_numpy(), rtol=1e-12)
