"""Conditional variances of the random effects (lme4's ``ranef(fit, condVar = TRUE)``).

Var(b | y) = s^2 Lambda P^{-1} Lambda' with P = Lambda'Z'WZ Lambda + I (beta held fixed), where s^2 is
sigma^2 for lmer and 1 for glmer. P is blocked as [M, B'; B, D] (M: term 1's block diagonal), and
the trailing factor holds chol(D - B M^{-1} B') = L_R. Then

    (P^{-1})_22 = L_R^{-T} L_R^{-1},   (P^{-1})_11,g = M_g^{-1} + H_g' H_g,  H_g = L_R^{-1} B_g M_g^{-1}.

Only the diagonal blocks (one p_i x p_i block per level) are formed. Computed on demand, in numpy.
"""
from __future__ import annotations

import numpy as np

from . import lmm
from .variance_parameters import term_factors


def precision_inverse_blocks(theta, problem, spec) -> list[np.ndarray]:
    """Diagonal blocks of P^{-1} per term: arrays of shape (levels, p_i, p_i)."""
    design, layout = problem.design, problem.design.layout
    factor = lmm.factorize_compiled(np.asarray(theta, float), design, problem.cross, problem.stats)
    factors = term_factors(np.asarray(theta), spec)
    q_rest = layout.n_trailing_random
    l1, p1 = layout.term_levels[0], layout.term_columns[0]
    L1 = np.asarray(factor.L1)
    L1_inv = np.linalg.inv(L1)
    M_inv = np.swapaxes(L1_inv, -1, -2) @ L1_inv
    if q_rest == 0:
        return [M_inv]
    L_rest_inv = np.linalg.inv(np.asarray(factor.L22)[:q_rest, :q_rest])
    # B_g = S A21_g T_1 restricted to trailing random-effects rows, as a dense (q_rest, l1, p1)
    entry_level = np.asarray(design.entry_level)
    entry_col = np.asarray(design.entry_col)
    A21 = np.asarray(problem.cross.A21)
    keep = entry_col < q_rest
    B = np.zeros((q_rest, l1, p1))
    np.add.at(B, (entry_col[keep], entry_level[keep]), A21[keep])
    start = 0
    for T, l, p in zip(factors[1:], layout.term_levels[1:], layout.term_columns[1:]):
        block = B[start:start + l * p].reshape(l, p, l1, p1)
        B[start:start + l * p] = np.einsum("ba,lbgc->lagc", T, block).reshape(l * p, l1, p1)
        start += l * p
    B = np.einsum("rgc,cd->rgd", B, factors[0])
    BM = np.einsum("rgc,gcd->rgd", B, M_inv)
    H = (L_rest_inv @ BM.reshape(q_rest, -1)).reshape(q_rest, l1, p1)
    first = M_inv + np.einsum("rga,rgb->gab", H, H)
    out, start = [first], 0
    for l, p in zip(layout.term_levels[1:], layout.term_columns[1:]):
        G = L_rest_inv[:, start:start + l * p].reshape(q_rest, l, p)
        out.append(np.einsum("rla,rlb->lab", G, G))
        start += l * p
    return out


def conditional_variances(theta, problem, spec, scale: float) -> list[np.ndarray]:
    """Var(b_g | y) per term and level: s^2 T_i (P^{-1})_g T_i', with ``problem`` the penalized
    least-squares problem of P (for glmer: with the Fisher weights at the fit) and ``scale``
    s^2 (sigma^2 for lmer, 1 for glmer)."""
    inverse_blocks = precision_inverse_blocks(theta, problem, spec)
    factors = term_factors(theta, spec)
    return [scale * np.einsum("ab,lbc,dc->lad", T, block, T)
            for T, block in zip(factors, inverse_blocks)]
