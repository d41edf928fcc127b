"""Negative binomial GLMMs against lme4 (glmer.nb, glmer with MASS's negative.binomial(theta)) and
glmmTMB (nbinom2): references by reference_negative_binomial/make_reference_negative_binomial.R,
on grouseticks (no offset) and a simulated data set with an exposure offset.

lme4 and glmmTMB maximize different Laplace approximations for this non-canonical link (lme4's
log-determinant from the expected information, glmmTMB's from the observed: see
mixedjax/_src/negative_binomial_model.py). glmer_nb follows lme4 and is compared with lme4's optimum;
glmmTMB's objective, evaluated and optimized by the same code with the observed information,
reproduces glmmTMB's. At the two optima the true -2 log L (adaptive quadrature, 25 points, plus
the saturated constant) is 1779.37 at lme4's grouseticks estimates and 1779.22 at glmmTMB's: the
textbook Laplace approximation lands nearer the maximum likelihood here.
"""
import functools
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedjax as mj
from mixedjax._src import negative_binomial_model as nbm
from mixedjax._src.generalized_fitting import fit_glmm_data
from references import path, read_json

REF = read_json("reference_negative_binomial", "fits.json")
GROUSE = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD)"
OFFSET = "y ~ x + offset(log(t)) + (1 | g)"


def _offset_data() -> pd.DataFrame:
    data = pd.read_csv(path("reference_negative_binomial", "nb_offset.csv"))
    data["g"] = pd.Categorical(data["g"])
    return data


DATA = {"grouseticks": lambda: mj.datasets.load("grouseticks"), "offset": _offset_data}
FORMULAS = {"grouseticks": GROUSE, "offset": OFFSET}


@functools.cache
def glmer_nb_fit(name: str):
    return mj.glmer_nb(FORMULAS[name], DATA[name]())


@pytest.fixture(scope="module", params=["grouseticks", "offset"])
def nb_fit(request):
    return request.param, glmer_nb_fit(request.param)


def _assert_matches(fit, ref, se_rtol=1e-2):  # the tolerances for glmer
    np.testing.assert_allclose(fit.deviance, ref["deviance"], rtol=1e-6)
    np.testing.assert_allclose(fit.beta, list(ref["fixef"].values()), atol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov_matrix)), list(ref["se"].values()), rtol=se_rtol)
    np.testing.assert_allclose(fit.theta_values, list(ref["theta"].values()), rtol=1e-3)  # the sd here


def test_glmer_nb_matches_lme4(nb_fit):
    name, fit = nb_fit
    ref = REF[f"{name}_glmer_nb_tight"]
    _assert_matches(fit, ref)
    np.testing.assert_allclose(fit.nb_theta, ref["nb_theta"], rtol=1e-4)
    # lme4's default fit: its search for theta stops short (grouseticks: 2.6e-4 above the
    # minimum) and its PIRLS tolerance leaves the deviance it reports off its own Laplace value
    # (the offset data: 2.0e-4 below it); the Laplace deviance at its estimates is above ours
    default = REF[f"{name}_glmer_nb"]
    np.testing.assert_allclose(fit.deviance, default["deviance"], rtol=1e-6)
    data = fit_glmm_data(fit.spec, fit.y, fit.prior_weights, fit.family, fit.data.mustart)
    at_default = float(nbm._joint_value(_point(default), data, link="log", observed=False)[0])
    assert fit.deviance <= at_default + 1e-12 * abs(at_default)
    assert isinstance(fit, mj.NegativeBinomialMixedModel) and fit.optimizer.status in (0, 2)
    assert not fit.optimizer.messages


def test_glmer_nb_criteria_and_family_line(nb_fit):
    name, fit = nb_fit
    ref = REF[f"{name}_glmer_nb_tight"]
    # theta counts as a parameter, as in lme4 (npar.merMod)
    assert fit.n_params == ref["df"] and fit.df_resid == ref["df_resid"]
    np.testing.assert_allclose([fit.loglik, fit.aic, fit.bic], [ref["loglik"], ref["AIC"], ref["BIC"]],
                               rtol=1e-6)
    family_line = next(line for line in ref["summary"] if line.startswith(" Family:"))
    assert family_line == " Family: " + ref["family"] + "  ( log )"
    assert family_line in str(fit.summary()).splitlines()
    assert fit.sigma == 1.0


def test_offset_argument_equals_offset_term():
    fit = glmer_nb_fit("offset")
    data = _offset_data()
    other = mj.glmer_nb("y ~ x + (1 | g)", data, offset=np.log(data["t"]))
    np.testing.assert_allclose(other.deviance, fit.deviance, rtol=1e-10)
    np.testing.assert_allclose(other.beta, fit.beta, rtol=1e-7)
    np.testing.assert_allclose(other.nb_theta, fit.nb_theta, rtol=1e-7)


def test_start_does_not_change_the_optimum():
    fit = glmer_nb_fit("grouseticks")
    other = mj.glmer_nb(GROUSE, mj.datasets.load("grouseticks"), theta_start=20.0)
    np.testing.assert_allclose(other.deviance, fit.deviance, rtol=1e-12)
    np.testing.assert_allclose(other.nb_theta, fit.nb_theta, rtol=1e-6)
    np.testing.assert_allclose(other.beta, fit.beta, rtol=1e-6)


def test_anova_poisson_against_glmer_nb():
    """lme4's likelihood-ratio test of overdispersion (chi-squared on 1 df, as lme4 reports it,
    though theta = infinity is on the boundary)."""
    fit = glmer_nb_fit("grouseticks")
    poisson = mj.glmer(GROUSE, mj.datasets.load("grouseticks"), family="poisson")
    table = mj.anova(poisson, fit)
    ref = REF["grouseticks_anova_poisson_nb"]
    np.testing.assert_array_equal(table["npar"], ref["npar"])
    np.testing.assert_allclose(table["deviance"], ref["deviance"], rtol=1e-6)
    np.testing.assert_allclose(table["AIC"], ref["AIC"], rtol=1e-6)
    np.testing.assert_allclose(table["Chisq"].iloc[1], ref["Chisq"][1], rtol=1e-5)
    assert table["Df"].iloc[1] == ref["Df"][1] == 1


def _point(ref):
    """A reference's estimates as z = [cov. theta, beta, log(size)] (one scalar term: theta = sd)."""
    return np.concatenate([list(ref["sd"].values()), list(ref["fixef"].values()), [np.log(ref["nb_theta"])]])


def test_glmmtmb_objective_at_its_estimates(nb_fit):
    """The observed-information Laplace deviance at glmmTMB's estimates is glmmTMB's -2 log L,
    and lme4's objective there is above its minimum (ours): the two packages differ in the
    approximation, not in the likelihood of the counts."""
    name, fit = nb_fit
    ref = REF[f"{name}_nbinom2"]
    data = fit_glmm_data(fit.spec, fit.y, fit.prior_weights, fit.family, fit.data.mustart)
    z = _point(ref)
    observed, _ = nbm._joint_value(z, data, link="log", observed=True)
    np.testing.assert_allclose(float(observed), ref["deviance"], rtol=1e-6)
    expected, _ = nbm._joint_value(z, data, link="log", observed=False)
    assert float(expected) > fit.deviance + 1e-3


@pytest.mark.slow
def test_glmmtmb_optimum_reproduced(nb_fit):
    name, fit = nb_fit
    ref = REF[f"{name}_nbinom2"]
    data = fit_glmm_data(fit.spec, fit.y, fit.prior_weights, fit.family, fit.data.mustart)
    z0 = np.concatenate([fit.theta_values, fit.beta, [np.log(fit.nb_theta)]])
    record, z, _ = nbm.fit_joint(data, z0, "log", observed=True)
    assert int(record.status) in (0, 2)
    np.testing.assert_allclose(record.fun, ref["deviance"], rtol=1e-6)
    np.testing.assert_allclose(z[1:-1], list(ref["fixef"].values()), atol=1e-4)
    np.testing.assert_allclose(z[0], list(ref["sd"].values())[0], rtol=1e-3)
    np.testing.assert_allclose(np.exp(z[-1]), ref["nb_theta"], rtol=1e-4)


@pytest.fixture(scope="module")
def known_theta_fit():
    return mj.glmer(GROUSE, mj.datasets.load("grouseticks"), family=mj.negative_binomial(2))


def test_known_theta_matches_lme4(known_theta_fit):
    fit, ref = known_theta_fit, REF["grouseticks_known_theta"]
    _assert_matches(fit, ref)
    np.testing.assert_allclose(fit.fitted[:5], ref["fitted_head"], rtol=1e-4)
    np.testing.assert_allclose(fit.residuals("deviance")[:5], ref["deviance_residuals_head"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fit.residuals("pearson")[:5], ref["pearson_residuals_head"], rtol=1e-4, atol=1e-6)
    assert " Family: Negative Binomial(2)  ( log )" in str(fit.summary()).splitlines()
    # a known theta is not estimated: one parameter fewer than lme4 counts (its npar.merMod
    # adds one for every "Negative Binomial" family, estimated or not), so AIC is 2 lower
    assert fit.n_params == ref["df"] - 1
    np.testing.assert_allclose(fit.aic, ref["AIC"] - 2, rtol=1e-6)
    np.testing.assert_allclose(fit.loglik, ref["loglik"], rtol=1e-6)


@pytest.mark.slow
def test_known_theta_with_offset_matches_lme4():
    fit = mj.glmer(OFFSET, _offset_data(), family=mj.negative_binomial(1.5))
    _assert_matches(fit, REF["offset_known_theta"])


@pytest.mark.slow
def test_known_theta_adaptive_quadrature_matches_lme4():
    fit = mj.glmer(GROUSE, mj.datasets.load("grouseticks"), family=mj.negative_binomial(2), nAGQ=7)
    _assert_matches(fit, REF["grouseticks_known_theta_agq"])


@pytest.mark.slow
def test_known_theta_nagq0_matches_lme4():
    fit = mj.glmer(GROUSE, mj.datasets.load("grouseticks"), family=mj.negative_binomial(2), nAGQ=0)
    _assert_matches(fit, REF["grouseticks_known_theta_nagq0"])


def test_simulate_draws_negative_binomial_counts(known_theta_fit):
    """With the random effects held at their modes, the draws have mean mu and variance
    mu + mu^2 / theta (pooled over observations: 4,000 draws of 403 rows)."""
    fit = known_theta_fit
    Y = fit.simulate(4000, seed=1, use_u=True)
    assert np.all(Y == np.round(Y)) and np.all(Y >= 0)
    mu = fit.fitted
    z_mean = (Y.mean(axis=1) - mu) / np.sqrt((mu + mu ** 2 / 2) / Y.shape[1])
    assert abs(z_mean.mean()) * np.sqrt(len(mu)) < 4
    ratio = Y.var(axis=1, ddof=1).sum() / np.sum(mu + mu ** 2 / 2)
    assert abs(ratio - 1) < 0.03


def test_no_overdispersion_warns_and_matches_poisson():
    """Binomial(12, 1/2) counts (variance below the mean): theta runs off to infinity, with a
    warning, and the fit is the Poisson glmer's."""
    data = _offset_data()
    data["y"] = np.random.default_rng(5).binomial(12, 0.5, len(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mj.SingularFitWarning)  # the groups' variance is 0
        with pytest.warns(UserWarning, match="no overdispersion"):
            fit = mj.glmer_nb("y ~ x + (1 | g)", data)
        poisson = mj.glmer("y ~ x + (1 | g)", data, family="poisson")
    assert fit.nb_theta > nbm.POISSON_LIKE_SIZE and fit.optimizer.status in (0, 2)
    np.testing.assert_allclose(fit.deviance, poisson.deviance, rtol=1e-7)
    np.testing.assert_allclose(fit.beta, poisson.beta, atol=1e-4)


# ---- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("theta", [-1.0, 0.0, np.inf, np.nan, "a", None])
def test_bad_theta(theta):
    with pytest.raises(mj.ArgumentError, match="theta"):
        mj.negative_binomial(theta)


def test_family_without_theta():
    for family in ("negative.binomial", "nbinom2", mj.negative_binomial):
        with pytest.raises(mj.ArgumentError, match="negative_binomial\\(theta\\)"):
            mj.glmer(GROUSE, mj.datasets.load("grouseticks"), family=family)


def test_link_not_offered():
    with pytest.raises(mj.ArgumentError, match="link 'logit' not available"):
        mj.negative_binomial(2, link="logit")


@pytest.mark.parametrize("value, what", [(-1.0, "negative values"), (2.5, "non-integer values")])
def test_bad_counts(value, what):
    data = mj.datasets.load("grouseticks")
    data.loc[3, "TICKS"] = value
    with pytest.raises(mj.DataError, match=what):
        mj.glmer_nb(GROUSE, data)
    with pytest.raises(mj.DataError, match=what):
        mj.glmer(GROUSE, data, family=mj.negative_binomial(2))


@pytest.mark.parametrize("value", [0, -2.0, "2", np.inf])
def test_bad_theta_start(value):
    with pytest.raises(mj.ArgumentError, match="theta_start must be a positive"):
        mj.glmer_nb(GROUSE, mj.datasets.load("grouseticks"), theta_start=value)


def test_glmer_nb_needs_laplace():
    with pytest.raises(mj.ArgumentError, match="nAGQ=1"):
        mj.glmer_nb(GROUSE, mj.datasets.load("grouseticks"), nAGQ=5)


def test_refit_batch_rejects_non_counts(known_theta_fit):
    Y = np.column_stack([known_theta_fit.y, known_theta_fit.y + 0.5])
    with pytest.raises(mj.DataError, match="non-integer"):
        known_theta_fit.refit_batch(Y)


def test_theta_ml_start():
    """The start's size: ML for known means (large samples recover the size drawn)."""
    rng = np.random.default_rng(1)
    mu = np.exp(rng.normal(1.0, 0.5, 20000))
    y = rng.negative_binomial(2.5, 2.5 / (2.5 + mu))
    assert abs(nbm.theta_ml(y, mu, np.ones_like(mu)) / 2.5 - 1) < 0.05
    assert nbm.theta_ml(rng.poisson(mu), mu, np.ones_like(mu)) > 50  # no overdispersion
