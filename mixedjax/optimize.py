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


def minimize(fun: Callable, x0, *, tol: float = 1e-10, max_iterations: int = 100,
             max_halvings: int = 40) -> OptimizeResult:
    """Minimize ``fun`` (a scalar JAX function of a 1-d array) from ``x0``."""
    value_and_grad = jax.value_and_grad(fun)
    hessian = jax.hessian(fun)
    x0 = jnp.asarray(x0, jnp.float64)
    f0, g0 = value_and_grad(x0)
    start_ok = jnp.isfinite(f0) & jnp.all(jnp.isfinite(g0))

    def line_search(x, f, g, direction):
        slope = jnp.dot(g, direction)

        def not_done(state):
            step, f_new, k = state
            return (k < max_halvings) & ~(f_new <= f + 1e-4 * step * slope)

        def halve(state):
            step, _, k = state
            step = step * 0.5
            return step, fun(x + step * direction), k + 1

        first = fun(x + direction)
        return jax.lax.while_loop(not_done, halve, (jnp.asarray(1.0), first, 0))

    def keep_going(state):
        return state["status"] < 0

    def iterate(state):
        x, f, g, H = state["x"], state["f"], state["g"], state["H"]
        direction, decrement = _newton_direction(g, H)
        small = decrement < tol
        step, f_new, halvings = line_search(x, f, g, direction)
        accepted = (f_new <= f + 1e-4 * step * jnp.dot(g, direction)) & jnp.isfinite(f_new)
        x_new = jnp.where(accepted, x + step * direction, x)
        f_new, g_new = value_and_grad(x_new)
        H_new = hessian(x_new)
        iterations = state["iterations"] + 1
        status = jnp.where(small, CONVERGED,
                           jnp.where(~accepted, NO_PROGRESS,
                                     jnp.where(iterations >= max_iterations, MAX_ITERATIONS, -1)))
        return dict(x=x_new, f=f_new, g=g_new, H=H_new, iterations=iterations,
                    evaluations=state["evaluations"] + halvings + 2, status=status)

    state = dict(x=x0, f=f0, g=g0, H=hessian(x0), iterations=jnp.asarray(0),
                 evaluations=jnp.asarray(1), status=jnp.where(start_ok, -1, NON_FINITE))
    state = jax.lax.while_loop(keep_going, iterate, state)
    return OptimizeResult(x0, state["x"], state["f"], state["g"], state["H"], state["iterations"],
                          state["evaluations"], state["status"])
