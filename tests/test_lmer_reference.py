"""lmer against lme4 1.1-31: every reference fit in tests/reference (public, from ../shared) and
tests/reference_extra (ours, made by make_reference_extra.R).

Tolerances (issue 3): criterion within 1e-6 relative of lme4 or lower; fixef and SEs 1e-4
relative; theta, sigma and ranef 1e-3. Where lme4's optimizer stopped short of the optimum --
the gradient of the exact deviance at lme4's theta exceeds 1e-3, and our criterion is lower --
lme4's own parameters are only that accurate, and the parameter tolerances are 10x wider
(the fits concerned are listed by ``test_unconverged_lme4_fits_are_few``).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import relative_error, summary_lines_agree
from references import read_json, reference, reference_fit, reference_ids

LMER = reference_ids("lmer")


def _criterion(fit, spec):
    r = spec["results"]
    if spec["REML"]:
        return fit.reml_criterion, r["REMLcrit"]
    return fit.deviance, r["deviance"]


def _lme4_unconverged(fit, spec) -> bool:
    theta = jnp.asarray(list(spec["results"]["theta"].values()), dtype=float)
    deviance = fit.deviance_function()
    gradient = np.max(np.abs(np.asarray(jax.grad(deviance)(theta))))
    return bool(gradient > 1e-3 and deviance(jnp.asarray(fit.theta_values)) < deviance(theta))


@pytest.mark.parametrize("root,fit_id", LMER)
def test_criterion(root, fit_id):
    spec = reference(root, fit_id)
    ours, lme4 = _criterion(reference_fit(root, fit_id), spec)
    assert ours <= lme4 + 1e-6 * abs(lme4)


@pytest.mark.parametrize("root,fit_id", LMER)
def test_estimates(root, fit_id):
    spec, fit = reference(root, fit_id), reference_fit(root, fit_id)
    r = spec["results"]
    widen = 10.0 if _lme4_unconverged(fit, spec) else 1.0
    assert list(fit.fixef.index) == list(r["fixef"])
    assert relative_error(fit.fixef, list(r["fixef"].values()), 1e-3) < 1e-4 * widen
    assert relative_error(fit.se, list(r["fixef_se"].values()), 1e-6) < 1e-4 * widen
    assert list(fit.theta.index) == list(r["theta"])
    assert relative_error(fit.theta, list(r["theta"].values()), 1.0) < 1e-3 * widen
    assert relative_error([fit.sigma], [r["sigma"]], 1e-6) < 1e-3 * widen
    assert fit.is_singular == r["isSingular"]
    assert fit.nobs == spec["nobs"] and fit.ngrps == spec["ngrps"]
    assert fit.df_resid == r["df.resid"]


@pytest.mark.parametrize("root,fit_id", LMER)
def test_varcorr_and_ranef(root, fit_id):
    spec, fit = reference(root, fit_id), reference_fit(root, fit_id)
    r = spec["results"]
    widen = 10.0 if _lme4_unconverged(fit, spec) else 1.0
    vc = fit.varcorr
    assert list(vc.grp) == [row["grp"] for row in r["VarCorr_df"]]
    assert relative_error(vc.sdcor, [row["sdcor"] for row in r["VarCorr_df"]], 1e-2) < 1e-3 * widen
    ranef = fit.ranef_frames(condvar=True)
    assert list(ranef) == list(r["ranef"])
    for factor, ref in r["ranef"].items():
        frame = ranef[factor]
        assert list(frame.index) == ref["levels"]
        for column in ref["columns"]:
            scale = max(np.max(np.abs(ref["values"][column])), 1e-8)
            assert np.max(np.abs(frame[column] - ref["values"][column])) / scale < 1e-3 * widen
            if "cond_sd" in ref:
                assert relative_error(frame[f"{column}_sd"], ref["cond_sd"][column], 1e-6) < 1e-3 * widen


@pytest.mark.parametrize("root,fit_id", LMER)
def test_fitted_loglik_and_information_criteria(root, fit_id):
    spec, fit = reference(root, fit_id), reference_fit(root, fit_id)
    r = spec["results"]
    assert relative_error(fit.fitted[:20], r["fitted_first20"], 1.0) < 1e-4
    assert abs(fit.loglik - r["logLik"]) <= 1e-6 * abs(r["logLik"]) + 1e-6 or fit.loglik > r["logLik"]
    assert abs(fit.aic - r["AIC"]) < 1e-4 * abs(r["AIC"])
    assert abs(fit.bic - r["BIC"]) < 1e-4 * abs(r["BIC"])
    quantiles = list(r["scaled_resid_quantiles"].values())
    ours = np.quantile(fit.residuals("pearson", scaled=True), [0, .25, .5, .75, 1])
    widen = 10.0 if _lme4_unconverged(fit, spec) else 1.0
    assert relative_error(ours, quantiles, 1.0) < 1e-3 * widen  # O(1) values: absolute 1e-3


@pytest.mark.parametrize("root,fit_id", LMER)
def test_summary_text(root, fit_id):
    """Our summary is lme4's text; a number may move only where it is within the estimates'
    tolerance of lme4's (our optimum is never worse, test_criterion)."""
    spec, fit = reference(root, fit_id), reference_fit(root, fit_id)
    widen = 10.0 if _lme4_unconverged(fit, spec) else 1.0
    problems = summary_lines_agree(str(fit.summary()), spec["summary_text"], 1e-3 * widen)
    assert not problems, "\n".join(problems)


def test_sleepstudy_summary_matches_lme4_exactly_where_lme4_converged():
    """The headline example: every line but the variance that lme4's early stop moves."""
    spec, fit = reference("public", "sleepstudy_slopes_reml"), reference_fit("public", "sleepstudy_slopes_reml")
    ours, lme4 = str(fit.summary()).splitlines(), spec["summary_text"].rstrip().splitlines()
    different = [i for i, (a, b) in enumerate(zip(ours, lme4)) if a.rstrip() != b.rstrip()]
    assert len(ours) == len(lme4)
    # lme4 stops with |gradient| 1.6e-3 at variance 612.100; the exact optimum is 612.090
    assert all(ours[i].startswith(" Subject  (Intercept) 612.09 ") for i in different), different


def test_unconverged_lme4_fits_are_few():
    flagged = [fit_id for root, fit_id in LMER
               if _lme4_unconverged(reference_fit(root, fit_id), reference(root, fit_id))]
    assert len(flagged) <= 5, flagged


def test_seed1_reml_printed_variance_is_the_optimum():
    """lme4 prints the grupo variance of seed1's REML fit as 643.59, we print 643.58. The variance
    sits on a rounding boundary (643.585): lme4's theta, even refitted with bobyqa at rhoend 1e-12,
    is 2.9e-6 from the stationary point (the criterion is flat to 4e-12 there, below what a
    derivative-free search resolves), and one Newton step on the exact gradient from lme4's theta
    lands on ours. So 643.58 is the optimum's digit."""
    spec = reference("public", "seed1_lmer_reml")
    tight = read_json("reference", "tight", "seed1_lmer_reml.json")
    fit = reference_fit("public", "seed1_lmer_reml")
    deviance = fit.deviance_function()
    gradient, hessian = jax.grad(deviance), jax.hessian(deviance)
    ours = jnp.asarray(fit.theta.to_numpy())
    lme4_theta = jnp.asarray([tight["theta"]["grupo.(Intercept)"]])
    assert abs(float(gradient(ours)[0])) < 1e-9
    assert abs(float(gradient(lme4_theta)[0])) > 1e-6  # lme4 stopped off the stationary point
    newton = lme4_theta - gradient(lme4_theta) / hessian(lme4_theta)[0]
    np.testing.assert_allclose(np.asarray(newton), fit.theta.to_numpy(), rtol=1e-9)
    assert f"{float((fit.theta.iloc[0] * fit.sigma) ** 2):.2f}" == "643.58"
    assert " grupo    (Intercept) 643.59   25.369" in spec["summary_text"]
    assert " grupo    (Intercept) 643.58   25.369" in str(fit.summary())
