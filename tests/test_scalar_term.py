"""The level-wise Laplace objective of one scalar-term GLMMs (``scalar_term``, the path of single fits
and batch refits of every family) against the general one: the same conditional mode, value, gradient
and Hessian as autodiff through Newton steps from the polished PIRLS mode
(``generalized_fitting._derivatives_near``), at points away from the optimum and on the
theta = 0 boundary."""
import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import reference_fit

import mixedjax as mj
from mixedjax._src import batch, generalized_fitting, scalar_term
from mixedjax._src.optimize import unpacked


def _probit_cbpp():
    fit = reference_fit("public", "cbpp_binomial_laplace")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mj.glmer(fit.spec.formula.text, fit.spec.frame.data, family=mj.binomial("probit"))


FITS = {
    "binomial(logit)": lambda: reference_fit("public", "cbpp_binomial_laplace"),
    "binomial(probit)": _probit_cbpp,  # observed weights differ from Fisher's
    "poisson": lambda: reference_fit("extra", "sim_poisson_offset_arg"),
}
# probit compiles a family for this test alone: slow (the full CI runs it)
PARAMS = [pytest.param(name, marks=pytest.mark.slow) if "probit" in name else name for name in FITS]


@partial(jax.jit, static_argnames="family")
def _level_wise(theta, beta, data, family):
    level = scalar_term.level_constants(data, family)
    u, _ = scalar_term.conditional_mode(theta, beta, data, family, level)
    return u, scalar_term.laplace_derivatives(u, theta, beta, data, family, level)


@pytest.mark.parametrize("name", PARAMS)
def test_level_wise_derivatives_equal_autodiff_through_newton_steps(name):
    fit = FITS[name]()
    _, (data, start, _) = batch._replicate_setup(fit, 100)
    family = fit.family
    assert scalar_term.one_scalar_term(data.design.layout, 1)
    Y = fit.simulate(2, seed=11, as_frame=False)
    rng = np.random.default_rng(4)
    for j, theta_scale in enumerate([1.0, 0.0]):  # theta = 0: the boundary
        y = jnp.asarray(Y[:, j])
        d = data._replace(y=y, mustart=family.mustart(y, data.weights))
        x = np.asarray(start) + rng.normal(0.0, 0.2, start.shape)
        x[0] = abs(x[0]) * theta_scale
        theta, beta = jnp.asarray(x[:1]), jnp.asarray(x[1:])
        u, (f, g, H) = _level_wise(theta, beta, d, family)
        # the single fit's compiled programs: the polished PIRLS mode, autodiff through Newton steps
        u_general = generalized_fitting._stage2_value(jnp.asarray(x), d, family, 1)[1].u
        np.testing.assert_allclose(u, u_general, rtol=1e-12, atol=1e-12)
        f0, g0, H0 = unpacked(generalized_fitting._stage2_derivatives(jnp.asarray(x), u_general, d,
                                                                      family, 1))
        np.testing.assert_allclose(f, f0, rtol=1e-12)
        np.testing.assert_allclose(g, g0, rtol=1e-9, atol=1e-9 * np.max(np.abs(g0)))
        np.testing.assert_allclose(H, H0, rtol=1e-9, atol=1e-10 * np.max(np.abs(H0)))


def test_the_level_wise_path_takes_one_scalar_term_laplace_fits_of_any_family():
    # single fits and batch replicates alike; the family only decides the closed form's extra
    # term (E(deviance) where the aic goes through the dispersion)
    fit = reference_fit("public", "cbpp_binomial_laplace")
    layout = fit.data.design.layout
    assert scalar_term.one_scalar_term(layout, 1)
    assert not scalar_term.one_scalar_term(layout, 5)  # AGQ: another objective
    assert scalar_term.closed_form(fit.family) and not scalar_term.closed_form(mj.Gamma("log"))
    two_columns = layout._replace(term_columns=(2,), term_structures=("us",))
    assert not scalar_term.one_scalar_term(two_columns, 1)
    two_terms = layout._replace(term_levels=layout.term_levels * 2, term_columns=(1, 1),
                                term_structures=("us", "us"))
    assert not scalar_term.one_scalar_term(two_terms, 1)


DISPERSION_FITS = {
    "Gamma(log)": lambda: reference_fit("public", "seed2_glmer_gamma_log"),  # the lme4 chapter's
    "Gamma(inverse)": lambda: reference_fit("extra", "sim_gamma_inverse_laplace"),
}


@pytest.mark.parametrize("name", DISPERSION_FITS)
def test_a_single_fits_level_wise_program_equals_the_general_path_for_any_family(name):
    # one scalar term, a family whose aic depends on the means through the dispersion: the
    # derivatives by autodiff through level-wise Newton steps (the single fit's one program)
    fit = DISPERSION_FITS[name]()
    _, (data, start, _) = batch._replicate_setup(fit, 100)
    family = fit.family
    assert scalar_term.one_scalar_term(data.design.layout, 1) and not scalar_term.closed_form(family)
    rng = np.random.default_rng(5)
    for theta_scale in [1.0, 0.0]:  # theta = 0: the boundary
        x = np.asarray(start) + rng.normal(0.0, 0.02, start.shape) * np.maximum(np.abs(start), 1.0)
        x[0] = abs(x[0]) * theta_scale
        packed, pieces = generalized_fitting._scalar_term_evaluation(jnp.asarray(x), data, family)
        f, g, H = unpacked(packed)
        value, general = generalized_fitting._stage2_value(jnp.asarray(x), data, family, 1)
        for field in ("u", "mu", "ldL2", "ussq", "deviance_sum", "aic"):
            np.testing.assert_allclose(getattr(pieces, field), getattr(general, field), rtol=1e-11,
                                       atol=1e-11, err_msg=field)
        f0, g0, H0 = unpacked(generalized_fitting._stage2_derivatives(jnp.asarray(x), general.u, data,
                                                                      family, 1))
        np.testing.assert_allclose([f, f], [value, f0], rtol=1e-12)
        np.testing.assert_allclose(g, g0, rtol=1e-9, atol=1e-9 * np.max(np.abs(g0)))
        np.testing.assert_allclose(H, H0, rtol=1e-9, atol=1e-10 * np.max(np.abs(H0)))


def test_newton_at_trial_points_with_warm_modes_equals_the_value_then_derivatives_loop():
    # batch replicates' stage 2 (optimize.minimize_at_trials: (f, g, H) at every trial point,
    # each mode warm-started from the current point's) against optimize.minimize with modes from
    # u = 0 (values at trial points, then derivatives at the accepted one): the same iterates
    from mixedjax._src.optimize import minimize, minimize_at_trials
    fit = FITS["binomial(logit)"]()
    _, (data, start, _) = batch._replicate_setup(fit, 100)
    family = fit.family
    y = jnp.asarray(fit.simulate(1, seed=3, as_frame=False)[:, 0])
    data = data._replace(y=y, mustart=family.mustart(y, data.weights))
    level = scalar_term.level_constants(data, family)
    mode = lambda x, u0=None: scalar_term.conditional_mode(x[:1], x[1:], data, family, level, u0=u0)[0]

    @jax.jit
    def both(x0):
        cold = minimize(lambda x: scalar_term.laplace_value(mode(x), x[:1], x[1:], data, family, level), x0,
                        value_grad_hess=lambda x: scalar_term.laplace_derivatives(
                            mode(x), x[:1], x[1:], data, family, level), polish=True)

        def evaluate(x, u):
            u = mode(x, u)
            return (*scalar_term.laplace_derivatives(u, x[:1], x[1:], data, family, level), u)
        warm, u = minimize_at_trials(evaluate, x0, jnp.zeros(level_count), polish=True)
        return cold, warm, u, mode(warm.x)

    level_count = data.design.layout.term_levels[0]
    cold, warm, u, u_cold = both(jnp.asarray(start) + 0.3)  # several damped and full steps
    assert int(cold.status) == int(warm.status) == 0
    assert int(cold.iterations) == int(warm.iterations) >= 4
    np.testing.assert_allclose(warm.x, cold.x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose([warm.fun], [cold.fun], rtol=1e-14)
    np.testing.assert_allclose(warm.hess, cold.hess, rtol=1e-10)
    np.testing.assert_allclose(u, u_cold, rtol=1e-12, atol=1e-13)  # the warm mode: the mode


def test_the_mode_from_a_warm_start_is_the_mode_to_rounding():
    """The mode's loop ends with its first step below tol (Newton's quadratic convergence then
    leaves about tol^2): from starts 1e-1 to 1e-4 away, as the batch's warm starts are, it ends at
    the mode found with tol = 1e-15 from u = 0, and a start at the mode takes one iteration."""
    fit = FITS["binomial(logit)"]()
    _, (data, start, _) = batch._replicate_setup(fit, 100)
    level = scalar_term.level_constants(data, fit.family)
    theta, beta = jnp.asarray(start[:1]), jnp.asarray(start[1:])
    mode = jax.jit(partial(scalar_term.conditional_mode, data=data, family=fit.family, level=level),
                   static_argnames="tol")
    exact, _ = mode(theta, beta, tol=1e-15)
    noise = np.random.default_rng(5).normal(size=exact.shape)
    for distance in [1e-1, 1e-2, 1e-3, 1e-4]:
        u, iterations = mode(theta, beta, u0=exact + distance * noise)
        np.testing.assert_allclose(u, exact, rtol=0, atol=1e-12, err_msg=f"start {distance} away")
        assert iterations <= 4
    assert mode(theta, beta, u0=exact)[1] == 1
