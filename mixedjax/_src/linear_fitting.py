"""Fitting a linear mixed model: theta by Newton's method on the profiled deviance, then the
conditional solution at the optimum. Pure functions over the model's arrays; the fitted-model
object (``linear_model.LinearMixedModel``) is built from what they return.

``fit_linear(design, weights, response, theta0, reml)`` is Newton's method on the profiled
deviance, then the conditional solution at the optimum. With concrete arrays it runs the host
Newton loop over small compiled programs (the cross-products, (f, g, H), the solve); traced (under
``jax.vmap``, see ``batch.py``) it is one compiled while loop. Programs are compiled once per model
structure (the ``Layout`` and array shapes), so refitting a new response of the same shape never
recompiles.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _jax  # noqa: F401  (float64)
from .compilation import jit
from ._jax import is_traced, to_host
from . import blocks, covariance_layout, lmm
from .fit_record import FitRecord, is_singular
from .model import ModelSpec
from .optimize import (LbfgsDirections, Memo, OptimizeResult, halved_start, minimize, minimize_host,
                       packed, unpacked)
from .variance_parameters import term_factors


def fit_linear(design, weights, response, theta0, reml: bool, max_iterations: int = 100,
               refine_start: bool = False):
    """Minimize the profiled deviance over theta and solve for beta and b at the optimum.

    ``response`` is y - offset. Returns the problem (cross-products), the optimizer's record,
    the canonical theta and the conditional solution there.

    Called with concrete arrays (a single fit) it runs Newton's iteration on the host over three
    small compiled functions per model structure (the cross-products, the deviance with and
    without its derivatives, and the solve), which compile in a fraction of the time of one
    compiled loop. Under a transformation (vmap, jit: batches) it is traced as one pure function
    with the loop compiled in. For large models (a trailing block of 64 rows or more, factored
    blockwise with many small LAPACK calls) LAPACK runs single-threaded
    (``blocks.single_threaded_lapack``).

    ``refine_start``: theta0 is the default start, and a host fit of a large model (where a
    Hessian costs several deviances) may start instead from ``lmm.standardized_start`` scaled by
    the best of 1, 1/2, 1/4, ... (``optimize.halved_start``)."""
    args = (design, weights, response, theta0)
    if is_traced(args):
        return _fit_linear(*args, reml, max_iterations)
    if design.layout.n_trailing < blocks.LAPACK_BLOCK:
        # (a trailing matrix this small is one LAPACK call per evaluation: nothing to gain)
        return _fit_linear_host(*args, reml, max_iterations, refine_start)
    with blocks.single_threaded_lapack():
        return _fit_linear_host(*args, reml, max_iterations, refine_start)


@partial(jit, static_argnames="reml")
def _deviance(theta, problem, reml: bool):
    return lmm.profiled_deviance(theta, problem, reml)


def deviance_function(problem: lmm.LinearProblem, reml: bool):
    """theta -> the profiled deviance (REML criterion if ``reml``) of ``problem``: lme4's devFunOnly,
    jitted and differentiable, one compiled program per model structure (shared by every fit of
    that structure and kept in the program store), the data an argument, not a constant."""
    return partial(_deviance, problem=problem, reml=reml)


@partial(jit, static_argnames="reml")
def _deviance_derivatives(theta, problem, reml: bool):
    return packed(*lmm.value_grad_hess(problem, reml)(theta))


@partial(jit, static_argnames="reml")
def _derivatives_and_solution(theta, problem, reml: bool):
    """(``_deviance_derivatives``, ``lmm.solve``) at theta for one-term models, whose solve reuses
    the derivatives' factor: a first fit compiles one program where it compiled two."""
    return packed(*lmm.value_grad_hess(problem, reml)(theta)), lmm.solve(theta, problem)


@partial(jit, static_argnames="reml")
def _deviance_gradient(theta, problem, reml: bool):
    """[d, grad d] (one transfer, ``lmm.value_grad``)."""
    value, grad = lmm.value_grad(problem, reml)(theta)
    return jnp.concatenate([value[None], grad])


@jit
def _term1_state(theta, problem):
    return lmm.term1_state(theta, problem)


@partial(jit, static_argnames="reml")
def _conditional_deviance(theta, state, problem, reml: bool):
    return lmm.conditional_deviance(theta, state, problem, reml)


@partial(jit, static_argnames="reml")
def _conditional_derivatives(theta, state, problem, reml: bool):
    return packed(*lmm.conditional_value_grad_hess(problem, reml)(theta, state))


# Above this many covariance parameters a fit starts with L-BFGS iterations on exact gradients
# and finishes with exact Newton steps (one or two exact Hessians, which the convergence checks
# read). The exact Hessian costs tens of gradients: kb07 maximal (72 theta), CPU time, 9.5 ms a
# gradient, 680 ms the Hessian. Warm fits of kb07 models, 2 loaded cores, Newton alone against
# BFGS then Newton (same criterion to 1e-12): 6 theta 0.065 / 0.13 s, 12 theta 0.25 / 0.21 s,
# 20 theta 1.25 / 0.30 s. The steps are optax's L-BFGS directions (``LbfgsDirections``) in our
# host loop with its Armijo line search: optax.lbfgs whole, its zoom line search compiled around
# the deviance, took 20 s (77 iterations) on the 20-theta model, against 0.2 s for the host loop.
QUASI_NEWTON_THETA = 10


def _quasi_newton_start(problem, theta0, reml: bool, max_iterations: int):
    """L-BFGS iterations (``LbfgsDirections``, at most 10 ``max_iterations``) from theta0 to
    near the optimum, where Newton's method then needs one or two exact Hessians."""
    at = Memo(lambda theta: _split_value(_deviance_gradient(theta, problem, reml)))
    value = lambda theta: float(at(theta)[0])
    quasi = LbfgsDirections(at, len(theta0))
    # no log-scale trial points (they need H)
    return minimize_host(quasi, value, np.asarray(theta0, np.float64), tol=_QUASI_NEWTON_TOL,
                         max_iterations=10 * max_iterations, direction=quasi.direction)


_QUASI_NEWTON_TOL = 1e-9  # decrement by the L-BFGS Hessian: close enough for Newton to finish


# the conditional start pays where the Schur update's work is at least this many times the dense
# factor's: d3-shaped 23x (1.6e9 multiply-adds against 7e7; warm fit 4.1 -> 2.4 s); MovieLens-1M-
# shaped 1.6x (8.3e10 against 5.1e10) lost (53 -> 71 s: a conditional evaluation costs most of a
# full one there); InstEval's triples, 2.7e6 against 1.6e9, lost too (2.0 -> 2.3 s forced)
_CONDITIONAL_WORK_RATIO = 8


def takes_conditional_start(design) -> bool:
    """Whether a large exact-Newton fit (``_fit_linear_host``) of this design starts with
    ``_conditional_start``: it has trailing terms' theta, their Hessian's products fit side by
    side (``lmm.hessian_products_batched``), and the Schur update dominates an evaluation
    (``lmm.schur_update_work`` at least ``_CONDITIONAL_WORK_RATIO`` times (m0 + 1)^3). Static."""
    layout = design.layout
    return (layout.n_theta > layout.term_theta[0] and lmm.hessian_products_batched(layout)
            and lmm.schur_update_work(design) >= _CONDITIONAL_WORK_RATIO * (layout.n_trailing + 1) ** 3)


def _conditional_start(problem, theta, reml: bool, scale, log_steps, max_iterations: int):
    """theta with its trailing terms' share minimized by Newton's method with term 1's share
    held (``lmm.conditional_deviance``), where an evaluation skips the Schur update: term 1's
    share then moves little in the full Newton iteration that follows, which needs fewer of its
    costly Hessians (the d3-shaped design: 6 -> 3, its conditional iterations costing about a
    tenth of a full one). The iteration runs in the optimizer's coordinates theta / scale.
    Returns (theta, the conditional iteration's record in theta's trailing share)."""
    n1 = problem.design.layout.term_theta[0]
    state = _term1_state(theta, problem)
    held = lambda trailing: np.concatenate([theta[:n1], trailing])
    evaluate = lambda trailing: unpacked(_conditional_derivatives(held(trailing), state, problem, reml))
    value = lambda trailing: float(_conditional_deviance(held(trailing), state, problem, reml))
    trailing_scale = scale[n1:]
    result = minimize_host(_scaled_derivatives(evaluate, trailing_scale, np),
                           lambda x: value(x * trailing_scale), theta[n1:] / trailing_scale,
                           tol=_CONDITIONAL_TOL, max_iterations=max_iterations,
                           log_steps=log_steps[n1:], escape_saddles=True)
    result = _unscaled(result, trailing_scale, np)
    return held(result.x), result


# the conditional iteration's stopping rule on its decrement: the full iteration goes on from its
# point, but a looser one leaves it more to do (InstEval with the start forced: 10 conditional
# iterations at 1e-6, 7 at 1, and then 2 and 4 full Hessians)
_CONDITIONAL_TOL = 1e-6


def _split_value(vector):
    vector = np.asarray(vector)
    return vector[0], vector[1:]


def _fit_linear_host(design, weights, response, theta0, reml: bool, max_iterations: int,
                     refine_start: bool):
    layout = design.layout
    # compiled in the background while the cross-products' program compiles and runs (a first
    # fit's programs overlap on the cores, tracing aside, which holds the GIL)
    problem_shapes = jax.eval_shape(lmm.linear_problem, design, weights, response)
    theta_shape = jax.ShapeDtypeStruct((layout.n_theta,), np.float64)
    one_term = lmm.kernel_for(layout) == lmm.ONE_TERM
    if one_term:
        _derivatives_and_solution.prefetch(theta_shape, problem_shapes, reml=reml)
    else:
        _deviance_derivatives.prefetch(theta_shape, problem_shapes, reml=reml)
        lmm.solve_compiled.prefetch(theta_shape, problem_shapes)
    cheap_derivatives = layout.n_trailing < blocks.LAPACK_BLOCK
    if not (one_term or cheap_derivatives):  # the secant steps' (and L-BFGS's) gradient
        _deviance_gradient.prefetch(theta_shape, problem_shapes, reml=reml)
    quasi_newton = layout.n_theta > QUASI_NEWTON_THETA
    if quasi_newton:
        LbfgsDirections.prefetch(layout.n_theta)
    conditional = not (one_term or cheap_derivatives or quasi_newton) and takes_conditional_start(design)
    if conditional:
        _term1_state.prefetch(theta_shape, problem_shapes)
        state_shapes = jax.eval_shape(lmm.term1_state, theta_shape, problem_shapes)
        _conditional_deviance.prefetch(theta_shape, state_shapes, problem_shapes, reml=reml)
        _conditional_derivatives.prefetch(theta_shape, state_shapes, problem_shapes, reml=reml)
    problem = lmm.linear_problem_compiled(design, weights, response)
    if one_term:
        # one program: the solution shares the factor the derivatives need, at about no cost
        evaluation = Memo(lambda theta: _derivatives_and_solution(theta, problem, reml))
        evaluate = lambda theta: unpacked(evaluation(theta)[0])
        solution_at = lambda theta: evaluation(theta)[1]
    else:
        evaluate = Memo(lambda theta: unpacked(_deviance_derivatives(theta, problem, reml)))
        solution_at = lambda theta: lmm.solve_compiled(theta, problem)
    # with a trailing block under LAPACK_BLOCK rows the derivatives cost about a dispatch more than
    # the value: they are evaluated at every trial point, so that the accepted one (nearly always
    # the full step) is not evaluated again, and the fit ends with a polishing Newton step (theta
    # at the optimum to rounding, where the stopping rule leaves it up to ~1e-6 short: seed1's SE
    # sat at a printing edge); larger models keep the stopping rule's point
    gradient = None
    if cheap_derivatives:
        value = lambda theta: float(evaluate(theta)[0])
    else:
        value = lambda theta: float(_deviance(theta, problem, reml))
        # the last steps go on from the exact Hessian by secant updates (``optimize._secant_steps``):
        # a gradient costs 0.25 s of the d3-shaped design's 0.6 s (f, g, H), InstEval's 0.19 of 0.55 s
        gradient = lambda theta: _split_value(_deviance_gradient(theta, problem, reml))
    log_steps = np.isfinite(covariance_layout.theta_lower_bounds(layout))
    theta0, start_evaluations = np.asarray(theta0, np.float64), 0
    rms = lmm.column_rms(design, np.asarray(weights), np)
    if refine_start and not (cheap_derivatives or quasi_newton):
        # lme4's start puts every standardized random effect at the residual's size, usually far
        # too large: the d3-shaped fit took 11 Newton iterations (43 evaluations) from it and 9
        # (31) from here, InstEval 10 (29) and 8 (26), a Newton iteration costing several
        # deviances; the L-BFGS phase gains nothing (kb07: 52 (104) -> 54 (114) iterations)
        theta0, start_evaluations = halved_start(value, lmm.standardized_start(rms, layout))
    quasi = None
    if quasi_newton:
        quasi = _quasi_newton_start(problem, theta0, reml, max_iterations)
    start = theta0 if quasi is None else quasi.x
    scale = lmm.scale_from_rms(rms, layout, np)
    held = None
    if conditional:
        start, held = _conditional_start(problem, start, reml, scale, log_steps, max_iterations)
    result = minimize_host(_scaled_derivatives(evaluate, scale, np), lambda theta: value(theta * scale),
                           start / scale, max_iterations=max_iterations, log_steps=log_steps,
                           polish=cheap_derivatives, escape_saddles=True,
                           gradient=None if gradient is None else _scaled_gradient(gradient, scale))
    result = _unscaled(result, scale, np)
    result = result._replace(evaluations=result.evaluations + start_evaluations)
    for phase in (held, quasi):  # (at most one of them ran)
        if phase is not None:
            result = result._replace(x0=theta0, iterations=phase.iterations + result.iterations,
                                     evaluations=phase.evaluations + result.evaluations)
    theta = lmm.snap_to_boundary(value, covariance_layout.canonical_theta(result.x, layout, np), result.fun,
                                 layout, xp=np)
    return problem, result, theta, to_host(solution_at(theta))


def _scaled_derivatives(evaluate, scale, xp):
    """theta~ -> (f, g, H) in the optimizer's coordinates theta~ = theta / scale
    (``lmm.theta_scale``), from ``evaluate`` in theta."""
    def scaled(theta_scaled):
        f, g, H = evaluate(theta_scaled * scale)
        return f, g * scale, H * xp.outer(scale, scale)
    return scaled


def _scaled_gradient(gradient, scale):
    """theta~ -> (f, g) in the optimizer's coordinates theta~ = theta / scale, from ``gradient``
    in theta (numpy)."""
    def scaled(theta_scaled):
        f, g = gradient(theta_scaled * scale)
        return float(f), np.asarray(g, np.float64) * scale
    return scaled


def _unscaled(result, scale, xp):
    """The optimizer's record in theta from its record in theta~ = theta / scale
    (``lmm.theta_scale``)."""
    return result._replace(x0=result.x0 * scale, x=result.x * scale, grad=result.grad / scale,
                           hess=result.hess / xp.outer(scale, scale))


class LinearFit(NamedTuple):
    """What a single lmer fit produced (``fit_model``)."""

    problem: lmm.LinearProblem      # the cross-products the fit ran on (``spec.fit_design``'s)
    optimizer: OptimizeResult       # the Newton iteration's record, in theta
    solution: lmm.Solution          # beta, u, b and the deviance components at the optimum
    record: FitRecord
    vcov: np.ndarray                # vcov(beta) = sigma^2 (R_X' R_X)^{-1}


def fit_model(spec: ModelSpec, y, theta0, reml: bool, max_iterations: int = 100,
              refine_start: bool = False) -> LinearFit:
    """``fit_linear`` on the spec's fit design (``ModelSpec.fit_design``: padded to shape classes,
    so that nearby sizes share compiled programs), with the conditional modes returned on the
    model's own levels, and the fit's record. The problem returned is the fit design's. A model
    whose dense trailing block would not fit in memory fails first (``lmm.check_dense_fits``)."""
    lmm.check_dense_fits(spec.design, spec.group_names())
    weights, response = spec.fit_rows(spec.frame.weights), spec.fit_rows(y - spec.offset)
    problem, result, theta, solution = fit_linear(spec.fit_design, weights, response, theta0,
                                                  reml, max_iterations, refine_start)
    if spec.padded:
        solution = solution._replace(u=spec.unpad_random(solution.u), b=spec.unpad_random(solution.b))
    record, vcov = fit_record(spec, problem, result, theta, solution, reml)
    return LinearFit(problem, result, solution, record, vcov)


def fit_record(spec: ModelSpec, problem: lmm.LinearProblem, result: OptimizeResult, theta, solution,
               reml: bool) -> tuple[FitRecord, np.ndarray]:
    """(record, vcov(beta)) of a single fit, on the host: sigma^2 = r^2 / (n - p) (REML) or
    r^2 / n (ML), vcov(beta) = sigma^2 (R_X' R_X)^{-1}, the criterion minimized."""
    components = lmm.DevianceComponents(*(float(c) for c in solution.components))
    n, p = float(problem.n_obs), spec.design.layout.n_fixed
    sigma = float(np.sqrt(components.pwrss / (n - p if reml else n)))
    RXt = np.asarray(solution.RXt)
    RXt_inv = np.linalg.inv(RXt) if RXt.size else RXt
    vcov = sigma ** 2 * (RXt_inv.T @ RXt_inv)
    criterion = float(lmm.objective(components, n, p, float(problem.log_det_weights), reml, xp=np))
    theta = np.asarray(theta)
    record = FitRecord(theta, np.asarray(solution.beta), np.sqrt(np.diag(vcov)), sigma, criterion,
                       int(result.iterations), int(result.status),
                       bool(is_singular(term_factors(theta, spec), np)))
    return record, vcov


@partial(jit, static_argnames=("reml", "max_iterations"))
def _fit_linear(design, weights, response, theta0, reml: bool, max_iterations: int = 100):
    problem = lmm.linear_problem(design, weights, response)
    objective = lambda theta: lmm.profiled_deviance(theta, problem, reml)
    scale = lmm.theta_scale(design, weights)
    result = minimize(lambda theta: objective(theta * scale), theta0 / scale,
                      max_iterations=max_iterations,
                      value_grad_hess=_scaled_derivatives(lmm.value_grad_hess(problem, reml), scale, jnp),
                      log_steps=np.isfinite(covariance_layout.theta_lower_bounds(design.layout)))
    result = _unscaled(result, scale, jnp)
    theta = lmm.snap_to_boundary(objective, covariance_layout.canonical_theta(result.x, problem.design.layout),
                                 result.fun, problem.design.layout)
    return problem, result, theta, lmm.solve(theta, problem)
