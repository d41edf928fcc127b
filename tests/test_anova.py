"""Likelihood-ratio tables (mixedjax.anova) against lme4's anova(m1, m2, ...).

References: tests/reference_inference/make_anova.R -> anova.json (tables at full precision, the
printed text, lme4's messages). glmer deviances are compared with lme4's refitted at a tight
PIRLS tolerance (tolPwrss = 1e-12): with its default tolerance lme4 stops PIRLS short on
grouseticks gt0 (-2 logLik 2010.1266 there, 2010.11359 converged, which is ours) and its optimizer
stops short on cbpp gm1 (184.05313 vs 184.05256, DESIGN.md section 11), so its printed tables for
those cases differ from ours in the last digits; their formatting is tested on R's own numbers.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedjax as mj
from mixedjax._src.inference.likelihood_ratio import AnovaTable, RefitMLWarning, anova, refit_ml

from references import case_data, cases, fit_case

CASES = cases("reference_inference", "anova.json")


@pytest.fixture(scope="module")
def case_fits(fitted):
    def fit_all(case):
        data = case_data(case)
        return [fit_case(m, data, case["data_name"]) for m in case["models"]]
    return lambda case_id: fitted(case_id, lambda: fit_all(CASES[case_id]))


def reference_column(case, column) -> np.ndarray:
    return np.array([np.nan if v == "NA" else v for v in case["table"][column]], float)


def run_anova(case, fits):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = anova(*fits, refit=case["refit"], names=[m["name"] for m in case["models"]])
    return table, [str(w.message) for w in caught if issubclass(w.category, RefitMLWarning)]


SLOW_CASES = {"grouseticks_poisson", "cbpp_period", "sleepstudy_fixed_effects"}  # > 30 s of compiles


@pytest.mark.parametrize("case_id", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW_CASES else c
                                     for c in sorted(CASES)])
def test_table_matches_lme4(case_id, case_fits):
    case = CASES[case_id]
    table, refit_messages = run_anova(case, case_fits(case_id))
    assert list(table.index) == case["rownames"]
    assert list(table.columns) == ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]
    assert refit_messages == case["messages"]
    np.testing.assert_array_equal(table["npar"], reference_column(case, "npar"))
    np.testing.assert_array_equal(table["Df"], reference_column(case, "Df"))
    if all(m["fun"] == "lmer" for m in case["models"]):
        for column in ("AIC", "BIC", "logLik", "deviance"):
            np.testing.assert_allclose(table[column], reference_column(case, column), rtol=1e-9)
        np.testing.assert_allclose(table["Chisq"], reference_column(case, "Chisq"), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(table["Pr(>Chisq)"], reference_column(case, "Pr(>Chisq)"), rtol=1e-4)
        assert str(table) == case["printed"]
    else:
        by_name = {m["name"]: m["tight_deviance"] for m in case["models"]}
        converged = np.array([by_name[n] for n in table.index])
        np.testing.assert_allclose(table["deviance"], converged, rtol=1e-7)
        # never worse than lme4's default fit
        assert np.all(table["deviance"].to_numpy() <= reference_column(case, "deviance") + 1e-6)


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_printed_text_of_lme4_numbers(case_id):
    """print.anova's formatting (zapsmall, rounding of Chisq, format.pval, stars, blanks for NA)
    reproduced exactly from lme4's own table."""
    case = CASES[case_id]
    columns = {c: reference_column(case, c) for c in case["table"]}
    table = AnovaTable(columns, index=case["rownames"])
    table["npar"] = table["npar"].astype(int)
    table.heading = case["heading"]
    assert str(table) == case["printed"]


def test_default_row_names_are_the_callers_variable_names(case_fits):
    fm1, fm2 = case_fits("sleepstudy_ml_pair")
    assert list(mj.anova(fm2, fm1).index) == ["fm1", "fm2"]


def test_default_row_names_fall_back_to_positions(case_fits):
    # the models are not bound to variables here: rows are named by argument position
    assert list(mj.anova(*case_fits("sleepstudy_ml_pair")).index) == ["m1", "m2"]


def test_refit_false_with_mixed_reml_warns(case_fits):
    ml_int, ml_slopes = case_fits("sleepstudy_ml_pair")
    reml_slopes = case_fits("sleepstudy_reml_norefit")[1]
    with pytest.warns(UserWarning, match="some models fit with REML = TRUE, some not"):
        table = anova(ml_int, reml_slopes, refit=False, names=["a", "b"])
    assert table.loc["b", "logLik"] == pytest.approx(reml_slopes.loglik)
    assert ml_slopes.loglik != pytest.approx(reml_slopes.loglik)


def test_ml_refit_reuses_the_compiled_fit(case_fits):
    reml_int, reml_slopes = case_fits("sleepstudy_reml_norefit")
    ml_slopes = case_fits("sleepstudy_ml_pair")[1]
    refit_ml(reml_slopes)  # compiles the ML variant of this structure at most once
    with mj.CompileCounter() as count:
        refitted = refit_ml(reml_slopes)
    assert count.lowered == 0
    assert refitted.deviance == pytest.approx(ml_slopes.deviance, rel=1e-9)
    assert not refitted.reml and reml_slopes.reml


def test_errors_for_different_data_and_kinds(case_fits, sleepstudy):
    fm1, fm2 = case_fits("sleepstudy_ml_pair")
    subset = mj.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy.iloc[:170], REML=False)
    with pytest.raises(ValueError, match="same size of dataset"):
        anova(fm1, subset)
    shifted = sleepstudy.assign(Reaction=sleepstudy["Reaction"] + 1.0)
    other = mj.lmer("Reaction ~ Days + (1 | Subject)", shifted, REML=False)
    with pytest.raises(ValueError, match="same response"):
        anova(fm1, other)
    gm0 = case_fits("cbpp_period")[0]
    with pytest.raises(TypeError, match="cannot compare linear"):
        anova(fm1, gm0)
    with pytest.raises(ValueError, match="one distinct name per model"):
        anova(fm1, fm2, names=["a"])
    with pytest.raises(TypeError, match="not fitted lmer/glmer"):
        anova(fm1, "fm2")


def test_single_model_dispatches_to_its_anova_method(monkeypatch):
    from mixedjax._src.results import MixedModelResults
    monkeypatch.setattr(MixedModelResults, "anova", lambda self, **kwargs: ("F table", kwargs))
    fit = object.__new__(MixedModelResults)  # the kind of object anova() accepts alone
    assert anova(fit, ddf="Kenward-Roger") == ("F table", {"ddf": "Kenward-Roger"})
    class WithTable:  # anything else is refused, whatever methods it has
        def anova(self, **kwargs):
            return ("F table", kwargs)
    for other in (WithTable(), object()):
        with pytest.raises(TypeError, match="no F-table method"):
            anova(other)
