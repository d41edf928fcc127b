"""GLMM objectives as pure JAX functions: PIRLS, the Laplace approximation and adaptive
Gauss-Hermite quadrature (docs/DESIGN.md section 7).

y_j | u ~ family(mu_j), g(mu) = eta = offset + X beta + Z Lambda u, u ~ N(0, I).

PIRLS finds the conditional mode u~ (with beta fixed, or jointly with beta for nAGQ = 0) by
Fisher scoring on the penalized deviance PSUD(u) = sum_j a_j d(y_j, mu_j) + ||u||^2, each step a
penalized weighted least-squares solve with the structured factorization of ``lmm``. It is a
``lax.while_loop`` starting from the same point on every call, so each objective is a pure function
of its parameters. Derivatives never go through that loop: the mode is finished by Newton steps
with observed weights (``polished_mode``), and autodiff through two Newton steps from it, held
constant (``mode_near``), gives the implicit-function derivatives exactly to second order, so the
Newton outer optimizer and the Hessian-based standard errors see exact derivatives.

Laplace:  D(theta, beta) = log|L|^2 + ||u~||^2 + aic(y, mu~)   (L from the Fisher weights at u~)
AGQ:      D = sum_j devc_j(0) + log|L|^2 - 2 sum_j log sum_k w_k exp(z_k^2/2 - (devc_j(z_k) - devc_j(0))/2)
          with devc_j(z) = sum_{i in j} dev_i(u~_j + z/L_jj) + (u~_j + z/L_jj)^2 (lme4's scale: no
          saturated constant).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _jax  # noqa: F401  (float64)
from . import blocks, covariance_layout, lmm
from .dense_inverse import gauss_jordan_inverse, inverse_and_pivots, symmetric_solve
from .design import Design, crossproducts
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
    """Z Lambda u (n,) at theta (``covariance_layout.random_effects_product``)."""
    layout = data.design.layout
    return covariance_layout.random_effects_product(
        u, covariance_layout.covariance_factors(theta, layout), layout.term_levels,
        layout.term_columns, data.codes, data.term_X, data.y.shape[0])


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


MAX_ETA_STEP = 5.0  # largest change of any linear predictor value in one PIRLS step


def pirls(theta, beta, data: GLMMData, family: Family, joint: bool, tol: float = 1e-12,
          max_iterations: int = 100, max_halvings: int = 20):
    """Conditional modes by penalized iteratively reweighted least squares (lme4's pwrssUpdate).

    Starts from u = 0 (and, when ``joint``, from the family's starting means); step-halving when
    PSUD rises. Each step is shortened so that no linear predictor value moves by more than
    ``MAX_ETA_STEP``: where the start is far from the data (a Gamma(log) group whose y is e^10
    times its mean at u = 0) the Fisher step overshoots by tens of units on the link scale, PSUD
    still falls (it grows only linearly in eta above the data), and scoring then crawls back
    about one unit per iteration: 100 iterations left modes at 22 instead of 2.4 and the Laplace
    deviance jumped from 81 to 1,700 between neighbouring theta (a 1-2 iteration 'convergence'
    of the outer optimizer). Returns (v, iterations)."""
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
    v0 = jnp.zeros(q + (data.X.shape[1] if joint else 0))
    # the joint start is eta = g(mustart), not a point v: the first iteration steps from it in
    # full (so one PLS step is traced, not two). So does the start u = 0 where its means are
    # invalid (the inverse link with X beta < 0 in some row: Fisher steps from there go further
    # negative, and a valid mode exists); lme4 instead starts from the previous evaluation's mode.
    start_psud = jnp.asarray(jnp.inf, v0.dtype) if joint else psud(v0)
    from_means = joint | jnp.isnan(start_psud)
    start_eta = family.link.linkfun(data.mustart)

    def body(state: PirlsState):
        u, beta_now = _split(state.v, beta, joint, q)
        eta = linear_predictor(theta, u, beta_now, data)
        first = from_means & (state.iterations == 0)
        eta = jnp.where(first, start_eta, eta)
        proposal = pls_step(eta, beta_now)
        eta_change = jnp.max(jnp.abs(linear_predictor(theta, *_split(proposal, beta, joint, q), data) - eta))
        shorten = jnp.minimum(1.0, MAX_ETA_STEP / jnp.maximum(eta_change, 1e-300))
        shorten = jnp.where(jnp.isfinite(shorten) & ~first, shorten, 1.0)
        proposal = state.v + shorten * (proposal - state.v)

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

    # an invalid start has no PSUD to beat: the first valid step is taken
    state = PirlsState(v0, jnp.where(jnp.isnan(start_psud), jnp.inf, start_psud), jnp.asarray(0),
                       jnp.asarray(False))
    state = jax.lax.while_loop(lambda s: ~s.done, body, state)
    return state.v, state.iterations


def working_residuals(eta, data: GLMMData, family: Family):
    """r = a (y - mu) mu'(eta) / V(mu) = -d(dev / 2)/d eta per observation (mu' the derivative of
    the link inverse as implemented, by a forward derivative)."""
    mu, mu_prime = jax.jvp(family.link.linkinv, (eta,), (jnp.ones_like(eta),))
    return data.weights * (data.y - mu) * mu_prime / family.variance(mu)


def observed_weights(eta, data: GLMMData, family: Family):
    """h = d^2 (dev / 2) / d eta^2 = -dr/d eta per observation (the Fisher weights for canonical
    links), from the quasi-likelihood form d dev / d mu = -2 a (y - mu) / V(mu): one forward
    derivative of ``working_residuals``, not two of the deviance."""
    return -jax.jvp(lambda e: working_residuals(e, data, family), (eta,), (jnp.ones_like(eta),))[1]


def _scale_trailing(w, factors, layout, transpose: bool):
    """S w (rows of term i times T_i') or S' w (times T_i) for a trailing vector w (m0,)."""
    pieces, start = [], 0
    for T, l, p in zip(factors[1:], layout.term_levels[1:], layout.term_columns[1:]):
        block = w[start:start + l * p].reshape(l, p)
        pieces.append((block @ (T.T if transpose else T)).ravel())
        start += l * p
    pieces.append(w[start:])
    return jnp.concatenate(pieces)


def structured_solve(theta, design: Design, weights, rhs):
    """x = P^{-1} rhs for P = Lambda'[Z X]' H [Z X] Lambda + diag(I_q, 0) (``design``'s columns,
    H = diag(weights)), by block elimination through the factorization of ``lmm``:
    x_F = C^{-1} (r_F - G M^{-1} r_1), x_1 = M^{-1} (r_1 - G' x_F), G = S A21 T_1, C = L22 L22'."""
    layout = design.layout
    l1, p1, m0 = layout.term_levels[0], layout.term_columns[0], layout.n_trailing
    cross = crossproducts(design, weights)
    factor = lmm.precision_factor(theta, design, cross)
    L1_inv = blocks.lower_inverse(factor.L1)
    M_inv = blocks.matmul(jnp.swapaxes(L1_inv, -1, -2), L1_inv)
    if m0 == 0:  # one term, no fixed effects in the system: P is block diagonal
        return jnp.sum(M_inv * rhs.reshape(l1, 1, p1), axis=-1).ravel()
    factors = covariance_layout.covariance_factors(theta, layout)
    T1 = factors[0]

    def G(v):  # (l1, p1) -> (m0,)
        t = v @ T1.T
        by_col = jax.ops.segment_sum(jnp.sum(cross.A21 * t[design.entry_level], axis=-1),
                                     design.entry_col, m0)
        return _scale_trailing(by_col, factors, layout, transpose=False)

    def G_transpose(w):  # (m0,) -> (l1, p1)
        w = _scale_trailing(w, factors, layout, transpose=True)
        by_level = jax.ops.segment_sum(cross.A21 * w[design.entry_col][:, None], design.entry_level, l1)
        return by_level @ T1

    r1, rF = rhs[:l1 * p1].reshape(l1, p1), rhs[l1 * p1:]
    a = jnp.einsum("lab,lb->la", M_inv, r1)
    L = factor.L22[:m0, :m0]
    z = jax.scipy.linalg.solve_triangular(L, rF - G(a), lower=True)
    xF = jax.scipy.linalg.solve_triangular(L.T, z, lower=False)
    x1 = a - jnp.einsum("lab,lb->la", M_inv, G_transpose(xF))
    return jnp.concatenate([x1.ravel(), xF])


def conditional_mode(theta, beta, data: GLMMData, family: Family, joint: bool):
    """u~ (or [u~, beta~]) with exact implicit derivatives in theta and beta, to any order.

    At the mode F(v) = grad PSUD / 2 = 0, so dv = -J^{-1} dF with J = dF/dv = P(h) (observed
    weights h), solved through the structured factorization. Where some h <= 0 (possible for
    non-canonical links far from the data) the dense Hessian is used instead."""
    return _conditional_mode(family, joint, theta, beta, data)


@partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _conditional_mode(family, joint, theta, beta, data):
    # polished: the implicit derivatives below are exact at the exact mode only, and PIRLS alone
    # (Fisher scoring, linear for non-canonical links) stops at a relative change of 1e-12 in
    # PSUD, i.e. u to about 1e-6, which moved Gamma batch refits' theta 2e-8 from single fits';
    # one Newton step squares that error (two cost 1.7x the compilation for nothing visible)
    return polished_mode(theta, beta, data, family, joint, steps=1)


@_conditional_mode.defjvp
def _conditional_mode_jvp(family, joint, primals, tangents):
    theta, beta, data = primals
    d_theta, d_beta, _ = tangents  # data are constants of the fit
    v = _conditional_mode(family, joint, theta, beta, data)
    half_gradient = lambda v, t, b: 0.5 * jax.grad(penalized_deviance)(v, t, b, data, family, joint)
    if beta is None:
        dF = jax.jvp(lambda t: half_gradient(v, t, None), (theta,), (d_theta,))[1]
    else:
        dF = jax.jvp(lambda t, b: half_gradient(v, t, b), (theta, beta), (d_theta, d_beta))[1]
    q = data.design.layout.n_random
    u, beta_now = _split(v, beta, joint, q)
    eta = linear_predictor(theta, u, beta_now, data)
    h = observed_weights(eta, data, family)
    design = data.design if joint else data.design_re

    def structured(rhs):
        return structured_solve(theta, design, h, rhs)

    def dense(rhs):
        J = jax.jacfwd(lambda w: half_gradient(w, theta, beta))(v)  # symmetric (a Hessian)
        return symmetric_solve(J, rhs)  # not jnp.linalg.solve: see dense_inverse.py

    dv = jax.lax.cond(jnp.all(h > 0), structured, dense, -dF)
    return v, dv


def log_det_L(theta, weights, data: GLMMData):
    """(log|L_theta|^2, term 1's per-level factors L1) for Lambda'Z'WZ Lambda + I (random effects
    only). With one term the blocks are all there is: no trailing system to factor."""
    design = data.design_re
    factor = lmm.precision_factor(theta, design, crossproducts(design, weights))
    return lmm.log_det_precision(factor, design.layout), factor.L1


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
    v = (conditional_mode(theta, beta, data, family, joint) if differentiable
         else pirls(theta, beta, data, family, joint)[0])
    return laplace_pieces_at(v, theta, beta, data, family, joint)


def laplace_pieces_at(v, theta, beta, data: GLMMData, family: Family, joint: bool) -> LaplacePieces:
    """The Laplace objective's pieces with the conditional mode given as v = u (or [u, beta])."""
    u, beta = _split(v, beta, joint, data.design.layout.n_random)
    eta = linear_predictor(theta, u, beta, data)
    w, mu, _ = fisher_weights(eta, data, family)
    ldL2, _ = log_det_L(theta, w, data)
    deviance_sum = jnp.sum(family.unit_deviance(data.y, mu, data.weights))
    aic = family.aic(data.y, mu, data.weights, deviance_sum)
    return LaplacePieces(u, beta, mu, ldL2, jnp.sum(u ** 2), deviance_sum, aic)


def laplace_value(pieces: LaplacePieces):
    """log|L|^2 + ||u~||^2 + aic, infinite where not finite."""
    value = pieces.ldL2 + pieces.ussq + pieces.aic
    return jnp.where(jnp.isfinite(value), value, jnp.inf)


def newton_step(v, theta, beta, data: GLMMData, family: Family, joint: bool):
    """One Newton step on PSUD / 2 in v = u (or [u, beta]): v - P(h)^{-1} grad(PSUD / 2), with
    P(h) = Lambda'[Z X]' H [Z X] Lambda + diag(I, 0) the exact Hessian (observed weights h),
    solved through the structured factorization.

    From a point v0 that is the mode at x0 = (theta, beta) (held constant), k steps give a
    function v_k(x) whose error is O(|x - x0|^(2^k)): one step has the mode's exact first
    derivatives at x0, two its exact second derivatives (the implicit function theorem's), so
    autodiff through them needs no differentiation of the PIRLS loop."""
    q = data.design.layout.n_random
    eta, pullback = jax.vjp(lambda w: linear_predictor(theta, *_split(w, beta, joint, q), data), v)
    h = observed_weights(eta, data, family)
    # grad (PSUD / 2) = -[Z Lambda, X]' r + [u; 0]
    penalty = jnp.concatenate([v[:q], jnp.zeros(v.shape[0] - q, v.dtype)]) if joint else v
    gradient = penalty - pullback(working_residuals(eta, data, family))[0]
    return v - structured_solve(theta, data.design if joint else data.design_re, h, gradient)


def polished_mode(theta, beta, data: GLMMData, family: Family, joint: bool, steps: int = 2):
    """PIRLS's mode (Fisher scoring, linear convergence for non-canonical links) finished by
    ``steps`` Newton steps, each kept only where it is finite and does not raise PSUD beyond
    rounding."""
    v = pirls(theta, beta, data, family, joint)[0]
    psud = lambda w: penalized_deviance(w, theta, beta, data, family, joint)

    def polish(_, carry):  # a loop, not unrolled: the Newton step is traced (and compiled) once
        v, value = carry
        proposal = newton_step(v, theta, beta, data, family, joint)
        proposed = psud(proposal)
        keep = jnp.all(jnp.isfinite(proposal)) & (proposed <= value + 1e-10 * (1.0 + jnp.abs(value)))
        return jnp.where(keep, proposal, v), jnp.where(keep, proposed, value)
    return jax.lax.fori_loop(0, steps, polish, (v, psud(v)))[0]


def mode_near(v0, theta, beta, data: GLMMData, family: Family, joint: bool, steps: int):
    """``steps`` Newton steps from the mode v0 at the current parameters (held constant): the
    conditional mode as a differentiable function of (theta, beta), exact to order 2^steps - 1
    there (``newton_step``)."""
    v = jax.lax.stop_gradient(v0)
    for _ in range(steps):  # unrolled: autodiff through a loop compiled 1.4x slower
        v = newton_step(v, theta, beta, data, family, joint)
    return v


def laplace_deviance(theta, beta, data: GLMMData, family: Family, joint: bool = False):
    """lme4's Laplace objective -2 log L ~ log|L|^2 + ||u~||^2 + aic (joint: nAGQ = 0's, theta only)."""
    return laplace_value(laplace_pieces(theta, beta, data, family, joint))


def gauss_hermite(n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E[f(Z)], Z ~ N(0, 1) (probabilists' Hermite rule, symmetrized)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_points)
    nodes = 0.5 * (nodes - nodes[::-1])
    weights = 0.5 * (weights + weights[::-1])
    return nodes, weights / weights.sum()


def agq_deviance(theta, beta, data: GLMMData, family: Family, n_points: int):
    """Adaptive Gauss-Hermite approximation for one scalar random-effects term (lme4's scale)."""
    u = conditional_mode(theta, beta, data, family, False)
    return agq_deviance_at(u, theta, beta, data, family, n_points)


def agq_deviance_at(u, theta, beta, data: GLMMData, family: Family, n_points: int):
    """``agq_deviance`` with the conditional mode u given."""
    eta = linear_predictor(theta, u, beta, data)
    w, mu, _ = fisher_weights(eta, data, family)
    ldL2, L1 = log_det_L(theta, w, data)
    scale = 1.0 / L1[:, 0, 0]
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


def dispersion_sigma(pieces: LaplacePieces, data: GLMMData, family: Family, n_obs):
    """lme4's sigma of a glmer fit: sqrt((sum a (y - mu)^2 / V(mu) + ||u||^2) / n) for families
    with a dispersion (Gamma, inverse Gaussian, gaussian), else 1 (padded rows have a = 0)."""
    pearson = jnp.sum(data.weights * (data.y - pieces.mu) ** 2 / family.variance(pieces.mu))
    return jnp.where(family.has_dispersion, jnp.sqrt((pearson + pieces.ussq) / n_obs), 1.0)


class BetaCovariance(NamedTuple):
    """vcov(beta) of a GLMM fit and whether it came from R_X (the Hessian's fallback)."""

    matrix: jax.Array
    from_rx: jax.Array


def rx_covariance(theta, beta, u, data: GLMMData, family: Family, dispersion):
    """dispersion R_X^{-1} R_X^{-T}, R_X from the PLS system with the Fisher weights at the mode
    (theta treated as known): lme4's estimate for nAGQ = 0 and where the Hessian fails."""
    eta = linear_predictor(theta, u, beta, data)
    weights = fisher_weights(eta, data, family)[0]
    RXt = lmm.solve(theta, lmm.linear_problem(data.design, weights, eta)).RXt
    RXt_inv = gauss_jordan_inverse(RXt)  # no LAPACK under vmap: see dense_inverse.py
    return dispersion * (RXt_inv.T @ RXt_inv)


def hessian_covariance(hessian, n_theta: int):
    """(2 [H^{-1}]_beta,beta, usable) from the Hessian H of the deviance over (theta, beta):
    ``usable`` where H is finite and positive definite (Gauss-Jordan pivots all positive)."""
    H = 0.5 * (hessian + hessian.T)
    finite = jnp.all(jnp.isfinite(H))
    inverse, pivots = inverse_and_pivots(jnp.where(finite, H, jnp.eye(H.shape[0])))
    usable = finite & jnp.all(pivots > 0) & jnp.all(jnp.isfinite(inverse))
    V = 2.0 * inverse[n_theta:, n_theta:]
    return 0.5 * (V + V.T), usable


def beta_covariance(theta, beta, u, hessian, data: GLMMData, family: Family, dispersion,
                    use_hessian: bool) -> BetaCovariance:
    """lme4's ``vcov`` of a glmer fit: ``hessian_covariance`` where H is usable (``use_hessian``:
    nAGQ > 0), else ``rx_covariance``, computed only then (``lax.cond``: under ``vmap``, as in
    wide batches, it becomes a select and both are computed); a single fit computes it likewise
    only where the Hessian fails (``generalized_fitting``), to the same numbers."""
    rx = lambda: rx_covariance(theta, beta, u, data, family, dispersion)
    if not use_hessian:
        return BetaCovariance(rx(), jnp.asarray(True))
    V, usable = hessian_covariance(hessian, theta.shape[0])
    return BetaCovariance(jax.lax.cond(usable, lambda: V, rx), ~usable)
