"""Kenward-Roger adjusted vcov, df and F tests against pbkrtest 0.5.2 (through lmerTest's
summary / contest / anova; tests/reference_inference/make_ddf.R)."""
import numpy as np
import pytest

from ddf_reference import IDS, ddf_reference, fit_for, log_p, max_relative, tolerance, values
from mixedjax._src.inference import kenward_roger
from mixedjax._src.inference.kenward_roger import KenwardRogerError

# pbkrtest ignores prior weights (identity residual block) while vcov(beta) uses them; we use
# sigma^2 W^-1 (consistent), so the weighted fit is not compared
REML_IDS = [i for i in IDS if ddf_reference(i)["REML"] and i != "sleepstudy_weights_reml"]


@pytest.mark.parametrize("fit_id", REML_IDS)
def test_adjusted_vcov_at_lme4_estimates_matches_pbkrtest(fit_id):
    fit, ref = fit_for(fit_id), ddf_reference(fit_id)
    beta = values(ref["coef_kr"])[:, 0]
    state = kenward_roger.state_at(fit.spec, ref["theta"], ref["sigma"], beta, values(ref["vcov"]))
    # errors on the correlation scale, |ours - theirs|_ij / sqrt(theirs_ii theirs_jj), not relative
    # per entry: entries that are exactly zero hold rounding noise. In chickweight_timefactor_reml
    # Cov(TimeF2, Diet) = 0 (every chick is weighed at times 0 and 2); lme4's vcov has 4e-13 there
    # (diagonal 31 to 89), and our adjusted matrix and pbkrtest's differ there by 6e-14 (6% of the
    # former floor 1e-12); both are within 3e-14 (correlation scale) of a 50-digit evaluation of
    # Kenward-Roger's formula at lme4's estimates
    reference = values(ref["vcov_adj"])
    scale = np.sqrt(np.outer(np.diag(reference), np.diag(reference)))
    assert np.max(np.abs(state.vcov_adjusted - reference) / scale) < 1e-8


@pytest.mark.parametrize("fit_id", REML_IDS)
def test_coef_table_and_contests_match_pbkrtest(fit_id):
    fit, ref = fit_for(fit_id), ddf_reference(fit_id)
    table = fit.coef_table(ddf="Kenward-Roger")
    assert max_relative(log_p(table), log_p(values(ref["coef_kr"])), 1e-3) < tolerance(fit_id)
    for name, case in ref["contrasts"].items():
        joint = fit.contest(values(case["L"]), ddf="Kenward-Roger")
        assert max_relative(log_p(joint), log_p(values(case["joint_kr"])), 1e-3) < tolerance(fit_id), name
        each = fit.contest(values(case["L"]), ddf="Kenward-Roger", joint=False)
        assert max_relative(log_p(each), log_p(values(case["each_kr"])), 1e-3) < tolerance(fit_id), name
    anova = fit.anova(ddf="Kenward-Roger").table
    if len(anova):
        assert max_relative(log_p(anova), log_p(values(ref["anova3_kr"])), 1e-3) < tolerance(fit_id)


def test_ml_fits_and_large_models_are_refused():
    fit = fit_for("sleepstudy_slopes_ml")
    with pytest.raises(KenwardRogerError, match="REML"):
        fit.coef_table(ddf="Kenward-Roger")
