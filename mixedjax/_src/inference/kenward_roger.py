"""Kenward-Roger adjusted covariance of beta-hat and denominator df (pbkrtest's vcovAdj, KRmodcomp).

pbkrtest writes the marginal covariance linearly in the (co)variance parameters gamma,

    V = sum_r gamma_r G_r,   gamma = (the lower triangle of each term's Sigma_i, sigma^2),

with G_r = Z_i (I (x) E_jk) Z_i' (E_jk ones at (j, k) and (k, j)) for the element (j, k) of term i's
covariance block and G = W^{-1} for sigma^2. With Phi = vcov(beta-hat) = (X'V^{-1}X)^{-1},

    P_r = -X'V^{-1} G_r V^{-1} X,   Q_rs = X'V^{-1} G_r V^{-1} G_s V^{-1} X,
    I_rs = tr(V^{-1} G_r V^{-1} G_s) - 2 tr(Phi Q_rs) + tr(Phi P_r Phi P_s),   W = 2 I^{-1},
    Phi_A = Phi + 2 Phi [sum_rs W_rs (Q_rs - P_r Phi P_s)] Phi     (the second-derivative term
                                                                    vanishes: V is linear in gamma).

For H0: L beta = beta_H (q = rank L), with Theta = L'(L Phi L')^{-1} L and U_r = Theta Phi P_r Phi,

    A1 = sum_rs W_rs tr(U_r) tr(U_s),   A2 = sum_rs W_rs tr(U_r U_s),   B = (A1 + 6 A2) / (2q),
    g = ((q+1) A1 - (q+4) A2) / ((q+2) A2),   c1, c2, c3 = (g, q - g, q + 2 - g) / (3q + 2(1 - g)),
    rho = ((1 - A2/q) / (1 - c2 B))^2 (1 + c1 B) / (q (1 - c3 B)),   m = 4 + (q + 2) / (q rho - 1),
    F = lambda (L b)'(L Phi_A L')^{-1}(L b) / q,   lambda = m (1 - A2/q) / (m - 2).

Everything is dense in the n observations (V^{-1} and n x n products per parameter), so models are
limited to MAX_OBSERVATIONS; beyond it use Satterthwaite's method.

With prior weights the residual block is sigma^2 W^{-1}, consistent with vcov(beta-hat);
pbkrtest 0.5.2 uses the identity there (it ignores weights), so the two differ for weighted fits.
"""
from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401  (float64)
from .. import covariance_structures
from ..variance_parameters import term_factors
from ..errors import KenwardRogerError

MAX_OBSERVATIONS = 3000     # V^{-1} and one n x n matrix per variance parameter are held densely
INVERSE_CONDITION_TOL = 1e-10  # pbkrtest: below this smallest |eigenvalue| of I, W = 2 pinv(I)


class KenwardRogerState(NamedTuple):
    """beta-hat, Phi = vcov(beta-hat), Phi_A (adjusted), P_r (R, p, p) and W (R, R)."""

    beta: np.ndarray
    vcov_beta: np.ndarray
    vcov_adjusted: np.ndarray
    P: np.ndarray
    W: np.ndarray


def covariance_structure(spec, theta, sigma) -> tuple[np.ndarray, list[np.ndarray]]:
    """(gamma, [G_r]): pbkrtest's linear parameterization V = sum_r gamma_r G_r over the
    observations with positive weight, in theta's order (column-major lower triangles)."""
    weights = np.asarray(spec.frame.weights, float)
    used = weights > 0
    gammas, G = [], []
    for term, T in zip(spec.terms, term_factors(np.asarray(theta, float), spec)):
        Sigma = sigma ** 2 * (T @ T.T)
        same_level = (term.codes[used, None] == term.codes[None, used]).astype(float)
        Xt = term.X[used]
        for i, j in zip(*covariance_structures.lower_positions(term.n_columns)):  # theta's order
            if term.structure == "diag" and i != j:
                continue  # no covariance parameters
            block = np.outer(Xt[:, i], Xt[:, j]) * same_level
            G.append(block if i == j else block + block.T)
            gammas.append(Sigma[i, j])
    G.append(np.diag(1.0 / weights[used]))
    gammas.append(sigma ** 2)
    return np.asarray(gammas), G


def check_applicable(fit) -> None:
    if not fit.kind.reml:
        raise KenwardRogerError("Kenward-Roger's method is only available for REML fits (as in "
                                "lmerTest); refit with REML=True or use ddf='Satterthwaite'")
    nonlinear = [str(t.bar) for t in fit.spec.terms if t.structure in ("cs", "ar1")]
    if nonlinear:
        raise KenwardRogerError(f"Kenward-Roger's method needs a covariance linear in its "
                                f"parameters (pbkrtest's), and {', '.join(nonlinear)} is not "
                                "(its correlation multiplies the variances): use ddf='Satterthwaite'")
    n = int(np.sum(np.asarray(fit.spec.frame.weights) > 0))
    if n > MAX_OBSERVATIONS:
        raise KenwardRogerError(f"Kenward-Roger is computed with dense n x n matrices; this model has "
                                f"n = {n} observations, above the limit {MAX_OBSERVATIONS}: use "
                                "ddf='Satterthwaite'")


def adjusted_covariance(gammas, G, X, vcov_beta):
    """(Phi_A, P, W) from the structure V = sum gamma_r G_r (pbkrtest's vcovAdj)."""
    G = jnp.asarray(np.stack(G))
    V = jnp.einsum("r,rab->ab", jnp.asarray(gammas), G)
    V_inv = jnp.linalg.inv(V)
    V_inv = 0.5 * (V_inv + V_inv.T)
    Phi = jnp.asarray(vcov_beta)
    VinvX = V_inv @ X
    H = jnp.einsum("rab,bc->rac", G, V_inv)             # G_r V^{-1}
    O = jnp.einsum("rab,bc->rac", H, jnp.asarray(X))     # G_r V^{-1} X
    P = -jnp.einsum("rab,ac->rbc", O, VinvX)
    Q = jnp.einsum("rab,ac,scd->rsbd", O, V_inv, O)
    trace_HH = jnp.einsum("rab,sba->rs", H, H)
    PhiP = jnp.einsum("ab,rbc->rac", Phi, P)
    information = (trace_HH - 2.0 * jnp.einsum("ab,rsab->rs", Phi, Q)
                   + jnp.einsum("rab,sba->rs", PhiP, PhiP))
    information = np.asarray(0.5 * (information + information.T))
    if np.min(np.abs(np.linalg.eigvalsh(information))) > INVERSE_CONDITION_TOL:
        W = 2.0 * np.linalg.inv(information)
    else:
        W = 2.0 * np.linalg.pinv(information)
    W = jnp.asarray(0.5 * (W + W.T))
    U = jnp.einsum("rs,rsab->ab", W, Q - jnp.einsum("rab,bc,scd->rsad", P, Phi, P))
    adjusted = Phi + 2.0 * Phi @ U @ Phi
    return np.asarray(0.5 * (adjusted + adjusted.T)), np.asarray(P), np.asarray(W)


def kenward_roger_state(fit) -> KenwardRogerState:
    """The state at a REML fit's estimates."""
    check_applicable(fit)
    return state_at(fit.spec, fit.theta_values, fit.sigma, fit.beta, fit.vcov_matrix)


def state_at(spec, theta, sigma, beta, vcov_beta) -> KenwardRogerState:
    """The state at given (theta, sigma) with beta-hat and Phi = vcov(beta-hat) there."""
    gammas, G = covariance_structure(spec, theta, sigma)
    X = jnp.asarray(spec.fixed.X[np.asarray(spec.frame.weights) > 0])
    adjusted, P, W = adjusted_covariance(gammas, G, X, vcov_beta)
    return KenwardRogerState(np.asarray(beta, float), np.asarray(vcov_beta, float), adjusted, P, W)


class KenwardRogerTest(NamedTuple):
    """KRmodcomp's numbers: q, the denominator df m, lambda (F.scaling), the Wald statistic with
    Phi_A over q (FstatU) and the scaled F = lambda FstatU."""

    ndf: int
    ddf: float
    F_scaling: float
    F_unscaled: float
    F: float


def _divide_or_one(x: float, y: float, tol: float = 1e-14) -> float:
    """x / y, but 1 when both vanish (pbkrtest's .divZero)."""
    return 1.0 if abs(x) < tol and abs(y) < tol else x / y


def denominator_df(state: KenwardRogerState, L: np.ndarray, q: int) -> tuple[float, float]:
    """(m, lambda) for the q-dimensional hypothesis on L beta (pbkrtest's .KR_adjust / Lb_ddf)."""
    Phi = state.vcov_beta
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    U = np.einsum("ab,bc,rcd,de->rae", Theta, Phi, state.P, Phi)
    traces = np.einsum("raa->r", U)
    A1 = float(traces @ state.W @ traces)
    A2 = float(np.einsum("rs,rab,sba->", state.W, U, U))
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    c1, c2, c3 = (np.array([g, q - g, q + 2 - g]) / (3 * q + 2 * (1 - g)))
    V0, V1, V2 = 1 + c1 * B, 1 - c2 * B, 1 - c3 * B
    V0 = 0.0 if abs(V0) < 1e-10 else V0
    rho = _divide_or_one(1 - A2 / q, V1) ** 2 * V0 / V2 / q
    m = 4 + (q + 2) / (q * rho - 1)
    scaling = 1.0 if abs(m - 2) < 0.01 else m * (1 - A2 / q) / (m - 2)
    return float(m), float(scaling)


def row_basis(L: np.ndarray) -> np.ndarray:
    """An orthonormal basis of L's row space (rank rows): the test depends on that space only."""
    _, singular_values, Vt = np.linalg.svd(L, full_matrices=False)
    rank = int(np.sum(singular_values > singular_values[0] * max(L.shape) * np.finfo(float).eps))
    return Vt[:rank]


def f_test(state: KenwardRogerState, L: np.ndarray, rhs: np.ndarray) -> KenwardRogerTest:
    """KRmodcomp(fit, L, betaH = pinv(L) rhs); linearly dependent rows of L are reduced to a basis
    of its row space first (as pbkrtest's restriction matrix)."""
    beta_H = np.linalg.pinv(L) @ rhs if np.any(rhs != 0) else np.zeros_like(state.beta)
    L = row_basis(L)
    q = L.shape[0]
    ddf, scaling = denominator_df(state, L, q)
    difference = L @ (state.beta - beta_H)
    wald = float(difference @ np.linalg.solve(L @ state.vcov_adjusted @ L.T, difference))
    return KenwardRogerTest(q, ddf, scaling, wald / q, scaling * wald / q)


def t_test(state: KenwardRogerState, contrast: np.ndarray) -> tuple[float, float, float]:
    """(estimate l'beta, adjusted standard error sqrt(l'Phi_A l), KR df) for one contrast l."""
    ddf, _ = denominator_df(state, contrast[None, :], 1)
    return (float(contrast @ state.beta), float(np.sqrt(contrast @ state.vcov_adjusted @ contrast)),
            ddf)
