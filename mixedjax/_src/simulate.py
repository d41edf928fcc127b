"""Simulate responses from a fitted model (lme4's ``simulate.merMod``), as pure JAX functions of a
PRNG key, so that a simulation and the refits of a bootstrap run inside one compiled, vmapped call.

lmer:  y* = X beta + Z Lambda u* + offset + sigma e / sqrt(w),  u* ~ N(0, sigma^2 I), e ~ N(0, I)
glmer: eta* = X beta + Z Lambda u* + offset, u* ~ N(0, I), y* ~ family(mu(eta*)): binomial with
       the prior weights as numbers of trials (returned as proportions), poisson, Gamma with shape
       1/sigma^2, inverse.gaussian with dispersion sigma^2, negative binomial of the family's size
       theta (a Poisson of a gamma(theta, mu / theta) mean, as MASS's rnegbin; prior weights
       ignored, as R's family$simulate ignores them).
With ``use_u=True`` the random effects are held at their conditional modes (lme4's use.u = TRUE);
a tuple of one bool per term holds those terms' only (lme4's re.form naming some terms), the
others drawn anew.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _jax  # noqa: F401  (float64)
from . import covariance_layout
from .compilation import jit
from .families import Family
from .variance_parameters import term_factors


class SimulationModel(NamedTuple):
    """What simulation needs (a pytree): fixed part, every term's codes/columns/T, noise scale."""

    fixed: jax.Array        # X beta + offset (n,)
    codes: tuple
    term_X: tuple
    factors: tuple          # T_i per term
    scale: jax.Array        # sigma (lmer) or 1 (glmer): u* ~ N(0, scale^2 I)
    sigma: jax.Array        # residual sd (lmer) or sqrt(dispersion) (glmer)
    weights: jax.Array      # prior weights (binomial: numbers of trials)
    u: jax.Array            # conditional modes, spherical (used with use_u)


def random_effects_product(model: SimulationModel, u, levels: tuple, columns: tuple):
    """Z Lambda u for spherical u (flattened level-major per term,
    ``covariance_layout.random_effects_product``)."""
    return covariance_layout.random_effects_product(u, model.factors, levels, columns, model.codes,
                                                    model.term_X, model.fixed.shape[0])


def _random_inverse_gaussian(key, mean, shape):
    """Michael, Schucany & Haas (1976): one normal and one uniform per draw."""
    k1, k2 = jax.random.split(key)
    nu = jax.random.normal(k1, mean.shape) ** 2
    x = mean + mean ** 2 * nu / (2 * shape) - mean / (2 * shape) * jnp.sqrt(
        4 * mean * shape * nu + mean ** 2 * nu ** 2)
    accept = jax.random.uniform(k2, mean.shape) <= mean / (mean + x)
    return jnp.where(accept, x, mean ** 2 / x)


def _held(use_u: tuple, levels: tuple, columns: tuple) -> np.ndarray:
    """Which entries of u the terms marked in ``use_u`` own (a static mask)."""
    return np.repeat(np.array(use_u, bool), [l * p for l, p in zip(levels, columns)])


def draw_response(key, model: SimulationModel, levels: tuple, columns: tuple,
                  family: Family | None, use_u: bool | tuple):
    """One simulated response vector (n,)."""
    k_re, k_noise = jax.random.split(key)
    q = sum(l * p for l, p in zip(levels, columns))
    if use_u is True:
        u = model.u
    else:
        u = model.scale * jax.random.normal(k_re, (q,))
        if use_u is not False:
            u = jnp.where(_held(use_u, levels, columns), model.u, u)
    eta = model.fixed + random_effects_product(model, u, levels, columns)
    if family is None:
        return eta + model.sigma * jax.random.normal(k_noise, eta.shape) / jnp.sqrt(model.weights)
    mu = family.link.linkinv(eta)
    if family.name == "binomial":
        trials = jnp.maximum(model.weights, 1.0)
        successes = jax.random.binomial(k_noise, trials, mu)
        return jnp.where(model.weights > 0, successes / trials, 0.0)
    if family.name == "poisson":
        return jax.random.poisson(k_noise, mu).astype(jnp.float64)
    if family.name == "negative.binomial":
        k_mean, k_count = jax.random.split(k_noise)
        mean = jax.random.gamma(k_mean, family.theta, eta.shape) * mu / family.theta
        return jax.random.poisson(k_count, mean).astype(jnp.float64)
    dispersion = model.sigma ** 2
    if family.name == "Gamma":
        shape = 1.0 / dispersion
        return jax.random.gamma(k_noise, shape * model.weights, eta.shape) * mu / (shape * model.weights)
    if family.name == "inverse.gaussian":
        return _random_inverse_gaussian(k_noise, mu, model.weights / dispersion)
    return mu + model.sigma * jax.random.normal(k_noise, eta.shape) / jnp.sqrt(model.weights)


def simulation_model(fit) -> SimulationModel:
    """The pieces of a fitted model that simulation needs (``fit``: a result object, or one with
    its fields spec, kind, beta, theta_values, sigma, u and prior_weights)."""
    spec = fit.spec
    scale = fit.sigma if fit.kind.sigma_scales_covariance else 1.0
    return SimulationModel(
        np.asarray(spec.fixed.X @ fit.beta + spec.offset), tuple(np.asarray(t.codes) for t in spec.terms),
        tuple(np.asarray(t.X) for t in spec.terms),
        tuple(np.asarray(T) for T in term_factors(fit.theta_values, spec)),
        np.asarray(scale), np.asarray(fit.sigma), np.asarray(fit.prior_weights, float),
        np.asarray(fit.u))


def simulate(fit, nsim: int = 1, seed: int = 0, use_u: bool | tuple = False) -> np.ndarray:
    """nobs x nsim simulated responses (lme4's simulate(fit, nsim, seed, use.u, re.form))."""
    model = simulation_model(fit)
    layout = fit.spec.design.layout
    return draw_responses(model, seed, nsim, layout.term_levels, layout.term_columns, fit.kind.family,
                          use_u)


def draw_responses(model: SimulationModel, seed: int, nsim: int, levels: tuple, columns: tuple,
                   family, use_u: bool | tuple) -> np.ndarray:
    """nobs x nsim draws, one compiled program per model structure (shared by every call)."""
    keys = jax.random.split(jax.random.key(seed), nsim)
    return np.asarray(_draw(keys, model, levels, columns, family, use_u)).T


@partial(jit, static_argnames=("levels", "columns", "family", "use_u"), tiered=False)
def _draw(keys, model: SimulationModel, levels: tuple, columns: tuple, family, use_u: bool | tuple):
    return jax.vmap(lambda k: draw_response(k, model, levels, columns, family, use_u))(keys)
