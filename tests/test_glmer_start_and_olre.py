"""glmer's lme4 parity: observation-level random effects (glmer's level-count checks, lme4's
allow.n) and mustart= / etastart=, against lme4 fits made by tests/reference_glmm/make_reference_glmm.R."""
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedjax as mj
from references import path, read_json

REFERENCE = read_json("reference_glmm", "fits.json")


def _grouseticks() -> pd.DataFrame:
    data = pd.read_csv(path("reference_glmm", "grouseticks_olre.csv"))
    for column in ("INDEX", "BROOD", "YEAR", "LOCATION"):  # R's factor(): levels sorted numerically
        levels = sorted(data[column].unique())
        data[column] = pd.Categorical(data[column], categories=levels).rename_categories(str)
    return data


@pytest.fixture(scope="module")
def olre_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mj.glmer("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
                        _grouseticks(), family="poisson")


def test_observation_level_random_effect_matches_lme4(olre_fit):
    ref = REFERENCE["grouseticks_olre"]
    assert dict(olre_fit.ngrps) == ref["ngrps"]
    np.testing.assert_allclose(olre_fit.loglik, ref["loglik"], rtol=1e-6)
    np.testing.assert_allclose(olre_fit.beta, list(ref["fixef"].values()), rtol=2e-4, atol=2e-5)
    ours = dict(zip(olre_fit.theta.index, olre_fit.theta_values))
    np.testing.assert_allclose([ours[k] for k in ref["theta"]], list(ref["theta"].values()), rtol=2e-3)
    np.testing.assert_allclose(np.sqrt(np.diag(olre_fit.vcov_matrix)), list(ref["se"].values()), rtol=2e-3)


def test_lmer_keeps_fewer_levels_than_observations():
    data = _grouseticks()
    with pytest.raises(mj.DataError, match=r"must be < number of observations \(problems: INDEX"):
        mj.lmer("TICKS ~ cHEIGHT + (1 | INDEX)", data)


def test_glmer_refuses_more_random_effects_than_observations():
    data = _grouseticks()
    with pytest.raises(mj.DataError, match=r"number of observations \(=403\) < number of random effects \(=806\)"):
        mj.glmer("TICKS ~ cHEIGHT + (1 + cHEIGHT | INDEX)", data, family="poisson")


@pytest.fixture(scope="module")
def zeros_data() -> pd.DataFrame:
    data = pd.read_csv(path("reference_glmm", "gaussian_log_zeros.csv"))
    data["g"] = pd.Categorical(data["g"])
    data["start"] = np.maximum(data["y"], 0.1)
    return data


def test_gaussian_log_with_zeros_needs_starting_values(zeros_data):
    assert (zeros_data["y"] == 0).sum() > 0
    with pytest.raises(mj.DataError, match="cannot find valid starting values.*mustart="):
        mj.glmer("y ~ x + (1 | g)", zeros_data, family=mj.gaussian("log"))


@pytest.mark.parametrize("argument", ["mustart", "etastart"])
def test_mustart_and_etastart_match_lme4(zeros_data, argument):
    ref = REFERENCE[f"gaussian_log_zeros_{argument}_tight"]
    start = zeros_data["start"] if argument == "mustart" else np.log(zeros_data["start"].to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = mj.glmer("y ~ x + (1 | g)", zeros_data, family=mj.gaussian("log"), **{argument: start})
    assert fit.optimizer.status in (0, 2) and not fit.optimizer.messages
    # lme4's default fit stops short (max|grad| = 0.017, in fits.json); with tight tolerances it
    # reaches this optimum, where our criterion is not above its own
    assert -2 * fit.loglik <= -2 * ref["loglik"] + 1e-8 * abs(ref["loglik"])
    np.testing.assert_allclose(fit.loglik, ref["loglik"], rtol=1e-8)
    np.testing.assert_allclose(fit.beta, list(ref["fixef"].values()), rtol=1e-4)
    np.testing.assert_allclose(fit.theta_values, list(ref["theta"].values()), rtol=1e-4)
    np.testing.assert_allclose(fit.sigma, ref["sigma"], rtol=1e-4)


def test_mustart_by_column_name_and_bad_values(zeros_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_name = mj.glmer("y ~ x + (1 | g)", zeros_data, family=mj.gaussian("log"), mustart="start")
    assert np.isfinite(by_name.deviance)
    with pytest.raises(mj.DataError, match="mustart= gives 1 starting means outside"):
        mj.glmer("y ~ x + (1 | g)", zeros_data.assign(start=np.r_[-1.0, zeros_data["start"][1:]]),
                 family=mj.gaussian("log"), mustart="start")
    with pytest.raises(ValueError, match="not both"):
        mj.glmer("y ~ x + (1 | g)", zeros_data, family=mj.gaussian("log"), mustart="start",
                 etastart="start")
