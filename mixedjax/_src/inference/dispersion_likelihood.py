"""The Laplace likelihood of a GLMM whose family has a dispersion (Gamma, inverse.gaussian,
gaussian with a non-identity link), with the dispersion phi = sigma^2 as a parameter: what
``profile`` profiles for these families (lme4 cannot: "can't (yet) profile GLMMs with non-fixed
scale parameters").

Why not glmer's own objective. lme4's Laplace objective for these families,
log|L|^2 + ||u~||^2 + aic(y, mu~), plugs in phi = sum(a d) / sum(a) and treats u ~ N(0, I) in the
penalty but phi = 1 in the mode and in L: it is not a likelihood in phi, so it cannot give an
interval for sigma, and its minimum over theta is not the Laplace maximum-likelihood estimate.

The model: y | b ~ family(mu, phi / a), g(mu) = offset + X beta + Z b, b ~ N(0, Sigma), Sigma
from the sds and correlations of b (mixedjax's VarCorr scale: Var(b) = Lambda Lambda', as lme4
>= 2.0-1 reports it). Write b = Lambda' u' with Lambda' = Lambda / sigma, so u' ~ N(0, phi I).
Then -2 log of the integrand is [sum a d(y, mu) + ||u'||^2] / phi + terms free of u', so

  * the mode u'~ is glmer's PIRLS mode at theta' = theta / sigma (phi = 1), whatever phi is;
  * the Hessian at the mode is (Lambda'^T Z' H Z Lambda' + I) / phi, H the observed weights
    (second derivatives of d / 2 in eta), and its phi cancels the prior's normalizing constant:

      D(sds, sigma, beta) = -2 log p(y | u'~, phi) + ||u'~||^2 / phi + log|Lambda'^T Z' H Z Lambda' + I|

    with the family's full log density (R's ``family$aic`` conventions for prior weights).

This is the exact Laplace approximation of the marginal likelihood (the observed, not the
Fisher, weights in L; they agree for canonical links), the objective glmmTMB maximizes for
Gamma: at glmmTMB's estimates for the lme4 chapter's Gamma(log) model it gives glmmTMB's
-2 log L (tests/test_profile_dispersion.py). Derivatives are exact: the mode's implicit
derivatives (``glmm.conditional_mode``) and autodiff of the rest.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np

from .. import _jax  # noqa: F401  (float64)
from .. import covariance_layout, glmm
from ..compilation import jit
from ..families import Family
from ..optimize import minimize
from ..variance_parameters import sdcor_from_theta, theta_from_sdcor


def minus_two_log_density(family: Family, y, mu, weights, dispersion):
    """-2 sum log p(y | mu, phi) with R's prior-weight conventions (``family$aic`` without its
    +2, evaluated at a given dispersion instead of sum(a d) / sum(a)). Zero-weight (padding)
    rows contribute nothing."""
    deviance_sum = jnp.sum(family.unit_deviance(y, mu, weights))
    if family.name == "Gamma":
        shape = 1.0 / dispersion
        log_density = (-jsp.gammaln(shape) - shape * jnp.log(mu * dispersion)
                       + (shape - 1) * jnp.log(y) - y / (mu * dispersion))
        return -2 * jnp.sum(weights * log_density)
    if family.name == "inverse.gaussian":
        return (jnp.sum(weights) * jnp.log(2 * jnp.pi * dispersion) + 3 * jnp.sum(weights * jnp.log(y))
                + deviance_sum / dispersion)
    if family.name == "gaussian":
        positive = weights > 0
        return (jnp.sum(positive) * jnp.log(2 * jnp.pi * dispersion)
                - jnp.sum(jnp.log(jnp.where(positive, weights, 1.0))) + deviance_sum / dispersion)
    raise ValueError(f"the {family.name} family has no dispersion parameter")


def laplace_deviance(params, data: glmm.GLMMData, family: Family):
    """D at params = (sds/correlations of b, sigma, beta), infinite where not finite."""
    layout = data.design.layout
    n_theta = layout.n_theta
    sigma = params[n_theta]
    theta = theta_from_sdcor(params[:n_theta], sigma, layout)  # Lambda' = Lambda / sigma
    beta = params[n_theta + 1:]
    pieces = glmm.laplace_pieces(theta, beta, data, family, False)
    eta = glmm.linear_predictor(theta, pieces.u, beta, data)
    ldL2 = glmm.log_det_L(theta, glmm.observed_weights(eta, data, family), data)[0]
    dispersion = sigma ** 2
    value = (ldL2 + pieces.ussq / dispersion
             + minus_two_log_density(family, data.y, pieces.mu, data.weights, dispersion))
    return jnp.where(jnp.isfinite(value), value, jnp.inf)


deviance_at = jit(laplace_deviance, static_argnames=("family",))  # compiled, for values alone

# A correlation of +-1 starts at atanh(+-(1 - 1e-6)), z = +-7.25: at atanh(1 - 1e-12) tanh's slope
# is 2e-12, below the optimizer's tolerance, and a correlation started there never moves (a fit
# from a singular estimate stopped 24 above the maximum, reporting convergence).
START_CORRELATION_LIMIT = 1.0 - 1e-6


class LaplaceFit(NamedTuple):
    """The Laplace maximum-likelihood estimates (sds/correlations, sigma, beta), -2 log L there,
    and the optimizer's status and gradient."""

    params: jax.Array
    deviance: jax.Array
    status: jax.Array
    grad: jax.Array


@partial(jit, static_argnames=("family",))
def _laplace_fit(data, start, correlation, family=None):
    n_theta = data.design.layout.n_theta
    unconstrained = lambda x: jnp.where(correlation, jnp.tanh(x), x)
    z0 = jnp.where(correlation, jnp.arctanh(jnp.clip(start, -START_CORRELATION_LIMIT,
                                                     START_CORRELATION_LIMIT)), start)
    result = minimize(lambda x: laplace_deviance(unconstrained(x), data, family), z0)
    params = unconstrained(result.x)
    sigma = jnp.abs(params[n_theta])
    # non-negative sds: the deviance depends on D R D (and sigma^2) only
    theta = covariance_layout.canonical_theta(theta_from_sdcor(params[:n_theta], sigma, data.design.layout),
                                     data.design.layout)
    params = params.at[:n_theta].set(sdcor_from_theta(theta, sigma, data.design.layout))
    return LaplaceFit(params.at[n_theta].set(sigma), result.fun, result.status, result.grad)


def laplace_fit(fit, correlation: np.ndarray, start=None, response=None) -> LaplaceFit:
    """Maximize the Laplace likelihood of a glmer fit's model, from ``start`` (sds/correlations,
    sigma, beta; default the fit's estimates), for the fit's response or ``response`` (a
    bootstrap replicate). ``correlation`` marks the correlation coordinates (optimized as tanh of
    a free value)."""
    if start is None:
        start = np.concatenate([np.asarray(sdcor_from_theta(jnp.asarray(fit.theta_values), 1.0,
                                                            fit.spec.design.layout)),
                                [fit.sigma], fit.beta])
    data = fit.problem if response is None else fit.problem._replace(y=jnp.asarray(response, jnp.float64))
    return _laplace_fit(data, jnp.asarray(start, jnp.float64), jnp.asarray(correlation), family=fit.kind.family)
