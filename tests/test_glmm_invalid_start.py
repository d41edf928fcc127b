"""PIRLS from a start whose means are invalid, against lme4 (tests/reference_glmm/
make_gamma_inverse_reference.R): Gamma(inverse) ``pos ~ x + z + (x | g)`` on the fuzz test's
data. At the optimum X beta < 0 in some rows, so u = 0 (where PIRLS starts) gives negative
means there; the mode itself has every mean positive. Before, PIRLS stopped at u = 0 with a NaN
penalized deviance, the Laplace objective was infinite around lme4's optimum, and the fit ended
at -2 log L = -16.42 with convergence warnings (lme4: -55.18)."""
import json
import os
import warnings

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import mixedjax as mj
from mixedjax._src import generalized_fitting, glmm

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_glmm")
REFERENCE = json.load(open(os.path.join(HERE, "gamma_inverse_fuzz.json")))
FORMULA = "pos ~ x + z + (x | g)"


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(os.path.join(HERE, "gamma_inverse_fuzz.csv"))


@pytest.fixture(scope="module")
def fit(data):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = mj.glmer(FORMULA, data, family=mj.Gamma("inverse"))
    fitted.caught = [str(w.message) for w in caught if issubclass(w.category, mj.ConvergenceWarning)]
    return fitted


def test_start_has_invalid_means():
    # what makes this case: lme4's X beta is negative in some rows
    assert REFERENCE["tight"]["min_Xbeta"] < 0


def test_laplace_objective_at_lme4_optimum(fit):
    tight = REFERENCE["tight"]
    family = mj.Gamma("inverse")
    y, weights = generalized_fitting._response(fit.spec, family)
    arrays = generalized_fitting.fit_glmm_data(fit.spec, y, weights, family)
    theta, beta = jnp.asarray(tight["theta"]), jnp.asarray(tight["fixef"])
    u, _ = glmm.pirls(theta, beta, arrays, family, False)
    assert np.all(np.asarray(glmm.linear_predictor(theta, u, beta, arrays)) > 0)
    value = glmm.laplace_deviance(theta, beta, arrays, family)
    np.testing.assert_allclose(float(value), tight["devfun_at_optimum"], rtol=1e-9)


def test_fit_matches_lme4(fit):
    tight = REFERENCE["tight"]
    assert not fit.caught and fit.optimizer.status in (0, 2)
    # not above lme4's optimum, and equal to it
    assert -2 * fit.loglik <= tight["minus2loglik"] + 1e-8 * abs(tight["minus2loglik"])
    np.testing.assert_allclose(-2 * fit.loglik, tight["minus2loglik"], rtol=1e-8)
    np.testing.assert_allclose(-2 * fit.loglik, REFERENCE["default"]["minus2loglik"], rtol=1e-6)
    np.testing.assert_allclose(fit.beta, tight["fixef"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fit.theta_values, tight["theta"], rtol=1e-4)
    np.testing.assert_allclose(fit.sigma, tight["sigma"], rtol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov_matrix)), tight["se"], rtol=1e-3)
