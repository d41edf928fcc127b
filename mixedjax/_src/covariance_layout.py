"""The covariance layout of theta: how theta splits over the random-effects terms and maps to the
relative covariance factor Lambda = blockdiag(I_{l_1} (x) T_1, ..., I_{l_k} (x) T_k), and the
products Lambda u and Z Lambda u of spherical random effects u (docs/DESIGN.md section 2).

Term i owns ``layout.term_theta[i]`` consecutive elements of theta (``term_slices``), which its
covariance structure maps to the lower-triangular p_i x p_i factor T_i (``covariance_structures``;
for unstructured terms lme4's lower triangle, column-major). u and b = Lambda u are flattened
term by term, level-major within a term: term i's (l_i, p_i) block of u holds one row per level,
and b_i = u_i T_i'. Row j of Z Lambda u is then sum_i x_ij' b_i[g_i(j)], with x_ij the row of
term i's columns and g_i(j) its level. Every module that needs theta per term, T_i, Lambda u or
Z Lambda u asks this one.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _jax  # noqa: F401  (float64)
from . import covariance_structures
from .design import Layout


def term_slices(layout: Layout) -> list[tuple[str, int, slice]]:
    """(structure, p, slice of theta) per term: where each term's share of theta lies."""
    out, start = [], 0
    for structure, p, count in zip(layout.term_structures, layout.term_columns, layout.term_theta):
        out.append((structure, p, slice(start, start + count)))
        start += count
    return out


def covariance_factors(theta: jax.Array, layout: Layout, xp=jnp) -> list[jax.Array]:
    """The lower-triangular T_i of each term from its share of theta (``covariance_structures``;
    for unstructured terms lme4's lower triangle, column-major); numpy arrays for ``xp=np``."""
    return [covariance_structures.factor(structure, theta[where], p, xp)
            for structure, p, where in term_slices(layout)]


def theta_lower_bounds(layout: Layout) -> np.ndarray:
    """0 for the standard deviations and diagonal elements of each T_i, -inf for the rest
    (lme4's ``lower`` for unstructured terms)."""
    pieces = [covariance_structures.lower_bounds(s, p) for s, p, _ in term_slices(layout)]
    return np.concatenate(pieces) if pieces else np.zeros(0)


def theta_start(layout: Layout) -> np.ndarray:
    """lme4's start: T_i = I (never 0 on a diagonal: the gradient vanishes there)."""
    pieces = [covariance_structures.start(s, p) for s, p, _ in term_slices(layout)]
    return np.concatenate(pieces) if pieces else np.zeros(0)


def theta_angles(layout: Layout) -> np.ndarray:
    """Which elements of theta are correlation angles (``covariance_structures``)."""
    pieces = [covariance_structures.is_angle(s, p) for s, p, _ in term_slices(layout)]
    return np.concatenate(pieces) if pieces else np.zeros(0, bool)


ANGLE_LIMIT = 0.45 * np.pi  # refits start a correlation angle inside this


def refit_start(theta, layout: Layout, floor: float = 0.1, scale=1.0) -> np.ndarray:
    """Where a refit starts: the previous estimates, as lme4's ``refit`` does, except that a
    diagonal element at (or next to) the boundary starts at ``floor``: the deviance is even in
    it, so its gradient vanishes at 0 and Newton's method could not leave. Both in the
    optimizer's coordinates theta / ``scale`` (``lmm.theta_scale``)."""
    theta = np.asarray(theta, dtype=float) / scale
    diagonal = np.isfinite(theta_lower_bounds(layout))
    theta[diagonal & (np.abs(theta) < 0.01)] = floor
    # a correlation on its bound (angle +-pi/2) is a stationary point in its angle, too
    angles = theta_angles(layout)
    theta[angles] = np.clip(theta[angles], -ANGLE_LIMIT, ANGLE_LIMIT)
    return theta * scale



def canonical_theta(theta, layout: Layout, xp=jnp):
    """The same T_i T_i' with non-negative diagonals (the deviance depends on T_i T_i' only: flip
    the sign of every column whose diagonal is negative), as lme4 reports theta, and
    correlation angles in [-pi/2, pi/2] (``covariance_structures.canonical``)."""
    pieces = [covariance_structures.canonical(s, theta[where], p, xp)
              for s, p, where in term_slices(layout)]
    return xp.concatenate(pieces)


def spherical_to_b(u, factors, levels, columns, xp=jnp):
    """b = Lambda u (flattened level-major per term) for the terms of ``factors`` (T_i), ``levels``
    (l_i) and ``columns`` (p_i): each term's (l_i, p_i) block of u times T_i'."""
    out, start = [], 0
    for T, l, p in zip(factors, levels, columns):
        out.append((u[start:start + l * p].reshape(l, p) @ T.T).ravel())
        start += l * p
    return xp.concatenate(out) if out else xp.zeros(0)


def random_effects_product(u, factors, levels, columns, codes, term_X, n_obs: int):
    """Z Lambda u (n_obs,) for spherical u (flattened level-major per term): each term's
    b_i = u_i T_i' per level, then row j's x_ij' b_i[g_i(j)] (``codes``: g_i, ``term_X``: x_i)."""
    out, start = jnp.zeros(n_obs), 0
    for T, l, p, g, Xi in zip(factors, levels, columns, codes, term_X):
        b = u[start:start + l * p].reshape(l, p) @ T.T
        out = out + jnp.sum(Xi * b[g], axis=1)
        start += l * p
    return out
