"""Unit tests of the GLM families against R's family objects (tests/make_family_reference.R ->
tests/reference_families.json): link, inverse link, d mu / d eta, variance, deviance residuals
and aic, for every family and link lme4 accepts, and MASS's negative binomial."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mixedjax as mj
from references import read_json

CASES = read_json("reference_families.json")


def _family(case):
    if case["family"] == "negative.binomial":
        return mj.negative_binomial(case["theta"])
    return {"binomial": mj.binomial, "poisson": mj.poisson, "Gamma": mj.Gamma,
            "inverse.gaussian": mj.inverse_gaussian, "gaussian": mj.gaussian}[case["family"]](case["link"])


def _id(case):
    return f"{case['family']}-{case['link']}" + (f"-{case['theta']}" if "theta" in case else "")


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_family_functions_are_rs(case):
    family = _family(case)
    eta, mu = np.array(case["eta"]), np.array(case["mu"])
    y, weights = np.array(case["y"]), np.array(case["weights"], float)
    close = lambda ours, theirs, name: np.testing.assert_allclose(np.asarray(ours), theirs, rtol=1e-12,
                                                                  atol=1e-14, err_msg=name)
    close(family.link.linkinv(jnp.asarray(eta)), mu, "linkinv")
    close(family.link.linkfun(jnp.asarray(mu)), case["linkfun"], "linkfun")
    close(family.link.linkfun(mu, xp=np), case["linkfun"], "linkfun on the host")
    close(family.link.mu_eta(jnp.asarray(eta)), case["mu_eta"], "mu.eta")
    close(family.variance(jnp.asarray(mu)), case["variance"], "variance")
    deviance = family.unit_deviance(jnp.asarray(y), jnp.asarray(mu), jnp.asarray(weights))
    close(deviance, case["dev_resids"], "dev.resids")
    aic = family.aic(jnp.asarray(y), jnp.asarray(mu), jnp.asarray(weights), jnp.sum(deviance))
    np.testing.assert_allclose(float(aic), case["aic"], rtol=1e-12, err_msg="aic")


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_mu_eta_is_the_derivative_of_the_inverse_link(case):
    link = _family(case).link
    eta = jnp.asarray(case["eta"])
    np.testing.assert_allclose(np.asarray(jax.vmap(jax.grad(link.linkinv))(eta)),
                               np.asarray(link.mu_eta(eta)), rtol=1e-10)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_the_deviance_is_zero_at_the_data_and_its_derivative_vanishes_there(case):
    family = _family(case)
    y = jnp.asarray(case["y"], float)
    if case["family"] == "binomial":
        y = jnp.clip(y, 0.05, 0.95)  # inside (0, 1), where the derivative in mu exists
    elif case["family"] in ("poisson", "negative.binomial"):
        y = y + 0.5
    weights = jnp.asarray(case["weights"], float)
    total = lambda mu: jnp.sum(family.unit_deviance(y, mu, weights))
    np.testing.assert_allclose(float(total(y)), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(jax.grad(total)(y)), 0.0, atol=1e-10)
