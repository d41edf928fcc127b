"""Every GLMM family batches and bootstraps: refit_batch, bootstrap, confint(method="boot") and
simulate for binomial, poisson, Gamma, inverse.gaussian, gaussian with log and inverse links, and
the negative binomial (glmer_nb), each replicate equal to a fresh single glmer fit of the same
response."""
import warnings

import numpy as np
import pandas as pd
import pytest
from references import reference_fit

import mixedjax as mj

NSIM, SEED = 3, 5


def _gaussian_data(link: str) -> pd.DataFrame:
    """10 groups of 15, unit noise around a log- or inverse-linked mean (all means positive)."""
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(10), 15)
    x = rng.uniform(0, 1, g.size)
    b = rng.normal(0, 0.3, 10)[g]
    mu = np.exp(2.0 + 0.5 * x + b) if link == "log" else 1.0 / (0.2 + 0.1 * x + 0.1 * b)
    return pd.DataFrame({"y": mu + rng.normal(0, 1.0, g.size), "x": x,
                         "g": pd.Categorical([f"g{i:02d}" for i in g])})


def _gaussian_fit(link: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mj.glmer("y ~ x + (1 | g)", _gaussian_data(link), family=mj.gaussian(link))


FITS = {
    "binomial": lambda: reference_fit("public", "cbpp_binomial_laplace"),
    "poisson": lambda: reference_fit("extra", "sim_poisson_offset_arg"),
    "Gamma": lambda: reference_fit("public", "seed2_glmer_gamma_log"),
    "inverse.gaussian": lambda: reference_fit("public", "seed3_glmer_invgauss_log"),
    "gaussian(log)": lambda: _gaussian_fit("log"),
    "gaussian(inverse)": lambda: _gaussian_fit("inverse"),
    # nAGQ = 0: standard errors from R_X (a batch once returned none, and crashed in lax.map)
    "poisson nAGQ=0": lambda: reference_fit("extra", "grouseticks_poisson_nagq0"),
    # theta estimated; refits hold it at the estimate (fresh_fit: glmer with that family), as lme4
    "negative binomial": lambda: mj.glmer_nb("TICKS ~ YEAR + cHEIGHT + (1 | BROOD)",
                                             mj.datasets.load("grouseticks")),
}


def fresh_fit(fit, y):
    """glmer on the fit's data with the response replaced by y (binomial: successes from y)."""
    data = fit.spec.frame.data.copy()
    response = fit.spec.formula.response
    if response.startswith("cbind"):
        data["incidence"] = np.round(y * fit.prior_weights)
    else:
        data[response] = y
    offset = fit.spec.frame.offset if fit.spec.frame.offset_name else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mj.glmer(fit.spec.formula.text, data, family=fit.family, offset=offset, nAGQ=fit.nAGQ)


# gaussian with a non-identity link compiles as much again as the others and shares their code
# paths: slow (the full CI runs them)
PARAMS = [pytest.param(name, marks=pytest.mark.slow)
          if name.startswith("gaussian") or name == "negative binomial" else name for name in FITS]


@pytest.fixture(scope="module", params=PARAMS)
def family_batch(request):
    fit = FITS[request.param]()
    Y = fit.simulate(NSIM, seed=SEED, as_frame=False)
    return fit, Y, fit.refit_batch(Y)


def test_batch_equals_fresh_single_fits(family_batch):
    fit, Y, batch = family_batch
    assert Y.shape == (fit.nobs, NSIM) and np.all(np.isfinite(Y))
    compared = 0
    for j in range(NSIM):
        single = fresh_fit(fit, Y[:, j])
        if not (batch.converged[j] and single.optimizer.status in (0, 2) and not single.optimizer.messages):
            continue
        compared += 1
        np.testing.assert_allclose(batch.criterion[j], single.deviance, rtol=1e-8)
        np.testing.assert_allclose(batch.beta[j], single.beta, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(batch.theta[j], single.theta_values, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(batch.sigma[j], single.sigma, rtol=1e-8)
        np.testing.assert_allclose(batch.se[j], np.sqrt(np.diag(single.vcov_matrix)), rtol=1e-8)
    assert compared >= 2


def test_bootstrap_and_boot_intervals(family_batch):
    fit, _, batch = family_batch
    boot = fit.bootstrap(NSIM, seed=SEED)  # the same draws as the fixture's
    np.testing.assert_array_equal(boot.batch.beta, batch.beta)
    assert np.all(np.isfinite(boot.replicates.to_numpy()[batch.converged]))
    intervals = fit.confint(method="boot", nsim=NSIM, seed=SEED)
    assert list(intervals.index) == fit._sig_names() + list(fit.fixef.index)
    assert np.all(np.isfinite(intervals.to_numpy()))
    assert np.all(intervals.iloc[:, 0] <= intervals.iloc[:, 1])


def test_refit_equals_a_fresh_fit(family_batch):
    fit, Y, _ = family_batch
    y = Y[:, 0]
    single = fresh_fit(fit, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refitted = fit.refit(y)
    assert single.optimizer.status in (0, 2) and refitted.optimizer.status in (0, 2)
    np.testing.assert_allclose(refitted.deviance, single.deviance, rtol=1e-8)
    np.testing.assert_allclose(refitted.beta, single.beta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(refitted.theta_values, single.theta_values, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(refitted.sigma, single.sigma, rtol=1e-8)
    np.testing.assert_allclose(refitted.vcov_matrix, single.vcov_matrix, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(refitted.fitted, single.fitted, rtol=1e-8)
    np.testing.assert_array_equal(refitted.y, y)


def test_refit_binomial_successes_and_failures():
    fit = FITS["binomial"]()
    Y = fit.simulate(1, seed=SEED)["sim_1"]
    successes = np.round(Y * fit.prior_weights)
    by_proportion = fit.refit(Y)
    by_counts = fit.refit(np.column_stack([successes, fit.prior_weights - successes]))
    np.testing.assert_allclose(by_counts.deviance, by_proportion.deviance, rtol=1e-12)
    np.testing.assert_allclose(by_counts.beta, by_proportion.beta, rtol=1e-12)


def test_refit_rejects_a_response_of_the_wrong_length():
    fit = FITS["Gamma"]()
    with pytest.raises(mj.DataError, match=r"newresp has shape \(5,\)"):
        fit.refit(np.ones(5))
    with pytest.raises(mj.DataError, match="non-positive"):
        fit.refit(-np.ones(fit.nobs))


def test_a_previously_failing_gamma_dataset_converges():
    """simulate(3, seed=5)[:, 1] of the chapter's Gamma(log) fit: PIRLS overshot one level's mode
    to 22 (the mode is 2.4) and crawled back for its 100 iterations, the Laplace deviance jumped
    from 81 to 1,700 between neighbouring theta, and the fit stopped with max|grad| = 1.35."""
    from mixedjax._src import glmm
    from mixedjax._src.results import ConvergenceWarning
    fit = FITS["Gamma"]()
    y = fit.simulate(NSIM, seed=SEED)["sim_2"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        single = fresh_fit_strict(fit, y)
    assert single.optimizer.status == 0
    theta, beta = np.array([2.6]), np.array([3.18461675, -8.27321499])
    data = single.data
    u, iterations = glmm.pirls(theta, beta, data, single.family, False)
    psud = lambda v: float(glmm.penalized_deviance(v, theta, beta, data, single.family, False))
    assert int(iterations) < 30
    assert np.max(np.abs(np.asarray(u))) < 3.0  # every level's mode, not a stray one at 22
    assert psud(u) <= psud(np.asarray(glmm.newton_step(u, theta, beta, data, single.family, False))) + 1e-9


def fresh_fit_strict(fit, y):
    """``fresh_fit`` letting warnings through (the caller decides which are errors)."""
    data = fit.spec.frame.data.copy()
    data[fit.spec.formula.response] = y
    return mj.glmer(fit.spec.formula.text, data, family=fit.family)


def test_previously_crashing_gamma_seeds_fit():
    """Datasets of benchmarks/bench_glmm_robust.py's Gamma(log) design (seed 2026) on which the
    code before PIRLS's step control raised FloatingPointError (10, 16, 21) or stopped with
    max|grad| = 1.1 and 2.2 (19, 30): every one now fits and converges."""
    from references import ROOTS
    from mixedjax._src.results import ConvergenceWarning
    data = pd.read_csv(f"{ROOTS['public']}/data/seed2_gamma.csv")
    data["grupo"] = pd.Categorical(data["grupo"].astype(str))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = mj.glmer("y ~ x + (1 | grupo)", data, family=mj.Gamma("log"))
    Y = fit.simulate(100, seed=2026, as_frame=False)
    for dataset in (10, 16, 21, 19, 30):
        data["y"] = Y[:, dataset - 1]
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            refitted = mj.glmer("y ~ x + (1 | grupo)", data, family=mj.Gamma("log"))
        assert refitted.optimizer.status == 0 and np.isfinite(refitted.deviance)
