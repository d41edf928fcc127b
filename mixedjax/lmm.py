"""Profiled deviance of a linear mixed model as a pure JAX function of theta (DESIGN.md sections 2-3, 5).

With Lambda = blockdiag(I_{l_i} (x) T_i) and the augmented system over [Z Lambda, X, r] (r = y - offset),

    Omega = [Lambda'Z'WZ Lambda + I, Lambda'Z'WX, Lambda'Z'Wr; ., X'WX, X'Wr; ., ., r'Wr] = L L',

the penalized residual sum of squares at the optimum is the square of L's last diagonal element, and

    ML:   d(theta)   = log|L_theta|^2 - log|W| + n [1 + log(2 pi r^2 / n)]
    REML: d_R(theta) = log|L_theta|^2 + log|R_X|^2 - log|W| + (n - p) [1 + log(2 pi r^2 / (n - p))].

Term 1's blocks are factored in closed form (``blocks``); its coupling to the trailing columns F is
eliminated through the Schur complement C = S (A22 - sum_g A21_g K_g A21_g') S' + diag(I, 0), with
K_g = T_1 M_g^{-1} T_1', M_g = T_1' A11_g T_1 + I and S = blockdiag(I (x) T_i', I); C is then
factored densely.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _jax  # noqa: F401  (float64)
from . import blocks
from .design import (CrossProducts, Design, Layout, ResponseStatistics, crossproducts,
                     response_statistics)


def covariance_factors(theta: jax.Array, layout: Layout) -> list[jax.Array]:
    """The lower-triangular T_i of each term from theta (lower triangles, column-major, lme4 order)."""
    factors, start = [], 0
    for p in layout.term_columns:
        rows, cols = np.tril_indices(p)
        order = np.lexsort((rows, cols))  # column-major
        count = p * (p + 1) // 2
        T = jnp.zeros((p, p), theta.dtype).at[rows[order], cols[order]].set(theta[start:start + count])
        factors.append(T)
        start += count
    return factors


def theta_lower_bounds(layout: Layout) -> np.ndarray:
    """0 for diagonal elements of each T_i, -inf below the diagonal (lme4's ``lower``)."""
    bounds = []
    for p in layout.term_columns:
        for j in range(p):
            bounds.extend([0.0] + [-np.inf] * (p - j - 1))
    return np.asarray(bounds)


def theta_start(layout: Layout) -> np.ndarray:
    """lme4's start: 1 on every diagonal, 0 below (never 0 on a diagonal: the gradient vanishes)."""
    return np.where(np.isfinite(theta_lower_bounds(layout)), 1.0, 0.0)


def _scale_trailing_rows(D: jax.Array, factors: list[jax.Array], layout: Layout) -> jax.Array:
    """S D: rows of each trailing random-effects term multiplied blockwise by T_i'."""
    pieces, start = [], 0
    for T, l, p in zip(factors[1:], layout.term_levels[1:], layout.term_columns[1:]):
        block = D[start:start + l * p].reshape(l, p, -1)
        pieces.append(jnp.einsum("ba,lbc->lac", T, block).reshape(l * p, -1))
        start += l * p
    pieces.append(D[start:])
    return jnp.concatenate(pieces, axis=0)


class Factorization(NamedTuple):
    """The blocked Cholesky factor at theta: term-1 blocks and the dense trailing factor."""

    L1: jax.Array        # (l1, p1, p1) chol(M_g)
    K: jax.Array         # (l1, p1, p1) T_1 M_g^{-1} T_1'
    M_inv_T1t: jax.Array  # (l1, p1, p1) M_g^{-1} T_1'
    L22: jax.Array       # (m0 + 1, m0 + 1) chol(C) over [Z_2..Z_k, X, r]


def factorize(theta, design: Design, cross: CrossProducts, stats: ResponseStatistics) -> Factorization:
    layout = design.layout
    factors = covariance_factors(theta, layout)
    T1 = factors[0]
    p1, m0, q_rest = layout.term_columns[0], layout.n_trailing, layout.n_trailing_random
    M = jnp.einsum("ba,lbc,cd->lad", T1, cross.A11, T1) + jnp.eye(p1)
    L1 = blocks.cholesky(M)
    L1_inv = blocks.lower_inverse(L1)
    M_inv_T1t = blocks.matmul(jnp.swapaxes(L1_inv, -1, -2), blocks.matmul(L1_inv, jnp.broadcast_to(T1.T, M.shape)))
    K = jnp.einsum("ab,lbc->lac", T1, M_inv_T1t)
    # sum_g A21_g K_g A21_g' over the distinct pairs of trailing columns
    KA = jnp.einsum("eab,eb->ea", K[design.entry_level], cross.A21)
    pair_values = jax.ops.segment_sum(
        jnp.sum(cross.A21[design.triple_first] * KA[design.triple_second], axis=-1),
        design.triple_pair, design.pair_row.shape[0])
    update = jnp.zeros((m0, m0)).at[design.pair_row, design.pair_col].add(pair_values)
    update = update + update.T - jnp.diag(jnp.diag(update))
    Kc = jnp.einsum("lab,lb->la", K, stats.Z1r)
    Fr_update = jax.ops.segment_sum(jnp.sum(cross.A21 * Kc[design.entry_level], axis=-1),
                                    design.entry_col, m0)
    rr_update = jnp.sum(stats.Z1r * Kc)
    D = jnp.block([[cross.A22 - update, (stats.Fr - Fr_update)[:, None]],
                   [(stats.Fr - Fr_update)[None, :], (stats.rr - rr_update)[None, None]]])
    C = _scale_trailing_rows(_scale_trailing_rows(D, factors, layout).T, factors, layout)
    C = C + jnp.diag(jnp.r_[jnp.ones(q_rest), jnp.zeros(m0 - q_rest + 1)])
    L22 = jnp.linalg.cholesky(C)
    return Factorization(L1, K, M_inv_T1t, L22)


class DevianceComponents(NamedTuple):
    """lme4's devcomp pieces: log|L_theta|^2, log|R_X|^2, penalized RSS r^2."""

    ldL2: jax.Array
    ldRX2: jax.Array
    pwrss: jax.Array


def deviance_components(factor: Factorization, layout: Layout) -> DevianceComponents:
    q_rest, p = layout.n_trailing_random, layout.n_fixed
    diag1 = jnp.diagonal(factor.L1, axis1=-2, axis2=-1)
    diag2 = jnp.diagonal(factor.L22)
    ldL2 = 2.0 * (jnp.sum(jnp.log(diag1)) + jnp.sum(jnp.log(diag2[:q_rest])))
    ldRX2 = 2.0 * jnp.sum(jnp.log(diag2[q_rest:q_rest + p]))
    return DevianceComponents(ldL2, ldRX2, diag2[-1] ** 2)


def objective(components: DevianceComponents, n_obs, n_fixed: int, log_det_weights, reml: bool):
    """ML deviance or REML criterion from the components (``n_obs`` counts positive weights)."""
    ldL2, ldRX2, pwrss = components
    if reml:
        dof = n_obs - n_fixed
        value = ldL2 + ldRX2 + dof * (1.0 + jnp.log(2.0 * jnp.pi * pwrss / dof))
    else:
        value = ldL2 + n_obs * (1.0 + jnp.log(2.0 * jnp.pi * pwrss / n_obs))
    value = value - log_det_weights
    return jnp.where(jnp.isfinite(value), value, jnp.inf)


class LinearProblem(NamedTuple):
    """Everything the profiled deviance needs besides theta (a pytree; traced under jit/vmap)."""

    design: Design
    cross: CrossProducts
    stats: ResponseStatistics
    n_obs: jax.Array
    log_det_weights: jax.Array


def linear_problem(design: Design, weights, response) -> LinearProblem:
    weights = jnp.asarray(weights, jnp.float64)
    positive = weights > 0
    return LinearProblem(design, crossproducts(design, weights),
                         response_statistics(design, weights, jnp.asarray(response, jnp.float64)),
                         jnp.sum(positive).astype(jnp.float64),
                         jnp.sum(jnp.where(positive, jnp.log(jnp.where(positive, weights, 1.0)), 0.0)))



def profiled_deviance(theta, problem: LinearProblem, reml: bool):
    """REML criterion (``reml=True``) or ML deviance at theta, beta and sigma profiled out."""
    layout = problem.design.layout
    factor = factorize(theta, problem.design, problem.cross, problem.stats)
    return objective(deviance_components(factor, layout), problem.n_obs, layout.n_fixed,
                     problem.log_det_weights, reml)


class Solution(NamedTuple):
    """Conditional estimates at theta: beta, spherical u and b = Lambda u per term (flattened,
    level-major), the components, and R_X' (lower) for vcov(beta) = sigma^2 (R_X' R_X)^{-1}."""

    beta: jax.Array
    u: jax.Array
    b: jax.Array
    components: DevianceComponents
    RXt: jax.Array


def solve(theta, problem: LinearProblem) -> Solution:
    """beta-hat and the conditional modes at theta (back-substitution through the blocked factor)."""
    design, layout = problem.design, problem.design.layout
    factor = factorize(theta, design, problem.cross, problem.stats)
    m0, q_rest, p = layout.n_trailing, layout.n_trailing_random, layout.n_fixed
    Lt = factor.L22[:m0, :m0]
    trailing = jax.scipy.linalg.solve_triangular(Lt.T, factor.L22[m0, :m0], lower=False)
    u_rest, beta = trailing[:q_rest], trailing[q_rest:]
    factors = covariance_factors(theta, layout)
    b_rest, start = [], 0
    for T, l, pi in zip(factors[1:], layout.term_levels[1:], layout.term_columns[1:]):
        b_rest.append((u_rest[start:start + l * pi].reshape(l, pi) @ T.T).ravel())
        start += l * pi
    F_values = jnp.concatenate(b_rest + [beta]) if b_rest else beta
    fitted_cross = jax.ops.segment_sum(problem.cross.A21 * F_values[design.entry_col][:, None],
                                       design.entry_level, layout.term_levels[0])
    residual_cross = problem.stats.Z1r - fitted_cross
    u1 = jnp.einsum("lab,lb->la", factor.M_inv_T1t, residual_cross)
    b1 = jnp.einsum("lab,lb->la", factor.K, residual_cross)
    u = jnp.concatenate([u1.ravel(), u_rest])
    b = jnp.concatenate([b1.ravel()] + b_rest)
    RXt = factor.L22[q_rest:q_rest + p, q_rest:q_rest + p]
    return Solution(beta, u, b, deviance_components(factor, layout), RXt)


def canonical_theta(theta, layout: Layout):
    """Flip the sign of every column of T_i whose diagonal is negative (the deviance depends on
    T_i T_i' only), so that reported theta has non-negative diagonals as lme4's does."""
    pieces, start = [], 0
    for p in layout.term_columns:
        rows, cols = np.tril_indices(p)
        order = np.lexsort((rows, cols))
        count = p * (p + 1) // 2
        block = theta[start:start + count]
        diagonal_position = np.flatnonzero(rows[order] == cols[order])
        signs = jnp.where(block[diagonal_position] < 0, -1.0, 1.0)
        pieces.append(block * signs[cols[order]])
        start += count
    return jnp.concatenate(pieces)


def snap_to_boundary(objective, theta, value, layout: Layout, tol: float = 1e-4):
    """Set diagonal elements of theta below ``tol`` to exactly 0 when that does not raise the
    objective by more than rounding: a boundary optimum (a variance 0, a correlation +-1) is
    then reported exactly, as lme4's bounded optimizer reports it."""
    on_diagonal = jnp.asarray(np.isfinite(theta_lower_bounds(layout)))
    snapped = jnp.where(on_diagonal & (jnp.abs(theta) < tol), 0.0, theta)
    keep = objective(snapped) <= value + 1e-10 * (1.0 + jnp.abs(value))
    return jnp.where(keep, snapped, theta)
