"""Properties of the deviance and the fit: exact gradients, invariances, no recompilation."""
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import mixedjax as mj


FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def fit(sleepstudy):
    return mj.lmer(FORMULA, sleepstudy)


def test_float64_is_on():
    assert jnp.asarray(1.0).dtype == jnp.float64


def test_gradient_matches_finite_differences(sleepstudy):
    devfun = mj.lmer(FORMULA, sleepstudy, devfun_only=True)
    theta = jnp.array([0.8, 0.1, 0.3])
    grad = np.asarray(jax.grad(devfun)(theta))
    h = 1e-6
    numeric = [(devfun(theta.at[i].add(h)) - devfun(theta.at[i].add(-h))) / (2 * h) for i in range(3)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def test_crossed_gradient_matches_finite_differences():
    from references import reference, reference_data
    spec = reference("public", "penicillin_crossed_reml")
    devfun = mj.lmer(spec["formula"], reference_data("public", spec), devfun_only=True)
    theta = jnp.array([1.2, 2.5])
    grad = np.asarray(jax.grad(devfun)(theta))
    numeric = [(devfun(theta.at[i].add(1e-6)) - devfun(theta.at[i].add(-1e-6))) / 2e-6 for i in range(2)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5)


def test_row_order_invariance(sleepstudy, fit):
    shuffled = sleepstudy.sample(frac=1.0, random_state=1).reset_index(drop=True)
    other = mj.lmer(FORMULA, shuffled)
    assert abs(other.reml_criterion - fit.reml_criterion) < 1e-8
    np.testing.assert_allclose(other.fixef, fit.fixef, rtol=1e-7)
    # theta is determined only to about sqrt(2 * stopping tolerance / curvature) ~ 1e-6 by the
    # Newton stopping rule (decrement < 64 eps |f| = 2.5e-11 here): a reordering changes rounding,
    # so the two stopping points agree to that, not to a relative 1e-6 of the small 0.015 entry
    np.testing.assert_allclose(other.theta, fit.theta, rtol=0, atol=1e-5)
    pd.testing.assert_frame_equal(other.ranef["Subject"], fit.ranef["Subject"], rtol=1e-4)  # modes follow theta


def test_level_relabelling_invariance(sleepstudy, fit):
    relabelled = sleepstudy.copy()
    relabelled["Subject"] = "S" + relabelled["Subject"].astype(str)
    other = mj.lmer(FORMULA, relabelled)
    assert abs(other.reml_criterion - fit.reml_criterion) < 1e-8
    np.testing.assert_allclose(other.ranef["Subject"].to_numpy(), fit.ranef["Subject"].to_numpy(), rtol=1e-5)


def test_refit_does_not_recompile(sleepstudy, fit):
    rng = np.random.default_rng(0)
    with mj.CompileCounter() as count:
        refit = fit.refit(sleepstudy["Reaction"].to_numpy() + rng.normal(0, 5, len(sleepstudy)))
    assert count.lowered == 0
    assert refit.reml_criterion != fit.reml_criterion
    same = fit.refit(sleepstudy["Reaction"].to_numpy())
    assert abs(same.reml_criterion - fit.reml_criterion) < 1e-9


def test_deviance_function_is_the_criterion(fit):
    devfun = fit.deviance_function()
    assert abs(float(devfun(jnp.asarray(fit.theta_values))) - fit.reml_criterion) < 1e-9


def test_predict_population_and_new_levels(sleepstudy, fit):
    np.testing.assert_allclose(fit.predict(), fit.fitted)
    new = pd.DataFrame({"Days": [0.0, 5.0], "Subject": ["308", "999"]})
    with pytest.raises(mj.DataError, match="new level"):
        fit.predict(new)
    pred = fit.predict(new, allow_new_levels=True)
    population = fit.predict(new, re_form="~0")
    np.testing.assert_allclose(pred[1], population[1])
    np.testing.assert_allclose(pred[0], fit.fitted[0])
    np.testing.assert_allclose(population, fit.fixef.iloc[0] + fit.fixef.iloc[1] * new["Days"])


def test_coef_adds_fixed_and_random(fit):
    coef = fit.coef["Subject"]
    np.testing.assert_allclose(coef["Days"], fit.fixef["Days"] + fit.ranef["Subject"]["Days"])


def test_html_repr(fit):
    assert "<table" in fit._repr_html_()
