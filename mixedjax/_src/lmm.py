"""Profiled deviance of a linear mixed model as a pure JAX function of theta (docs/DESIGN.md sections 2-3, 5).

With Lambda = blockdiag(I_{l_i} (x) T_i) and the augmented system over [Z Lambda, X, r] (r = y - offset),

    Omega = [Lambda'Z'WZ Lambda + I, Lambda'Z'WX, Lambda'Z'Wr; ., X'WX, X'Wr; ., ., r'Wr] = L L',

the penalized residual sum of squares at the optimum is the square of L's last diagonal element, and

    ML:   d(theta)   = log|L_theta|^2 - log|W| + n [1 + log(2 pi r^2 / n)]
    REML: d_R(theta) = log|L_theta|^2 + log|R_X|^2 - log|W| + (n - p) [1 + log(2 pi r^2 / (n - p))].

Term 1's blocks are factored in closed form (``blocks``); its coupling to the trailing columns F is
eliminated through the Schur complement C = S (A22 - sum_g A21_g K_g A21_g') S' + diag(I, 0), with
K_g = T_1 M_g^{-1} T_1', M_g = T_1' A11_g T_1 + I and S = blockdiag(I (x) T_i', I); C is then
factored densely.

Cost, for large models (InstEval: 2M triples, C of order 1159):
- the update sum_g A21_g K_g A21_g' is linear in K, so its theta-free per-triple weights are formed
  once per problem (``triple_coefficients``) and each evaluation is one gather of K per triple
  and one segment sum over the pairs, scattered once into both triangles;
- the objective needs only log-determinants of C's leading blocks and its last pivot
  (``trailing_log_det``), whose derivative is A_b + c v v' from one inverse: reverse mode never
  differentiates the factorization, and ``blocked_value_grad_hess`` assembles the exact Hessian
  from the same inverse at the cost of one matrix product per covariance parameter;
- the dense factorization and inverse are blocked products (``blocks``), not LAPACK on the whole
  matrix.
"""
from __future__ import annotations

import dataclasses
import os
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from . import _jax  # noqa: F401  (float64)
from .compilation import jit
from .errors import ModelSizeError
from . import blocks, covariance_structures
from .covariance_layout import (covariance_factors, spherical_to_b, term_slices, theta_lower_bounds,
                                theta_start)
from .dense_inverse import gauss_jordan_inverse
from .design import (CrossProducts, Design, Layout, ResponseStatistics, crossproducts,
                     response_statistics)


OPTIMIZER_FREE_OCTAVES = 5  # random-effects columns of RMS within 2^+-4 keep lme4's coordinates


def column_rms(design: Design, weights, xp=jnp) -> list:
    """Per random-effects term, the root mean square of its model-matrix columns over the rows of
    positive weight (the design's padding rows have weight 0)."""
    layout = design.layout
    used = xp.asarray(weights) > 0
    count = xp.maximum(xp.sum(used), 1)
    columns, start = [xp.asarray(design.X1)], 0
    for p in layout.term_columns[1:]:
        columns.append(xp.asarray(design.slot_val)[:, start:start + p])
        start += p
    return [xp.sqrt(xp.sum(xp.where(used[:, None], Z * Z, 0.0), axis=0) / count) for Z in columns]


def theta_scale(design: Design, weights, xp=jnp):
    """``scale_from_rms`` of the design's column RMS (``column_rms``)."""
    return scale_from_rms(column_rms(design, weights, xp), design.layout, xp)


def scale_from_rms(rms: list, layout: Layout, xp=jnp):
    """Per theta element, the power of two d with theta = d theta~, where the optimizer works in
    theta~ (``linear_model``), from the per-term column RMS ``rms`` (``column_rms``).
    T_i = D_i^-1 T~_i, with D_i the RMS of Z_i's columns rounded to
    a power of two, is the same model with Z_i's columns scaled to about 1: a slope in x * 1e9
    has theta about 1e-9 otherwise, whose Newton step the eigenvalue floor of the Hessian
    (``optimize._newton_direction``) and lme4's start at 1 both defeat (the start gave an
    infinite criterion). Columns of ordinary scale (RMS in 2^-4 .. 2^4) keep d = 1 exactly, so
    those fits follow lme4's coordinates and start; powers of two make the scaling exact."""
    pieces = []
    for term_rms, p, structure in zip(rms, layout.term_columns, layout.term_structures):
        octave = xp.round(xp.log2(xp.where(term_rms > 0, term_rms, 1.0)))
        octave = xp.where(xp.isfinite(octave) & (xp.abs(octave) >= OPTIMIZER_FREE_OCTAVES), octave, 0.0)
        pieces.append(covariance_structures.column_scale(
            structure, xp.ldexp(1.0, -octave.astype(np.int32)), p, xp))
    return xp.concatenate(pieces)


def standardized_start(rms: list, layout: Layout) -> np.ndarray:
    """lme4's start (T_i = I) for Z's columns scaled to RMS 1 (numpy), from the per-term column
    RMS ``rms`` (``column_rms``): T_i = D_i^-1 with D_i the columns' RMS, so that every random
    effect starts with the residual's variance per unit of its column's typical size (a slope on
    u in 0..29 starts at about 1/16, not at 1)."""
    pieces = [covariance_structures.column_scale(structure, 1.0 / np.where(term_rms > 0, term_rms, 1.0), p, np)
              for term_rms, p, structure in zip(rms, layout.term_columns, layout.term_structures)]
    return theta_start(layout) * np.concatenate(pieces)


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


def triple_coefficients(design: Design, cross: CrossProducts) -> jax.Array:
    """A21[first] (x) A21[second] per triple, (T, p1 * p1): the Schur-complement update is linear
    in the term-1 blocks K, sum_t coef_t . K[level_t], and these weights do not depend on theta."""
    first = cross.A21[design.triple_first]
    second = cross.A21[design.triple_second]
    p1 = cross.A21.shape[-1]
    return (first[:, :, None] * second[:, None, :]).reshape(first.shape[0], p1 * p1)


def augmented_crossproducts(cross: CrossProducts, stats: ResponseStatistics) -> jax.Array:
    """[[A22, F'Wr], [r'WF, r'Wr]] (m0 + 1, m0 + 1), exactly symmetric."""
    A22 = 0.5 * (cross.A22 + cross.A22.T)
    return jnp.block([[A22, stats.Fr[:, None]], [stats.Fr[None, :], stats.rr[None, None]]])


def _term1_blocks(T1, A11):
    """chol(M_g), K_g = T_1 M_g^{-1} T_1' and M_g^{-1} T_1' for M_g = T_1' A11_g T_1 + I."""
    p1 = T1.shape[0]
    M = jnp.einsum("ba,lbc,cd->lad", T1, A11, T1) + jnp.eye(p1)
    L1 = blocks.cholesky(M)
    L1_inv = blocks.lower_inverse(L1)
    M_inv_T1t = blocks.matmul(jnp.swapaxes(L1_inv, -1, -2),
                              blocks.matmul(L1_inv, jnp.broadcast_to(T1.T, M.shape)))
    K = jnp.einsum("ab,lbc->lac", T1, M_inv_T1t)
    return L1, K, M_inv_T1t


def _scale_trailing_columns(X: jax.Array, factors: list[jax.Array], layout: Layout) -> jax.Array:
    """X S': columns of each trailing random-effects term multiplied blockwise by T_i (no
    transposes of X)."""
    pieces, start = [], 0
    for T, l, p in zip(factors[1:], layout.term_levels[1:], layout.term_columns[1:]):
        block = X[:, start:start + l * p].reshape(X.shape[0], l, p)
        pieces.append(jnp.einsum("klb,ba->kla", block, T).reshape(X.shape[0], l * p))
        start += l * p
    pieces.append(X[:, start:])
    return jnp.concatenate(pieces, axis=1)


def _unscaled_cotangent(G: jax.Array, factors: list[jax.Array], layout: Layout) -> jax.Array:
    """S'G S: the cotangent of D in C = S D S' + diag(I, 0) for C's cotangent G."""
    return _scale_trailing(G, [T.T for T in factors], layout)


def _scaling_gradient(G: jax.Array, D: jax.Array, theta, layout: Layout):
    """d<G, S(theta) D S(theta)'>/dtheta for symmetric G and D, in closed form: the derivative is
    2 tr(dS' G S D), and dS lives on the diagonal blocks of each trailing term's levels, so
    through T_j it is 2 sum_g (G S D)[J_g b, J_g a] at [a, b] (rows J_g of level g), n r_j p_j
    multiply-adds; reverse mode through the scaling ran its transposes (InstEval: 45 ms of a
    90 ms conditional gradient). Term 1's share of the gradient is 0."""
    factors = covariance_factors(theta, layout)
    E = _scale_trailing_rows(D, factors, layout)  # S D
    T_bars, start = [], 0
    for l, p in zip(layout.term_levels[1:], layout.term_columns[1:]):
        J = slice(start, start + l * p)
        T_bars.append(2.0 * jnp.einsum("gbk,kga->ab", G[J].reshape(l, p, -1), E[:, J].reshape(-1, l, p)))
        start += l * p
    _, factor_pullback = jax.vjp(lambda t: covariance_factors(t, layout)[1:], theta)
    return factor_pullback(T_bars)[0]


def _scale_trailing(D: jax.Array, factors: list[jax.Array], layout: Layout) -> jax.Array:
    """S D S' for S = blockdiag(I (x) T_2', ..., I (x) T_k', I)."""
    if all(p == 1 for p in layout.term_columns[1:]):
        # scalar terms: S is diagonal, so S D S' = D * s s' (one fused pass; s s' is exactly
        # symmetric, so C stays exactly symmetric)
        values = jnp.stack([T[0, 0] for T in factors[1:]] + [jnp.ones((), D.dtype)])
        counts = list(layout.term_levels[1:]) + [layout.n_fixed + 1]
        s = values.at[np.repeat(np.arange(len(counts)), counts)].get(mode="promise_in_bounds")
        return D * (s[:, None] * s[None, :])
    return _scale_trailing_columns(_scale_trailing_rows(D, factors, layout), factors, layout)


def level_dense_update(design: Design) -> bool:
    """Whether the Schur-complement update sum_g B_g K_g B_g' is formed from dense per-level blocks
    B_g = [A21_g; r_g'] ((m0 + 1) x p1, one matrix product) rather than from the triples: where
    the design lists none, because they were too many (``design.TRIPLE_LIMIT``: MovieLens-1M-shaped
    designs, 182M triples) or the dense product costs less (``design.dense_update_cheaper``).
    Decided once per design, when it is built (static)."""
    return design.triples_omitted


def schur_update_work(design: Design) -> int:
    """Multiply-adds of one Schur-complement update: l1 p1 (m0 + 1)^2 on the dense-update path
    (``level_dense_update``), p1^2 per triple otherwise (static)."""
    layout = design.layout
    p1 = layout.term_columns[0]
    if level_dense_update(design):
        return layout.term_levels[0] * p1 * (layout.n_trailing + 1) ** 2
    return int(design.triple_level.shape[0]) * p1 * p1


# (m0 + 1)^2 matrices alive at once in one derivative evaluation: C, its factor and inverse,
# A_b, G, the crossproducts and the Schur update and their copies, the Hessian's per-theta
# tangents (2 per covariance parameter)
_TRAILING_COPIES = 12


def dense_memory(layout: Layout, dense_update: bool) -> int:
    """Bytes the dense trailing block needs in a fit: ``_TRAILING_COPIES`` + 2 per covariance
    parameter matrices of order m0 + 1, and on the dense-update path (``level_dense_update``)
    four copies of the per-level blocks B_g (l1 x (m0 + 1) x p1: with their wide copy,
    ``DenseUpdateWeights``)."""
    size = layout.n_trailing + 1
    matrices = (_TRAILING_COPIES + 2 * layout.n_theta) * size * size
    level_values = 4 * layout.term_levels[0] * size * layout.term_columns[0] \
        if dense_update else 0
    return 8 * (matrices + level_values)


def physical_memory() -> int | None:
    """This machine's memory in bytes (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_dense_fits(design: Design, group_names=None) -> None:
    """Raise ``ModelSizeError`` before anything is allocated when the dense trailing block
    (``dense_memory``) needs more than this machine's memory: its order is the levels times
    columns of every term after the first (the grouping factor with most levels) plus the fixed
    effects, so a second factor with 60,000 levels asks for tens of GB per matrix."""
    layout = design.layout
    available = physical_memory()
    needed = dense_memory(layout, level_dense_update(design))
    if available is None or needed <= available:
        return
    names = list(group_names) if group_names is not None else \
        [f"term {i + 1}" for i in range(len(layout.term_levels))]
    trailing = ", ".join(f"{name} ({levels:,} levels x {columns})" for name, levels, columns in
                         zip(names[1:], layout.term_levels[1:], layout.term_columns[1:]))
    raise ModelSizeError(
        f"the model's dense trailing block has order {layout.n_trailing + 1:,} ({trailing}, "
        f"{layout.n_fixed} fixed effects and the response, after the {layout.term_levels[0]:,} "
        f"levels of {names[0]}, which are eliminated blockwise): a fit needs about "
        f"{needed / 2 ** 30:,.1f} GiB, more than this machine's {available / 2 ** 30:,.1f} GiB. "
        f"Fit it on a machine with more memory, or with fewer levels in the grouping factors "
        f"after {names[0]}.")


def level_blocks(design: Design, cross: CrossProducts, stats: ResponseStatistics) -> jax.Array:
    """B_g' = Z_g' W [Z_trailing, X, r]_g = [A21_g; r_g']' per level g of term 1, (l1, p1, m0 + 1):
    level-major, so that the levels' blocks stacked are one (l1 p1, m0 + 1) matrix without a
    transpose; zeros where a level does not meet a column (padding entries carry exact zeros).
    The dense update's weights (``schur_update_weights``) and, for a model of one term
    (m0 = p), the one-term kernel's B_g = Z_g' W [X_g, r_g]."""
    layout = design.layout
    l1, p1, m0 = layout.term_levels[0], layout.term_columns[0], layout.n_trailing
    A21 = jnp.zeros((l1, p1, m0), cross.A21.dtype).at[design.entry_level, :, design.entry_col].add(
        cross.A21)
    return jnp.concatenate([A21, stats.Z1r[:, :, None]], axis=2)


class DenseUpdateWeights(NamedTuple):
    """The dense-update path's theta-free weights (``schur_update_weights``): the per-level
    blocks B_g' ((l1, p1, m0 + 1), ``level_blocks``) and the same blocks as one wide matrix
    X' = [B_g' stacked]' ((m0 + 1, l1 p1)), kept beside them because XLA's CPU product X'Y with
    X's transpose taken in the product runs at half the speed of X' stored (d3-shaped: 52
    against 26 ms)."""

    blocks: jax.Array
    wide: jax.Array


def dense_update_weights(design: Design, cross: CrossProducts, stats: ResponseStatistics) -> DenseUpdateWeights:
    """``DenseUpdateWeights`` of a design on the dense-update path."""
    Bt = level_blocks(design, cross, stats)
    l1, p1, size = Bt.shape
    return DenseUpdateWeights(Bt, Bt.reshape(l1 * p1, size).T)


@jax.custom_jvp
def _level_gram(X, X_wide, Y):
    """X'Y for X (rows, n) given with its transpose X_wide = X' (n, rows): computed as X_wide Y.
    Its derivative is written with X itself (X'dY + dX'Y), whose transpose in reverse mode is
    the plain product X G (through X_wide it would be X_wide' G, the slow form again)."""
    return X_wide @ Y


@partial(_level_gram.defjvp, symbolic_zeros=True)
def _level_gram_jvp(primals, tangents):
    X, X_wide, Y = primals
    dX, _, dY = tangents
    product = lambda A, B: jax.lax.dot_general(A, B, (((0,), (0,)), ((), ())))
    tangent = jnp.zeros((X.shape[1], Y.shape[1]), jnp.result_type(X, Y))
    if not isinstance(dY, SymbolicZero):
        tangent = tangent + product(X, dY)
    if not isinstance(dX, SymbolicZero):
        tangent = tangent + product(dX, Y)
    return X_wide @ Y, tangent


def _dense_update(K, weights: DenseUpdateWeights):
    """sum_g B_g K_g B_g' = X'Y for X = [B_g'] and Y = [K_g B_g'] stacked ((l1 p1) x (m0 + 1);
    from ``level_blocks``'s layout: the d3-shaped design's update took 0.136 s with the
    blocks transposed into a wide matrix in each evaluation and 0.079 s so; with the wide
    matrix formed once per problem, ``DenseUpdateWeights``, 0.03 s), exactly symmetric (the
    Cholesky's derivative assumes a symmetric tangent)."""
    Bt = weights.blocks
    l1, p1, size = Bt.shape
    # a broadcast product summed, not an einsum: XLA's CPU batched dot for the pullback's
    # einsum("lqi,lpi->lqp") over 4,726 levels of 2 x 415 took 68 ms, this reduction's 5 ms
    KBt = jnp.sum(K[:, :, :, None] * Bt[:, None, :, :], axis=2)
    return _symmetric_product(Bt.reshape(l1 * p1, size), weights.wide, KBt.reshape(l1 * p1, size))


def _dense_update_tangents(K_dot, weights: DenseUpdateWeights):
    """``_dense_update`` along each of the directions K_dot (n_dir, l1, p1, p1) at once: X' [Y_1 ..
    Y_n] for Y_k = [K_dot_k,g B_g'] stacked, one product with the directions side by side, where
    vmap of the single update transposed its (n_dir, l1 p1, m0 + 1) stack first (d3-shaped: a
    copy of 94 MB, 0.06 s of a 0.6 s Hessian). Returns (n_dir, m0 + 1, m0 + 1), each exactly
    symmetric."""
    n_dir = K_dot.shape[0]
    Bt = weights.blocks
    l1, p1, size = Bt.shape
    if size > _SYMMETRIC_BASE:  # the lower-triangle product saves more than the copy costs
        return jax.vmap(lambda k: _dense_update(k, weights))(K_dot)
    by_level = jnp.moveaxis(K_dot, 0, 2)  # (l1, p1, n_dir, p1)
    Y = jnp.sum(by_level[:, :, :, :, None] * Bt[:, None, None, :, :], axis=3)
    product = _level_gram(Bt.reshape(l1 * p1, size), weights.wide, Y.reshape(l1 * p1, n_dir * size))
    product = jnp.moveaxis(product.reshape(size, n_dir, size), 1, 0)
    return 0.5 * (product + jnp.swapaxes(product, 1, 2))


_SYMMETRIC_BASE = 512  # blocks up to this order are one product, symmetrized


def _symmetric_product(X, X_wide, Y, base: int = _SYMMETRIC_BASE):
    """X' Y where it is known to be symmetric (X_wide = X', ``_level_gram``), from its lower block
    triangle only, recursively by 2 x 2 blocks (about 9/16 of the plain product's multiply-adds
    for MovieLens-1M's order 3,708, where the product of 6,040 users' blocks is most of an
    evaluation), exactly symmetric."""
    n = X.shape[1]
    if n <= base:
        product = _level_gram(X, X_wide, Y)
        return 0.5 * (product + product.T)
    k = n // 2
    off = _level_gram(X[:, k:], X_wide[k:], Y[:, :k])
    return jnp.block([[_symmetric_product(X[:, :k], X_wide[:k], Y[:, :k], base), off.T],
                      [off, _symmetric_product(X[:, k:], X_wide[k:], Y[:, k:], base)]])


def schur_update_weights(design: Design, cross: CrossProducts, stats: ResponseStatistics):
    """The theta-free weights of the Schur-complement update, formed once per problem: the
    per-level blocks on the dense path (``level_dense_update``, ``level_blocks``; their
    scatter ran in every evaluation before), the triples' coefficients otherwise
    (``triple_coefficients``)."""
    if level_dense_update(design):
        return dense_update_weights(design, cross, stats)
    return triple_coefficients(design, cross)


def _schur_unscaled_tangents(K_dot, design: Design, cross: CrossProducts, stats: ResponseStatistics,
                             update_weights):
    """``_schur_unscaled``'s tangents D_dot_k = -U(K_dot_k) along the term-1 directions K_dot
    (n_dir, l1, p1, p1), the same at every K (D = D0 - U(K) is affine in K): one product with the directions
    side by side on the dense path (``_dense_update_tangents``), a pass over the triples per
    direction otherwise. Returns (n_dir, m0 + 1, m0 + 1)."""
    if level_dense_update(design):
        return -_dense_update_tangents(K_dot, update_weights)
    size = design.layout.n_trailing + 1
    zero = jnp.zeros((size, size), K_dot.dtype)
    return jax.vmap(lambda k: _schur_unscaled(k, design, cross, stats, update_weights, zero))(K_dot)


def _schur_unscaled(K, design: Design, cross: CrossProducts, stats: ResponseStatistics,
                    update_weights, augmented):
    """D = [[A22, F'r], [r'F, r'r]] - sum_g [A21_g; r_g'] K_g [A21_g; r_g']' ((m0 + 1)^2), affine in
    the term-1 blocks K: one gather of K per triple, a segment sum over the pairs of trailing
    columns, and one scatter into both triangles (or one dense product, ``level_dense_update``)."""
    if level_dense_update(design):
        return augmented - _dense_update(K, update_weights)
    layout = design.layout
    l1, p1, m0 = layout.term_levels[0], layout.term_columns[0], layout.n_trailing
    K_triples = K.reshape(l1, p1 * p1).at[design.triple_level].get(mode="promise_in_bounds")
    pair_values = jax.ops.segment_sum(jnp.sum(update_weights * K_triples, axis=-1), design.triple_pair,
                                      design.pair_row.shape[0])
    Kc = jnp.einsum("lab,lb->la", K, stats.Z1r)
    Fr_update = jax.ops.segment_sum(
        jnp.sum(cross.A21 * Kc.at[design.entry_level].get(mode="promise_in_bounds"), axis=-1),
        design.entry_col, m0)
    rr_update = jnp.sum(stats.Z1r * Kc)
    updates = jnp.concatenate([pair_values, Fr_update, rr_update[None]])
    return augmented.reshape(-1).at[design.dense_index].add(
        -updates.at[design.dense_source].get(mode="promise_in_bounds"), indices_are_sorted=True,
        unique_indices=True).reshape(m0 + 1, m0 + 1)


def _schur_scaled(D, theta, layout: Layout):
    """C = S D S' + diag(I_{q_rest}, 0): the trailing terms' T_i applied, and the identity added."""
    size, q_rest = layout.n_trailing + 1, layout.n_trailing_random
    penalty = jnp.concatenate([jnp.ones(q_rest, D.dtype), jnp.zeros(size - q_rest, D.dtype)])
    return _scale_trailing(D, covariance_factors(theta, layout), layout) + jnp.diag(penalty)


def term1_factor(theta, layout: Layout, A11):
    """(chol(M_g), K_g, M_g^{-1} T_1') of term 1's blocks M_g = T_1' A11_g T_1 + I at theta: the
    whole factor of Lambda'Z'WZ Lambda + I when the model has one term and no trailing columns."""
    return _term1_blocks(covariance_factors(theta, layout)[0], A11)


def _unscaled_system(theta, design: Design, cross: CrossProducts, stats: ResponseStatistics,
                     update_weights=None, augmented=None):
    """Term 1's blocks and D = D0 - sum_g [A21_g; r_g'] K_g [A21_g; r_g']', which depend on
    term 1's share of theta only."""
    L1, K, M_inv_T1t = term1_factor(theta, design.layout, cross.A11)
    if update_weights is None:
        update_weights = schur_update_weights(design, cross, stats)
    if augmented is None:
        augmented = augmented_crossproducts(cross, stats)
    return L1, K, M_inv_T1t, _schur_unscaled(K, design, cross, stats, update_weights, augmented)


def _trailing_system(theta, design: Design, cross: CrossProducts, stats: ResponseStatistics,
                     update_weights=None, augmented=None):
    """Term 1's blocks and C = S (D - sum_g A21_g K_g A21_g') S' + diag(I, 0), the Schur
    complement over [Z_2..Z_k, X, r] (symmetric, (m0 + 1) x (m0 + 1))."""
    L1, K, M_inv_T1t, D = _unscaled_system(theta, design, cross, stats, update_weights, augmented)
    return L1, K, M_inv_T1t, _schur_scaled(D, theta, design.layout)


class Term1State(NamedTuple):
    """What term 1's share of theta fixes in the blocked kernel (``term1_state``)."""

    ld1: jax.Array  # 2 sum log diag chol(M_g) over term 1's levels
    D: jax.Array    # (m0 + 1, m0 + 1) the unscaled Schur complement D0 - U(K)


def term1_state(theta, problem: LinearProblem) -> Term1State:
    """(ld1, D) at theta's term-1 share (``conditional_deviance``'s fixed part)."""
    L1, _, _, D = _unscaled_system(theta, problem.design, problem.cross, problem.stats,
                                   problem.update_weights, problem.augmented)
    return Term1State(2.0 * jnp.sum(jnp.log(jnp.diagonal(L1, axis1=-2, axis2=-1))), D)


def factorize(theta, design: Design, cross: CrossProducts, stats: ResponseStatistics,
              update_weights=None, augmented=None) -> Factorization:
    """The blocked factor at theta. ``update_weights`` and ``augmented`` (from
    ``schur_update_weights`` and ``augmented_crossproducts``) may be passed when precomputed."""
    L1, K, M_inv_T1t, C = _trailing_system(theta, design, cross, stats, update_weights, augmented)
    L22 = _cholesky(C)
    return Factorization(L1, K, M_inv_T1t, L22)


def precision_factor(theta, design: Design, cross: CrossProducts) -> Factorization:
    """The blocked factor of P = Lambda'[Z X]' W [Z X] Lambda + diag(I_q, 0) over ``design``'s
    columns alone (``cross``: their cross-products with weights W), with no response: the GLMM's
    penalized systems (``glmm``). L22 factors the trailing Schur complement bordered by a zero
    response row, so its leading m0 x m0 block is the factor over [Z_2..Z_k, X]. With no
    trailing columns (one term, no fixed effects) term 1's blocks are the whole factor, and L22
    is [[1]], the empty system's bordered factor."""
    layout = design.layout
    if layout.n_trailing == 0:
        L1, K, M_inv_T1t = term1_factor(theta, layout, cross.A11)
        return Factorization(L1, K, M_inv_T1t, jnp.ones((1, 1), L1.dtype))
    stats = ResponseStatistics(jnp.zeros((layout.term_levels[0], layout.term_columns[0])),
                               jnp.zeros(layout.n_trailing), jnp.asarray(1.0))
    return factorize(theta, design, cross, stats)


def log_det_precision(factor: Factorization, layout: Layout):
    """log|Lambda'Z'WZ Lambda + I|^2 = 2 sum log diag over term 1's blocks and the trailing
    random-effects rows of L22 (the first ``n_trailing_random``)."""
    if layout.n_trailing == 0:
        return 2.0 * jnp.sum(jnp.log(jnp.diagonal(factor.L1, axis1=-2, axis2=-1)))
    return deviance_components(factor, layout).ldL2


def problem_factor(theta, problem: LinearProblem) -> Factorization:
    """The blocked factor of a linear problem at theta (``factorize`` with its precomputations),
    whichever kernel fits it: the factor callers read L22 and R_X from."""
    return factorize(theta, problem.design, problem.cross, problem.stats, problem.update_weights,
                     problem.augmented)


def _cholesky(C):
    """chol(C) of a symmetric positive definite C (NaN where it is not): ``blocks``'s recursive
    factorization (mostly matrix products in XLA's thread pool) above 64 rows, LAPACK below."""
    return blocks.cholesky_with_inverse(C)[0]


def _inverse_pieces(C, b: int):
    """chol(C) = L, U = L^-T and A_b = (C's leading b x b block)^-1, zero-padded to C's shape.

    U's leading b x b block is the inverse transpose of L's, so A_b = U_b U_b'."""
    L, L_inv = blocks.cholesky_with_inverse(C)
    # materialized: XLA would otherwise fold the transpose into the products below, and its CPU
    # products with a transposed left operand run at half speed
    U = jax.lax.optimization_barrier(L_inv.T)
    A_b = jnp.zeros_like(C).at[:b, :b].set(blocks.triangular_gram(U[:b, :b]))
    return L, U, A_b


@partial(jax.custom_jvp, nondiff_argnums=(2,))
def trailing_log_det(C, scale, b: int):
    """log|C_b| + scale log r^2 for symmetric positive definite C (m + 1, m + 1), where C_b is the
    leading b x b block and r^2 = L_mm^2 the last pivot of chol(C) = L; NaN where C is not
    positive definite. Its derivative is cheap: with U = L^-T, A_b = C_b^-1 (padded) and v = U's
    last column, d/dC = A_b + scale v v' (one inverse, no differentiation of the factorization)."""
    log_diag = jnp.log(jnp.diagonal(_cholesky(C)))
    return 2.0 * jnp.sum(log_diag[:b]) + 2.0 * scale * log_diag[-1]


@trailing_log_det.defjvp
def _trailing_log_det_jvp(b, primals, tangents):
    C, scale = primals
    C_dot, scale_dot = tangents
    L, U, A_b = _inverse_pieces(C, b)
    log_diag = jnp.log(jnp.diagonal(L))
    log_r2 = 2.0 * log_diag[-1]
    v = U[:, -1]
    G = A_b + scale * (v[:, None] * v[None, :])
    return 2.0 * jnp.sum(log_diag[:b]) + scale * log_r2, jnp.sum(G * C_dot) + scale_dot * log_r2


class DevianceComponents(NamedTuple):
    """lme4's devcomp pieces: log|L_theta|^2, log|R_X|^2, penalized RSS r^2."""

    ldL2: jax.Array
    ldRX2: jax.Array
    pwrss: jax.Array


def deviance_components(factor: Factorization, layout: Layout) -> DevianceComponents:
    log_diag1 = jnp.log(jnp.diagonal(factor.L1, axis1=-2, axis2=-1))
    return _components(2.0 * jnp.sum(log_diag1), jnp.log(jnp.diagonal(factor.L22)), layout)


def _components(ld1, log_diag2, layout: Layout) -> DevianceComponents:
    """Components from 2 sum log diag(L1) and log diag(L22)."""
    q_rest, p = layout.n_trailing_random, layout.n_fixed
    ldL2 = ld1 + 2.0 * jnp.sum(log_diag2[:q_rest])
    ldRX2 = 2.0 * jnp.sum(log_diag2[q_rest:q_rest + p])
    return DevianceComponents(ldL2, ldRX2, jnp.exp(2.0 * log_diag2[-1]))


def objective(components: DevianceComponents, n_obs, n_fixed: int, log_det_weights, reml: bool,
              xp=jnp):
    """ML deviance or REML criterion from the components (``n_obs`` counts positive weights)."""
    ldL2, ldRX2, pwrss = components
    if reml:
        dof = n_obs - n_fixed
        value = ldL2 + ldRX2 + dof * (1.0 + xp.log(2.0 * np.pi * pwrss / dof))
    else:
        value = ldL2 + n_obs * (1.0 + xp.log(2.0 * np.pi * pwrss / n_obs))
    value = value - log_det_weights
    return xp.where(xp.isfinite(value), value, np.inf)


class LinearProblem(NamedTuple):
    """Everything the profiled deviance needs besides theta (a pytree; traced under jit/vmap).

    ``update_weights`` and ``augmented`` are theta-free precomputations (``schur_update_weights``,
    ``augmented_crossproducts``); None means "compute on use". ``design`` and ``stats`` hold the
    conditioned fixed-effects columns and response of ``conditioned_fixed_effects`` and
    ``response_shift``; ``fixed_centre`` and ``fixed_shift`` (p,) undo them (``original_beta``, ``original_RXt``)."""

    design: Design
    cross: CrossProducts
    stats: ResponseStatistics
    n_obs: jax.Array
    log_det_weights: jax.Array
    update_weights: jax.Array | DenseUpdateWeights | None = None
    augmented: jax.Array | None = None
    level_blocks: jax.Array | None = None
    fixed_centre: jax.Array | None = None
    fixed_shift: jax.Array | None = None


# ---- conditioning: exact reparameterizations that keep the cross-products free of cancellation --
# A column x + c (c large) beside the intercept makes X'WX hold n c^2 next to the n var(x) that the
# factorization needs, and a response y + c makes r'Wr hold n c^2 next to the penalized RSS: both
# are lost to rounding (a shift of 1e9 in y gave sigma 7.58 instead of 25.59). The problem is
# therefore set up on X S, S = I - e_0 m' (each column centred against the first, det S = 1, so
# log|R_X| and the criterion are unchanged), and on r - X S a (a the weighted least-squares
# coefficients: beta absorbs them exactly); only the solution is mapped back.

def conditioned_fixed_effects(design: Design, weights) -> tuple[Design, jax.Array]:
    """(the design with fixed-effects columns X_j - m_j X_0, m): m_j = X_0'W X_j / X_0'W X_0
    (the weighted mean of X_j when X_0 is the intercept), 0 for column 0 and for any column that
    is zero on some row where X_0 is not (the sparse structure of A21 and of the Schur update was
    built from X's nonzeros, ``design.build_design``, and centring would fill such rows)."""
    p = design.layout.n_fixed
    if p == 0:
        return design, jnp.zeros(0, design.slot_val.dtype)
    slot_val = jnp.asarray(design.slot_val)
    X = slot_val[:, -p:]  # the fixed-effects slots come last (``design._trailing_slots``)
    first = X[:, 0]
    weighted_first = weights * first
    first_norm = jnp.sum(weighted_first * first)
    covers = jnp.all((X != 0) | (first[:, None] == 0), axis=0)
    centre = jnp.where(covers & (np.arange(p) > 0) & (first_norm > 0),
                       (weighted_first @ X) / jnp.where(first_norm > 0, first_norm, 1.0), 0.0)
    centred = X - first[:, None] * centre[None, :]
    return dataclasses.replace(design, slot_val=slot_val.at[:, -p:].set(centred)), centre


def response_shift(X, weights, response) -> jax.Array:
    """Weighted least-squares coefficients a of ``response`` on the (conditioned) columns X, by
    Jacobi-scaled normal equations and one refinement step (0 where they are not finite:
    any a keeps the problem exact, a good one keeps r - X a small). LAPACK-free (batched GLMM
    weights under vmap, dense_inverse.py)."""
    wX = weights[:, None] * X
    gram = wX.T @ X
    scale = jnp.sqrt(jnp.diagonal(gram))
    scale = jnp.where(scale > 0, scale, 1.0)
    inverse = gauss_jordan_inverse(gram / (scale[:, None] * scale[None, :]))
    solve = lambda rhs: (inverse @ (rhs / scale)) / scale
    shift = solve(response @ wX)
    shift = shift + solve(shifted_response(response, X, shift) @ wX)
    return jnp.where(jnp.all(jnp.isfinite(shift)), shift, 0.0)


def shifted_response(response, X, shift):
    """r - X a, column 0 first: a shift of y sits in a_0, and r - a_0 X_0 is then exact (nearby
    numbers), where rounding the row sums of X a to y's magnitude would not be (1e-8 of beta
    at y + 1e9)."""
    return (response - X[:, 0] * shift[0]) - X[:, 1:] @ shift[1:]


def original_beta(beta, problem: LinearProblem):
    """beta of the model's own X and response from the conditioned problem's: S (beta~ + a)."""
    if problem.fixed_centre is None or beta.shape[0] == 0:
        return beta
    beta = beta + problem.fixed_shift
    return beta.at[0].add(-jnp.sum(problem.fixed_centre * beta))


def original_RXt(RXt, problem: LinearProblem):
    """R_X' of the model's own X from the conditioned problem's: R_X = R~_X S^-1 with
    S^-1 = I + e_0 m', which changes R_X' in column 0 only (still lower triangular)."""
    if problem.fixed_centre is None or RXt.shape[0] == 0:
        return RXt
    return RXt.at[:, 0].add(problem.fixed_centre * RXt[0, 0])


def linear_problem(design: Design, weights, response) -> LinearProblem:
    weights = jnp.asarray(weights, jnp.float64)
    positive = weights > 0
    design, centre = conditioned_fixed_effects(design, weights)
    response = jnp.asarray(response, jnp.float64)
    p = design.layout.n_fixed
    shift = response_shift(design.slot_val[:, -p:], weights, response) if p \
        else jnp.zeros(0, response.dtype)
    if p:
        response = shifted_response(response, design.slot_val[:, -p:], shift)
    cross = crossproducts(design, weights)
    stats = response_statistics(design, weights, response)
    update_weights = schur_update_weights(design, cross, stats)
    blocks_of_levels = None
    if kernel_for(design.layout) == ONE_TERM:  # the dense path's weights are these same blocks
        blocks_of_levels = update_weights.blocks if level_dense_update(design) \
            else level_blocks(design, cross, stats)
    return LinearProblem(design, cross, stats, jnp.sum(positive).astype(jnp.float64),
                         jnp.sum(jnp.where(positive, jnp.log(jnp.where(positive, weights, 1.0)), 0.0)),
                         update_weights, augmented_crossproducts(cross, stats), blocks_of_levels,
                         centre, shift)


# ---- one random-effects term and few fixed effects (most simulation studies) --------------------
# The general path's gathers, scatters and LAPACK calls cost far more than the arithmetic of such
# models, above all under vmap; the same deviance is then a few written-out elementwise passes over
# the levels, and its exact Hessian comes from plain autodiff at several times less cost.

BLOCKED = "blocked"    # term 1 blockwise, the trailing Schur complement dense (any model)
ONE_TERM = "one-term"  # elementwise over the levels of the only term (``one_term_deviance``)


def kernel_for(layout: Layout) -> str:
    """Which kernel evaluates the deviance, its derivatives and the solution of a model of this
    layout, decided once from its static shapes: ``ONE_TERM`` for one random-effects term and a
    trailing system of at most ``blocks.UNROLLED_LIMIT`` rows (fixed effects and the response),
    ``BLOCKED`` otherwise. Both give the same numbers (tests/test_single_term_derivatives.py);
    the one-term kernel's program is smaller and faster. ``linear_problem`` forms the one-term
    kernel's per-level blocks exactly when this says ``ONE_TERM``."""
    if len(layout.term_levels) == 1 and layout.n_fixed + 1 <= blocks.UNROLLED_LIMIT:
        return ONE_TERM
    return BLOCKED


def _one_term_factor(theta, problem: LinearProblem):
    """The factor of a one-term model, elementwise over the levels: M_g = T'A11_g T + I = L_g L_g',
    V_g = L_g^-1 T' B_g, and chol(C) for C = [X, r]'W[X, r] - sum_g V_g'V_g. Returns (T, L_g, V_g,
    chol(C))."""
    A11 = problem.cross.A11
    T = covariance_factors(theta, problem.design.layout)[0]
    T_blocks = jnp.broadcast_to(T, A11.shape)
    T_t = jnp.swapaxes(T_blocks, -1, -2)
    L1 = blocks.cholesky(blocks.matmul(T_t, blocks.matmul(A11, T_blocks)) + jnp.eye(A11.shape[-1]))
    V = blocks.matmul(blocks.matmul(blocks.lower_inverse(L1), T_t), problem.level_blocks)
    C = problem.augmented - jnp.sum(V[:, :, :, None] * V[:, :, None, :], axis=(0, 1))
    return T, L1, V, blocks.cholesky(C)


def one_term_deviance(theta, problem: LinearProblem, reml: bool):
    """The profiled deviance of a one-term model: d = sum_g log|M_g| + h(chol(C)) as in
    ``profiled_deviance``."""
    _, L1, _, L22 = _one_term_factor(theta, problem)
    ld1 = 2.0 * jnp.sum(jnp.log(jnp.diagonal(L1, axis1=-2, axis2=-1)))
    b, scale, constant = _dense_weights(problem, reml)
    log_diag = jnp.log(jnp.diagonal(L22))
    return ld1 + 2.0 * jnp.sum(log_diag[:b]) + 2.0 * scale * log_diag[-1] + constant


def one_term_value_grad_hess(problem: LinearProblem, reml: bool):
    """theta -> (d, grad d, hess d) of a one-term model's profiled deviance, exactly, in closed
    form over the levels (a program several times smaller than autodiff's, which a first fit
    compiles).

    d depends on theta only through S = T T' (k x k): with A_g = Z_g'WZ_g and B_g = Z_g'W[X, r],
        d = sum_g log|I + A_g S| + f(C),  C = C0 - sum_g B_g' P_g B_g,  P_g = S (I + A_g S)^-1,
    f(C) = c_F log|C_FF| + c log r^2 (``_dense_weights``; c_F = 1 for REML, else 0). With
    Q_g = I - P_g A_g = (I + S A_g)^-1, N_g = A_g Q_g, Y_g = Q_g' B_g and directions E_i = dS/dtheta_i:
        dP[E] = Q E Q',  d2P[E_i, E_j] = -Q (E_i N E_j + E_j N E_i) Q',  dN[E] = -N E N,
    so with F = grad f(C) = c_F K + c w w' / r^2 (K = C_FF^-1 zero-padded, w = [-beta; 1]),
    Z_g = Y_g F Y_g' and G = sum_g (N_g - Z_g):
        grad_i = <G, E_i>,
        hess_ij = sum_g [-tr(N E_i N E_j) + tr(Z E_i N E_j) + tr(Z E_j N E_i)]
                  + f''(dC_i, dC_j) + <G, d2S/dtheta_i dtheta_j>,  dC_i = -sum_g Y_g' E_i Y_g,
        f''(X, X') = -c_F tr(K X K X') - c (2 (X w)' K (X' w) / r^2 + (w'X w)(w'X' w) / r^4).
    No inverse of T: the formulas hold on the boundary (S singular)."""
    layout = problem.design.layout
    A, B = problem.cross.A11, problem.level_blocks  # (l, k, k), (l, k, p + 1)
    p = layout.n_fixed
    _, scale, _ = _dense_weights(problem, reml)
    c_F = 1.0 if reml else 0.0
    relative_covariance = lambda theta: (lambda T: T @ T.T)(covariance_factors(theta, layout)[0])
    transpose = lambda M: jnp.swapaxes(M, -1, -2)

    def evaluate(theta):
        T, L1, _, L22 = _one_term_factor(theta, problem)
        E = jnp.moveaxis(jax.jacfwd(relative_covariance)(theta), -1, 0)  # (n, k, k)
        E2 = jnp.moveaxis(jax.jacfwd(jax.jacfwd(relative_covariance))(theta), (-2, -1), (0, 1))
        L1_inv = blocks.lower_inverse(L1)
        TL = blocks.matmul(jnp.broadcast_to(T, A.shape), transpose(L1_inv))  # T L_g^-T
        P = blocks.matmul(TL, transpose(TL))  # T M_g^-1 T'
        AP = blocks.matmul(A, P)
        N = A - blocks.matmul(AP, A)
        Y = B - blocks.matmul(AP, B)
        R_inv = blocks.lower_inverse(L22[None])[0]  # chol(C)^-1
        r = L22[p, p]
        w = r * R_inv[p, :]
        K = transpose(R_inv) @ R_inv - jnp.outer(w, w) / r ** 2  # C^-1 - w w' / r^2 = [C_FF^-1, 0; 0, 0]
        F = c_F * K + scale * jnp.outer(w, w) / r ** 2
        Z = jnp.einsum("gar,rs,gbs->gab", Y, F, Y)
        G = jnp.sum(N - Z, axis=0)
        dC = -jnp.einsum("gar,iab,gbs->irs", Y, E, Y)  # (n, p + 1, p + 1)
        NE = jnp.einsum("gab,ibc->igac", N, E)
        ZE = jnp.einsum("gab,ibc->igac", Z, E)
        per_level = (-jnp.einsum("igab,jgba->ij", NE, NE) + jnp.einsum("igab,jgba->ij", ZE, NE)
                     + jnp.einsum("jgab,igba->ij", ZE, NE))
        dCw = dC @ w  # (n, p + 1)
        wdCw = dCw @ w
        f2 = (-c_F * jnp.einsum("rs,ist,tu,jur->ij", K, dC, K, dC)
              - scale * (2.0 * dCw @ K @ dCw.T / r ** 2 + jnp.outer(wdCw, wdCw) / r ** 4))
        hessian = per_level + f2 + jnp.einsum("ab,ijab->ij", G, E2)
        value = profiled_deviance(theta, problem, reml)
        gradient = jnp.einsum("ab,iab->i", G, E)
        finite = jnp.isfinite(value)
        return value, jnp.where(finite, gradient, jnp.nan), 0.5 * (hessian + hessian.T)
    return evaluate


def one_term_solve(theta, problem: LinearProblem) -> Solution:
    """beta from chol(C), then u_g = L_g^-T V_g [-beta; 1] and b_g = T u_g."""
    T, L1, V, L22 = _one_term_factor(theta, problem)
    p = problem.design.layout.n_fixed
    RXt = L22[:p, :p]
    beta = jax.scipy.linalg.solve_triangular(RXt.T, L22[p, :p], lower=False) if p else L22[p, :p]
    rhs = jnp.sum(V * jnp.concatenate([-beta, jnp.ones(1, beta.dtype)]), axis=-1)  # (l1, p1)
    u = jnp.sum(jnp.swapaxes(blocks.lower_inverse(L1), -1, -2) * rhs[:, None, :], axis=-1)
    b = jnp.sum(T[None, :, :] * u[:, None, :], axis=-1)
    ld1 = 2.0 * jnp.sum(jnp.log(jnp.diagonal(L1, axis1=-2, axis2=-1)))
    components = DevianceComponents(ld1, 2.0 * jnp.sum(jnp.log(jnp.diagonal(RXt))), L22[p, p] ** 2)
    return Solution(original_beta(beta, problem), u.ravel(), b.ravel(), components,
                    original_RXt(RXt, problem))


def _deviance_parts(theta, problem: LinearProblem):
    """(2 sum log diag L1, C): the term-1 log-determinant and the trailing Schur complement."""
    L1, _, _, C = _trailing_system(theta, problem.design, problem.cross, problem.stats,
                                   problem.update_weights, problem.augmented)
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(L1, axis1=-2, axis2=-1))), C


def _dense_weights(problem: LinearProblem, reml: bool):
    """(b, scale, constant): d = ld1 + log|C_b| + scale log r^2 + constant.

    REML: log|L|^2 + log|R_X|^2 = ld1 + log|C_FF| (b = m0), scale = n - p; ML: log|L|^2 = ld1 +
    log|C_b| over the q_rest trailing random-effects rows, scale = n."""
    layout = problem.design.layout
    if reml:
        b, scale = layout.n_trailing, problem.n_obs - layout.n_fixed
    else:
        b, scale = layout.n_trailing_random, problem.n_obs
    constant = scale * (1.0 + jnp.log(2.0 * jnp.pi / scale)) - problem.log_det_weights
    return b, scale, constant


def profiled_deviance(theta, problem: LinearProblem, reml: bool):
    """REML criterion (``reml=True``) or ML deviance at theta, beta and sigma profiled out, by the
    problem's kernel (``kernel_for``)."""
    if kernel_for(problem.design.layout) == ONE_TERM:
        value = one_term_deviance(theta, problem, reml)
    else:
        value = blocked_deviance(theta, problem, reml)
    return jnp.where(jnp.isfinite(value), value, jnp.inf)


def blocked_deviance(theta, problem: LinearProblem, reml: bool):
    """``profiled_deviance`` by the blocked kernel: ld1 + h(C) + const (``trailing_log_det``)."""
    ld1, C = _deviance_parts(theta, problem)
    b, scale, constant = _dense_weights(problem, reml)
    return ld1 + trailing_log_det(C, scale, b) + constant


def value_grad(problem: LinearProblem, reml: bool):
    """theta -> (d, grad d) of ``profiled_deviance`` by the problem's kernel (``kernel_for``):
    autodiff of the elementwise deviance for one-term models, ``blocked_value_grad`` otherwise."""
    if kernel_for(problem.design.layout) == ONE_TERM:
        return lambda theta: jax.value_and_grad(profiled_deviance)(theta, problem, reml)
    return blocked_value_grad(problem, reml)


def value_grad_hess(problem: LinearProblem, reml: bool):
    """theta -> (d, grad d, hess d) of ``profiled_deviance``, exactly, by the problem's kernel
    (``kernel_for``): in closed form over the levels for one-term models
    (``one_term_value_grad_hess``: sleepstudy's program compiles in 0.12 s against 0.29 s for
    autodiff of the elementwise deviance, and runs in 100 us against 170 us), the structured
    exact Hessian (``blocked_value_grad_hess``) otherwise."""
    if kernel_for(problem.design.layout) == ONE_TERM:
        return one_term_value_grad_hess(problem, reml)
    return blocked_value_grad_hess(problem, reml)


def _term1_gradient(T1, A11, K, M_inv_T1t, K_bar):
    """d/dT_1 of sum_g log|M_g| + <K_bar_g, K_g> in closed form (reverse-mode autodiff through
    the written-out block kernels cost 33 of a 55 ms gradient for kb07 maximal's 8 x 8 blocks):
    with P_g = T_1 M_g^{-1} and S_g = sym(K_bar_g), 2 sum_g (A11_g P_g + S_g P_g - A11_g K_g S_g P_g)."""
    P = jnp.swapaxes(M_inv_T1t, -1, -2)
    S = 0.5 * (K_bar + jnp.swapaxes(K_bar, -1, -2))
    SP = jnp.einsum("lab,lbc->lac", S, P)
    return 2.0 * jnp.sum(jnp.einsum("lab,lbc->lac", A11, P - jnp.einsum("lab,lbc->lac", K, SP)) + SP,
                         axis=0)


def blocked_value_grad(problem: LinearProblem, reml: bool):
    """theta -> (d, grad d) of ``profiled_deviance`` by the blocked kernel, by the pullbacks of
    ``blocked_value_grad_hess`` with term 1's in closed form (``_term1_gradient``): the L-BFGS
    phase of models with many covariance parameters evaluates it at every trial point."""
    design, cross, stats = problem.design, problem.cross, problem.stats
    layout = design.layout
    structure1, p1, where1 = term_slices(layout)[0]
    weights = schur_update_weights(design, cross, stats) if problem.update_weights is None \
        else problem.update_weights
    unscaled = lambda K: _schur_unscaled(K, design, cross, stats, weights, problem.augmented)

    def evaluate(theta):
        b, scale, constant = _dense_weights(problem, reml)
        T1, T1_pullback = jax.vjp(lambda t: covariance_structures.factor(structure1, t, p1),
                                  theta[where1])
        L1, K, M_inv_T1t = _term1_blocks(T1, cross.A11)
        ld1 = 2.0 * jnp.sum(jnp.log(jnp.diagonal(L1, axis1=-2, axis2=-1)))
        D, unscaled_pullback = jax.vjp(unscaled, K)
        C = _schur_scaled(D, theta, layout)
        L, U, A_b = _inverse_pieces(C, b)
        log_diag = jnp.log(jnp.diagonal(L))
        value = ld1 + 2.0 * jnp.sum(log_diag[:b]) + 2.0 * scale * log_diag[-1] + constant
        v = U[:, -1]
        G = A_b + scale * (v[:, None] * v[None, :])
        grad = _scaling_gradient(G, D, theta, layout)
        K_bar, = unscaled_pullback(_unscaled_cotangent(G, covariance_factors(theta, layout), layout))
        grad_T1 = _term1_gradient(T1, cross.A11, K, M_inv_T1t, K_bar)
        grad = grad.at[where1].add(T1_pullback(jnp.tril(grad_T1))[0])
        return jnp.where(jnp.isfinite(value), value, jnp.inf), grad
    return evaluate


_HESSIAN_BATCH_LIMIT = 1 << 25  # n_theta * (m0 + 1)^2 above this: one theta direction at a time

# a trailing term's rows at most this share of a trailing block of at least this order: its
# directions' products with A_b go by their rows (2 r (m0 + 1)^2 multiply-adds against
# (m0 + 1)^3); smaller blocks keep the one dense product (cheap there, and the path the reference
# models were fitted on)
_THIN_TERM_SHARE = 0.25
_THIN_TERM_MIN_ORDER = 256


def _thin_term(layout: Layout, term: int, n: int) -> bool:
    """Whether a trailing term's directions go by their rows in the Hessian's second-order term
    (``_log_det_second_order``): its rows are at most ``_THIN_TERM_SHARE`` of a trailing block
    of order n >= ``_THIN_TERM_MIN_ORDER`` (static)."""
    rows = layout.term_levels[term] * layout.term_columns[term]
    return term > 0 and n >= _THIN_TERM_MIN_ORDER and rows <= _THIN_TERM_SHARE * n


def _inverse_times_trailing_tangent(A_b, C, C_k, theta, layout: Layout, b: int, term: int, J: slice,
                                    A_C_hat):
    """A_b C_k for the directions C_k (count, n, n) of a trailing term that is not thin: by the
    other rows for a wide scalar term (``_inverse_times_scalar_tangent``, InstEval's d, 1,128 of
    1,173 rows; A_C_hat from ``_inverse_times_scaled``), else the dense product."""
    if C.shape[0] >= _THIN_TERM_MIN_ORDER and layout.term_columns[term] == 1:
        return _inverse_times_scalar_tangent(A_b, C, C_k, A_C_hat, _scalar_factor_ratio(theta, layout, term),
                                             J, layout.n_trailing_random)
    return jnp.einsum("ij,kjl->kil", A_b, C_k)


# a scalar term's factor t at least this large takes ``_inverse_times_scalar_tangent``, whose
# rounding grows like 1 / t; below it (a variance at or near zero) the dense product is taken
_SCALAR_FACTOR_MIN = 1e-3


def _scalar_factor_ratio(theta, layout: Layout, term: int):
    """(t, dt/dtheta / t) of a scalar term's factor T = [t] at theta."""
    structure, p, where = term_slices(layout)[term]
    t, t_dot = jax.jvp(lambda s: covariance_structures.factor(structure, s, p)[0, 0],
                       (theta[where],), (jnp.ones_like(theta[where]),))
    return t, t_dot / jnp.where(t == 0.0, 1.0, t)


def _inverse_times_scaled(A_b, C, b: int, q: int):
    """A_b (C - diag(I_q, 0)) without a product of order n: A_b C = [I_b, C_b^{-1} C[:b, b:]; 0]
    (A_b is C_b's inverse, zero-padded), and A_b diag(I_q, 0) is A_b's first q columns."""
    top = jnp.concatenate([jnp.eye(b, dtype=C.dtype), A_b[:b, :b] @ C[:b, b:]], axis=1)
    return jnp.zeros_like(C).at[:b].set(top).at[:, :q].add(-A_b[:, :q])


def _inverse_times_scalar_tangent(A_b, C, C_k, A_C_hat, factor_ratio, J: slice, q: int):
    """A_b C_k for the direction of a scalar trailing term on rows J whose factor is t, with
    C_hat = C - diag(I_q, 0) = S D S' and A_C_hat = A_b C_hat (``_inverse_times_scaled``).

    S is t I on rows J, so C_k = E_J'X + X'E_J with X = t' (D S')[J, :] = (t'/t) C_hat[J, :], and
    A_b[:, J] C_hat[J, :] = A_C_hat - A_b[:, J^c] C_hat[J^c, :] over the other n - r rows: with
    rho = t'/t, A_b C_k = rho (A_C_hat - A_b[:, J^c] C_hat[J^c, :]) plus rho A_C_hat[:, J] in
    columns J, (n - r) n^2 multiply-adds in place of n^3. Near t = 0 the dense product is taken."""
    t, rho = factor_ratio
    n = C.shape[0]
    others = np.r_[0:J.start, J.stop:n]
    C_hat = C.at[:q, :q].add(-jnp.eye(q, dtype=C.dtype))

    def by_rows(_):
        first = A_C_hat - A_b[:, others] @ C_hat[others, :]
        return (rho * first.at[:, J].add(A_C_hat[:, J]))[None]

    dense = lambda _: jnp.einsum("ij,kjl->kil", A_b, C_k)
    return jax.lax.cond(jnp.abs(t) >= _SCALAR_FACTOR_MIN, by_rows, dense, None)


def _row_blocks(layout: Layout) -> list[tuple[int, int]]:
    """(levels, columns) of each block of rows of the trailing system: the trailing terms, then
    the fixed effects and the response as one block of one level."""
    return (list(zip(layout.term_levels[1:], layout.term_columns[1:]))
            + [(1, layout.n_trailing + 1 - layout.n_trailing_random)])


def _scaled_form_hessian(G, D, theta, layout: Layout):
    """The Hessian over the trailing terms' theta of <G, S(theta) D S(theta)'> with G and D fixed.

    With S = blockdiag(I (x) T_i', I), the form is sum_ij sum_abcd T_i[b, a] T_j[c, d] W_ij[a, b, c, d]
    over pairs of row blocks (``_row_blocks``; the last one's T is I), where
    W_ij[a, b, c, d] = sum_gh G_ij[g, a, h, d] D_ij[g, b, h, c] is formed once, one pass over the
    matrices; the Hessian of that small polynomial (through any covariance structure) replaces
    forward-over-reverse autodiff through the n x n scaling (InstEval: 0.31 s -> 4 ms, the same
    to 7e-15 relative)."""
    shapes = _row_blocks(layout)
    starts = np.cumsum([0] + [levels * columns for levels, columns in shapes])

    def block(X, i, j):
        rows, cols = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
        return X[rows, cols].reshape(shapes[i] + shapes[j])

    last = len(shapes) - 1
    W = {(i, j): jnp.einsum("gahd,gbhc->abcd", block(G, i, j), block(D, i, j))
         for i in range(len(shapes)) for j in range(len(shapes)) if min(i, j) < last}
    n1 = layout.term_theta[0]

    def form(trailing_theta):
        factors = covariance_factors(theta.at[n1:].set(trailing_theta), layout)[1:]
        factors.append(jnp.eye(shapes[-1][1], dtype=D.dtype))
        return sum(jnp.einsum("ba,cd,abcd->", factors[i], factors[j], w) for (i, j), w in W.items())
    return jax.hessian(form)(theta[n1:])


def _tangent_rows(D, theta, layout: Layout) -> list[tuple[slice, jax.Array]]:
    """The trailing terms' directions of C = S D S' + diag(I, 0) by their rows: per term, its rows
    J and M (count, r, m0 + 1) with C_k = E_J'M_k + M_k'E_J (E_J selects rows J), where
    M_k = (I (x) dT_k') (D S')[J] = d_k(S) D S' on those rows. Formed directly, where forward
    mode through the blockwise scaling (``_scale_trailing``) ran its transposes inside loop
    fusions (InstEval: 0.37 s of a 0.96 s derivative evaluation)."""
    n = D.shape[-1]
    n1 = layout.term_theta[0]
    factors = covariance_factors(theta, layout)
    D_St = _scale_trailing_rows(D, factors, layout).T
    dT = jax.jacfwd(lambda t: covariance_factors(theta.at[n1:].set(t), layout)[1:])(theta[n1:])
    rows, row, direction = [], 0, 0
    for dT_j, levels, p, count in zip(dT, layout.term_levels[1:], layout.term_columns[1:],
                                      layout.term_theta[1:]):
        r = levels * p
        dT_k = jnp.moveaxis(dT_j[..., direction:direction + count], -1, 0)
        M = jnp.einsum("kba,lbc->klac", dT_k, D_St[row:row + r].reshape(levels, p, n))
        rows.append((slice(row, row + r), M.reshape(count, r, n)))
        row, direction = row + r, direction + count
    return rows


def _dense_tangents(J: slice, M, n: int):
    """C_k = E_J'M_k + M_k'E_J as (count, n, n) matrices."""
    C_k = jnp.zeros((M.shape[0], n, n), M.dtype).at[:, J, :].set(M)
    return C_k.at[:, :, J].add(jnp.swapaxes(M, 1, 2))


def _pivot_second_order(u, A_b, U, b: int, m0: int, scale):
    """h's second-order term through the last pivot, -c (2 u_k' A_F u_l + s_k s_l), for the
    directions' u_k = C_k v (rows of u), with A_F = A_b + R R' (R = U[:, b:m0]) and s = u v."""
    v, R = U[:, m0], U[:, b:m0]
    A_F_u = u @ A_b + (u @ R) @ R.T
    s = u @ v
    return -scale * (2.0 * u @ A_F_u.T + s[:, None] * s[None, :])


def _thin_traces(A, thin, P):
    """tr(A C_k A C_l) for thin directions l, C_l = E_J'X_l + X_l'E_J (``_tangent_rows``), without
    n x n matrices: with Y_l = X_l A (r n^2 multiply-adds a direction),
        thin k, l:  2 tr(Y_k[:, J_l] Y_l[:, J_k]) + 2 tr(A[J_l, J_k] Y_k X_l'),
        dense k:    2 tr(X_l (P_k A[:, J_l]))  (P_k = A C_k, rows of P).
    Returns (the thin-thin block, the dense-thin block; None without dense directions)."""
    Y = [jnp.einsum("krj,ji->kri", M, A) for _, M in thin]
    rows = []
    for (J_s, _), Y_s in zip(thin, Y):
        rows.append(jnp.concatenate([
            2.0 * (jnp.einsum("kab,lba->kl", Y_s[:, :, J_t], Y_t[:, :, J_s])
                   + jnp.einsum("ba,kan,lbn->kl", A[J_t, J_s], Y_s, M_t))
            for (J_t, M_t), Y_t in zip(thin, Y)], axis=1))
    dense_thin = None if P is None else jnp.concatenate(
        [2.0 * jnp.einsum("lrn,knr->kl", M, jnp.einsum("kij,jr->kir", P, A[:, J])) for J, M in thin], axis=1)
    return jnp.concatenate(rows), dense_thin


def _log_det_second_order(A_b, C, term1_C_dot, D, theta, layout: Layout, U, b: int, scale):
    """d2h[C_k, C_l] = -tr(A_b C_k A_b C_l) + the last pivot's term over theta's directions from
    term 1's (``term1_C_dot`` (n1, n, n), dense through the Schur update; None: the trailing
    terms' alone) to the last: a direction of trailing term j moves only S's rows J of that term
    (r = l_j p_j), so C_k lives on rows and columns J. A thin term's directions
    (``_thin_term``: InstEval's dept terms, 14 and 28 of 1,173 rows) go by their rows
    (``_thin_traces``), the others by the products P_k = A_b C_k
    (``_inverse_times_trailing_tangent``), whose traces are sum(P_k * P_l')."""
    n = C.shape[0]
    m0 = layout.n_trailing
    v = U[:, m0]
    dense_C, dense_P, thin, dense_order, thin_order = [], [], [], [], []
    if term1_C_dot is not None:
        dense_C.append(term1_C_dot)
        dense_P.append(jnp.einsum("ij,kjl->kil", A_b, term1_C_dot))
        dense_order.extend(range(layout.term_theta[0]))
    direction, A_C_hat = layout.term_theta[0], None
    for term, (J, M) in enumerate(_tangent_rows(D, theta, layout), start=1):
        directions = list(range(direction, direction + M.shape[0]))
        direction += M.shape[0]
        if _thin_term(layout, term, n):
            thin.append((J, M))
            thin_order.extend(directions)
            continue
        if A_C_hat is None and n >= _THIN_TERM_MIN_ORDER and layout.term_columns[term] == 1:
            A_C_hat = _inverse_times_scaled(A_b, C, b, layout.n_trailing_random)
        C_k = _dense_tangents(J, M, n)
        dense_C.append(C_k)
        dense_P.append(_inverse_times_trailing_tangent(A_b, C, C_k, theta, layout, b, term, J, A_C_hat))
        dense_order.extend(directions)
    P = jnp.concatenate(dense_P) if dense_P else None
    u = [jnp.concatenate(dense_C) @ v] if dense_P else []
    traces = None if P is None else jnp.einsum("kij,lij->kl", P, jnp.swapaxes(P, 1, 2))
    if thin:
        thin_thin, dense_thin = _thin_traces(A_b, thin, P)
        traces = thin_thin if traces is None else jnp.block([[traces, dense_thin], [dense_thin.T, thin_thin]])
        u += [jnp.zeros((M.shape[0], n), M.dtype).at[:, J].set(M @ v) + jnp.einsum("krn,r->kn", M, v[J])
              for J, M in thin]
    second = -traces + _pivot_second_order(jnp.concatenate(u), A_b, U, b, m0, scale)
    order = np.argsort(np.asarray(dense_order + thin_order))
    return second[order][:, order]


def hessian_products_batched(layout: Layout) -> bool:
    """Whether the structured Hessian forms its directions' products side by side, n_theta
    (m0 + 1)^2 doubles a product (``blocked_value_grad_hess``, ``conditional_value_grad_hess``),
    rather than one direction at a time."""
    return layout.n_theta * (layout.n_trailing + 1) ** 2 <= _HESSIAN_BATCH_LIMIT


def conditional_deviance(theta, state: Term1State, problem: LinearProblem, reml: bool):
    """``profiled_deviance`` at theta where term 1's share of theta is the one that gave ``state``
    (``term1_state``): ld1 + h(S D S' + diag(I, 0)) + const with ld1 and D fixed, so an evaluation
    is the dense factorization alone, without the pass over the Schur update (d3-shaped design:
    3.6 ms against 69 ms; InstEval 19 against 39 ms)."""
    b, scale, constant = _dense_weights(problem, reml)
    value = state.ld1 + trailing_log_det(_schur_scaled(state.D, theta, problem.design.layout),
                                         scale, b) + constant
    return jnp.where(jnp.isfinite(value), value, jnp.inf)


def conditional_value_grad_hess(problem: LinearProblem, reml: bool):
    """(theta, state) -> (d, grad d, hess d) of ``conditional_deviance`` over the trailing terms'
    share of theta (theta[n1:]), term 1's held: ``blocked_value_grad_hess``'s value, gradient
    and Hessian restricted to those directions, where K and D do not move (no tangents of the
    Schur update, no mixed terms), at the cost of the dense factorization and inverse and one
    thin product per direction. Requires ``hessian_products_batched``."""
    layout = problem.design.layout
    m0, n1 = layout.n_trailing, layout.term_theta[0]

    def evaluate(theta, state: Term1State):
        b, scale, constant = _dense_weights(problem, reml)
        C = _schur_scaled(state.D, theta, layout)
        L, U, A_b = _inverse_pieces(C, b)
        log_diag = jnp.log(jnp.diagonal(L))
        value = state.ld1 + 2.0 * jnp.sum(log_diag[:b]) + 2.0 * scale * log_diag[-1] + constant
        value = jnp.where(jnp.isfinite(value), value, jnp.inf)
        v = U[:, m0]
        G = A_b + scale * (v[:, None] * v[None, :])
        grad = _scaling_gradient(G, state.D, theta, layout)[n1:]
        hess = _scaled_form_hessian(G, state.D, theta, layout) + _log_det_second_order(
            A_b, C, None, state.D, theta, layout, U, b, scale)
        hess = 0.5 * (hess + hess.T)
        return value, grad, jnp.where(jnp.isfinite(value), hess, jnp.nan)
    return evaluate


def blocked_value_grad_hess(problem: LinearProblem, reml: bool):
    """theta -> (d, grad d, hess d) of ``profiled_deviance``, exactly, at about the cost of a few
    gradients, where forward-over-reverse autodiff through the dense factorization costs far more
    (the blocked kernel; one-term models have their own, ``one_term_value_grad_hess``).

    d = ld1(K) + h(C) + const, where theta gives the term-1 blocks K (and ld1 = log|L1|^2), K gives
    D = D0 - U(K) with U linear (the triples), and C = S D S' + diag(I, 0) with S from the
    trailing terms; h(C) = log|C_b| + c log r^2 (``trailing_log_det``). With A_b = C_b^-1
    (zero-padded), A_F the same over all m0 rows and v = chol(C)^-T's last column:
        grad h = G = A_b + c v v'
        d2h[Ck, Cl] = -tr(A_b Ck A_b Cl) - c (2 (Ck v)' A_F (Cl v) + (v'Ck v)(v'Cl v)).
    The Hessian of d is d2h at Ck = dC/dtheta_k plus <G, d2C/dtheta^2>, which splits into
    (a) the Hessian of ld1 + <K_bar, K(theta)> (K_bar = U'(S'GS), tiny blocks), (b) the Hessian
    of <G, S(theta) D S(theta)'> with D fixed (``_scaled_form_hessian``), and (c) the mixed terms
    <G, d_l S dD_k S' + ...>; only the term-1 directions need a pass over the triples.
    """
    design, cross, stats = problem.design, problem.cross, problem.stats
    layout = design.layout
    m0 = layout.n_trailing
    n_theta = layout.n_theta
    n1 = layout.term_theta[0]  # term 1's share of theta
    batched = hessian_products_batched(layout)
    update_weights = schur_update_weights(design, cross, stats) if problem.update_weights is None \
        else problem.update_weights
    augmented = augmented_crossproducts(cross, stats) if problem.augmented is None \
        else problem.augmented

    def term1(theta):
        L1, K, _ = term1_factor(theta, layout, cross.A11)
        return 2.0 * jnp.sum(jnp.log(jnp.diagonal(L1, axis1=-2, axis2=-1))), K

    unscaled = lambda K: _schur_unscaled(K, design, cross, stats, update_weights, augmented)
    scaled = lambda D, theta: _schur_scaled(D, theta, layout)

    def evaluate(theta):
        b, scale, constant = _dense_weights(problem, reml)
        (ld1, K), term1_pullback = jax.vjp(term1, theta)
        D, unscaled_pullback = jax.vjp(unscaled, K)
        C = scaled(D, theta)
        L, U, A_b = _inverse_pieces(C, b)
        log_diag = jnp.log(jnp.diagonal(L))
        value = ld1 + 2.0 * jnp.sum(log_diag[:b]) + 2.0 * scale * log_diag[-1] + constant
        value = jnp.where(jnp.isfinite(value), value, jnp.inf)
        v = U[:, m0]
        G = A_b + scale * (v[:, None] * v[None, :])
        factors = covariance_factors(theta, layout)
        K_bar, = unscaled_pullback(_unscaled_cotangent(G, factors, layout))
        grad_scaled = _scaling_gradient(G, D, theta, layout)
        grad = term1_pullback((jnp.ones_like(ld1), K_bar))[0] + grad_scaled

        # (a) and (b): second derivatives through K(theta), which depends on term 1's share of
        # theta only, and through S(theta), which depends on the rest only
        linear_in_K = lambda t1: (lambda o: o[0] + jnp.sum(K_bar * o[1]))(
            term1(theta.at[:n1].set(t1)))
        hess = jnp.zeros((n_theta, n_theta), theta.dtype).at[:n1, :n1].set(
            jax.hessian(linear_in_K)(theta[:n1]))
        if n_theta > n1:
            hess = hess.at[n1:, n1:].add(_scaled_form_hessian(G, D, theta, layout))
        # tangents of K and D along term 1's directions (the others leave K and D unchanged)
        basis = jnp.eye(n_theta, dtype=theta.dtype)
        K_dot = jax.vmap(lambda e: jax.jvp(lambda t: term1(t)[1], (theta,), (e,))[1])(basis[:n1])
        D_dot = _schur_unscaled_tangents(K_dot, design, cross, stats, update_weights)
        # (c): d/dtheta_l <G, S dD_k S'> for term-1 directions k
        mixed = jax.vmap(lambda dD: _scaling_gradient(G, dD, theta, layout))(D_dot)
        mixed = jnp.zeros((n_theta, n_theta), theta.dtype).at[:n1].set(mixed)
        hess = hess + mixed + mixed.T
        # the second-order term of h, from C_dot_k = S dD_k S' + d_k(S) D S' + S D d_k(S)'
        if batched:
            term1_C_dot = jax.vmap(lambda dD: _scale_trailing(dD, factors, layout))(D_dot)
            dense = _log_det_second_order(A_b, C, term1_C_dot, D, theta, layout, U, b, scale)
        else:
            D_dot = jnp.concatenate([D_dot, jnp.zeros((n_theta - n1,) + D.shape, D.dtype)])
            C_dot_of = lambda dD, e: jax.jvp(scaled, (D, theta), (dD, e))[1]
            full = lambda t: scaled(unscaled(term1(t)[1]), t)

            def row(args):
                dD, e = args
                C_dot = C_dot_of(dD, e)
                Q = A_b @ C_dot @ A_b
                return -jax.vjp(full, theta)[1](Q)[0], C_dot @ v
            dense, C_dot_v = jax.lax.map(row, (D_dot, basis))
            dense = dense + _pivot_second_order(C_dot_v, A_b, U, b, m0, scale)
        hess = hess + dense
        hess = 0.5 * (hess + hess.T)
        return value, grad, jnp.where(jnp.isfinite(value), hess, jnp.nan)
    return evaluate


class Solution(NamedTuple):
    """Conditional estimates at theta: beta, spherical u and b = Lambda u per term (flattened,
    level-major), the components, and R_X' (lower) for vcov(beta) = sigma^2 (R_X' R_X)^{-1}."""

    beta: jax.Array
    u: jax.Array
    b: jax.Array
    components: DevianceComponents
    RXt: jax.Array


def solve(theta, problem: LinearProblem) -> Solution:
    """beta-hat and the conditional modes at theta, by the problem's kernel (``kernel_for``)."""
    if kernel_for(problem.design.layout) == ONE_TERM:
        return one_term_solve(theta, problem)
    return blocked_solve(theta, problem)


def blocked_solve(theta, problem: LinearProblem) -> Solution:
    """``solve`` by back-substitution through the blocked factor."""
    design, layout = problem.design, problem.design.layout
    factor = problem_factor(theta, problem)
    m0, q_rest, p = layout.n_trailing, layout.n_trailing_random, layout.n_fixed
    Lt = factor.L22[:m0, :m0]
    trailing = jax.scipy.linalg.solve_triangular(Lt.T, factor.L22[m0, :m0], lower=False)
    u_rest, beta = trailing[:q_rest], trailing[q_rest:]
    factors = covariance_factors(theta, layout)
    b_rest = spherical_to_b(u_rest, factors[1:], layout.term_levels[1:], layout.term_columns[1:])
    F_values = jnp.concatenate([b_rest, beta])
    fitted_cross = jax.ops.segment_sum(problem.cross.A21 * F_values[design.entry_col][:, None],
                                       design.entry_level, layout.term_levels[0])
    residual_cross = problem.stats.Z1r - fitted_cross
    u1 = jnp.einsum("lab,lb->la", factor.M_inv_T1t, residual_cross)
    b1 = jnp.einsum("lab,lb->la", factor.K, residual_cross)
    u = jnp.concatenate([u1.ravel(), u_rest])
    b = jnp.concatenate([b1.ravel(), b_rest])
    RXt = original_RXt(factor.L22[q_rest:q_rest + p, q_rest:q_rest + p], problem)
    return Solution(original_beta(beta, problem), u, b, deviance_components(factor, layout), RXt)


def snap_to_boundary(objective, theta, value, layout: Layout, tol: float = 1e-4, xp=jnp):
    """Set diagonal elements of theta below ``tol`` to exactly 0 when that does not raise the
    objective by more than rounding: a boundary optimum (a variance 0, a correlation +-1) is
    then reported exactly, as lme4's bounded optimizer reports it."""
    on_diagonal = np.isfinite(theta_lower_bounds(layout))
    snapped = xp.where(on_diagonal & (xp.abs(theta) < tol), 0.0, theta)
    no_rise = lambda: objective(snapped) <= value + 1e-10 * (1.0 + xp.abs(value))
    if xp is np:
        return theta if np.array_equal(snapped, theta) else np.where(no_rise(), snapped, theta)
    # nothing to snap: no evaluation (compiled loops over replicates; a select under vmap)
    keep = jax.lax.cond(jnp.any(snapped != theta), no_rise, lambda: jnp.asarray(True))
    return jnp.where(keep, snapped, theta)


# compiled once per model structure, for host-side callers (single fits, result objects)
linear_problem_compiled = jit(linear_problem)
solve_compiled = jit(solve)
factorize_compiled = jit(factorize)
