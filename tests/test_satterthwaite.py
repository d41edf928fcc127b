"""Satterthwaite df, t and F tests, type I / III ANOVA and summary(ddf=...) against lmerTest 3.1-3
(tests/reference_inference/make_ddf.R)."""

import numpy as np
import pandas as pd
import pytest

from ddf_reference import (AT_LME4_TOL, IDS, ddf_reference, fit_for, lme4_stopped_short,
                           log_p, max_relative, text, tolerance, values, without_correlation_note)
from mixedjax._src.inference import satterthwaite
from mixedjax._src.inference.fixed_effect_tests import hypotheses
from conftest import summary_lines_agree
from references import reference_fit


@pytest.mark.parametrize("fit_id", IDS)
def test_df_at_lme4_estimates_match_lmerTest(fit_id):
    """The method itself: at lme4's (theta, sigma) our exact derivatives give lmerTest's
    finite-difference vcov(varpar) and df."""
    fit, ref = fit_for(fit_id), ddf_reference(fit_id)
    state = satterthwaite.state_at(ref["theta"], ref["sigma"], fit.problem, fit.reml)
    assert max_relative(state.vcov_varpar, values(ref["vcov_varpar"]), 1e-8) < 1e-5
    df = [satterthwaite.t_test(state, row)[2] for row in np.eye(len(fit.beta))]
    assert max_relative(df, values(ref["coef_satterthwaite"])[:, 2]) < AT_LME4_TOL


@pytest.mark.parametrize("fit_id", IDS)
def test_coef_table_matches_lmerTest(fit_id):
    fit, ref = fit_for(fit_id), ddf_reference(fit_id)
    table = fit.coef_table(ddf="Satterthwaite")
    assert list(table.columns) == ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    assert list(table.index) == ddf_reference(fit_id)["coef_satterthwaite"]["rownames"]
    assert max_relative(log_p(table), log_p(values(ref["coef_satterthwaite"])), 1e-3) < tolerance(fit_id)


@pytest.mark.parametrize("fit_id", IDS)
def test_contest_matches_lmerTest(fit_id):
    fit, ref = fit_for(fit_id), ddf_reference(fit_id)
    for name, case in ref["contrasts"].items():
        L = values(case["L"])
        joint = fit.contest(L, ddf="Satterthwaite", joint=True)
        assert list(joint.columns) == case["joint_satterthwaite"]["colnames"]
        assert max_relative(log_p(joint), log_p(values(case["joint_satterthwaite"])), 1e-3) \
            < tolerance(fit_id), name
        each = fit.contest(pd.DataFrame(L, columns=fit.fixef.index), joint=False)
        assert max_relative(log_p(each), log_p(values(case["each_satterthwaite"])), 1e-3) \
            < tolerance(fit_id), name


@pytest.mark.parametrize("fit_id", IDS)
@pytest.mark.parametrize("anova_type", [1, 3])
def test_anova_hypotheses_and_table_match_lmerTest(fit_id, anova_type):
    fit, ref = fit_for(fit_id), ddf_reference(fit_id)
    expected = ref[f"anova{anova_type}_hypotheses"] or {}
    if isinstance(expected, list):  # R wrote an intercept-only model's empty list as [empty matrix]
        assert all(not item["values"] for item in expected)
        expected = {}
    ours = hypotheses(fit, anova_type)
    assert list(ours) == list(expected)
    for term, L in expected.items():
        assert np.allclose(ours[term], values(L), atol=1e-6), term
    table = fit.anova(type=anova_type)
    reference = ref[f"anova{anova_type}_satterthwaite"]
    if not expected:
        assert len(table.table) == 0
        return
    assert list(table.table.index) == list(expected)
    assert max_relative(log_p(table.table), log_p(values(reference)), 1e-3) < tolerance(fit_id)


@pytest.mark.parametrize("fit_id", IDS)
def test_printed_anova_and_summary_match_lmerTest(fit_id):
    """Identical text, except where the printed digits resolve the differences that are
    expected: lmerTest's numDeriv Hessian is accurate to ~1e-6 relative (our autodiff one is exact;
    see test_df_at_lme4_estimates_match_lmerTest) and df print up to 8 significant digits
    (cake_numtemp_ml: 211.51879 vs lmerTest's 211.51900); and where lme4 stopped short of the
    optimum, all numbers move in their last digits, and far-tail p-values by about F/2 times as
    much (orthodont_slopes_reml: F 88.00 vs 88.04, p 1.146e-09 vs 1.136e-09; t 14.143 vs 14.147,
    p 1.97e-13 vs 1.94e-13)."""
    fit = fit_for(fit_id)
    printed = [(str(fit.anova()), text(fit_id, "anova3_satterthwaite")),
               (without_correlation_note(str(fit.summary(ddf="Satterthwaite"))),
                without_correlation_note(text(fit_id, "summary_satterthwaite")))]
    for ours, theirs in printed:
        if ours.rstrip() != theirs.rstrip():
            rel_tol = 3e-2 if lme4_stopped_short(fit_id) else 1e-5
            assert summary_lines_agree(ours, theirs, rel_tol) == []


def test_summary_without_ddf_is_lme4s(sleepstudy):
    fit = reference_fit("public", "sleepstudy_slopes_reml")
    assert str(fit.summary()) == str(fit.summary(ddf=None))
    assert "Satterthwaite" not in str(fit.summary())
    assert list(fit.coef_table(ddf=None).columns) == ["Estimate", "Std. Error", "t value"]


def test_contrast_forms_agree_and_bad_input_is_named():
    fit = reference_fit("public", "sleepstudy_slopes_reml")
    by_vector = fit.contest([0, 1], joint=False)
    by_dict = fit.contest({"Days": 1}, joint=False)
    assert np.allclose(by_vector.to_numpy(), by_dict.to_numpy())
    with pytest.raises(ValueError, match="Day"):
        fit.contest({"Day": 1})
    with pytest.raises(ValueError, match="2 columns"):
        fit.contest([1, 0, 0])
    with pytest.raises(ValueError, match="ddf"):
        fit.coef_table(ddf="Satterwhaite")
    with pytest.raises(ValueError, match="type"):
        fit.anova(type=2)


def test_glmer_fits_refuse_ddf_but_give_z_table():
    fit = reference_fit("public", "cbpp_binomial_laplace")
    table = fit.coef_table()
    assert list(table.columns) == ["Estimate", "Std. Error", "z value", "Pr(>|z|)"]
    expected = np.asarray(fit.summary_data().coef_values, float)
    assert np.allclose(table.to_numpy(), expected, rtol=1e-12)
    for call in (lambda: fit.coef_table(ddf="Satterthwaite"), lambda: fit.contest([1, 0, 0, 0]),
                 lambda: fit.anova()):
        with pytest.raises(TypeError, match="linear mixed models"):
            call()
