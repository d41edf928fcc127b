"""Minimize a smooth objective of a few parameters: damped Newton on the exact autodiff Hessian.

The covariance parameters theta number a handful (3 for sleepstudy, rarely above 50), so the exact
Hessian is affordable and Newton's method converges quadratically to machine precision in a few
iterations, where quasi-Newton methods stall around 1e-6. Each iteration:

1. eigen-decompose H; replace each eigenvalue by max(|lambda|, eps * max|lambda|) so that the step
   -H_+^{-1} g is a descent direction even where H is indefinite (e.g. at the symmetric start);
2. optionally (``log_steps``) also try the same modified Newton step taken in log|x| for the
   coordinates marked (the diagonals of the covariance factors), and keep whichever trial point is
   lower. Far from the optimum a variance parameter often moves by a factor, not by an amount: from
   the start at 1 a raw Newton step can overshoot one to nearly 0, and from near 0 raw steps only
   double it per iteration (the deviance is even in it), each iteration costing a Hessian. Near the
   optimum both steps are Newton steps and converge quadratically; at a boundary (a variance of 0)
   only the raw step gets there;
   The two trial points are one batched evaluation, and so are the backtracking steps below
   (a/2 and a/4 at once);
3. backtrack from the full raw step until the Armijo condition f(x + a d) <= f(x) + 1e-4 a g'd holds
   (when the trial points did not already lower f enough), but not below the rounding noise of f;
4. stop when the Newton decrement g'H_+^{-1}g falls below ``tol`` (absolute, on the deviance scale)
   or below the rounding noise of f (64 eps |f|: InstEval's REML criterion is 2.4e5), or when no
   step lowers f any more and the gradient is small. The result is the point where (f, g, H) were
   last evaluated, so its gradient and Hessian are exactly there.
5. optionally (``polish``) take that last Newton step after all, with (f, g, H) evaluated at its
   end, where they are finite and f is not above the last value beyond rounding: stopping on the
   decrement leaves x up to sqrt(tol / H) from the optimum (1e-6 of a GLMM's theta, where f can
   no longer tell), one step more about the square of that, so fits that start from different
   points (a batch refit and a single fit) agree to 1e-10 and better.

``minimize`` is a ``lax.while_loop`` with a static iteration cap, so it jits and vmaps (batches);
``minimize_at_trials`` is its variant for objectives whose derivatives cost about what their
value costs (one scalar-term GLMMs: (f, g, H) at every trial point, with a warm start carried);
``minimize_host`` runs the same iteration as a Python loop over two compiled evaluations, (f, g, H)
and f alone, for single fits: compiling a whole loop with its line search costs seconds, while
dispatching 5-11 iterations costs microseconds. Failures are status codes in the result, never
exceptions. The caller may supply its own (f, g, H) function
(``lmm.blocked_value_grad_hess`` is several times cheaper than forward-over-reverse autodiff for
large models).
"""
from __future__ import annotations

from typing import NamedTuple
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _jax  # noqa: F401  (float64)
from .compilation import jit

CONVERGED, MAX_ITERATIONS, NO_PROGRESS, NON_FINITE = 0, 1, 2, 3
STATUS_MESSAGES = {
    CONVERGED: "converged",
    MAX_ITERATIONS: "iteration limit reached before convergence",
    NO_PROGRESS: "line search could not lower the objective (converged to rounding)",
    NON_FINITE: "objective or gradient not finite at the start",
}


class OptimizeResult(NamedTuple):
    """The optimizer's record: start, end, value, gradient, Hessian, counts and a status code.

    ``evaluations`` counts evaluations of the objective, each with its gradient and Hessian or not."""

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


def _newton_direction(grad, hess, xp=jnp):
    """The modified Newton step -H_+^{-1} g and the decrement g'H_+^{-1}g (``xp``: jax.numpy
    inside compiled loops, numpy in the host loop)."""
    eigenvalues, vectors = xp.linalg.eigh(hess)
    floor = 1e-10 * xp.maximum(xp.max(xp.abs(eigenvalues)), 1.0)
    modified = xp.maximum(xp.abs(eigenvalues), floor)
    projected = vectors.T @ grad
    direction = -vectors @ (projected / modified)
    decrement = xp.sum(projected ** 2 / modified)
    return direction, decrement


def _newton_direction_by_cholesky(grad, hess):
    """``_newton_direction`` by a Cholesky factor where it gives the same step, else by the
    eigendecomposition (compiled loops of one replicate, where ``lax.cond`` runs one branch:
    LAPACK's eigh of a 5 x 5 costs 7 times its Cholesky). The modified step is the plain Newton
    step when every eigenvalue is above the floor, which holds where 1 / tr(H^-1) (at most the
    smallest eigenvalue) is above the floor computed with tr(H) (at least the largest)."""
    factor = jnp.linalg.cholesky(hess)
    inverse_factor = jax.scipy.linalg.solve_triangular(factor, jnp.eye(hess.shape[0]), lower=True)
    inverse_trace = jnp.sum(inverse_factor ** 2)
    floor = 1e-10 * jnp.maximum(jnp.trace(hess), 1.0)
    safe = jnp.isfinite(inverse_trace) & (inverse_trace * floor < 1.0)

    def by_cholesky():
        projected = inverse_factor @ grad
        return -inverse_factor.T @ projected, jnp.sum(projected ** 2)
    return jax.lax.cond(safe, by_cholesky, lambda: _newton_direction(grad, hess))


def value_grad_hess(fun: Callable):
    """x -> (f, g, H) from one forward-over-reverse pass (one trace of ``fun``)."""
    def grad_with_value(x):
        value, grad = jax.value_and_grad(fun)(x)
        return grad, (value, grad)

    def evaluate(x):
        hess, (value, grad) = jax.jacfwd(grad_with_value, has_aux=True)(x)
        return value, grad, 0.5 * (hess + hess.T)
    return evaluate


def _log_trial(x, grad, hess, mask, max_log_step: float, xp=jnp):
    """The modified Newton step in log|x_i| for the coordinates in ``mask`` (x_i != 0), raw for
    the rest, as a trial point. With J = diag(x) on those coordinates, the gradient there is J g
    and the Hessian J H J + diag(g * x)."""
    use = mask & (xp.abs(x) > 1e-8)
    J = xp.where(use, x, 1.0)
    direction, _ = _newton_direction(grad * J, hess * J[:, None] * J[None, :]
                                     + xp.diag(xp.where(use, grad * x, 0.0)), xp)
    step = xp.clip(direction, -max_log_step, max_log_step)
    return xp.where(use, x * xp.exp(step), x + direction)


def packed(value, grad, hess):
    """[f, g, vec(H)] as one vector: a compiled function's result then comes to the host in one
    transfer (each array fetched costs tens of microseconds)."""
    return jnp.concatenate([jnp.reshape(value, (1,)), grad, jnp.ravel(hess)])


def unpacked(vector) -> tuple:
    """(f, g, H) from ``packed``'s vector (numpy)."""
    vector = np.asarray(vector)
    n = int(round((-1 + np.sqrt(1 + 4 * (vector.size - 1))) / 2))
    return vector[0], vector[1:n + 1], vector[n + 1:].reshape(n, n)


_autodiff_value_grad_hess = value_grad_hess
_ROUNDING = 64 * float(np.finfo(np.float64).eps)  # relative size of rounding noise in an objective


def _armijo(f, f_new, step, slope):
    """Armijo's sufficient decrease at a step length along a direction of slope g'd, f_new finite."""
    return (f_new <= f + 1e-4 * step * slope) & jnp.isfinite(f_new)


def _worth_halving(f, step, slope):
    """Halving stops once the decrease it could still find is below the rounding noise of f."""
    return -0.25 * step * slope > _ROUNDING * jnp.maximum(jnp.abs(f), 1.0)


def _all_finite(f, g, H):
    return jnp.isfinite(f) & jnp.all(jnp.isfinite(g)) & jnp.all(jnp.isfinite(H))


def _status(finite, converged, moved, iterations, max_iterations: int):
    """The iteration's status code (-1: go on): not finite (at the start: NON_FINITE), converged,
    no acceptable step, or the iteration cap."""
    return jnp.where(~finite, jnp.where(iterations == 1, NON_FINITE, NO_PROGRESS),
           jnp.where(converged, CONVERGED,
           jnp.where(~moved, NO_PROGRESS,
           jnp.where(iterations >= max_iterations, MAX_ITERATIONS, -1))))


def minimize(fun: Callable, x0, *, tol: float = 1e-10, max_iterations: int = 100,
             max_halvings: int = 40, value_grad_hess: Callable | None = None,
             log_steps=None, max_log_step: float = 3.0, polish: bool = False) -> OptimizeResult:
    """Minimize ``fun`` (a scalar JAX function of a 1-d array) from ``x0``.

    The loop body evaluates (f, g, H) once at the current point (with ``value_grad_hess`` when
    given, else by autodiff of ``fun``), takes the Newton step with backtracking, and stops when
    the decrement at the current point is below ``tol``; the reported gradient and Hessian are
    those of the last point where they were evaluated. ``log_steps`` (a boolean mask over x,
    static) turns on the log-scale trial step for those coordinates, each a factor of at most
    exp(``max_log_step``).
    """
    evaluate = _autodiff_value_grad_hess(fun) if value_grad_hess is None else value_grad_hess
    x0 = jnp.asarray(x0, jnp.float64)
    log_mask = None if log_steps is None or not np.any(log_steps) else jnp.asarray(
        np.asarray(log_steps, bool))

    armijo, worth_halving = _armijo, _worth_halving

    def raw_search(x, f, slope, direction, skip):
        """Backtracking from the full step; one evaluation of ``fun`` per loop iteration, and one
        place in the program that evaluates it (XLA compiles every call site separately)."""
        def not_done(state):
            step, f_new, k = state
            return ~skip & ((k == 0) | ((k <= max_halvings) & ~armijo(f, f_new, step, slope)
                                        & worth_halving(f, step, slope)))

        def evaluate_next(state):
            step, _, k = state
            step = jnp.where(k == 0, 1.0, 0.5 * step)
            return step, fun(x + step * direction), k + 1

        step, f_new, k = jax.lax.while_loop(not_done, evaluate_next,
                                            (jnp.asarray(1.0), jnp.asarray(jnp.inf), 0))
        return x + step * direction, f_new, armijo(f, f_new, step, slope), k

    pair = jax.vmap(fun)

    def dual_search(x, f, slope, direction, x_log, g, skip):
        """The raw and the log-scale trial points evaluated together (one batched evaluation);
        then, unless the log point wins, backtracking along the raw direction two step lengths
        at a time (s/2 and s/4), with the same batched evaluation."""
        log_slope = jnp.dot(g, x_log - x)

        def not_done(state):
            step, f_raw, take_log, _, k = state
            return ~skip & ((k == 0) | ((k <= max_halvings) & ~take_log
                                        & ~armijo(f, f_raw, step, slope)
                                        & worth_halving(f, step, slope)))

        def evaluate_next(state):
            step, f_raw, take_log, f_log, k = state
            first = k == 0
            steps = jnp.where(first, jnp.array([1.0, 0.0]), jnp.array([0.5, 0.25]) * step)
            points = x + steps[:, None] * direction
            points = points.at[1].set(jnp.where(first, x_log, points[1]))
            values = pair(points)
            # first round: the full raw step and the log point; later: s/2, else s/4
            half_ok = armijo(f, values[0], steps[0], slope)
            new_step = jnp.where(first | half_ok, steps[0], steps[1])
            new_f = jnp.where(first | half_ok, values[0], values[1])
            f_log = jnp.where(first, values[1], f_log)
            take_log = first & (values[1] < values[0]) & (log_slope < 0) & armijo(
                f, values[1], 1.0, log_slope)
            return new_step, new_f, take_log, f_log, k + 2

        init = (jnp.asarray(1.0), jnp.asarray(jnp.inf), jnp.asarray(False), jnp.asarray(jnp.inf), 0)
        step, f_raw, take_log, f_log, k = jax.lax.while_loop(not_done, evaluate_next, init)
        accepted = take_log | armijo(f, f_raw, step, slope)
        return (jnp.where(take_log, x_log, x + step * direction), jnp.where(take_log, f_log, f_raw),
                accepted, k)

    def keep_going(state):
        return state["status"] < 0

    def iterate(state):
        x = state["x"]
        f, g, H = evaluate(x)
        if polish:
            return jax.lax.cond(state["polishing"], finish_polish, search_step, state, f, g, H)
        return search_step(state, f, g, H)

    def finish_polish(state, f, g, H):
        """The iteration after the polishing step: keep its end if it is no worse, and stop."""
        finite = _all_finite(f, g, H)
        before = state["before"]
        good = finite & (f <= before["f"] + _ROUNDING * jnp.abs(before["f"]))
        pick = lambda new, old: jnp.where(good, new, old)
        return dict(state, x=pick(state["x"], before["x"]), f=pick(f, before["f"]),
                    g=pick(g, before["g"]), H=pick(H, before["H"]),
                    iterations=state["iterations"] + 1, evaluations=state["evaluations"] + 1,
                    status=jnp.asarray(CONVERGED), polishing=jnp.asarray(False))

    def search_step(state, f, g, H):
        x = state["x"]
        finite = _all_finite(f, g, H)
        H_safe = jnp.where(finite, H, jnp.eye(H.shape[0]))
        g_safe = jnp.where(finite, g, 0.0)
        direction, decrement = _newton_direction(g_safe, H_safe)
        slope = jnp.dot(g_safe, direction)
        # converged: the decrement (twice the decrease a Newton step would bring) is below tol,
        # or below what rounding lets f resolve (for deviances of 1e5 and more)
        converged = decrement < jnp.maximum(tol, _ROUNDING * jnp.abs(f))
        # once converged the loop stops where (f, g, H) were evaluated, without searching, so the
        # reported gradient and Hessian are exactly at the final point (glmer's standard errors
        # use that Hessian); the Newton step not taken would change f by less than tol / 2
        if log_mask is None:
            x_new, f_new, accepted, evaluations = raw_search(x, f, slope, direction, converged)
        else:
            x_log = _log_trial(x, g_safe, H_safe, log_mask, max_log_step)
            x_new, f_new, accepted, evaluations = dual_search(x, f, slope, direction, x_log, g_safe,
                                                              converged)
        iterations = state["iterations"] + 1
        status = _status(finite, converged, accepted, iterations, max_iterations)
        move = accepted & finite & ~converged
        out = dict(state, x=jnp.where(move, x_new, x), f=jnp.where(move, f_new, f),
                   g=g, H=H, iterations=iterations,
                   evaluations=state["evaluations"] + 1 + evaluations, status=status)
        if polish:
            start_polish = finite & converged & (iterations < max_iterations)
            out = dict(out, x=jnp.where(start_polish, x + direction, out["x"]),
                       status=jnp.where(start_polish, -1, status), polishing=start_polish,
                       before=dict(x=x, f=f, g=g, H=H))
        return out

    n = x0.shape[0]
    state = dict(x=x0, f=jnp.asarray(jnp.inf), g=jnp.zeros(n), H=jnp.eye(n),
                 iterations=jnp.asarray(0), evaluations=jnp.asarray(0), status=jnp.asarray(-1))
    if polish:
        state = dict(state, polishing=jnp.asarray(False),
                     before=dict(x=x0, f=jnp.asarray(jnp.inf), g=jnp.zeros(n), H=jnp.eye(n)))
    state = jax.lax.while_loop(keep_going, iterate, state)
    return OptimizeResult(x0, state["x"], state["f"], state["g"], state["H"], state["iterations"],
                          state["evaluations"], state["status"])


def minimize_at_trials(evaluate: Callable, x0, aux0, *, tol: float = 1e-10, max_iterations: int = 100,
                       max_halvings: int = 40, polish: bool = False) -> tuple[OptimizeResult, object]:
    """``minimize`` (raw steps, no log-scale trial) for objectives whose gradient and Hessian cost
    about what their value costs, so that every trial point is evaluated with its derivatives:
    an accepted step's (f, g, H) are the next iteration's, where ``minimize`` evaluates the value
    at the trial point and then (f, g, H) at it again. The same iterates, the same stopping rule,
    the same polishing step (evaluated once, kept where it is no worse).

    ``evaluate(x, aux) -> (f, g, H, aux')`` with ``aux`` what the evaluation at the current point
    returned (``aux0`` for the first): a warm start (the conditional mode there) for evaluations
    at nearby points. Returns (result, the final point's aux)."""
    x0 = jnp.asarray(x0, jnp.float64)
    armijo, worth_halving, finite = _armijo, _worth_halving, _all_finite

    def iterate(state):
        x, f, g, H, aux = state["x"], state["f"], state["g"], state["H"], state["aux"]
        ok = finite(f, g, H)
        direction, decrement = _newton_direction_by_cholesky(jnp.where(ok, g, 0.0),
                                                             jnp.where(ok, H, jnp.eye(H.shape[0])))
        slope = jnp.dot(jnp.where(ok, g, 0.0), direction)
        converged = ok & (decrement < jnp.maximum(tol, _ROUNDING * jnp.abs(f)))
        iterations = state["iterations"] + 1
        # the polishing step: one evaluation at the full step, no halving
        polishing = converged & polish & (iterations < max_iterations)
        skip = ~ok | (converged & ~polishing)

        def accepted(trial):
            step, f_new, g_new, H_new = trial[0], trial[1], trial[2], trial[3]
            no_worse = finite(f_new, g_new, H_new) & (f_new <= f + _ROUNDING * jnp.abs(f))
            return jnp.where(polishing, no_worse, armijo(f, f_new, step, slope))

        def not_done(trial):
            step, k = trial[0], trial[5]
            return ~skip & ((k == 0) | (~polishing & (k <= max_halvings) & ~accepted(trial)
                                        & worth_halving(f, step, slope)))

        def evaluate_next(trial):
            step, k = trial[0], trial[5]
            step = jnp.where(k == 0, 1.0, 0.5 * step)
            return (step, *evaluate(x + step * direction, aux), k + 1)

        trial = jax.lax.while_loop(not_done, evaluate_next,
                                   (jnp.asarray(1.0), jnp.asarray(jnp.inf), g, H, aux, jnp.asarray(0)))
        step, f_new, g_new, H_new, aux_new, k = trial
        move = ~skip & accepted(trial)
        status = _status(ok, converged, move, iterations, max_iterations)
        pick = lambda new, old: jnp.where(move, new, old)
        return dict(x=pick(x + step * direction, x), f=pick(f_new, f), g=pick(g_new, g),
                    H=pick(H_new, H), aux=jax.tree.map(pick, aux_new, aux),
                    iterations=iterations + polishing, evaluations=state["evaluations"] + k,
                    status=status)

    f, g, H, aux = evaluate(x0, aux0)
    state = dict(x=x0, f=f, g=g, H=H, aux=aux, iterations=jnp.asarray(0), evaluations=jnp.asarray(1),
                 status=jnp.asarray(-1))
    state = jax.lax.while_loop(lambda state: state["status"] < 0, iterate, state)
    return OptimizeResult(x0, state["x"], state["f"], state["g"], state["H"], state["iterations"],
                          state["evaluations"], state["status"]), state["aux"]


class Memo:
    """The last few results of a (compiled) function of a numpy vector x, keyed by x's bytes: the
    host loop asks for the value at trial points and then for the derivatives at the accepted
    one, which may reuse what the value computed (a conditional mode; the derivatives
    themselves)."""

    def __init__(self, function, size: int = 8):
        self.function, self.size, self.store = function, size, {}

    def __call__(self, x):
        key = np.asarray(x, np.float64).tobytes()
        if key not in self.store:
            if len(self.store) >= self.size:
                self.store.pop(next(iter(self.store)))
            self.store[key] = self.function(np.asarray(x, np.float64))
        return self.store[key]


LBFGS_MEMORY = 40  # steps optax's L-BFGS keeps (kb07 maximal, 72 theta: 73 iterations; 10: 102)


class LbfgsDirections:
    """x -> (f, g, None) for ``minimize_host`` from an exact (f, g) function, with optax's L-BFGS
    direction (``optax.scale_by_lbfgs``) at each point it is asked for (the accepted ones), for
    models whose exact Hessian costs many gradients; ``direction`` gives that step (no H: the
    record's ``hess`` is None). optax's update is one small compiled program (vectors of length
    n; called eagerly it dispatches each of its operations: 0.2-0.7 s a call, against 0.1-2 ms).
    Its first step has unit length (-g / max(|g|, 1)) and later ones start from the scaled
    identity (y's / y'y) I. The host line search is Armijo's only, so a step's curvature y's can
    be negative, which optax would take into its memory (an indefinite H^-1, an ascent step):
    there the memory is cleared and L-BFGS starts again from x (kb07: once or twice a fit)."""

    def __init__(self, value_and_grad: Callable, n: int, memory: int = LBFGS_MEMORY):
        self.value_and_grad, self.last = value_and_grad, None
        self.empty = optax.scale_by_lbfgs(memory_size=memory).init(np.zeros(n))
        self.state, self.step = self.empty, None

    def __call__(self, x):
        f, g = self.value_and_grad(x)
        g = np.asarray(g, np.float64)
        if self.last is not None:
            s, y = x - self.last[0], g - self.last[1]
            if not y @ s > 1e-12 * np.sqrt((s @ s) * (y @ y)):  # (False where y is not finite)
                self.state = self.empty
        self.last = (np.array(x, np.float64), g)
        step, self.state = _lbfgs_update(g, self.state, self.last[0])
        self.step = -np.asarray(step)
        return f, g, None

    def direction(self, grad, hess):
        """(-H^-1 g, g'H^-1 g) for ``minimize_host``'s ``direction``."""
        return self.step, float(-grad @ self.step)

    @staticmethod
    def prefetch(n: int, memory: int = LBFGS_MEMORY) -> None:
        """Compile the update for n parameters in the background (0.15-0.4 s, loaded cores)."""
        vector = jax.ShapeDtypeStruct((n,), np.float64)
        state = jax.eval_shape(optax.scale_by_lbfgs(memory_size=memory).init, vector)
        _lbfgs_update.prefetch(vector, state, vector)


@jit
def _lbfgs_update(grad, state, x):
    """optax's L-BFGS update at x: (H^-1 g, the state with the step to x in its memory)."""
    memory = state.weights_memory.shape[0]
    return optax.scale_by_lbfgs(memory_size=memory).update(grad, state, x)


def _host_arrays(evaluated):
    """(f, g, H) as float64 numpy arrays, H None where ``evaluate`` formed none."""
    f, g, H = evaluated
    return (np.asarray(f, np.float64), np.asarray(g, np.float64),
            None if H is None else np.asarray(H, np.float64))


_LOG_TRIAL_DECREMENT = 1e-4  # below this the raw and log steps agree to second order: one is enough
_ESCAPE_GROWTH, _ESCAPE_TRIALS = 4.0, 15  # ``escape_saddles``: up to a factor of 4^15 = 1e9


# a negative eigenvalue at least this share of H's largest |eigenvalue| marks a saddle worth
# escaping (``escape_saddles``); weaker negative curvature is the numerically flat direction of
# nearly collinear terms (InstEval's dept terms: 0.02-0.05), where the extra trial points only
# cost evaluations
_SADDLE_CURVATURE = 0.1


def _negative_curvature_part(grad, hess):
    """The modified Newton step's part along H's eigenvectors of negative curvature,
    -V_- (V_-'g / |lambda_-|) (numpy), where one of them is strong (``_SADDLE_CURVATURE``);
    else None."""
    eigenvalues, vectors = np.linalg.eigh(hess)
    if eigenvalues[0] >= -_SADDLE_CURVATURE * float(np.max(np.abs(eigenvalues))):
        return None
    floor = 1e-10 * max(float(np.max(np.abs(eigenvalues))), 1.0)
    negative = eigenvalues < -floor
    return -vectors[:, negative] @ ((vectors[:, negative].T @ grad) / -eigenvalues[negative])


def _sufficient_decrease(f0, f_new, step, slope) -> bool:
    """Armijo's condition on the host: f_new finite and f_new <= f0 + 1e-4 step slope
    (``_armijo``'s rule, in numpy)."""
    return bool(np.isfinite(f_new) and f_new <= f0 + 1e-4 * step * slope)


def _escape_along(value, x, f, g, x_best, f_best, bend):
    """From the accepted point x_best, add the step's negative-curvature part ``bend`` again,
    (m - 1) bend for m = 4, 16, 64, ..., while f keeps falling and Armijo's condition from
    (x, f, g) holds (value evaluations only). Returns the best point, its value and the
    evaluations spent."""
    spent, m, start = 0, _ESCAPE_GROWTH, x_best
    for _ in range(_ESCAPE_TRIALS):
        trial = start + (m - 1.0) * bend
        f_trial = value(trial)
        spent += 1
        if not (_sufficient_decrease(f, f_trial, 1.0, float(g @ (trial - x))) and f_trial < f_best):
            break
        x_best, f_best, m = trial, f_trial, _ESCAPE_GROWTH * m
    return x_best, f_best, spent


# ``minimize_host(gradient=...)``: below this Newton decrement (f within about half of it of the
# optimum) the steps go on from the last exact Hessian by secant updates (``_secant_steps``)
_SECANT_DECREMENT = 1.0
_SECANT_CONTRACTION = 0.1  # a secant step must cut the decrement by this factor, else H is formed afresh


def _secant_steps(gradient, x, f, g, H, tol: float, budget: int):
    """Quasi-Newton steps x <- x - B^-1 g from (x, f, g), B starting at the exact, positive
    definite Hessian H and updated by BFGS (B s = y for the step s and the change y in g), each
    step costing one ``gradient(x) -> (f, g)`` and no trial point. Near the optimum the exact
    Hessian costs several gradients (d3-shaped: 0.6 s against 0.25 s) and the updated B keeps
    Newton's fast convergence: InstEval's last Newton iterations took 3 Hessians and 5 deviances,
    these steps 4 gradients. H itself is not changed. A step is taken where f falls by Armijo's
    rule and the decrement g'B^-1 g falls by ``_SECANT_CONTRACTION``; the steps stop at the
    first that is not taken (the caller then forms H afresh at the point reached), or where
    the decrement is below ``tol``. Returns (x, f, g, steps taken, gradients evaluated,
    converged)."""
    B, factor = H, np.linalg.cholesky(H)
    solve = lambda v: np.linalg.solve(factor.T, np.linalg.solve(factor, v))
    taken = spent = 0
    step = -solve(g)
    decrement = float(-g @ step)
    while taken + spent < budget:
        if decrement < tol:
            return x, f, g, taken, spent, True
        f_new, g_new = gradient(x + step)
        spent += 1
        if not (_sufficient_decrease(f, f_new, 1.0, -decrement) and np.all(np.isfinite(g_new))):
            break
        change = g_new - g
        curvature = float(step @ change)
        if curvature > 0:  # else B is kept: the update would lose positive definiteness
            Bs = B @ step
            B = B - np.outer(Bs, Bs) / float(step @ Bs) + np.outer(change, change) / curvature
            factor = np.linalg.cholesky(B)
        step_new = -solve(g_new)
        decrement_new = float(-g_new @ step_new)
        x, f, g, taken = x + step, f_new, g_new, taken + 1
        if decrement_new > _SECANT_CONTRACTION * decrement:
            break
        step, decrement = step_new, decrement_new
    return x, f, g, taken, spent, False


def _positive_definite(H) -> bool:
    return bool(np.linalg.eigvalsh(H)[0] > 1e-10 * max(float(np.max(np.abs(np.diag(H)))), 1.0))


_START_HALVINGS = 6  # ``halved_start``: down to 1/64 of the start


def halved_start(value: Callable, x0) -> tuple[np.ndarray, int]:
    """The lowest of value(x0), value(x0 / 2), value(x0 / 4), ... (numpy), stopping at the first
    that does not fall: a common scale for a start whose shape is right and whose size is a
    guess (``linear_fitting``'s standardized start). Returns the point and the evaluations."""
    x_best = np.asarray(x0, np.float64)
    f_best, spent = value(x_best), 1
    for _ in range(_START_HALVINGS):
        trial = 0.5 * x_best
        f_trial = value(trial)
        spent += 1
        if not (np.isfinite(f_trial) and f_trial < f_best):
            break
        x_best, f_best = trial, f_trial
    return x_best, spent


def minimize_host(evaluate: Callable, value: Callable, x0, *, tol: float = 1e-12,
                  max_iterations: int = 100, max_halvings: int = 40, log_steps=None,
                  max_log_step: float = 3.0, polish: bool = False,
                  direction: Callable | None = None, escape_saddles: bool = False,
                  gradient: Callable | None = None) -> OptimizeResult:
    """``minimize``'s iteration as a host loop: ``evaluate(x) -> (f, g, H)`` and ``value(x) -> f``
    are compiled functions (numpy in, numpy out), called once per iteration and once per trial
    point. The accepted steps are those of ``minimize``: the full raw step or the log-scale trial
    point, else the first of 1/2, 1/4, ... satisfying Armijo's condition; the log-scale point is
    not tried once the decrement is below ``_LOG_TRIAL_DECREMENT``, where it cannot differ from
    the raw step by more than rounding in f. Each call costs a dispatch (tens of microseconds):
    ``value`` may return the value of a memoized ``evaluate`` where that is cheap, so that an
    accepted trial point is not evaluated twice. The default ``tol`` is 100 times ``minimize``'s:
    an iteration more costs a fraction of a millisecond here, and the estimates then carry
    about 10 times fewer error (theta's error is of order sqrt(tol / H)), so printed digits at
    a rounding edge follow the optimum rather than the path. ``direction(g, H)`` -> (step,
    decrement) replaces the modified Newton step (``LbfgsDirections.direction``); with it,
    ``evaluate`` may return H = None (no Hessian formed; then no ``log_steps``, and the record's
    ``hess`` is None).

    ``escape_saddles``: where H has strong negative curvature and a full step was taken, the
    step's part along those eigenvectors is added again, 3, 15, 63, ... times, while f keeps falling
    (``_escape_along``). Near a variance
    of 0 whose optimum is inside, the deviance is even in it with negative curvature, and the
    modified Newton step (raw or in log) only doubles it: a d3-shaped fit spent 10 of its 21
    Newton iterations, each with a Hessian, taking one such variance from 1e-4 to 6e-3.

    ``gradient(x) -> (f, g)``: where the decrement is below ``_SECANT_DECREMENT`` and H is positive
    definite, the next steps go on from H by secant updates (``_secant_steps``), each costing a
    gradient, with no trial point; the record's ``hess`` is then the exact Hessian at the last
    point where one was formed, a few such steps before the optimum."""
    x = np.asarray(x0, np.float64)
    x_start = x.copy()
    log_mask = None if log_steps is None or not np.any(log_steps) else np.asarray(log_steps, bool)
    n = x.shape[0]
    f, g, H = np.inf, np.zeros(n), np.eye(n)
    evaluations, iterations, status = 0, 0, MAX_ITERATIONS

    while iterations < max_iterations:
        f_x, g, H = _host_arrays(evaluate(x))
        iterations += 1
        evaluations += 1
        if not (np.isfinite(f_x) and np.all(np.isfinite(g)) and (H is None or np.all(np.isfinite(H)))):
            status = NON_FINITE if iterations == 1 else NO_PROGRESS
            f = f_x if iterations == 1 else f
            break
        f = f_x
        step_of = (lambda g, H: _newton_direction(g, H, np)) if direction is None else direction
        search, decrement = step_of(g, H)
        slope = float(g @ search)
        if decrement < max(tol, _ROUNDING * abs(f)):
            status = CONVERGED
            if polish and iterations < max_iterations:
                f_p, g_p, H_p = _host_arrays(evaluate(x + search))
                iterations += 1
                evaluations += 1
                if (np.isfinite(f_p) and np.all(np.isfinite(g_p))
                        and (H_p is None or np.all(np.isfinite(H_p)))
                        and f_p <= f + _ROUNDING * abs(f)):
                    x, f, g, H = x + search, f_p, g_p, H_p
            break
        if (gradient is not None and H is not None and decrement < _SECANT_DECREMENT
                and _positive_definite(H)):
            x, f, g, taken, spent, converged = _secant_steps(gradient, x, f, g, H, max(tol, _ROUNDING * abs(f)),
                                                           max_iterations - iterations)
            iterations += taken
            evaluations += spent
            if converged:
                status = CONVERGED
                break
            if taken:
                continue
        x_new, f_new, accepted = x + search, value(x + search), False
        evaluations += 1
        if log_mask is not None and decrement > _LOG_TRIAL_DECREMENT:
            x_log = _log_trial(x, g, H, log_mask, max_log_step, np)
            f_log = value(x_log)
            evaluations += 1
            if f_log < f_new and g @ (x_log - x) < 0 and _sufficient_decrease(f, f_log, 1.0, g @ (x_log - x)):
                x_new, f_new, accepted = x_log, f_log, True
        step, halvings = 1.0, 0
        while not accepted and not _sufficient_decrease(f, f_new, step, slope):
            if halvings >= max_halvings or -0.25 * step * slope <= _ROUNDING * max(abs(f), 1.0):
                break
            step, halvings = 0.5 * step, halvings + 1
            x_new, f_new = x + step * search, value(x + step * search)
            evaluations += 1
        accepted = accepted or _sufficient_decrease(f, f_new, step, slope)
        if not accepted:
            status = NO_PROGRESS
            break
        bend = _negative_curvature_part(g, H) if escape_saddles and step == 1.0 else None
        if bend is not None:
            x_new, f_new, spent = _escape_along(value, x, f, g, x_new, f_new, bend)
            evaluations += spent
        x, f = x_new, f_new
    return OptimizeResult(x_start, x, np.float64(f), g, H, np.int64(iterations), np.int64(evaluations),
                          np.int64(status))
