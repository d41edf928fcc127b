"""Shift and scale invariance (issue 11): y -> y + c, y -> k y, x -> x + c, x -> k x give the same
criterion, estimates and standard errors, after the matching reparameterization, for c up to 1e9
and k from 1e-9 to 1e9; and lme4's numbers at shifted and scaled sleepstudy responses
(tests/reference_shift_scale.json, made by tests/make_shift_scale_reference.R).

Before the problem set-up centred the fixed-effects columns and took the least-squares fit out of
the response, a shift of 1e9 in the response gave sigma 7.58 instead of 25.59 (sleepstudy). A
random slope's column scaled by k (test_random_slope_scale) needs the optimizer's rescaled
coordinates (``lmm.theta_scale``)."""
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedjax as mj
from mixedjax._src.batch import refit_batch
from references import read_json

FORMULA = "y ~ x + z + (z | g)"
SHIFTS = (1e3, 1e6, 1e9)
SCALES = (1e-9, 1e-3, 1e3, 1e9)
TOLERANCE = 1e-8


def generated(seed: int) -> pd.DataFrame:
    """15 groups of 12 rows. x, z: integers 1..9 (never 0, and exact after the shifts), y on a grid
    of 2^-16 (exact after a shift of 1e9, whose float64 spacing is 2^-23)."""
    rng = np.random.default_rng(seed)
    groups, per_group = 15, 12
    g = np.repeat(np.arange(groups), per_group)
    x = rng.integers(1, 10, g.size).astype(float)
    z = rng.integers(1, 10, g.size).astype(float)
    effects = rng.normal(size=(groups, 2)) * [2.0, 0.5]
    y = 3.0 + 0.7 * x - 0.4 * z + effects[g, 0] + effects[g, 1] * z + rng.normal(size=g.size)
    return pd.DataFrame({"y": np.round(y * 2 ** 16) / 2 ** 16, "x": x, "z": z,
                         "g": pd.Categorical([f"g{i}" for i in g])})


def fit(data, reml):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no convergence or singularity warning is expected
        return mj.lmer(FORMULA, data, REML=reml)


def relative(ours, expected, floor=0.0):
    ours, expected = np.asarray(ours, float), np.asarray(expected, float)
    return float(np.max(np.abs(ours - expected) / np.maximum(np.abs(expected), floor)))


@pytest.fixture(scope="module", params=[(1, True), (2, False)], ids=["seed1-REML", "seed2-ML"])
def base(request):
    seed, reml = request.param
    data = generated(seed)
    return data, reml, fit(data, reml)


def assert_same_fit(other, base_fit, beta, vcov, criterion, sigma):
    assert relative([other.reml_criterion if base_fit.reml else other.deviance], [criterion]) < TOLERANCE
    assert relative(other.theta_values, base_fit.theta_values, 1.0) < TOLERANCE
    assert relative([other.sigma], [sigma]) < TOLERANCE
    assert relative(other.beta, beta) < TOLERANCE
    assert relative(np.sqrt(np.diag(other.vcov_matrix)), np.sqrt(np.diag(vcov))) < TOLERANCE


@pytest.mark.parametrize("c", SHIFTS)
def test_response_shift(base, c):
    data, reml, f = base
    other = fit(data.assign(y=data.y + c), reml)
    criterion = f.reml_criterion if reml else f.deviance
    assert_same_fit(other, f, f.beta + [c, 0, 0], f.vcov_matrix, criterion, f.sigma)


@pytest.mark.parametrize("k", SCALES)
def test_response_scale(base, k):
    data, reml, f = base
    other = fit(data.assign(y=data.y * k), reml)
    n, p = len(data), 3
    # the criterion's (n - p) log(2 pi pwrss) (n for ML) moves by log k^2 per degree of freedom
    criterion = (f.reml_criterion + (n - p) * np.log(k ** 2)) if reml else f.deviance + n * np.log(k ** 2)
    assert_same_fit(other, f, f.beta * k, f.vcov_matrix * k ** 2, criterion, f.sigma * k)


# A column x + c whose variation is below 1e-7 of its norm is collinear with the intercept by
# lme4's (R's QR's) rank tolerance, and dropped as lme4 drops it: here from c of about 2.6e7 on
PREDICTOR_SHIFTS = (1e3, 1e6, 1e7)


@pytest.mark.parametrize("c", PREDICTOR_SHIFTS)
def test_predictor_shift(base, c):
    data, reml, f = base
    other = fit(data.assign(x=data.x + c), reml)
    G = np.array([[1.0, -c, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # beta' = G beta
    criterion = f.reml_criterion if reml else f.deviance  # det G = 1
    assert_same_fit(other, f, G @ f.beta, G @ f.vcov_matrix @ G.T, criterion, f.sigma)


def test_predictor_shift_beyond_rank_tolerance_is_dropped_as_lme4_does(base):
    """lme4 1.1-31 on sleepstudy with Days + 1e9: "fixed-effect model matrix is rank deficient so
    dropping 1 column / coefficient" (tests/make_shift_scale_reference.R's data, checked by hand)."""
    data, reml, _ = base
    with pytest.warns(mj.RankDeficiencyWarning, match="dropping 1 column"):
        other = mj.lmer(FORMULA, data.assign(x=data.x + 1e9), REML=reml)
    assert list(other.fixef.index) == ["(Intercept)", "z"]


@pytest.mark.parametrize("k", SCALES)
def test_predictor_scale(base, k):
    data, reml, f = base
    other = fit(data.assign(x=data.x * k), reml)
    G = np.diag([1.0, 1.0 / k, 1.0])
    # REML's log|X'V^-1 X| moves by log det(G^-1)^2 = log k^2; the ML deviance does not
    criterion = f.reml_criterion + np.log(k ** 2) if reml else f.deviance
    assert_same_fit(other, f, G @ f.beta, G @ f.vcov_matrix @ G.T, criterion, f.sigma)


def test_batch_response_shift(base):
    """The vmapped batch path: shifted and scaled responses refitted in one batch."""
    data, reml, f = base
    Y = np.column_stack([data.y + 1e9, data.y * 1e-9, data.y * 1e9])
    batch = refit_batch(f, Y)
    assert batch.converged.all()
    n, p = len(data), 3
    for j, (shift, k) in enumerate([(1e9, 1.0), (0.0, 1e-9), (0.0, 1e9)]):
        dof = n - p if reml else n
        criterion = (f.reml_criterion if reml else f.deviance) + dof * np.log(k ** 2)
        assert relative([batch.criterion[j]], [criterion]) < TOLERANCE
        assert relative(batch.theta[j], f.theta_values, 1.0) < TOLERANCE
        assert relative(batch.beta[j], f.beta * k + [shift, 0, 0]) < TOLERANCE
        assert relative(batch.se[j], np.sqrt(np.diag(f.vcov_matrix)) * k) < TOLERANCE
        assert relative([batch.sigma[j]], [f.sigma * k]) < TOLERANCE


@pytest.fixture(scope="module")
def lme4_shifts():
    return read_json("reference_shift_scale.json")


def test_sleepstudy_against_lme4(sleepstudy, lme4_shifts):
    """lme4's criterion, theta, sigma, fixef and SEs at each shift and scale of Reaction."""
    for case in lme4_shifts["cases"]:
        data = sleepstudy.assign(Reaction=sleepstudy.Reaction * case["scale"] + case["shift"])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            f = mj.lmer(lme4_shifts["formula"], data)
        label = (case["shift"], case["scale"])
        # lme4's own theta moves by 2e-5 at a shift of 1e9 (its cross-products lose digits), so
        # its numbers are met to the reference suite's tolerances; the criterion to 1e-9
        assert relative([f.reml_criterion], [case["REMLcrit"]]) < 1e-9, label
        assert relative(f.theta_values, case["theta"], 1.0) < 1e-3, label
        assert relative([f.sigma], [case["sigma"]]) < 1e-3, label
        assert relative(f.beta, case["fixef"], 1e-3 * case["scale"]) < 1e-4, label
        assert relative(f.se, case["se"]) < 1e-4, label


@pytest.mark.parametrize("k", SCALES)
def test_random_slope_scale(base, k):
    """z -> k z where z also has a random slope: T's z row scales by 1/k. The optimizer works in
    power-of-two rescaled coordinates (``lmm.theta_scale``), so its path matches the k = 1 fit's
    only up to k's distance from a power of two, and theta agrees to the Newton stopping rule's
    accuracy (about 1e-6, as in test_properties' reordering test) rather than to rounding. Before,
    k = 1e9 gave an infinite criterion at the start and k = 1e-9 stopped at the iteration limit."""
    data, reml, f = base
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # lme4's checks, on theta's own scale, say what they say for lme4: theta below 1e-4 is
        # "singular", and the Hessian's eigenvalue ratio asks to rescale
        warnings.simplefilter("ignore", mj.SingularFitWarning)
        warnings.filterwarnings("ignore", "Model is nearly unidentifiable", mj.ConvergenceWarning)
        other = mj.lmer(FORMULA, data.assign(z=data.z * k), REML=reml)
    G = np.diag([1.0, 1.0, 1.0 / k])
    criterion = f.reml_criterion + np.log(k ** 2) if reml else f.deviance
    assert relative([other.reml_criterion if reml else other.deviance], [criterion]) < TOLERANCE
    assert relative(other.theta_values, f.theta_values / [1.0, k, k]) < 1e-5
    assert relative(other.beta, G @ f.beta) < 1e-7
    assert relative(other.se, np.sqrt(np.diag(G @ f.vcov_matrix @ G.T))) < 1e-6
