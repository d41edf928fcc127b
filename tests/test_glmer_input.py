"""glmer's families, responses and bad input."""
import numpy as np
import pandas as pd
import pytest

import mixedjax as mj


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(12), 10)
    x = rng.normal(size=g.size)
    eta = 0.3 + 0.5 * x + rng.normal(0, 0.7, 12)[g]
    return pd.DataFrame({"y": rng.poisson(np.exp(eta)).astype(float), "x": x,
                         "g": [f"g{i:02d}" for i in g], "pos": np.exp(eta) + 0.1,
                         "b": (rng.random(g.size) < 1 / (1 + np.exp(-eta))).astype(float)})


def test_family_objects_and_names():
    assert str(mj.binomial("probit")) == "binomial(probit)"
    assert mj.glmer.__doc__ and mj.Gamma().link.name == "inverse"
    with pytest.raises(ValueError, match="link 'logit' not available for poisson"):
        mj.poisson("logit")
    with pytest.raises(ValueError, match="unknown family"):
        mj.Family("negbin", mj.binomial().link)


def test_gamma_rejects_non_positive_response(counts):
    with pytest.raises(mj.DataError, match=r"Gamma response: \d+ non-positive values"):
        mj.glmer("y ~ x + (1 | g)", counts, family="Gamma")


def test_binomial_rejects_values_outside_unit_interval(counts):
    with pytest.raises(mj.DataError, match="values outside"):
        mj.glmer("y ~ x + (1 | g)", counts, family="binomial")


def test_binomial_rejects_non_integer_successes(counts):
    data = counts.assign(p=np.clip(counts.pos / counts.pos.max(), 0, 1))
    with pytest.raises(mj.DataError, match="non-integer number of successes"):
        mj.glmer("p ~ x + (1 | g)", data, family="binomial", weights=np.full(len(data), 3.0))


def test_poisson_rejects_negative_counts(counts):
    data = counts.assign(y=counts.y - 3)
    with pytest.raises(mj.DataError, match="negative counts"):
        mj.glmer("y ~ x + (1 | g)", data, family="poisson")


def test_agq_needs_a_single_scalar_term(counts):
    with pytest.raises(ValueError, match="single, scalar random-effects term"):
        mj.glmer("b ~ x + (x | g)", counts, family="binomial", nAGQ=5)


def test_binomial_response_forms_agree(counts):
    as_float = mj.glmer("b ~ x + (1 | g)", counts, family="binomial")
    as_bool = mj.glmer("b ~ x + (1 | g)", counts.assign(b=counts.b.astype(bool)), family="binomial")
    as_factor = mj.glmer("b ~ x + (1 | g)", counts.assign(b=np.where(counts.b > 0, "yes", "no")),
                         family="binomial")
    as_cbind = mj.glmer("cbind(b, 1 - b) ~ x + (1 | g)", counts, family="binomial")
    for other in (as_bool, as_factor, as_cbind):
        assert abs(other.deviance - as_float.deviance) < 1e-8
        np.testing.assert_allclose(other.fixef, as_float.fixef, rtol=1e-7)


def test_gaussian_identity_is_lmer(counts):
    with pytest.warns(DeprecationWarning, match="shortcut to lmer"):
        fit = mj.glmer("pos ~ x + (1 | g)", counts, family="gaussian")
    assert isinstance(fit, mj.LinearMixedModel)


def test_residual_types_and_prediction_scales(counts):
    fit = mj.glmer("y ~ x + (1 | g)", counts, family="poisson")
    np.testing.assert_allclose(fit.predict(type="response"), fit.fitted, rtol=1e-10)
    np.testing.assert_allclose(np.exp(fit.predict()), fit.fitted, rtol=1e-10)
    dev = fit.residuals("deviance")
    assert np.all(np.sign(dev) == np.sign(counts.y - fit.fitted) + (counts.y == fit.fitted))
    np.testing.assert_allclose(fit.residuals("response"), counts.y - fit.fitted)
    np.testing.assert_allclose(fit.residuals("pearson"), (counts.y - fit.fitted) / np.sqrt(fit.fitted))
    new = counts.iloc[:3].assign(g="new")
    np.testing.assert_allclose(fit.predict(new, allow_new_levels=True),
                               fit.fixef.iloc[0] + fit.fixef.iloc[1] * new.x)


def test_nagq0_is_close_to_laplace(counts):
    laplace = mj.glmer("y ~ x + (1 | g)", counts, family="poisson")
    fast = mj.glmer("y ~ x + (1 | g)", counts, family="poisson", nAGQ=0)
    assert fast.deviance >= laplace.deviance - 1e-8
    np.testing.assert_allclose(fast.fixef, laplace.fixef, atol=0.05)
    assert "nAGQ = 0" in str(fast.summary())


def test_complete_separation_warns_not_nan(counts):
    data = counts.assign(s=(counts.x > 0).astype(float))
    with pytest.warns(mj.ConvergenceWarning, match="numerically 0 or 1|failed to converge"):
        fit = mj.glmer("s ~ x + (1 | g)", data, family="binomial")
    assert np.isfinite(fit.deviance) and np.all(np.isfinite(fit.fixef))
