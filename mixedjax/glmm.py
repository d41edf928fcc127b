"""GLMM objectives as pure JAX functions: PIRLS, the Laplace approximation and adaptive
Gauss-Hermite quadrature (DESIGN.md sections 7-8).

y_j | u ~ family(mu_j), g(mu) = eta = offset + X beta + Z Lambda u, u ~ N(0, I).

PIRLS finds the conditional mode u~ (with beta fixed, or jointly with beta for nAGQ = 0) by
Fisher scoring on the penalized deviance PSUD(u) = sum_j a_j d(y_j, mu_j) + ||u||^2, each step a
penalized weighted least-squares solve with the structured factorization of ``lmm``. It is a
``lax.while_loop`` starting from the same point on every call, so each objective is a pure function
of its parameters. Its derivatives come from the implicit function theorem (``lax.custom_root``
on grad PSUD / 2 = 0), exactly, to any order, so the Newton outer optimizer and the Hessian-based
standard errors see exact derivatives.

Laplace:  D(theta, beta) = log|L|^2 + ||u~||^2 + aic(y, mu~)   (L from the Fisher weights at u~)
AGQ:      D = sum_j devc_j(0) + log|L|^2 - 2 sum_j log sum_k w_k exp(z_k^2/2 - (devc_j(z_k) - devc_j(0))/2)
          with devc_j(z) = sum_{i in j} dev_i(u~_j + z/L_jj) + (u~_j + z/L_jj)^2 (lme4's scale: no
          saturated constant).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _jax  # noqa: F401  (float64)
from . import lmm
from .design import Design, ResponseStatistics, crossproducts
from .families import Family


class GLMMData(NamedTuple):
    """Arrays of one GLMM (a pytree): the design with and without X, every term's codes and
    columns, the response (proportions for binomial), prior weights and offset."""

    design: Design
    design_re: Design
    X: jax.Array
    codes: tuple
    term_X: tuple
    y: jax.Array
    weights: jax.Array
    offset: jax.Array
    mustart: jax.Array


def random_part(theta, u, data: GLMMData):
    """Z Lambda u (n,): each term's b = T_i u_i per level, then row j's x_ij' b_{g(j)}."""
    layout = data.design.layout
    factors = lmm.covariance_factors(theta, layout)
    eta, start = jnp.zeros(data.y.shape[0]), 0
    for T, l, p, codes, Xi in zip(factors, layout.term_levels, layout.term_columns, data.codes,
                                  data.term_X):
        b = u[start:start + l * p].reshape(l, p) @ T.T
        eta = eta + jnp.sum(Xi * b[codes], axis=1)
        start += l * p
    return eta


def _split(v, beta, joint: bool, q: int):
    return (v[:q], v[q:]) if joint else (v, beta)


def linear_predictor(theta, u, beta, data: GLMMData):
    return data.offset + data.X @ beta + random_part(theta, u, data)


def penalized_deviance(v, theta, beta, data: GLMMData, family: Family, joint: bool):
    """PSUD = sum a d(y, mu) + ||u||^2 at v = u (or v = [u, beta] when ``joint``)."""
    q = data.design.layout.n_random
    u, beta = _split(v, beta, joint, q)
    mu = family.link.linkinv(linear_predictor(theta, u, beta, data))
    return jnp.sum(family.unit_deviance(data.y, mu, data.weights)) + jnp.sum(u ** 2)


def fisher_weights(eta, data: GLMMData, family: Family):
    mu = family.link.linkinv(eta)
    mu_eta = family.link.mu_eta(eta)
    return data.weights * mu_eta ** 2 / family.variance(mu), mu, mu_eta


class PirlsState(NamedTuple):
    v: jax.Array
    psud: jax.Array
    iterations: jax.Array
    done: jax.Array


def pirls(theta, beta, data: GLMMData, family: Family, joint: bool, tol: float = 1e-12,
          max_iterations: int = 100, max_halvings: int = 20):
    """Conditional modes by penalized iteratively reweighted least squares (lme4's pwrssUpdate).

    Starts from u = 0 (and, when ``joint``, from the family's starting means); step-halving when
    PSUD rises. Returns (v, iterations)."""
    layout = data.design.layout
    q = layout.n_random
    design = data.design if joint else data.design_re

    def pls_step(eta, beta_now):
        w, mu, mu_eta = fisher_weights(eta, data, family)
        working = eta - data.offset + (data.y - mu) / mu_eta
        if not joint:
            working = working - data.X @ beta_now
        solution = lmm.solve(theta, lmm.linear_problem(design, w, working))
        return jnp.concatenate([solution.u, solution.beta]) if joint else solution.u

    psud = lambda v: penalized_deviance(v, theta, beta, data, family, joint)

    def body(state: PirlsState):
        u, beta_now = _split(state.v, beta, joint, q)
        proposal = pls_step(linear_predictor(theta, u, beta_now, data), beta_now)

        def halve(carry):
            v, value, k = carry
            v = 0.5 * (v + state.v)
            return v, psud(v), k + 1

        def worse(carry):
            _, value, k = carry
            return (k < max_halvings) & ~(value <= state.psud)

        v, value, _ = jax.lax.while_loop(worse, halve, (proposal, psud(proposal), 0))
        change = jnp.abs(state.psud - value) / (jnp.abs(value) + 0.1)
        done = (change < tol) | (state.iterations + 1 >= max_iterations) | ~(value <= state.psud)
        keep = value <= state.psud
        return PirlsState(jnp.where(keep, v, state.v), jnp.where(keep, value, state.psud),
                          state.iterations + 1, done)

    if joint:
        first = pls_step(family.link.linkfun(data.mustart), None)
    else:
        first = jnp.zeros(q)
    state = PirlsState(first, psud(first), jnp.asarray(0), jnp.asarray(False))
    state = jax.lax.while_loop(lambda s: ~s.done, body, state)
    return state.v, state.iterations


def conditional_mode(theta, beta, data: GLMMData, family: Family, joint: bool):
    """u~ (or [u~, beta~]) with exact implicit derivatives in theta and beta."""
    q = data.design.layout.n_random
    size = q + (data.design.layout.n_fixed if joint else 0)

    def gradient(v):
        return 0.5 * jax.grad(penalized_deviance)(v, theta, beta, data, family, joint)

    def solve(_, __):
        return pirls(jax.lax.stop_gradient(theta), jax.lax.stop_gradient(beta), data, family, joint)[0]

    def tangent_solve(linear, rhs):
        return jnp.linalg.solve(jax.jacobian(linear)(rhs), rhs)

    return jax.lax.custom_root(gradient, jnp.zeros(size), solve, tangent_solve)


def log_det_L(theta, weights, data: GLMMData):
    """log|L_theta|^2 for Lambda'Z'WZ Lambda + I (random effects only)."""
    design = data.design_re
    layout = design.layout
    stats = ResponseStatistics(jnp.zeros((layout.term_levels[0], layout.term_columns[0])),
                               jnp.zeros(layout.n_trailing), jnp.asarray(1.0))
    factor = lmm.factorize(theta, design, crossproducts(design, weights), stats)
    return lmm.deviance_components(factor, layout).ldL2, factor


class LaplacePieces(NamedTuple):
    u: jax.Array
    beta: jax.Array
    mu: jax.Array
    ldL2: jax.Array
    ussq: jax.Array
    deviance_sum: jax.Array
    aic: jax.Array


def laplace_pieces(theta, beta, data: GLMMData, family: Family, joint: bool,
                   differentiable: bool = True) -> LaplacePieces:
    """The Laplace objective's pieces at the conditional mode; ``differentiable=False`` skips the
    implicit-derivative wrapper (cheaper to compile) where only values are needed."""
    q = data.design.layout.n_random
    v = (conditional_mode(theta, beta, data, family, joint) if differentiable
         else pirls(theta, beta, data, family, joint)[0])
    u, beta = _split(v, beta, joint, q)
    eta = linear_predictor(theta, u, beta, data)
    w, mu, _ = fisher_weights(eta, data, family)
    ldL2, _ = log_det_L(theta, w, data)
    deviance_sum = jnp.sum(family.unit_deviance(data.y, mu, data.weights))
    aic = family.aic(data.y, mu, data.weights, deviance_sum)
    return LaplacePieces(u, beta, mu, ldL2, jnp.sum(u ** 2), deviance_sum, aic)


def laplace_deviance(theta, beta, data: GLMMData, family: Family, joint: bool = False):
    """lme4's Laplace objective -2 log L ~ log|L|^2 + ||u~||^2 + aic (joint: nAGQ = 0's, theta only)."""
    pieces = laplace_pieces(theta, beta, data, family, joint)
    value = pieces.ldL2 + pieces.ussq + pieces.aic
    return jnp.where(jnp.isfinite(value), value, jnp.inf)


def gauss_hermite(n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E[f(Z)], Z ~ N(0, 1) (probabilists' Hermite rule, symmetrized)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_points)
    nodes = 0.5 * (nodes - nodes[::-1])
    weights = 0.5 * (weights + weights[::-1])
    return nodes, weights / weights.sum()


def agq_deviance(theta, beta, data: GLMMData, family: Family, n_points: int):
    """Adaptive Gauss-Hermite approximation for one scalar random-effects term (lme4's scale)."""
    u = conditional_mode(theta, beta, data, family, False)
    eta = linear_predictor(theta, u, beta, data)
    w, mu, _ = fisher_weights(eta, data, family)
    ldL2, factor = log_det_L(theta, w, data)
    scale = 1.0 / factor.L1[:, 0, 0]
    T = theta[0]
    codes, x = data.codes[0], data.term_X[0][:, 0]
    levels = data.design.layout.term_levels[0]
    nodes, weights = gauss_hermite(n_points)

    def devc(z):
        shift = z * scale
        mu_z = family.link.linkinv(eta + x * T * shift[codes])
        per_level = jax.ops.segment_sum(family.unit_deviance(data.y, mu_z, data.weights), codes, levels)
        return per_level + (u + shift) ** 2

    base = devc(0.0)
    shifted = jax.vmap(devc)(jnp.asarray(nodes))  # (K, levels)
    log_terms = jnp.asarray(nodes)[:, None] ** 2 / 2 - 0.5 * (shifted - base[None, :])
    log_sum = jax.scipy.special.logsumexp(log_terms, axis=0, b=jnp.asarray(weights)[:, None])
    value = jnp.sum(base) + ldL2 - 2.0 * jnp.sum(log_sum)
    return jnp.where(jnp.isfinite(value), value, jnp.inf)
