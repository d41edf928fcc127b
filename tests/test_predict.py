"""Predictions on new data against lme4's predict(fit, newdata, re.form, allow.new.levels, type),
and standard errors of the fixed part against sqrt(diag(X V X')) computed in R.

References: tests/reference_inference/make_predict.R -> predict.json (glmer references fitted with
tight PIRLS and optimizer tolerances: lme4's defaults stop short on cbpp, DESIGN.md section 11).
Tolerances: predictions 1e-6 relative for lmer, 1e-4 for glmer; standard errors 1e-4 (they
depend on theta through vcov, which lme4's bobyqa leaves ~1e-5 short, e.g. Penicillin REML).

glmer standard errors are also compared with glmmTMB's (se_fit_tmb, 1e-5 on the link scale): its vcov inverts the
Laplace deviance's exact Hessian (TMB's autodiff), as ours does, while lme4's inverts a
finite-difference Hessian (deriv12, step 1e-4) of a deviance its PIRLS leaves short. On
poisson_offset that noise moves lme4's SE(x) by 4e-3 relative (0.028164 against 0.028284), so there
only glmmTMB's are compared: our deviance there equals glmmTMB's to 3e-12 relative (1186.5889690033
both), 8.8e-6 below lme4's value at lme4's own estimates, and our Hessian equals central differences
of our deviance to O(h^2) (checked by hand: 5e-3 absolute at h = 1e-3 on entries up to 2,520).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixedjax._src.frame import DataError

from references import case_data, cases, fit_case

CASES = cases("reference_inference", "predict.json")


@pytest.fixture(scope="module")
def fits(fitted):
    return lambda case_id: fitted(case_id, lambda: fit_case(CASES[case_id], case_data(CASES[case_id])))


def newdata(case) -> pd.DataFrame:
    frame = pd.DataFrame(case["newdata"])
    for column in case["numeric"]:
        frame[column] = frame[column].astype(float)
    return frame


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_predictions_match_lme4(case_id, fits):
    case = CASES[case_id]
    fit = fits(case_id)
    rtol = 1e-6 if case["fun"] == "lmer" else 1e-4
    results = []
    for p in case["predictions"]:
        re_form = p["re_form"] if isinstance(p["re_form"], str) else None
        result = fit.predict(newdata(case), re_form=re_form, allow_new_levels=p["allow_new_levels"],
                             type=p["type"], se_fit=True)
        np.testing.assert_allclose(result["fit"], p["fit"], rtol=rtol, err_msg=str(p))
        results.append((result, p))
        plain = fit.predict(newdata(case), re_form=re_form, allow_new_levels=p["allow_new_levels"],
                            type=p["type"])
        np.testing.assert_array_equal(plain, result["fit"].to_numpy())
    for result, p in results:
        if "se_fit_tmb" in p:  # glmer: the exact Laplace Hessian's vcov, as ours; on the response
            # scale times d mu / d eta at lme4's prediction, which carries the predictions' 1e-4
            tmb_rtol = 1e-5 if p["type"] == "link" else 1e-4
            np.testing.assert_allclose(result["se_fit"], p["se_fit_tmb"], rtol=tmb_rtol, err_msg=str(p))
        if case_id != "poisson_offset":
            np.testing.assert_allclose(result["se_fit"], p["se_fit"], rtol=1e-4, err_msg=str(p))


def test_new_grouping_level_needs_allow_new_levels(fits):
    fit = fits("sleepstudy_slopes")
    with pytest.raises(DataError, match=r"new level\(s\) \['999'\] of 'Subject'.*allow_new_levels=True"):
        fit.predict(newdata(CASES["sleepstudy_slopes"]))


def test_unseen_fixed_effect_level_is_an_error_naming_it(fits):
    fit = fits("cake_interaction")
    frame = newdata(CASES["cake_interaction"]).assign(recipe=["A", "D", "B", "C"])
    with pytest.raises(DataError, match=r"'recipe' has level\(s\) \['D'\]"):
        fit.predict(frame, allow_new_levels=True)


def test_bad_type_is_an_error(fits):
    with pytest.raises(ValueError, match="type must be 'link' or 'response'"):
        fits("sleepstudy_slopes").predict(type="mean")


def test_se_fit_on_the_fitted_data_is_the_fixed_part_uncertainty(fits):
    fit = fits("sleepstudy_slopes")
    result = fit.predict(se_fit=True)
    X = fit.spec.fixed.X
    expected = np.sqrt(np.sum((X @ fit.vcov_matrix) * X, axis=1))
    np.testing.assert_allclose(result["se_fit"], expected, rtol=1e-12)
    np.testing.assert_allclose(result["fit"], fit.fitted, rtol=1e-12)
