"""Unit tests of the optimizers (mixedjax/_src/optimize.py) on functions with known minima: the
compiled Newton loop ``minimize``, its host twin ``minimize_host`` and optax's L-BFGS directions;
statuses instead of exceptions where the objective is not finite or the budget runs out."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixedjax._src import optimize
from mixedjax._src.optimize import CONVERGED, MAX_ITERATIONS, NON_FINITE, NO_PROGRESS


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def quadratic(x):
    A = jnp.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    b = jnp.array([1.0, -2.0, 0.5])
    return 0.5 * x @ A @ x - b @ x


def test_newton_finds_the_rosenbrock_minimum():
    """The loop stops when the Newton decrement g'H^-1 g (about twice f - f*) is below tol = 1e-10,
    so x is within about sqrt(tol / lambda_min) (lambda_min = 0.4 here): 1e-5; ``polish`` adds the
    Newton step from there, which quadratic convergence takes to 1e-10."""
    result = jax.jit(lambda x0: optimize.minimize(rosenbrock, x0))(jnp.array([-1.2, 1.0]))
    assert int(result.status) == CONVERGED
    assert float(result.fun) < 1e-10
    np.testing.assert_allclose(np.asarray(result.x), [1.0, 1.0], atol=1e-5)
    np.testing.assert_allclose(np.asarray(result.hess), np.asarray(jax.hessian(rosenbrock)(result.x)))
    assert 5 < int(result.iterations) < 100  # it needs line searches, and it converges
    polished = optimize.minimize(rosenbrock, jnp.array([-1.2, 1.0]), polish=True)
    np.testing.assert_allclose(np.asarray(polished.x), [1.0, 1.0], atol=1e-9)


def test_a_quadratic_takes_one_newton_step():
    result = optimize.minimize(quadratic, jnp.zeros(3))
    A = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    np.testing.assert_allclose(np.asarray(result.x), np.linalg.solve(A, [1.0, -2.0, 0.5]), rtol=1e-12)
    assert int(result.status) == CONVERGED and int(result.iterations) == 2  # the step, then the check


def test_an_indefinite_start_still_descends():
    # f = x^4 - 2 x^2 + y^2: at x = 0.1 the Hessian is negative in x; the modified Newton step
    # (|eigenvalues|) goes downhill to a minimum at x = +-1
    f = lambda v: v[0] ** 4 - 2 * v[0] ** 2 + v[1] ** 2
    result = optimize.minimize(f, jnp.array([0.1, 0.3]), polish=True)
    assert int(result.status) == CONVERGED
    np.testing.assert_allclose(np.abs(np.asarray(result.x)), [1.0, 0.0], atol=1e-9)


def test_a_non_finite_start_is_a_status_not_an_exception():
    result = optimize.minimize(lambda x: jnp.log(x[0]) + x[1] ** 2, jnp.array([-1.0, 0.0]))
    assert int(result.status) == NON_FINITE


def test_the_iteration_budget_is_a_status():
    result = optimize.minimize(rosenbrock, jnp.array([-1.2, 1.0]), max_iterations=3)
    assert int(result.status) == MAX_ITERATIONS and int(result.iterations) == 3


@pytest.mark.parametrize("x0", [[-1.2, 1.0], [2.0, -1.0]])
def test_host_newton_agrees_with_the_compiled_loop(x0):
    evaluate = jax.jit(optimize.value_grad_hess(rosenbrock))
    host = optimize.minimize_host(lambda x: tuple(np.asarray(a) for a in evaluate(x)),
                                  lambda x: float(rosenbrock(jnp.asarray(x))), np.array(x0))
    compiled = optimize.minimize(rosenbrock, jnp.array(x0), tol=1e-12)  # the host loop's default
    assert host.status in (CONVERGED, NO_PROGRESS)
    np.testing.assert_allclose(host.x, np.asarray(compiled.x), atol=1e-9)
    np.testing.assert_allclose(host.x, [1.0, 1.0], atol=1e-5)


def test_escaping_a_saddle_takes_few_newton_iterations():
    """f = x^4 - 2 x^2 + (y - 1)^2 from x = 1e-6, a variance near 0 whose optimum is inside: the
    modified Newton step only doubles x per iteration (21 iterations to leave the saddle, each
    with a Hessian); ``escape_saddles`` multiplies the step's negative-curvature part by 4, 16,
    ... while f falls (value evaluations), and Newton finishes from there at the same minimum."""
    f = lambda v: v[0] ** 4 - 2 * v[0] ** 2 + (v[1] - 1.0) ** 2
    evaluate = jax.jit(optimize.value_grad_hess(f))
    run = lambda escape: optimize.minimize_host(
        lambda x: tuple(np.asarray(a) for a in evaluate(x)), lambda x: float(f(jnp.asarray(x))),
        np.array([1e-6, 0.0]), escape_saddles=escape)
    plain, escaped = run(False), run(True)
    for result in (plain, escaped):
        assert result.status == CONVERGED
        np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-7)
    assert plain.iterations >= 20
    assert escaped.iterations <= 10


def test_secant_steps_finish_with_gradients_at_the_same_minimum():
    """Rosenbrock from (-1.2, 1): with ``gradient``, once the Newton decrement is below
    ``_SECANT_DECREMENT`` the steps go on from the exact Hessian by BFGS updates, each costing a
    gradient: the same minimum to 1e-8, fewer Hessians, and the record's Hessian is the exact
    one at a point the Newton iterations reached (not the updated matrix)."""
    evaluate = jax.jit(optimize.value_grad_hess(rosenbrock))
    value_and_grad = jax.jit(jax.value_and_grad(rosenbrock))
    hessian_points = []

    def counted(x):
        hessian_points.append(np.array(x))
        return tuple(np.asarray(a) for a in evaluate(x))

    def run(gradient):
        hessian_points.clear()
        result = optimize.minimize_host(counted, lambda x: float(rosenbrock(jnp.asarray(x))),
                                        np.array([-1.2, 1.0]), tol=1e-20, gradient=gradient)
        return result, list(hessian_points)

    newton, newton_points = run(None)
    secant, secant_points = run(lambda x: tuple(np.asarray(a) for a in value_and_grad(jnp.asarray(x))))
    for result in (newton, secant):
        assert result.status == CONVERGED
        np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-8)
    assert len(secant_points) < len(newton_points)
    np.testing.assert_allclose(secant.hess, jax.hessian(rosenbrock)(jnp.asarray(secant_points[-1])),
                               rtol=1e-12)
    assert not np.allclose(secant_points[-1], secant.x, rtol=0, atol=1e-12)
    np.testing.assert_allclose(secant.grad, jax.grad(rosenbrock)(jnp.asarray(secant.x)), rtol=0,
                               atol=1e-15)  # the gradient at the point returned: rounding apart


def test_halved_start_halves_while_the_value_falls():
    """(log2 c + 3)^2 along x0 c: 1, 1/2, 1/4 and 1/8 fall, 1/16 rises (5 evaluations); a
    non-finite value ends the halving as a rise does."""
    x0 = np.array([2.0, -1.0])
    value = lambda x: (np.log2(abs(x[0]) / 2.0) + 3.0) ** 2
    x, spent = optimize.halved_start(value, x0)
    np.testing.assert_array_equal(x, x0 / 8)
    assert spent == 5
    x, spent = optimize.halved_start(lambda x: np.inf if x[0] < 1.5 else value(x), x0)
    np.testing.assert_array_equal(x, x0)
    assert spent == 2


def test_lbfgs_directions_reach_the_minimum_without_a_hessian():
    value_and_grad = jax.jit(jax.value_and_grad(rosenbrock))
    quasi = optimize.LbfgsDirections(lambda x: tuple(np.asarray(a) for a in value_and_grad(x)), 2)
    result = optimize.minimize_host(quasi, lambda x: float(rosenbrock(jnp.asarray(x))), np.array([-1.2, 1.0]),
                                    tol=1e-20, max_iterations=200, direction=quasi.direction)
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-6)
    assert result.hess is None


def test_the_cholesky_newton_step_is_the_modified_step_and_falls_back_where_they_differ():
    """``_newton_direction_by_cholesky`` (the level-wise batch loop's) gives the eigendecomposition's
    modified step: by Cholesky where every eigenvalue is provably above the floor, by eigh where H
    is indefinite or nearly singular (where the two steps differ)."""
    rng = np.random.default_rng(3)
    g = jnp.asarray(rng.normal(size=5))
    Q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    spectra = {"well conditioned": [1e-2, 0.3, 1.0, 4.0, 50.0], "indefinite": [-2.0, 0.5, 1.0, 3.0, 9.0],
               "nearly singular": [1e-13, 0.5, 1.0, 3.0, 9.0], "a zero eigenvalue": [0.0, 1.0, 1.0, 2.0, 2.0]}
    for name, spectrum in spectra.items():
        H = jnp.asarray(Q @ np.diag(spectrum) @ Q.T)
        expected, expected_decrement = optimize._newton_direction(g, H)
        direction, decrement = jax.jit(optimize._newton_direction_by_cholesky)(g, H)
        np.testing.assert_allclose(direction, expected, rtol=1e-8, err_msg=name)
        np.testing.assert_allclose(decrement, expected_decrement, rtol=1e-8, err_msg=name)
        if name == "well conditioned":  # the plain Newton step
            np.testing.assert_allclose(direction, -np.linalg.solve(H, g), rtol=1e-10)
