"""Minimize a smooth objective of a few parameters: damped Newton on the exact autodiff Hessian.

The covariance parameters theta number a handful (3 for sleepstudy, rarely above 50), so the exact
Hessian (``jax.hessian``) is cheap and Newton's method converges quadratically to machine precision
in a few iterations, where quasi-Newton methods stall around 1e-6. Each iteration:

1. eigen-decompose H; replace each eigenvalue by max(|lambda|, eps * max|lambda|) so that the step
   -H_+^{-1} g is a descent direction even where H is indefinite (e.g. at the symmetric start);
2. backtrack from the full step until the Armijo condition f(x + a d) <= f(x) + 1e-4 a g'd holds;
3. stop when the Newton decrement g'H_+^{-1}g falls below ``tol`` (absolute, on the deviance scale),
   or when no step lowers f any more and the gradient is small.

Everything is a ``lax.while_loop`` with a static iteration cap, so it jits and vmaps; failures are
status codes in the result, never exceptions.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from . import _jax  # noqa: F401  (float64)

CONVERGED, MAX_ITERATIONS, NO_PROGRESS, NON_FINITE = 0, 1, 2, 3
STATUS_MESSAGES = {
    CONVERGED: "converged",
    MAX_ITERATIONS: "iteration limit reached before convergence",
    NO_PROGRESS: "line search could not lower the objective (converged to rounding)",
    NON_FINITE: "objective or gradient not finite at the start",
}


class OptimizeResult(NamedTuple):
    """The optimizer's record: start, end, value, gradient, Hessian, counts and a status code."""

    x0: jax.Array
    x: jax.Array
    fun: jax.Array
    grad: jax.Array
    hess: jax.Array
    iterations: jax.Array
    evaluations: jax.Array
    status: jax.Array

    @property
    def converged(self):
        return (self.status == CONVERGED) | (self.status == NO_PROGRESS)


def _newton_direction(grad, hess):
    eigenvalues, vectors = jnp.linalg.eigh(hess)
    floor = 1e-10 * jnp.maximum(jnp.max(jnp.abs(eigenvalues)), 1.0)
    modified = jnp.maximum(jnp.abs(eigenvalues), floor)
    projected = vectors.T @ grad
    direction = -vectors @ (projected / modified)
    decrement = jnp.sum(projected ** 2 / modified)
    return direction, decrement


def value_grad_hess(fun: Callable):
    """x -> (f, g, H) from one forward-over-reverse pass (one trace of ``fun``)."""
    def grad_with_value(x):
        value, grad = jax.value_and_grad(fun)(x)
        return grad, (value, grad)

    def evaluate(x):
        hess, (value, grad) = jax.jacfwd(grad_with_value, has_aux=True)(x)
        return value, grad, 0.5 * (hess + hess.T)
    return evaluate


def minimize(fun: Callable, x0, *, tol: float = 1e-10, max_iterations: int = 100,
             max_halvings: int = 40) -> OptimizeResult:
    """Minimize ``fun`` (a scalar JAX function of a 1-d array) from ``x0``.

    The loop body evaluates (f, g, H) once at the current point, takes the Newton step with
    backtracking, and stops when the decrement at the current point is below ``tol``; the
    reported gradient and Hessian are those of the last point where they were evaluated.
    """
    evaluate = value_grad_hess(fun)
    x0 = jnp.asarray(x0, jnp.float64)

    def line_search(x, f, slope, direction):
        def not_done(state):
            step, f_new, k = state
            return (k < max_halvings) & ~(f_new <= f + 1e-4 * step * slope)

        def halve(state):
            step, _, k = state
            step = step * 0.5
            return step, fun(x + step * direction), k + 1

        return jax.lax.while_loop(not_done, halve, (jnp.asarray(1.0), fun(x + direction), 0))

    def keep_going(state):
        return state["status"] < 0

    def iterate(state):
        x = state["x"]
        f, g, H = evaluate(x)
        finite = jnp.isfinite(f) & jnp.all(jnp.isfinite(g)) & jnp.all(jnp.isfinite(H))
        direction, decrement = _newton_direction(g, jnp.where(finite, H, jnp.eye(H.shape[0])))
        slope = jnp.dot(g, direction)
        step, f_new, halvings = line_search(x, f, slope, direction)
        accepted = (f_new <= f + 1e-4 * step * slope) & jnp.isfinite(f_new)
        iterations = state["iterations"] + 1
        status = jnp.where(~finite, jnp.where(iterations == 1, NON_FINITE, NO_PROGRESS),
                 jnp.where(decrement < tol, CONVERGED,
                 jnp.where(~accepted, NO_PROGRESS,
                 jnp.where(iterations >= max_iterations, MAX_ITERATIONS, -1))))
        move = accepted & finite
        return dict(x=jnp.where(move, x + step * direction, x), f=jnp.where(move, f_new, f),
                    g=g, H=H, iterations=iterations,
                    evaluations=state["evaluations"] + halvings + 2, status=status)

    n = x0.shape[0]
    state = dict(x=x0, f=jnp.asarray(jnp.inf), g=jnp.zeros(n), H=jnp.eye(n),
                 iterations=jnp.asarray(0), evaluations=jnp.asarray(0), status=jnp.asarray(-1))
    state = jax.lax.while_loop(keep_going, iterate, state)
    return OptimizeResult(x0, state["x"], state["f"], state["g"], state["H"], state["iterations"],
                          state["evaluations"], state["status"])
