"""Standard errors of variance components (SD scale) against two R computations.

References: tests/reference_inference/make_variance_components.R -> variance_components.json:
(a) 2 H^{-1} with H numDeriv's finite-difference Hessian of lme4's own deviance on the SD scale
(REML criterion / ML deviance with sigma free; glmer: Laplace deviance over (SDs, beta));
(b) lmer: lmerTest's vcov_varpar carried to the SD scale by the delta method.
At R's estimates our exact Hessian agrees with numDeriv to ~1e-7; at our own estimates the
covariances differ from R's by up to ~1e-4 relative because lme4's optimizer stops short of the
optimum (its SD estimates differ from ours by up to 8e-4 on sleepstudy ML), so the fit-level
comparison uses 1e-3.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixedjax._src.inference.variance_components import BoundaryWarning, _objective_and_point

from references import case_data, cases, fit_case, reference_fit

CASES = cases("reference_inference", "variance_components.json")
SOURCES = {"sleepstudy": "reference/data/sleepstudy.csv", "Penicillin": "reference/data/Penicillin.csv",
           "Pastes": "reference/data/Pastes.csv", "cbpp": "reference/data/cbpp.csv",
           "Orthodont": "reference_extra/data/Orthodont.csv"}


@pytest.fixture(scope="module")
def fits(fitted):
    def fit(case):
        return fit_case(case, case_data(case, SOURCES[case["data_name"]]))
    return lambda case_id: fitted(case_id, lambda: fit(CASES[case_id]))


def correlation_scaled_difference(ours, theirs) -> float:
    """max |V_ij - R_ij| / sqrt(R_ii R_jj): errors relative to the standard errors involved."""
    scale = np.sqrt(np.outer(np.diag(theirs), np.diag(theirs)))
    return float(np.max(np.abs(np.asarray(ours) - theirs) / scale))


SLOW = {"cbpp_binomial", "orthodont_slopes_reml"}  # > 30 s of compiles on a shared CPU


def cases(ids):
    return [pytest.param(i, marks=pytest.mark.slow) if i in SLOW else i for i in ids]


LMER_CASES = cases(sorted(k for k, c in CASES.items() if c["fun"] == "lmer"))


@pytest.mark.parametrize("case_id", LMER_CASES)
def test_exact_hessian_matches_numderiv_at_lme4_estimates(case_id, fits):
    case = CASES[case_id]
    objective, _, _ = _objective_and_point(fits(case_id))
    x = jnp.asarray(case["estimate"])
    assert float(objective(x)) == pytest.approx(case["deviance_at_estimate"], rel=1e-10, abs=1e-9)
    ours = 2.0 * np.linalg.inv(np.asarray(jax.hessian(objective)(x)))
    assert correlation_scaled_difference(ours, np.array(case["vcov_numderiv"])) < 1e-5


@pytest.mark.parametrize("case_id", cases(sorted(CASES)))
def test_varpar_vcov_of_fit_matches_r(case_id, fits):
    case = CASES[case_id]
    fit = fits(case_id)
    vcov = fit.varpar_vcov()
    n = len(case["estimate"])
    assert list(vcov.index) == [f".sig{i + 1:02d}" for i in range(n - (case["fun"] == "lmer"))] + \
        ([".sigma"] if case["fun"] == "lmer" else [])
    assert correlation_scaled_difference(vcov, np.array(case["vcov_numderiv"])) < 1e-3
    if "vcov_lmerTest" in case:
        assert correlation_scaled_difference(vcov, np.array(case["vcov_lmerTest"])) < 1e-3
    se = fit.varpar_se()
    np.testing.assert_allclose(se, np.sqrt(np.diag(np.array(case["vcov_numderiv"]))), rtol=1e-3)


def test_labels_and_table(fits):
    fit = fits("sleepstudy_slopes_reml")
    labels = fit.varpar_vcov().attrs["labels"]
    assert labels == {".sig01": "Subject: sd (Intercept)", ".sig02": "Subject: cor Days.(Intercept)",
                      ".sig03": "Subject: sd Days", ".sigma": "Residual: sd"}
    table = fit.varcorr_table(se=True)
    assert list(table.columns) == ["grp", "var1", "var2", "sdcor", "se"]
    assert table.loc[".sig02", ["var1", "var2"]].tolist() == ["(Intercept)", "Days"]
    np.testing.assert_allclose(table["sdcor"], CASES["sleepstudy_slopes_reml"]["estimate"], rtol=1e-3)
    np.testing.assert_allclose(table["se"], fit.varpar_se(), rtol=1e-12)
    # the estimates agree with VarCorr's SDs and correlation
    varcorr = fit.varcorr
    assert table.loc[".sig03", "sdcor"] == pytest.approx(varcorr.loc[1, "sdcor"], rel=1e-12)
    assert table.loc[".sig02", "sdcor"] == pytest.approx(varcorr.loc[2, "sdcor"], rel=1e-12)
    assert "se" not in fit.varcorr_table().columns


def test_zero_sd_gives_nan_with_a_warning():
    fit = reference_fit("public", "dyestuff2_reml_singular")  # Batch SD estimated as 0
    with pytest.warns(BoundaryWarning, match=r"\.sig01 \(Batch: sd \(Intercept\)\)"):
        se = fit.varpar_se()
    assert np.isnan(se[".sig01"])
    # sigma's SE with the Batch SD held at 0 is that of a normal sample's SD under REML:
    # Var = sigma^2 / (2 (n - p))
    n = fit.nobs
    assert se[".sigma"] == pytest.approx(fit.sigma / np.sqrt(2 * (n - 1)), rel=1e-8)


def test_correlation_at_boundary_gives_nan():
    fit = reference_fit("extra", "sleepstudy_sub6_singular_reml")
    with pytest.warns(BoundaryWarning):
        se = fit.varpar_se()
    table = fit.varcorr_table(se=True)
    boundary = np.isnan(se.to_numpy())
    assert boundary.any() and np.isfinite(se[".sigma"])
    # what is NaN is exactly what sits on the boundary: an SD of 0 or a correlation of +-1
    # (or a correlation with a zero-SD effect)
    on_boundary = ((table["var2"].isna() & (table["sdcor"] < 1e-4 * fit.sigma)) |
                   (table["var2"].notna() & (table["sdcor"].abs() > 1 - 1e-6)))
    assert (boundary >= on_boundary.to_numpy()).all()
