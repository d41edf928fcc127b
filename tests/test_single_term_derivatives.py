"""The one-term kernel of linear mixed models (``lmm.kernel_for``): its closed-form derivatives
(``lmm.one_term_value_grad_hess``, what single fits and batches of such models optimize with)
against forward-over-reverse autodiff of the same profiled deviance, and its deviance, gradient,
Hessian and solution against the blocked kernel's on the same problem: unstructured, diagonal,
compound-symmetry and AR(1) terms, REML and ML, prior weights, at the optimum, away from it and on
the boundary."""
import warnings

import jax
import numpy as np
import pandas as pd
import pytest
from references import reference, reference_data

import mixedjax as mj
from mixedjax._src import lmm
from mixedjax._src.optimize import value_grad_hess


def _sleepstudy():
    return reference_data("public", reference("public", "sleepstudy_slopes_reml"))


def _simulated_series():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(12), 8)
    t = np.tile(np.repeat(np.arange(4.0), 2), 12)  # 4 times, 2 rows each, per group
    x = rng.normal(size=g.size)
    y = 1.0 + 0.5 * x + rng.normal(size=12)[g] * (1.0 + 0.2 * t) + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "t": t, "g": [f"g{k}" for k in g],
                         "w": rng.uniform(0.5, 2.0, g.size)})


CASES = {
    "us REML": ("Reaction ~ Days + (Days | Subject)", _sleepstudy, True, None),
    "us ML weights": ("Reaction ~ Days + (Days | Subject)", _sleepstudy, False, "weights"),
    "intercept ML": ("Reaction ~ Days + (1 | Subject)", _sleepstudy, False, None),
    "diag REML": ("Reaction ~ Days + diag(Days | Subject)", _sleepstudy, True, None),
    "cs REML": ("y ~ x + cs(0 + factor(t) | g)", _simulated_series, True, None),
    "ar1 ML": ("y ~ x + ar1(0 + factor(t) | g)", _simulated_series, False, None),
    "no fixed effects": ("y ~ 0 + (1 + x | g)", _simulated_series, True, "w"),
}


def _fit_and_points(case):
    """(fit, reml, points): the case's fit, and theta at the optimum, away from it and on the
    boundary."""
    formula, data_of, reml, weights = CASES[case]
    data = data_of()
    if weights == "weights":
        data = data.assign(weights=np.linspace(0.5, 1.5, len(data)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = mj.lmer(formula, data, REML=reml, weights=weights)
    assert lmm.kernel_for(fit.problem.design.layout) == lmm.ONE_TERM
    assert fit.problem.level_blocks is not None  # formed for the one-term kernel
    rng = np.random.default_rng(7)
    theta_hat = np.asarray(fit.theta, np.float64)
    points = [theta_hat, theta_hat * (1.0 + rng.normal(0.0, 0.3, theta_hat.shape)),
              np.where(np.arange(theta_hat.size) == 0, theta_hat, 0.0)]  # a boundary point
    return fit, reml, points


@pytest.mark.parametrize("case", CASES)
def test_closed_form_derivatives_equal_autodiff(case):
    fit, reml, points = _fit_and_points(case)
    problem = fit.problem
    closed = jax.jit(lmm.one_term_value_grad_hess(problem, reml))
    autodiff = jax.jit(value_grad_hess(lambda theta: lmm.profiled_deviance(theta, problem, reml)))
    for theta in points:
        (f, g, H), (f0, g0, H0) = closed(theta), autodiff(theta)
        np.testing.assert_allclose(f, f0, rtol=1e-13)
        # near the optimum the gradient is rounding noise of the deviance: 64 eps |d| absolute
        np.testing.assert_allclose(g, g0, rtol=1e-9, atol=64 * np.finfo(float).eps * abs(float(f0)))
        np.testing.assert_allclose(H, H0, rtol=1e-9, atol=1e-10 * float(np.max(np.abs(H0))))


@pytest.mark.parametrize("case", CASES)
def test_one_term_kernel_equals_blocked_kernel(case):
    """The blocked kernel (term 1 blockwise, the trailing system dense) evaluates any model,
    one-term models included: there it must give the one-term kernel's deviance, gradient,
    Hessian and solution, to rounding."""
    fit, reml, points = _fit_and_points(case)
    problem = fit.problem
    one_term = jax.jit(lmm.one_term_value_grad_hess(problem, reml))
    blocked = jax.jit(lmm.blocked_value_grad_hess(problem, reml))
    blocked_gradient = jax.jit(lmm.blocked_value_grad(problem, reml))
    blocked_value = jax.jit(lambda theta: lmm.blocked_deviance(theta, problem, reml))
    solutions = jax.jit(lambda theta: (lmm.one_term_solve(theta, problem),
                                       lmm.blocked_solve(theta, problem)))
    for theta in points:
        (f, g, H), (f0, g0, H0) = one_term(theta), blocked(theta)
        np.testing.assert_allclose(f0, f, rtol=1e-12)
        np.testing.assert_allclose(blocked_value(theta), f, rtol=1e-12)
        atol = 64 * np.finfo(float).eps * abs(float(f))  # the gradient's rounding noise near 0
        np.testing.assert_allclose(g0, g, rtol=1e-9, atol=atol)
        np.testing.assert_allclose(blocked_gradient(theta)[1], g, rtol=1e-9, atol=atol)
        np.testing.assert_allclose(H0, H, rtol=1e-9, atol=1e-10 * float(np.max(np.abs(H))))
        one, other = solutions(theta)
        for name in ("beta", "u", "b", "RXt"):
            a, b = np.asarray(getattr(one, name)), np.asarray(getattr(other, name))
            scale = 1.0 + float(np.max(np.abs(a), initial=0.0))
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-10 * scale, err_msg=name)
        np.testing.assert_allclose(np.asarray(other.components), np.asarray(one.components),
                                   rtol=1e-10)
