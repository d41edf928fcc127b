"""Structured covariances (lme4 2.x / glmmTMB syntax): ``diag()``, ``cs()``, ``ar1()``, ``us()``,
for lmer and glmer, against glmmTMB 1.1.5 (tests/reference_structured/make_structured_reference.R;
lme4 1.1-31 has no structures, but its ``(x || g)`` is the model of ``diag(x | g)``).

Tolerances (issue 15): criterion within 1e-6 relative of glmmTMB's or lower; fixed effects and
SEs 1e-4 relative (glmer SEs 1e-2); variance components 1e-3. lmer's SEs are lme4's,
conditional on the covariance parameters; glmmTMB's sdreport adds the uncertainty of those
parameters, so they are compared with lme4's formula evaluated at glmmTMB's estimates
(``se_conditional``, computed in the R script). glmer's SEs (inverse Hessian over theta and
beta) are glmmTMB's own.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import mixedjax as mj
from mixedjax import datasets
from mixedjax._src import compilation, covariance_layout, covariance_structures, lmm
from mixedjax._src.model import model_spec
from mixedjax._src.formula import FormulaError, parse_formula
from conftest import relative_error
from references import path, read_json

REFERENCE = read_json("reference_structured", "structured.json")


def _sim() -> pd.DataFrame:
    data = pd.read_csv(path("reference_structured", "structured_sim.csv"))
    for column in ("g", "t"):
        data[column] = data[column].astype("category")
    return data


SLEEP = datasets.load("sleepstudy")
SIM = _sim()

# reference id -> (formula, data, REML (lmer) or None (glmer, Poisson))
CASES = {
    "sleepstudy_us": ("Reaction ~ Days + us(Days | Subject)", SLEEP, True),
    "sleepstudy_diag": ("Reaction ~ Days + diag(Days | Subject)", SLEEP, True),
    "sleepstudy_cs": ("Reaction ~ Days + cs(Days | Subject)", SLEEP, True),
    "sim_ar1": ("y ~ x + ar1(0 + t | g)", SIM, True),
    "sim_cs": ("y ~ x + cs(0 + t | g)", SIM, True),
    "sim_diag_ml": ("y ~ x + diag(1 + x | g)", SIM, False),
    "sim_poisson_diag": ("count ~ x + diag(1 + x | g)", SIM, None),
    "sim_poisson_ar1": ("count ~ x + ar1(0 + t | g)", SIM, None),
}
SLOW = {"sim_poisson_ar1"}  # a 5 x 5 block under the Laplace fit: a minute of compiling
_FITS = {}


def fit_of(case: str):
    if case not in _FITS:
        formula, data, reml = CASES[case]
        _FITS[case] = (mj.glmer(formula, data, family=mj.poisson()) if reml is None
                       else mj.lmer(formula, data, REML=reml))
    return _FITS[case]


def _params(cases):
    return [pytest.param(c, marks=pytest.mark.slow) if c in SLOW else c for c in cases]


def _criterion(fit):
    return fit.reml_criterion if getattr(fit, "reml", False) else fit.deviance


def _sds_and_correlations(fit):
    """Per term: SDs of its columns and its correlation matrix, from the covariance VarCorr prints."""
    cov = fit._term_covariances()[0]
    sd = np.sqrt(np.diag(cov))
    return sd, cov / np.outer(sd, sd)


@pytest.mark.parametrize("case", _params(CASES))
def test_matches_glmmtmb(case):
    fit, ref = fit_of(case), REFERENCE[case]
    generalized = CASES[case][2] is None
    assert ref["converged"] and ref["pdHess"]
    assert ref["reml"] == bool(CASES[case][2])
    ours, theirs = _criterion(fit), ref["criterion"]
    assert ours <= theirs + 1e-6 * abs(theirs)
    assert list(fit.fixef.index) == list(ref["fixef"])
    assert relative_error(fit.fixef, list(ref["fixef"].values()), 1e-3) < 1e-4
    se = ref["se"] if generalized else ref["se_conditional"]
    assert relative_error(fit.se, list(se.values()), 1e-6) < (1e-2 if generalized else 1e-4)
    block = ref["varcorr"][0]
    assert fit.spec.terms[0].column_names == tuple(block["names"])
    sd, corr = _sds_and_correlations(fit)
    assert relative_error(sd, block["sd"], 1e-3) < 1e-3
    assert np.max(np.abs(corr - np.asarray(block["corr"], float))) < 1e-3
    if not generalized:
        assert relative_error([fit.sigma], [ref["sigma"]], 1e-6) < 1e-3
    assert fit.converged and fit.optimizer.messages == () and not fit.is_singular


def test_glmmtmb_conditional_se_is_lme4s():
    """The R script's lme4-convention SEs reproduce lme4 1.1's own where lme4 fits the model
    ((1 + x || g) is diag(1 + x | g)), and differ from glmmTMB's sdreport there: the comparison
    above is with the right quantity."""
    lme4, tmb = REFERENCE["sim_double_bar_ml_lme4"], REFERENCE["sim_diag_ml"]
    assert relative_error(list(tmb["se_conditional"].values()), list(lme4["se"].values()), 1e-6) < 1e-4
    assert relative_error(list(tmb["se"].values()), list(lme4["se"].values()), 1e-6) > 1e-4


@pytest.mark.parametrize("case,double_bar,reference", [
    ("sleepstudy_diag", "Reaction ~ Days + (Days || Subject)", "sleepstudy_double_bar_lme4"),
    ("sim_diag_ml", "y ~ x + (1 + x || g)", "sim_double_bar_ml_lme4")])
def test_diag_is_lme4_double_bar(case, double_bar, reference):
    """diag(x | g) and lme4 1.1's (x || g) are one model: the same criterion, estimates and
    theta (diag's theta is the diagonal of T, in the double bar's order)."""
    fit = fit_of(case)
    formula, data, reml = CASES[case]
    bars = mj.lmer(double_bar, data, REML=reml)
    assert abs(_criterion(fit) - _criterion(bars)) < 1e-9 * abs(_criterion(bars))
    np.testing.assert_allclose(fit.theta_values, bars.theta_values, rtol=1e-6)
    np.testing.assert_allclose(fit.se, bars.se, rtol=1e-8)
    lme4 = REFERENCE[reference]
    assert _criterion(fit) <= lme4["criterion"] + 1e-6 * abs(lme4["criterion"])
    assert relative_error(fit.theta_values, lme4["theta"], 1e-3) < 1e-3
    assert relative_error(fit.se, list(lme4["se"].values()), 1e-6) < 1e-4
    sd = fit.varcorr[fit.varcorr.grp != "Residual"].sdcor
    assert relative_error(sd, lme4["varcorr_sd"][:-1], 1e-3) < 1e-3


def test_us_is_the_plain_bar_and_two_column_cs_too(monkeypatch):
    """us(x | g) is (x | g) exactly; cs over two columns has the same covariance set, so the same
    optimum (glmmTMB's and lme4 2.x's vignette say so).

    Exactly: through the same executables. A quick build and its optimized replacement (see
    compilation's tiers) differ in the last bits (2.7e-15 in sleepstudy's theta), so the two fits
    are made here, one after the other, with no optimization landing between them."""
    monkeypatch.setattr(compilation, "OPTIMIZE_AFTER_SECONDS", float("inf"))
    compilation._OPTIMIZER.submit(lambda: None).result()  # (one thread: those queued are done)
    plain = mj.lmer("Reaction ~ Days + (Days | Subject)", SLEEP)
    us, cs = mj.lmer(CASES["sleepstudy_us"][0], SLEEP), fit_of("sleepstudy_cs")
    np.testing.assert_array_equal(us.theta_values, plain.theta_values)
    assert abs(cs.reml_criterion - plain.reml_criterion) < 1e-9 * plain.reml_criterion
    np.testing.assert_allclose(cs._term_covariances()[0], plain._term_covariances()[0], rtol=1e-5)


def test_theta_layout_and_names():
    """Each structure's share of theta: diag the SDs of T, cs the SDs and the correlation's angle,
    ar1 one SD and the angle (rho = sin(angle))."""
    cs, ar1, diag = fit_of("sim_cs"), fit_of("sim_ar1"), fit_of("sleepstudy_diag")
    assert list(diag.theta.index) == ["Subject.(Intercept)", "Subject.Days"]
    assert list(cs.theta.index) == [f"g.tt{i}" for i in range(1, 6)] + ["g.rho.angle"]
    assert list(ar1.theta.index) == ["g.tt1", "g.rho.angle"]
    rho = REFERENCE["sim_ar1"]["varcorr"][0]["corr"][1][0]
    assert abs(np.sin(ar1.theta["g.rho.angle"]) - rho) < 1e-3
    assert abs(ar1.theta["g.tt1"] * ar1.sigma - REFERENCE["sim_ar1"]["varcorr"][0]["sd"][0]) < 1e-3
    # the .sig scale: SDs then the correlation itself
    table = cs.varcorr_table()
    assert list(table.var1[:6]) == [f"tt{i}" for i in range(1, 6)] + ["tt1"]
    rho_cs = REFERENCE["sim_cs"]["varcorr"][0]["corr"][1][0]
    assert abs(table.sdcor.iloc[5] - rho_cs) < 1e-3


def test_varcorr_prints():
    """diag prints no Corr column (and as.data.frame lists no covariances); cs and ar1 print the
    correlations they imply, in lme4's layout (glmmTMB prints one number with '(cs)'/'(ar1)')."""
    diag = fit_of("sleepstudy_diag")
    text = str(diag.VarCorr())
    assert "Corr" not in text
    assert list(diag.varcorr.var2.dropna()) == []
    assert "diag(Days | Subject)" in str(diag.summary())
    ar1 = fit_of("sim_ar1")
    frame = ar1.varcorr
    rho = np.sin(ar1.theta["g.rho.angle"])
    pairs = frame.dropna(subset=["var2"])
    lag = np.abs(pairs.var1.str[-1].astype(int) - pairs.var2.str[-1].astype(int))
    np.testing.assert_allclose(pairs.sdcor, rho ** lag, rtol=1e-10)
    lines = str(ar1.VarCorr()).splitlines()
    assert lines[0].split()[-1] == "Corr" and len(lines) == 1 + 5 + 1
    assert f"{rho:.2f}" in lines[2]


def test_exact_derivatives_through_the_structures():
    """The deviance of each structure is one JAX function of theta: its autodiff gradient agrees
    with central differences, also with the correlation on its bound (angle pi/2)."""
    for case, point in [("sim_cs", [1.5, 1.2, 1.4, 1.3, 1.1, 0.3]), ("sim_ar1", [1.2, 0.7]),
                        ("sim_cs", [1.5, 1.2, 1.4, 1.3, 1.1, np.pi / 2]),
                        ("sim_ar1", [1.2, -np.pi / 2]), ("sleepstudy_diag", [0.9, 0.2])]:
        deviance = fit_of(case).deviance_function()
        x = jnp.asarray(point, dtype=float)
        gradient = np.asarray(jax.grad(deviance)(x))
        assert np.all(np.isfinite(gradient))
        for k in range(len(point)):
            step = 1e-5 * np.eye(len(point))[k]
            numeric = (float(deviance(x + step)) - float(deviance(x - step))) / 2e-5
            assert abs(gradient[k] - numeric) < 1e-5 * max(1.0, abs(numeric)), (case, point, k)


def test_factors_are_the_structures():
    """T T' of each parameterization is the structure's covariance, across the correlation's
    range, and the angle map reaches both bounds."""
    d = np.array([1.0, 2.0, 0.5, 3.0])
    for p in (2, 3, 4):
        lo = -1.0 / (p - 1)
        for rho in (lo, lo / 2, 0.0, 0.6, 1.0):
            phi = covariance_structures.angle("cs", p, rho, np)
            T = np.asarray(covariance_structures.factor("cs", jnp.asarray(np.append(d[:p], phi)), p))
            R = (1 - rho) * np.eye(p) + rho
            np.testing.assert_allclose(T @ T.T, np.diag(d[:p]) @ R @ np.diag(d[:p]), atol=1e-12)
            assert np.allclose(np.triu(T, 1), 0)
        for rho in (-1.0, -0.4, 0.0, 0.9, 1.0):
            phi = covariance_structures.angle("ar1", p, rho, np)
            T = np.asarray(covariance_structures.factor("ar1", jnp.asarray([2.0, phi]), p))
            lag = np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
            np.testing.assert_allclose(T @ T.T, 4.0 * rho ** lag, atol=1e-12)
        T = covariance_structures.factor("diag", jnp.asarray(d[:p]), p)
        np.testing.assert_allclose(np.asarray(T), np.diag(d[:p]))


def test_refit_batch_agrees_with_single_fits():
    """The vmapped batch path fits the structured deviance too, and agrees with single fits."""
    fit = fit_of("sleepstudy_cs")
    y = fit.y
    Y = np.column_stack([y, y[::-1].copy()])
    batch = fit.refit_batch(Y)
    np.testing.assert_allclose(batch.theta[0], fit.theta_values, rtol=1e-6, atol=1e-8)
    second = fit.refit(Y[:, 1])
    np.testing.assert_allclose(batch.criterion[1], second.reml_criterion, rtol=1e-10)
    frame = batch.sd_scale_frame()
    sd, corr = _sds_and_correlations(fit)
    np.testing.assert_allclose(frame.iloc[0, :3], [sd[0], sd[1], corr[1, 0]], rtol=1e-5)


@pytest.mark.parametrize("formula,expected", [
    ("y ~ x + toep(0 + t | g)", r"toep\(\) .* not a covariance structure .*write us\(\.\.\.\)"),
    ("y ~ x + foo(1 | g)", r"foo\(\) .* write one of us\(\.\.\.\), diag\(\.\.\.\), cs\(\.\.\.\), ar1"),
    ("y ~ x + cs(1 + x || g)", r"'\|\|' inside cs\(\): write cs\(1 \+ x \| g\)"),
    ("y ~ x + cs(1 + x | g, hom = TRUE)", r"arguments .* not supported .*write cs\(1 \+ x \| g\)"),
    ("y ~ x - diag(1 + x | g)", "cannot subtract a random-effects term"),
])
def test_bad_structure_syntax(formula, expected):
    with pytest.raises(FormulaError, match=expected):
        parse_formula(formula)


@pytest.mark.parametrize("formula,expected", [
    ("y ~ x + ar1(t | g)", r"ar1\(t \| g\) has an intercept.*write ar1\(0 \+ t \| g\)"),
    ("y ~ x + ar1(0 + x | g)", r"ar1\(0 \+ x \| g\) needs the levels of one factor.*write ar1\(0 \+ t \| g\)"),
    ("y ~ x + ar1(0 + t + x | g)", r"needs the levels of one factor"),
    ("y ~ x + cs(1 | g)", r"cs\(1 \| g\) has one column.*write \(1 \| g\)"),
])
def test_bad_structure_columns(formula, expected):
    with pytest.raises(FormulaError, match=expected):
        mj.lmer(formula, SIM)


def test_parsed_structures():
    bars = parse_formula("y ~ x + diag(1 + x | g) + ar1(0 + t | a/b) + (1 | h)").bars
    assert [(b.structure, str(b)) for b in bars] == [
        ("diag", "diag(1 + x | g)"), ("ar1", "ar1(0 + t | a)"), ("ar1", "ar1(0 + t | b:a)"),
        ("us", "(1 | h)")]
    assert parse_formula("y ~ ((cs(x | g)))").bars[0].structure == "cs"


def test_layout_decides_structure_once():
    fit = fit_of("sim_cs")
    layout = fit.spec.design.layout
    assert layout.term_structures == ("cs",) and layout.term_theta == (6,)
    assert covariance_layout.theta_start(layout)[-1] == pytest.approx(covariance_structures.angle("cs", 5, 0.0, np))
    assert float(covariance_structures.correlation("cs", 5, covariance_layout.theta_start(layout)[-1], np)) == \
        pytest.approx(0.0, abs=1e-15)


def test_diag_degrees_of_freedom_are_the_double_bars():
    """Satterthwaite's and Kenward-Roger's df of diag(x | g) are those of lme4 1.1's (x || g):
    the same model, and diag's parameters (the variances) enter both linearly; cs and ar1 have
    no linear parameterization for Kenward-Roger, which says so."""
    diag = fit_of("sleepstudy_diag")
    bars = mj.lmer("Reaction ~ Days + (Days || Subject)", SLEEP)
    for ddf in ("Satterthwaite", "Kenward-Roger"):
        np.testing.assert_allclose(diag.coef_table(ddf)["df"], bars.coef_table(ddf)["df"], rtol=1e-6)
    from mixedjax._src.inference.kenward_roger import KenwardRogerError
    with pytest.raises(KenwardRogerError, match=r"cs\(Days \| Subject\) is not.*Satterthwaite"):
        fit_of("sleepstudy_cs").coef_table("Kenward-Roger")


def test_structured_derivatives_of_the_general_path():
    """Models of several terms take the blocked path, with its own exact gradient and Hessian
    (``lmm.blocked_value_grad``, ``lmm.blocked_value_grad_hess``: term 1's gradient in closed
    form, pulled back through the structure): both agree with autodiff of the deviance, with a
    structure in term 1 and in a trailing term."""
    small = SIM[SIM.t.isin(["t1", "t2", "t3"]) & SIM.g.isin(SIM.g.cat.categories[:12])]
    data = small.assign(g=small.g.cat.remove_unused_categories(),
                        t=small.t.cat.remove_unused_categories(),
                        site=pd.Categorical(small.g.cat.codes // 3))
    spec = model_spec("y ~ x + ar1(0 + t | g) + cs(1 + x | site)", data)
    assert spec.design.layout.term_structures == ("ar1", "cs")
    problem = lmm.linear_problem(spec.design, spec.frame.weights, np.asarray(data.y, float))
    theta = jnp.asarray([1.3, 0.4, 0.8, 0.3, -0.5])
    deviance = lambda t: lmm.profiled_deviance(t, problem, True)
    value, grad = jax.jit(lmm.blocked_value_grad(problem, True))(theta)
    _, grad2, hess = jax.jit(lmm.blocked_value_grad_hess(problem, True))(theta)
    autodiff = jax.jit(lambda t: (deviance(t), jax.grad(deviance)(t), jax.hessian(deviance)(t)))
    value0, grad0, hess0 = autodiff(theta)
    np.testing.assert_allclose(value, value0, rtol=1e-12)
    np.testing.assert_allclose(grad, grad0, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(grad2, grad0, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(hess, hess0, rtol=1e-7, atol=1e-7)
