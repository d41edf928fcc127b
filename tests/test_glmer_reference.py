"""glmer against lme4 1.1-31 (tests/reference and tests/reference_extra).

Tolerances (issue 4): criterion within 1e-6 relative of lme4 or lower; fixef 1e-4 relative,
theta 1e-3, standard errors 1e-2 (lme4's come from finite differences).

lme4's PIRLS stops at a relative change of 1e-7 in the penalized deviance (tolPwrss), and its
outer optimizers (bobyqa, then Nelder-Mead) at similar tolerances, so its reported optimum sits
measurably off the exact optimum of the objective it defines: our exact objective has |gradient|
above 1e-3 at lme4's estimates for most glmer references. Where our criterion is lower than lme4's
by more than 1e-7 relative (cbpp: 184.05256 < lme4's 184.05313, as glmmTMB reaches), lme4 did
not reach the optimum and parameter tolerances are 10x wider.

lme4 1.1-31 multiplied Gamma / inverse.gaussian random-effect variances (VarCorr and condVar)
by sigma^2; we report them unscaled (lme4 >= 2.0-1) and convert for the comparison.

Standard errors: lme4's Hessian is a finite-difference Hessian of a function that carries
PIRLS noise of ~1e-7 relative, which dominates some entries. For the seed's Gamma example lme4
reports SE(x) = 0.0411 where the exact Hessian of the same objective (which agrees with lme4's
deviance function value to 1e-9 at lme4's optimum) gives 0.179; lme4's own deviance function
differenced at step 1e-4 gives 0.077. We test that one SE against central finite differences of
our (smooth) objective instead (``test_gamma_hessian_is_exact``).
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mixedjax as mj
from conftest import relative_error, summary_lines_agree
from references import reference, reference_data, reference_fit, reference_ids

GLMER = reference_ids("glmer")
NOISY_SE = {("public", "seed2_glmer_gamma_log")}


def _parameters(spec):
    r = spec["results"]
    return jnp.asarray(list(r["theta"].values()) + list(r["fixef"].values()), dtype=float)


def _devfun(root, spec):  # the deviance function of (theta, beta), as lme4's devFunOnly
    family = getattr(mj, {"inverse.gaussian": "inverse_gaussian"}.get(spec["family"], spec["family"]))
    kwargs = {k: spec[k] for k in ("weights", "offset") if spec.get(k)}
    return mj.glmer(spec["formula"], reference_data(root, spec), family=family(link=spec["link"]),
                    nAGQ=spec["nAGQ"], devfun_only=True, **kwargs)


def _without_p_values(text: str) -> str:
    """Cut the fixed-effects table before its Pr(>|z|) column (and stars): p-values are a steep
    function of z, which is compared, and their format changes with the magnitude."""
    out, cut = [], None
    for line in text.splitlines():
        if "Pr(>|z|)" in line:
            cut = line.index("Pr(>|z|)")
        elif cut is not None and (not line.strip() or line.startswith("---")):
            cut = None
        out.append(line[:cut].rstrip() if cut is not None else line)
    return "\n".join(line for line in out if not line.startswith("Signif. codes") and line != "---")


def _lme4_fell_back_to_rx(spec) -> bool:
    """lme4 reports RX-based SEs when its finite-difference Hessian is not positive definite."""
    r = spec["results"]
    if "vcov_no_hessian" not in r:
        return False
    rx_se = np.sqrt(np.diag(np.asarray(r["vcov_no_hessian"]["values"])))
    return bool(np.allclose(rx_se, list(r["fixef_se"].values()), rtol=1e-9))


def _lme4_unconverged(root, spec) -> bool:
    return _unconverged(root, spec["id"])


@functools.cache
def _unconverged(root, fit_id) -> bool:
    """lme4 stopped off the optimum: our criterion is not worse, and either clearly lower (by
    1e-7 relative) or lme4's estimates are not stationary (|gradient| > 1e-3 of the exact
    objective there)."""
    spec = reference(root, fit_id)
    fit, lme4 = reference_fit(root, fit_id), spec["results"]["deviance"]
    if fit.deviance < lme4 - 1e-7 * abs(lme4):
        return True
    if fit.deviance > lme4 + 1e-6 * abs(lme4):  # the criterion tolerance of test_criterion
        return False
    # the gradient at lme4's estimates, to first order from our exact Hessian at our optimum
    # (no extra compilation: the deviance function is compiled only where a test needs it)
    step = np.asarray(_parameters(spec)) - np.r_[fit.theta_values, fit.beta]
    return bool(np.max(np.abs(fit.hessian @ step)) > 1e-3)


@pytest.mark.parametrize("root,fit_id", GLMER)
def test_criterion(root, fit_id):
    spec, fit = reference(root, fit_id), reference_fit(root, fit_id)
    lme4 = spec["results"]["deviance"]
    assert fit.deviance <= lme4 + 1e-6 * abs(lme4)
    assert fit.converged


@pytest.mark.parametrize("root,fit_id", GLMER)
def test_estimates(root, fit_id):
    spec, fit = reference(root, fit_id), reference_fit(root, fit_id)
    r = spec["results"]
    widen = 10.0 if _lme4_unconverged(root, spec) else 1.0
    assert list(fit.fixef.index) == list(r["fixef"]) and list(fit.theta.index) == list(r["theta"])
    assert relative_error(fit.fixef, list(r["fixef"].values()), 1e-3) < 1e-4 * widen
    assert relative_error(fit.theta, list(r["theta"].values()), 1.0) < 1e-3 * widen
    assert relative_error([fit.sigma], [r["sigma"]], 1e-6) < 1e-3 * widen
    se = np.asarray(fit.se)
    if _lme4_fell_back_to_rx(spec):  # lme4's finite-difference Hessian was not positive definite
        se = np.sqrt(np.diag(fit.vcov_rx()))
    ref_se = np.asarray(list(r["fixef_se"].values()))
    if (root, fit_id) in NOISY_SE:
        se, ref_se = se[:1], ref_se[:1]
    assert relative_error(se, ref_se, 1e-6) < 1e-2 * widen
    assert fit.nobs == spec["nobs"] and fit.ngrps == spec["ngrps"]
    assert fit.df_resid == r["df.resid"]


@pytest.mark.parametrize("root,fit_id", GLMER)
def test_fitted_and_ranef(root, fit_id):
    spec, fit = reference(root, fit_id), reference_fit(root, fit_id)
    r = spec["results"]
    widen = 10.0 if _lme4_unconverged(root, spec) else 1.0
    legacy_scale = fit.sigma if fit.family.has_dispersion else 1.0
    assert relative_error(fit.fitted[:20], r["fitted_first20"], 1e-3) < 1e-3 * widen
    assert relative_error(fit.predict()[:20], r["linpred_first20"], 1.0) < 1e-3 * widen
    ranef = fit.ranef_frames(condvar=True)
    for factor, ref in r["ranef"].items():
        for column in ref["columns"]:
            scale = max(np.max(np.abs(ref["values"][column])), 1e-8)
            assert np.max(np.abs(ranef[factor][column] - ref["values"][column])) / scale < 1e-3 * widen
            if "cond_sd" in ref:
                ours = ranef[factor][f"{column}_sd"] * legacy_scale
                assert relative_error(ours, ref["cond_sd"][column], 1e-6) < 1e-2 * widen


@pytest.mark.parametrize("root,fit_id", GLMER)
def test_summary_text(root, fit_id):
    """lme4's text, Gamma/inverse.gaussian variances printed on lme4 1.1-31's sigma^2 scale."""
    spec, fit = reference(root, fit_id), reference_fit(root, fit_id)
    widen = 10.0 if _lme4_unconverged(root, spec) else 1.0
    text = str(fit.summary(legacy_varcorr=True))
    lines, ref_lines = text.splitlines(), spec["summary_text"].rstrip().splitlines()
    if (root, fit_id) in NOISY_SE:  # drop the lines carrying the noisy SE(x) and its correlation
        keep = [i for i, line in enumerate(ref_lines) if not line.startswith("x ")]
        lines, ref_lines = [lines[i] for i in keep], [ref_lines[i] for i in keep]
    if _lme4_fell_back_to_rx(spec):
        pytest.skip("lme4 printed RX-based standard errors after its Hessian check failed")
    problems = summary_lines_agree(_without_p_values("\n".join(lines)),
                                   _without_p_values("\n".join(ref_lines)), 1e-2 * widen)
    assert not problems, "\n".join(problems)


def test_gamma_hessian_is_exact():
    spec = reference("public", "seed2_glmer_gamma_log")
    devfun = _devfun("public", spec)
    fit = reference_fit("public", "seed2_glmer_gamma_log")
    x = jnp.asarray(np.r_[fit.theta_values, fit.beta])
    H = np.asarray(jax.hessian(devfun)(x))
    h = 1e-4
    numeric = np.array([[(devfun(x.at[i].add(h).at[j].add(h)) - devfun(x.at[i].add(h).at[j].add(-h))
                          - devfun(x.at[i].add(-h).at[j].add(h)) + devfun(x.at[i].add(-h).at[j].add(-h)))
                         / (4 * h * h) for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(H, numeric, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fit.hessian, H, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(fit.se, np.sqrt(np.diag(2 * np.linalg.inv(H))[1:]), rtol=1e-8)


def test_seed_variances_in_both_conventions():
    """theta is the same in lme4 1.1-31 and >= 2.0-1; 1.1-31 printed variances times sigma^2."""
    fit = reference_fit("public", "seed2_glmer_gamma_log")
    r = reference("public", "seed2_glmer_gamma_log")["results"]
    theta = fit.theta_values[0]
    assert abs(fit.varcorr.vcov[0] - theta ** 2) < 1e-12
    legacy_sd = r["VarCorr"][0]["sd"]["(Intercept)"]
    assert abs(theta * fit.sigma - legacy_sd) / legacy_sd < 1e-3
