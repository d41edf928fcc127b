"""Argument values that mixedjax cannot use get an ArgumentError naming the argument, the value and
the fix, before they reach numpy or JAX (which failed with internal errors, or silently read
``REML='FALSE'`` as True and ``nAGQ=2.5`` as 2; issue 11)."""
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedjax as mj

FORMULA = "Reaction ~ Days + (1 | Subject)"


@pytest.fixture(scope="module")
def fit(sleepstudy):
    return mj.lmer(FORMULA, sleepstudy)


@pytest.fixture(scope="module")
def binary(sleepstudy):
    data = sleepstudy.copy()
    data["high"] = (data["Reaction"] > 300).astype(float)
    return data


@pytest.fixture(scope="module")
def binary_fit(binary):
    return mj.glmer("high ~ Days + (1 | Subject)", binary, family="binomial")


def test_argument_error_is_exported_and_a_value_error():
    assert issubclass(mj.ArgumentError, ValueError)


@pytest.mark.parametrize("value", ["FALSE", None, 0, 1.0, "TRUE"])
def test_reml_must_be_a_bool(sleepstudy, value):
    with pytest.raises(mj.ArgumentError, match=rf"REML must be True or False, got {value!r}"):
        mj.lmer(FORMULA, sleepstudy, REML=value)


def test_numpy_bool_reml_is_accepted(sleepstudy, fit):
    assert mj.lmer(FORMULA, sleepstudy, REML=np.True_).reml_criterion == pytest.approx(fit.reml_criterion, rel=1e-12)


@pytest.mark.parametrize("value, message", [(2.5, "nAGQ must be a whole number, got 2.5"),
                                            ("1", "nAGQ must be a whole number, got '1'"),
                                            (-1, "nAGQ must be between 0 and 100, got -1"),
                                            (101, "nAGQ must be between 0 and 100, got 101")])
def test_nagq_must_be_a_whole_number_in_range(binary, value, message):
    with pytest.raises(mj.ArgumentError, match=message):
        mj.glmer("high ~ Days + (1 | Subject)", binary, family="binomial", nAGQ=value)


def test_unknown_family_is_an_argument_error(binary):
    with pytest.raises(mj.ArgumentError, match="family must be a mixedjax family"):
        mj.glmer("high ~ Days + (1 | Subject)", binary, family="binomal")


@pytest.mark.parametrize("call", [lambda f: f.simulate(-1), lambda f: f.simulate(0),
                                  lambda f: f.bootstrap(-5), lambda f: f.bootstrap(0),
                                  lambda f: f.simulate(2.5)])
def test_nsim_must_be_positive(fit, call):
    with pytest.raises(mj.ArgumentError, match="nsim must be"):
        call(fit)


def test_seed_and_bootstrap_statistic(fit):
    with pytest.raises(mj.ArgumentError, match="seed must be between"):
        fit.simulate(2, seed=2 ** 70)
    with pytest.raises(mj.ArgumentError, match="statistic must be a function"):
        fit.bootstrap(2, statistic="fixef")


def test_confint_level_and_method(fit):
    with pytest.raises(mj.ArgumentError, match="level must be a number between 0 and 1, got 95"):
        fit.confint("Wald", level=95)
    with pytest.raises(mj.ArgumentError, match="method must be 'profile', 'Wald' or 'boot'"):
        fit.confint("wald")


def test_power_nsim_and_levels(sleepstudy):
    design = sleepstudy[["Days", "Subject"]]
    with pytest.raises(mj.ArgumentError, match="nsim must be at least 1, got 0"):
        mj.power(FORMULA, design, beta=[250, 10], theta=[1.0], sigma=25, nsim=0)
    with pytest.raises(mj.ArgumentError, match="alpha must be a number between 0 and 1"):
        mj.power(FORMULA, design, beta=[250, 10], theta=[1.0], sigma=25, nsim=2, alpha=5)
    with pytest.raises(mj.ArgumentError, match="sigma must be a positive number"):
        mj.simulate_formula(FORMULA, design, beta=[250, 10], theta=[1.0], sigma=-1)
    with pytest.raises(mj.ArgumentError, match=r"beta needs 2 values"):
        mj.simulate_formula(FORMULA, design, beta=[250], theta=[1.0], sigma=1)


def test_refit_batch_sizes_and_responses(fit):
    frame = fit.simulate(2)
    with pytest.raises(mj.ArgumentError, match=r"Y: 80 of the fit's 180 row labels are not in its index"):
        fit.refit_batch(frame.iloc[:100])
    Y = fit.simulate(2, as_frame=False)
    np.testing.assert_array_equal(Y, frame.to_numpy())
    with pytest.raises(mj.ArgumentError, match="chunk_size must be at least 1, got 0"):
        fit.refit_batch(Y, chunk_size=0)
    with pytest.raises(mj.ArgumentError, match="vmap_width must be at least 1"):
        fit.refit_batch(Y, vmap_width=0)
    with pytest.raises(mj.ArgumentError, match="threads must be at least 1, got 0"):
        fit.refit_batch(Y, threads=0)
    with pytest.raises(mj.ArgumentError, match=r"shape \(nobs, nsim\) = \(180, nsim\).*\(100, 2\)"):
        fit.refit_batch(Y[:100])
    with pytest.raises(mj.ArgumentError, match=r"nsim >= 1, got \(180, 0\)"):
        fit.refit_batch(Y[:, :0])
    Y[7, 1] = np.nan
    with pytest.raises(mj.ArgumentError, match="1 non-finite value .*row 7, column 1"):
        fit.refit_batch(Y)


def test_binomial_refit_batch_needs_proportions(binary_fit):
    counts = np.full((binary_fit.nobs, 3), 3.0)
    with pytest.raises(mj.DataError, match=r"not a valid binomial response \(for counts of successes, "
                                           r"divide by the trials.*540 values outside \[0, 1\]"):
        binary_fit.refit_batch(counts)


def test_start_must_match_theta(sleepstudy):
    with pytest.raises(mj.ArgumentError, match=r"start must have 1 value \(theta, the covariance "
                                               r"parameters Subject.\(Intercept\)\), got shape \(3,\)"):
        mj.lmer(FORMULA, sleepstudy, start=[1.0, 0.0, 1.0])
    with pytest.raises(mj.ArgumentError, match="start has 1 non-finite value .*position 0: nan"):
        mj.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy, start=[np.nan, 0.0, 1.0])
    with pytest.raises(mj.ArgumentError, match="start must have 1 value"):
        mj.glmer("Reaction ~ Days + (1 | Subject)", sleepstudy, family=mj.Gamma("log"), start=[1.0, 2.0])


def test_start_of_the_right_length_is_used(sleepstudy, fit):
    from_start = mj.lmer(FORMULA, sleepstudy, start=[0.5])
    assert from_start.optimizer.start.tolist() == [0.5]
    assert from_start.reml_criterion == pytest.approx(fit.reml_criterion, rel=1e-10)


def test_max_iterations_must_be_positive(sleepstudy):
    with pytest.raises(mj.ArgumentError, match="max_iterations must be at least 1, got 0"):
        mj.lmer(FORMULA, sleepstudy, max_iterations=0)


def test_refit_response_length_and_finiteness(fit, sleepstudy):
    y = sleepstudy["Reaction"].to_numpy()
    with pytest.raises(mj.ArgumentError, match=r"new response must have 180 values .*got shape \(100,\)"):
        fit.refit(y[:100])
    bad = y.copy()
    bad[3] = np.nan
    with pytest.raises(mj.ArgumentError, match="1 non-finite value .*position 3: nan"):
        fit.refit(bad)
    assert fit.refit(pd.Series(y)).reml_criterion == pytest.approx(fit.reml_criterion, rel=1e-10)


def test_non_finite_start_reports_non_finite_status(sleepstudy):
    data = sleepstudy.copy()
    data["Reaction"] = data["Reaction"] * 1e200  # its squares overflow
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = mj.lmer(FORMULA, data)
    assert fit.optimizer.status == 3 and "not finite at the start" in fit.optimizer.message
    texts = [str(w.message) for w in caught if issubclass(w.category, mj.ConvergenceWarning)]
    assert any("not finite at the starting values" in t and "rescale" in t for t in texts)
    assert not any("iteration limit" in t for t in texts)


def test_start_given_as_text_is_an_error(sleepstudy):
    with pytest.raises(mj.ArgumentError, match="start must be 1 number"):
        mj.lmer(FORMULA, sleepstudy, start=["0.5"])
