"""The Laplace objective of a GLMM with one scalar random-effects term, level by level.

With one term of one column (cbpp's ``(1 | herd)``, ``(0 + x | g)``) and beta fixed, the
penalized deviance separates over the levels j:

    P_j(u_j) = sum_{i in j} phi_i(eta_i) + u_j^2 / 2,   eta_i = a_i + s z_i u_j,  a = offset + X beta,

(phi = a dev / 2, s = theta, z the term's column), so the conditional mode is one scalar Newton
iteration per level, elementwise, with no linear solve; and for families whose aic is their
deviance plus a function of y alone (binomial, poisson, negative binomial of a known size) the
Laplace deviance is

    D(theta, beta) = sum_j log M_j + 2 sum_j P_j(u~_j) + c(y),   M_j = 1 + s^2 sum_{i in j} z_i^2 w_i

(w the Fisher weights). Its exact gradient and Hessian follow from the implicit function theorem
level by level (``laplace_derivatives``), from per-observation derivatives of phi and w in eta:
no autodiff through Newton steps. Batches of such models (bootstrap, simulation studies) spend
their time there: forward-over-reverse autodiff through two structured Newton steps
(``glmm.mode_near``) cost about 10 times the gradient, 100-200 us of a cbpp replicate's iteration
on 2 cores, where these formulas cost a few us.

For the other families (Gamma, inverse Gaussian, gaussian with a non-identity link) the aic is a
function of the deviance alone, through the estimated dispersion (``Family.aic``), so D adds
E(deviance) = aic - deviance, whose derivatives carry the mode's first and second derivatives
(the deviance is not stationary at the mode); the same closed forms give them. Single fits and batch
replicates of one scalar term take this level-wise path for every family (``one_scalar_term``;
a single fit: one compiled program for stage 2, values, derivatives and the Laplace pieces). The
same optimum as the general path (``generalized_fitting``), so batch replicates equal fresh
single fits.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import _jax  # noqa: F401  (float64)
from . import glmm
from .families import Family

# families whose aic is their deviance plus a function of y alone (no estimated dispersion; the
# negative binomial's size is known to the family, glmer_nb estimates it outside)
_DEVIANCE_AIC_FAMILIES = ("binomial", "poisson", "negative.binomial")


def one_scalar_term(layout, n_agq: int) -> bool:
    """One random-effects term of one column and the Laplace objective (nAGQ = 1): the mode and
    the objective separate over the levels (a single fit's path, any family)."""
    return (len(layout.term_levels) == 1 and layout.term_columns[0] == 1 and layout.n_theta == 1
            and n_agq == 1)


def closed_form(family: Family) -> bool:
    """Whether the family's aic is its deviance plus a function of y alone
    (``_DEVIANCE_AIC_FAMILIES``), so that D's derivatives are those of the penalized deviance's
    and the mode's log-determinant alone (``laplace_derivatives``)."""
    return family.name in _DEVIANCE_AIC_FAMILIES


class Level(NamedTuple):
    """One replicate's constants for the level-wise functions."""

    codes: jax.Array  # (n,) level of each observation
    z: jax.Array  # (n,) the term's column
    aic_constant: jax.Array  # aic - deviance, a function of y alone
    largest_z: jax.Array  # (levels,) max |z| per level, for the mode's step limit


def level_constants(data: glmm.GLMMData, family: Family) -> Level:
    """``Level`` of a replicate's data (for ``closed_form`` families aic - deviance evaluated once,
    at the starting means: its log-gamma terms are a third of the objective's cost otherwise; 0
    for the others, whose aic depends on the means through the dispersion)."""
    codes, z = data.codes[0], data.term_X[0][:, 0]
    largest_z = jax.ops.segment_max(jnp.abs(z), codes, data.design.layout.term_levels[0])
    if not closed_form(family):
        return Level(codes, z, jnp.zeros((), z.dtype), largest_z)
    mu = data.mustart
    deviance = jnp.sum(family.unit_deviance(data.y, mu, data.weights))
    return Level(codes, z, family.aic(data.y, mu, data.weights, deviance) - deviance, largest_z)


def _level_sum(values, level: Level, n_levels: int):
    return jax.ops.segment_sum(values, level.codes, n_levels)


def _eta(u, theta, beta, data: glmm.GLMMData, level: Level):
    return data.offset + data.X @ beta + theta[0] * level.z * u[level.codes]


def _level_deviance(u, theta, beta, data, family, level: Level):
    """2 P_j per level: sum a dev + u_j^2."""
    mu = family.link.linkinv(_eta(u, theta, beta, data, level))
    return _level_sum(family.unit_deviance(data.y, mu, data.weights), level, u.shape[0]) + u ** 2


class ModeState(NamedTuple):
    u: jax.Array
    value: jax.Array  # 2 P_j per level
    iterations: jax.Array
    done: jax.Array


MAX_ETA_STEP = glmm.MAX_ETA_STEP  # PIRLS's largest change of a linear predictor value per step
ROUNDING = 64 * float(jnp.finfo(jnp.float64).eps)  # relative rounding noise of a level's P_j


def conditional_mode(theta, beta, data: glmm.GLMMData, family: Family, level: Level,
                     tol: float = 1e-11, max_iterations: int = 60, max_halvings: int = 30, u0=None,
                     alternative=None):
    """u~ by Newton's method on each level's P_j from u = 0, or ``u0`` (a warm start: the mode at
    a nearby (theta, beta)), or per level whichever of ``u0`` and ``alternative`` (another warm
    start) has the lower P_j (observed weights where they give
    a positive curvature, else Fisher's), each step shortened so that no eta moves by more than
    ``MAX_ETA_STEP`` and halved per level until P_j does not rise; until the largest step is below
    ``tol`` (relative to 1 + |u|), after which the mode is within about tol^2 (Newton's quadratic
    convergence). Returns (u, iterations)."""
    s = theta[0]
    n_levels = data.design.layout.term_levels[0]
    deviance = lambda u: _level_deviance(u, theta, beta, data, family, level)

    def newton(u):
        eta = _eta(u, theta, beta, data, level)
        residual = glmm.working_residuals(eta, data, family)
        fisher = glmm.fisher_weights(eta, data, family)[0]
        observed = glmm.observed_weights(eta, data, family)
        gradient = u - s * _level_sum(level.z * residual, level, n_levels)
        curvature = 1.0 + s ** 2 * _level_sum(level.z ** 2 * observed, level, n_levels)
        curvature = jnp.where(jnp.isfinite(curvature) & (curvature > 0), curvature,
                              1.0 + s ** 2 * _level_sum(level.z ** 2 * fisher, level, n_levels))
        step = -gradient / curvature
        limit = MAX_ETA_STEP / jnp.maximum(jnp.abs(s) * level.largest_z * jnp.abs(step), 1e-300)
        return jnp.minimum(1.0, limit) * step

    def body(state: ModeState):
        step = newton(state.u)
        step = jnp.where(jnp.isfinite(step), step, 0.0)
        # near the mode a Newton step changes P_j by less than its rounding: not a rise
        ceiling = state.value + ROUNDING * (1.0 + jnp.abs(state.value))

        def halve(carry):
            length, value, k = carry
            length = jnp.where(value <= ceiling, length, 0.5 * length)
            return length, deviance(state.u + length * step), k + 1

        def worse(carry):
            _, value, k = carry
            return (k < max_halvings) & jnp.any(~(value <= ceiling))

        length, value, _ = jax.lax.while_loop(worse, halve, (jnp.ones_like(step),
                                                              deviance(state.u + step), 0))
        keep = value <= ceiling
        u = jnp.where(keep, state.u + length * step, state.u)
        change = jnp.max(jnp.where(keep, jnp.abs(length * step), 0.0) / (1.0 + jnp.abs(u)))
        iterations = state.iterations + 1
        # a Newton step of at most tol leaves the mode within about tol^2 (quadratic
        # convergence; observed weights), or a fraction of tol (Fisher's): the loop ends with it
        done = (change < tol) | (iterations >= max_iterations)
        return ModeState(u, jnp.where(keep, value, state.value), iterations, done)

    u0 = jnp.zeros(n_levels) if u0 is None else u0
    value0 = deviance(u0)
    if alternative is not None:
        value1 = deviance(alternative)
        lower = value1 < value0  # (False where value1 is not finite)
        u0, value0 = jnp.where(lower, alternative, u0), jnp.where(lower, value1, value0)
    state = ModeState(u0, value0, jnp.asarray(0), jnp.asarray(False))
    state = jax.lax.while_loop(lambda state: ~state.done, body, state)
    return state.u, state.iterations


def _derivatives_in_eta(eta, data: glmm.GLMMData, family: Family):
    """Per observation: phi' = -r, phi'' = h, phi''' (observed weights' slope), and the Fisher
    weights w with w' and w'' (all elementwise in eta, so forward derivatives with unit tangents)."""
    ones = jnp.ones_like(eta)
    phi1 = -glmm.working_residuals(eta, data, family)
    phi2, phi3 = jax.jvp(lambda e: glmm.observed_weights(e, data, family), (eta,), (ones,))
    weight = lambda e: glmm.fisher_weights(e, data, family)[0]
    slope = lambda e: jax.jvp(weight, (e,), (ones,))
    (w, w1), (_, w2) = jax.jvp(slope, (eta,), (ones,))
    return phi1, phi2, phi3, w, w1, w2


def laplace_value(u, theta, beta, data: glmm.GLMMData, family: Family, level: Level):
    """D = sum log M_j + sum u^2 + aic at the mode u (``laplace_pieces``)."""
    return glmm.laplace_value(laplace_pieces(u, theta, beta, data, family, level))


def laplace_derivatives(u, theta, beta, data: glmm.GLMMData, family: Family, level: Level):
    """(D, grad D, Hessian of D) over x = [theta, beta] at the mode u (``laplace_derivatives_and_slope``)."""
    return laplace_derivatives_and_slope(u, theta, beta, data, family, level)[:3]


def laplace_derivatives_and_slope(u, theta, beta, data: glmm.GLMMData, family: Family, level: Level):
    """(D, grad D, Hessian of D, U) over x = [theta, beta] at the mode u, exact; U = du/dx
    (levels x k), the mode's slope, which predicts the mode at a nearby point to first order
    (u + U dx: a warm start for ``conditional_mode``).

    With c_i = d eta_i / dx at fixed u = [z_i u_j, X_i], the mode's G_j = u_j + s sum z phi' = 0
    gives U_j = du_j/dx = -G_x / J_j (J_j = 1 + s^2 sum z^2 h), and each eta's total derivative
    e_i = c_i + s z_i U_j. Then, summed over levels, with theta the first coordinate (e_t):
      2P:      gradient 2 sum phi' c,  Hessian 2 (sum h c c' - sum_j J_j U_j U_j');
      log M_j: gradient dM / M, Hessian d2M / M - dM dM' / M^2, where
               dM  = 2 s W e_t + s^2 m,  W = sum z^2 w,  m = sum z^2 w' e,
               d2M = 2 W e_t e_t' + 2 s (e_t m' + m e_t') + s^2 sum z^2 w'' e e'
                     + s^2 (sum z^3 w') [(e_t U' + U e_t') + s V_j],
               and the mode's second derivative V_j = -[e_t S' + S e_t' + s sum z phi''' e e'
                     + s Q (e_t U' + U e_t')] / J_j,  S = sum z h e, Q = sum z^2 h."""
    s, n_levels = theta[0], u.shape[0]
    z, codes = level.z, level.codes
    eta = _eta(u, theta, beta, data, level)
    phi1, phi2, phi3, w, w1, w2 = _derivatives_in_eta(eta, data, family)
    by_level = lambda v: _level_sum(v, level, n_levels)
    k = 1 + beta.shape[0]
    e_t = jnp.zeros(k).at[0].set(1.0)
    c = jnp.concatenate([(z * u[codes])[:, None], data.X], axis=1)  # (n, k)
    J = 1.0 + s ** 2 * by_level(z ** 2 * phi2)
    G_x = by_level(z * phi1)[:, None] * e_t + s * by_level((z * phi2)[:, None] * c)
    U = -G_x / J[:, None]  # (levels, k)
    e = c + (s * z)[:, None] * U[codes]
    W = by_level(z ** 2 * w)
    M = 1.0 + s ** 2 * W
    m = by_level((z ** 2 * w1)[:, None] * e)
    S = by_level((z * phi2)[:, None] * e)
    Q = by_level(z ** 2 * phi2)
    R = by_level(z ** 3 * w1)
    dM = 2.0 * s * W[:, None] * e_t + s ** 2 * m

    outer = lambda weights, a, b: jnp.einsum("j,ja,jb->ab", weights, a, b)
    with_t = lambda weights, a: (jnp.outer(e_t, jnp.sum(weights[:, None] * a, axis=0))
                                 + jnp.outer(jnp.sum(weights[:, None] * a, axis=0), e_t))
    # sum_j alpha_j V_j with alpha_j = s^3 R_j / M_j (V's only appearance), expanded
    alpha_over_J = s ** 3 * R / (M * J)
    per_observation = (2.0 * phi2)[:, None, None] * c[:, :, None] * c[:, None, :]
    ee = e[:, :, None] * e[:, None, :]
    per_observation = per_observation + ((s ** 2 * z ** 2 * w2) / M[codes]
                                         - alpha_over_J[codes] * s * z * phi3)[:, None, None] * ee
    hessian = (jnp.sum(per_observation, axis=0) - 2.0 * outer(J, U, U)
               + jnp.sum(2.0 * W / M) * jnp.outer(e_t, e_t) + with_t(2.0 * s / M, m)
               + with_t(s ** 2 * R / M, U) - outer(1.0 / M ** 2, dM, dM)
               - with_t(alpha_over_J, S) - with_t(alpha_over_J * s * Q, U))
    gradient = 2.0 * jnp.sum(phi1[:, None] * c, axis=0) + jnp.sum(dM / M[:, None], axis=0)
    pieces = laplace_pieces(u, theta, beta, data, family, level)
    if not closed_form(family):
        # D = (the closed-form families' D) + E(deviance), E(t) = aic(t) - t; the deviance is not
        # stationary at the mode, so its derivatives carry the mode's: with the level sums
        # F_j = sum z phi',  grad dev = 2 sum phi' e,  and (d2 eta = z (e_t U' + U e_t') + s z V)
        #   hess dev = 2 sum h e e' + 2 sum_j F_j (e_t U_j' + U_j e_t') + 2 s sum_j F_j V_j
        deviance = pieces.deviance_sum
        aic = lambda t: family.aic(data.y, None, data.weights, t)  # of the deviance alone
        slope, curvature = jax.grad(aic)(deviance) - 1.0, jax.grad(jax.grad(aic))(deviance)
        F = by_level(z * phi1)
        grad_dev = 2.0 * jnp.sum(phi1[:, None] * e, axis=0)
        beta_over_J = 2.0 * s * F / J  # sum_j beta_j V_j, beta_j = 2 s F_j, expanded
        hess_dev = (jnp.sum((2.0 * phi2 - beta_over_J[codes] * s * z * phi3)[:, None, None] * ee, axis=0)
                    + with_t(2.0 * F, U) - with_t(beta_over_J, S) - with_t(beta_over_J * s * Q, U))
        gradient = gradient + slope * grad_dev
        hessian = hessian + slope * hess_dev + curvature * jnp.outer(grad_dev, grad_dev)
    value = glmm.laplace_value(pieces)
    finite = jnp.isfinite(value)
    return value, jnp.where(finite, gradient, jnp.nan), 0.5 * (hessian + hessian.T), U


def laplace_pieces(u, theta, beta, data: glmm.GLMMData, family: Family, level: Level) -> glmm.LaplacePieces:
    """``glmm.laplace_pieces_at`` for one scalar term at the mode u: log|L|^2 = sum_j log M_j, and
    the aic as deviance + c(y) for ``closed_form`` families (c(y) evaluated once, ``Level``), the
    family's aic of the deviance otherwise."""
    eta = _eta(u, theta, beta, data, level)
    w, mu, _ = glmm.fisher_weights(eta, data, family)
    log_det = jnp.sum(jnp.log(1.0 + theta[0] ** 2 * _level_sum(level.z ** 2 * w, level, u.shape[0])))
    deviance = jnp.sum(family.unit_deviance(data.y, mu, data.weights))
    aic = (deviance + level.aic_constant if closed_form(family)
           else family.aic(data.y, mu, data.weights, deviance))
    return glmm.LaplacePieces(u, beta, mu, log_det, jnp.sum(u ** 2), deviance, aic)
