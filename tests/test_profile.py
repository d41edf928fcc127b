"""Profile confidence intervals against lme4 1.1-31 (``confint(fit)``, ``profile(fit)``).

References: tests/reference_inference/make_profile.R -> tests/reference_inference/profile/<id>.json.

Tolerance: an interval end agrees when |ours - lme4| <= 1e-3 * max(1, |lme4|), i.e. absolute
1e-3 on the sd/correlation scale for values up to 1, relative 1e-3 above (sigma ~ 25, intercepts
~ 1500). lme4's profile points come from bobyqa minimizations that stop at about 1e-6 of the
deviance; ours are Newton minimizations to 1e-10, so the two splines differ by lme4's noise
(seen: 1e-4 relative at most).
"""
from __future__ import annotations

import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

import mixedjax as mj
from references import ROOT_OF_FOLDER, case_ids, read_json, reference, reference_data, reference_fit
from mixedjax._src.inference.profile import _correlation_mask, ProfileWarning, chi_square_quantile, zeta_at
from mixedjax._src.inference.profile_spline import SplineError, back_spline, evaluate_back_spline

PROFILE_DIR = ("reference_inference", "profile")
TOLERANCE = 1e-3


def _numbers(values) -> np.ndarray:
    """jsonlite writes R's NA as the string "NA"."""
    return np.array([np.nan if v in ("NA", None) else v for v in values], float)


def _lme4(fit_id: str) -> dict:
    return read_json(*PROFILE_DIR, f"{fit_id}.json")


def _profiled_ids() -> list[str]:
    return [fit_id for fit_id in case_ids(*PROFILE_DIR) if "error" not in _lme4(fit_id)]


def _fit(fit_id: str):
    return reference_fit(ROOT_OF_FOLDER[_lme4(fit_id)["root"]], fit_id)


_PROFILES: dict[str, mj.Profile] = {}


def _profile(fit_id: str):
    """One profile per reference fit for the whole session (warnings recorded, not raised)."""
    if fit_id not in _PROFILES:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            profile = _fit(fit_id).profile()
        profile.caught = [str(w.message) for w in caught]
        _PROFILES[fit_id] = profile
    return _PROFILES[fit_id]


def _interval(profile, level: float) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProfileWarning)
        return profile.confint(level)


# fast cases run by default; the larger models (more parameters, bigger designs) are marked slow
FAST = ["sleepstudy_slopes_reml", "sleepstudy_slopes_ml", "sleepstudy_uncorr_reml", "dyestuff_reml",
        "dyestuff_ml", "dyestuff2_reml_singular", "penicillin_crossed_reml", "pastes_nested_reml",
        "seed1_lmer_ml", "cbpp_binomial_laplace", "grouseticks_poisson_laplace", "sleepstudy_sub6_singular_reml"]
# lme4's own profile fails for every variance parameter of this singular fit (correlation at +1, 6
# subjects: "NAs detected in profiling", NA intervals); ours is checked against lme4's deviance
# function at our interval ends instead (test_singular_fit_profile_agrees_with_lme4_deviance)
LME4_PROFILE_FAILED = {"sleepstudy_sub6_singular_reml"}
CASES = [pytest.param(i, marks=() if i in FAST else [pytest.mark.slow]) for i in _profiled_ids()]


@pytest.mark.parametrize("fit_id", CASES)
@pytest.mark.parametrize("level,key", [(0.95, "confint_95"), (0.9, "confint_90")])
def test_profile_intervals_match_lme4(fit_id, level, key):
    lme4 = _lme4(fit_id)[key]
    ours = _interval(_profile(fit_id), level)
    assert list(ours.index) == lme4["names"]
    assert list(ours.columns) == lme4["columns"]
    theirs = np.column_stack([_numbers(lme4["lower"]), _numbers(lme4["upper"])])
    values = ours.to_numpy()
    if fit_id in LME4_PROFILE_FAILED:
        assert np.all(np.isfinite(values)), ours  # where lme4 gives NA, we give an interval
    else:
        np.testing.assert_array_equal(np.isnan(values), np.isnan(theirs))
    finite = np.isfinite(theirs)
    error = np.abs(values[finite] - theirs[finite]) / np.maximum(np.abs(theirs[finite]), 1.0)
    assert np.max(error, initial=0.0) <= TOLERANCE, ours.assign(lme4_lower=theirs[:, 0],
                                                                lme4_upper=theirs[:, 1])


def test_singular_fit_profile_agrees_with_lme4_deviance():
    """sleepstudy on 6 subjects (REML, correlation +1, singular): lme4's profile() fails, so
    make_profile_singular.R minimizes lme4's own profile deviance (devfun2, ML) at fixed values of
    each variance parameter, our 90% and 95% interval ends among them. Our zeta there is lme4's,
    and our ends are where lme4's zeta reaches qnorm(0.95) and qnorm(0.975). The correlation's
    profile is flat below about -0.24 (the Days sd is 0 there, and with it the correlation has no
    effect), at zeta -1.114, so its interval is the whole of [-1, 1]."""
    fit_id = "sleepstudy_sub6_singular_reml"
    lme4 = read_json("reference_inference", "profile_singular.json")
    fit = _fit(fit_id)
    points = pd.DataFrame(lme4["points"])
    for parameter, rows in points.groupby("parameter", sort=False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ProfileWarning)
            ours = zeta_at(fit, parameter, rows["value"].to_numpy())["zeta"].to_numpy()
        np.testing.assert_allclose(ours, rows["zeta"].to_numpy(), atol=2e-4, err_msg=parameter)
    profile = _profile(fit_id)
    for level in (0.9, 0.95):
        quantile = NormalDist().inv_cdf(0.5 + level / 2)
        interval = _interval(profile, level)
        assert tuple(interval.loc[".sig02"]) == (-1.0, 1.0)
        assert interval.loc[".sig03"].iloc[0] == 0.0  # the sd's profile reaches its bound first
        for parameter, side in [(".sig01", 0), (".sig01", 1), (".sig03", 1), (".sigma", 0), (".sigma", 1)]:
            end = interval.loc[parameter].iloc[side]
            at_end = points[(points["parameter"] == parameter) & np.isclose(points["value"], end, rtol=1e-6)]
            assert len(at_end) == 1, (parameter, end)
            assert abs(abs(float(at_end["zeta"].iloc[0])) - quantile) < 1e-3, (parameter, level, end)


@pytest.mark.parametrize("fit_id", ["sleepstudy_slopes_reml", "cbpp_binomial_laplace",
                                    pytest.param("penicillin_crossed_reml", marks=pytest.mark.slow)])
def test_zeta_agrees_at_lme4_profile_points(fit_id):
    """Our profile evaluated at lme4's own profile points: the same zeta. lme4's conditional
    minima are bobyqa's (about 1e-6 on the deviance scale), so zeta = sqrt(deviance gap) agrees to
    about 1e-3 away from 0; ours is never above lme4's by more than that noise (a minimum).

    Where lme4's conditional minimum sits on a correlation bound (+-1; sleepstudy's .sig01 far
    below its estimate), our minimum over the open interval is lower still (|zeta| 4.527 against
    lme4's 4.587: a deviance 0.55 lower at a valid parameter), so there only that is asserted."""
    table = _lme4(fit_id)["profile"]
    names = np.array(table[".par"])
    fit = _fit(fit_id)
    correlations = [name for name, is_corr in zip(fit._sig_names(), _correlation_mask(
        fit.spec.design.layout)) if is_corr]
    for parameter in dict.fromkeys(names):
        rows = names == parameter
        values = _numbers(table[parameter])[rows]
        zeta = _numbers(table[".zeta"])[rows]
        at_bound = np.zeros(rows.sum(), bool)
        for name in correlations:
            at_bound |= np.abs(_numbers(table[name])[rows]) > 1 - 1e-8
        keep = np.isfinite(zeta) & (np.abs(zeta) > 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ProfileWarning)
            ours = np.asarray(zeta_at(fit, parameter, values[keep])["zeta"])
        interior = ~at_bound[keep]
        np.testing.assert_allclose(ours[interior], zeta[keep][interior], atol=2e-3, rtol=1e-3,
                                   err_msg=parameter)
        assert np.all(np.abs(ours[~interior]) <= np.abs(zeta[keep][~interior]) + 2e-3), parameter


def test_spline_inversion_reproduces_lme4_from_its_own_profile():
    """Given lme4's profile points, our back spline gives lme4's intervals to rounding: the
    inversion is the same piecewise polynomial (splines::interpSpline then backSpline)."""
    target = NormalDist().inv_cdf(0.975)
    checked = 0
    for fit_id in _profiled_ids():
        spec = _lme4(fit_id)
        table, interval = spec["profile"], spec["confint_95"]
        names = np.array(table[".par"])
        for name, lower, upper in zip(interval["names"], _numbers(interval["lower"]),
                                      _numbers(interval["upper"])):
            rows = names == name
            x, zeta = _numbers(table[name])[rows], _numbers(table[".zeta"])[rows]
            keep = np.isfinite(zeta)
            order = np.argsort(x[keep], kind="stable")
            try:
                knots, coef = back_spline(x[keep][order], zeta[keep][order])
            except SplineError:
                continue  # lme4 fell back to linear interpolation here
            ends = evaluate_back_spline(knots, coef, [-target, target])
            for ours, theirs in zip(ends, (lower, upper)):
                if np.isfinite(ours):
                    assert abs(ours - theirs) <= 1e-9 * max(1.0, abs(theirs)), (fit_id, name)
                    checked += 1
    assert checked > 100


def test_profile_table_and_centre():
    """The table lists every parameter's points in lme4's order; a REML fit is profiled on the
    ML deviance (lme4's devfun2 refits by ML), so zeta = 0 sits at the ML estimates."""
    profile = _profile("sleepstudy_slopes_reml")
    names = [".sig01", ".sig02", ".sig03", ".sigma", "(Intercept)", "Days"]
    assert profile.parameters == names
    assert list(profile.table.columns[:3]) == ["parameter", "value", "zeta"]
    assert list(profile.table.columns[3:]) == names
    ml = mj.lmer("Reaction ~ Days + (Days | Subject)",
                 reference_data("public", reference("public", "sleepstudy_slopes_reml")), REML=False)
    centre = profile.table[(profile.table["parameter"] == ".sigma") & (profile.table["zeta"] == 0)]
    assert centre["value"].iloc[0] == pytest.approx(ml.sigma, rel=1e-8)
    assert profile.base_deviance == pytest.approx(ml.deviance, rel=1e-10)
    for name, points in profile.table.groupby("parameter", sort=False):
        assert np.all(np.diff(points["value"]) > 0)
        assert np.all(np.diff(points["zeta"].dropna()) > 0), name
        np.testing.assert_allclose(points["value"], points[name])  # the fixed coordinate
    lme4_points = np.array(_lme4("sleepstudy_slopes_reml")["profile"][".par"])
    for name in names:  # the same grid rule gives about the same number of points as lme4
        assert abs(np.sum(profile.table["parameter"] == name) - np.sum(lme4_points == name)) <= 2


def test_singular_fit_gets_lme4s_boundary_interval_end():
    """Dyestuff2: the sd estimate is 0, so its profile only goes up and the lower end is the
    bound 0 (lme4 prints 0), with a warning; no NaN and no crash."""
    profile = _profile("dyestuff2_reml_singular")
    sig = profile.table[profile.table["parameter"] == ".sig01"]
    assert sig["value"].min() == 0.0 and np.all(sig["zeta"] >= 0)
    with pytest.warns(ProfileWarning, match=r"\.sig01"):
        interval = profile.confint()
    assert interval.loc[".sig01", "2.5 %"] == 0.0
    assert np.all(np.isfinite(interval.to_numpy()))


def test_confint_dispatch_and_level_columns():
    fit = _fit("dyestuff_ml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProfileWarning)
        default = fit.confint()
        chosen = fit.confint(method="profile", level=0.8, which=".sigma")
    assert list(default.index) == [".sig01", ".sigma", "(Intercept)"]
    assert list(chosen.index) == [".sigma"] and list(chosen.columns) == ["10 %", "90 %"]
    assert default.loc[".sigma", "2.5 %"] < chosen.loc[".sigma", "10 %"] < fit.sigma
    wald = fit.confint(method="Wald")
    assert np.isnan(wald.loc[".sig01"]).all() and np.isfinite(wald.loc["(Intercept)"]).all()


def test_bad_input_is_named():
    fit = _fit("dyestuff_ml")
    with pytest.raises(ValueError, match="which: unknown parameter 'sd_Batch'"):
        fit.profile(which="sd_Batch")
    with pytest.raises(ValueError, match="method must be 'profile', 'Wald' or 'boot'"):
        fit.confint(method="likelihood")
    with pytest.raises(ValueError, match="alphamax"):
        fit.profile(alphamax=1.5)
    with pytest.raises(ValueError, match="level"):
        _profile("dyestuff_ml").confint(level=95)


def test_unprofilable_glmer_fits_say_why():
    """lme4 fails on nAGQ=0 ("theta size mismatch"); we say why and what to use instead. (lme4
    also refuses a Gamma fit, "can't (yet) profile GLMMs with non-fixed scale parameters"; we
    profile it: tests/test_profile_dispersion.py.)"""
    assert "error" in _lme4("cbpp_binomial_nagq0") and "error" in _lme4("seed2_glmer_gamma_log")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nagq0 = reference_fit("extra", "cbpp_binomial_nagq0")
    with pytest.raises(ValueError, match="nAGQ=0"):
        nagq0.confint()


def test_chi_square_quantile():
    # qchisq(0.99, 6) and qchisq(0.95, 1) = qnorm(0.975)^2, from R
    assert chi_square_quantile(0.99, 6) == pytest.approx(16.81189383, rel=1e-9)
    assert chi_square_quantile(0.95, 1) == pytest.approx(NormalDist().inv_cdf(0.975) ** 2, rel=1e-10)


def test_plot_delegates_to_plots_module():
    pytest.importorskip("matplotlib")
    plots = pytest.importorskip("mixedjax.plots")
    assert hasattr(plots, "plot_profile")
    import matplotlib
    matplotlib.use("Agg")
    _profile("dyestuff_ml").plot()


def test_the_first_profile_point_stays_inside_the_bounds():
    """p * 1.01 of a correlation at -1 or +1 would leave [-1, 1]; the first step then goes inside."""
    from mixedjax._src.inference.profile import _shifted
    first = _shifted(np.array([1.0, -1.0, 0.5, 0.0, 2.0]), np.array([-1.0, -1.0, -1.0, 0.0, 0.0]),
                     np.array([1.0, 1.0, 1.0, np.inf, np.inf]))
    np.testing.assert_allclose(first, [0.99, -0.99, 0.505, 0.001, 2.02])
