"""Shape classes: padded fits equal unpadded ones, and nearby sizes compile nothing new.

Padding (zero-weight rows, empty levels, inert sparse entries) must not change any number: the
criterion to 1e-10 relative and the estimates to 1e-8, for lmer (one term, crossed terms) and
glmer (Laplace, AGQ, the chapter's Gamma and inverse-Gaussian models). Compile counts come from
``mixedjax.CompileCounter`` (JAX's own compile events)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedjax as mj
from mixedjax._src import compilation, shape_classes

from references import reference, reference_data

CASES = [
    ("sleepstudy_slopes_reml", "lmer", {}),
    ("penicillin_crossed_reml", "lmer", {}),
    ("pastes_nested_reml", "lmer", {}),
    ("cbpp_binomial_laplace", "glmer", {"family": "binomial"}),
    ("cbpp_binomial_nagq25", "glmer", {"family": "binomial", "nAGQ": 25}),
    ("seed2_glmer_gamma_log", "glmer", {"family": mj.Gamma("log")}),
    ("seed3_glmer_invgauss_log", "glmer", {"family": mj.inverse_gaussian("log")}),
]


def _fit(fit_id, fun, options):
    spec = reference("public", fit_id)
    data = reference_data("public", spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fun == "lmer":
            return mj.lmer(spec["formula"], data, REML=bool(spec["REML"]))
        return mj.glmer(spec["formula"], data, **options)


def _criterion(fit):
    return fit.reml_criterion if getattr(fit, "reml", False) else fit.deviance


def test_size_classes():
    classes = [shape_classes.size_class(n) for n in (1, 4, 5, 7, 9, 13, 17, 25, 33, 49, 180)]
    assert classes == [4, 4, 6, 8, 12, 16, 24, 32, 48, 64, 192]
    for n in range(1, 3000):
        assert n <= shape_classes.size_class(n) <= max(4, 1.5 * n)


@pytest.mark.parametrize("fit_id,fun,options", CASES, ids=[c[0] for c in CASES])
def test_padded_fit_equals_unpadded(fit_id, fun, options, monkeypatch):
    padded = _fit(fit_id, fun, options)
    assert padded.spec.padded and padded.spec.fit_design.layout != padded.spec.design.layout
    monkeypatch.setattr(shape_classes, "PADDING_LIMIT", 0)
    exact = _fit(fit_id, fun, options)
    assert not exact.spec.padded
    assert abs(_criterion(padded) - _criterion(exact)) <= 1e-10 * abs(_criterion(exact))
    for name in ("theta_values", "beta"):
        np.testing.assert_allclose(getattr(padded, name), getattr(exact, name), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(padded.se, exact.se, rtol=1e-8)
    np.testing.assert_allclose(padded.sigma, exact.sigma, rtol=1e-8)
    np.testing.assert_allclose(padded.u, exact.u, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(padded.fitted, exact.fitted, rtol=1e-8)
    assert padded.summary().text == exact.summary().text if hasattr(padded.summary(), "text") \
        else str(padded.summary()) == str(exact.summary())


def _nearby(data: pd.DataFrame, group: str, keep: int) -> pd.DataFrame:
    """The rows of the first ``keep`` levels of ``group``."""
    levels = list(dict.fromkeys(data[group].astype(str)))[:keep]
    subset = data[data[group].astype(str).isin(levels)].copy()
    subset[group] = subset[group].astype(str)
    return subset


def _settle_memory_maps(fit_again) -> None:
    """Where the fit just made left this (long-running) worker above the memory-map limit, the
    next mixedjax call drops every in-memory executable (``compilation.MEMORY_MAPS``, tested on
    its own below): let that happen, and fit again, before the counted fits."""
    if compilation.MEMORY_MAPS._pending:
        compilation.MEMORY_MAPS.evict_if_needed()
        fit_again()


def test_nearby_sizes_compile_nothing(sleepstudy):
    formula = "Reaction ~ Days + (Days | Subject)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mj.lmer(formula, _nearby(sleepstudy, "Subject", 18))  # 180 rows, 18 levels: classes 192, 24
        _settle_memory_maps(lambda: mj.lmer(formula, _nearby(sleepstudy, "Subject", 18)))
        with mj.CompileCounter() as count:
            fits = [mj.lmer(formula, _nearby(sleepstudy, "Subject", k)) for k in (13, 15, 17)]
    assert count.lowered == 0
    assert len({f.reml_criterion for f in fits}) == 3


def test_glmer_nearby_sizes_compile_nothing():
    spec = reference("public", "cbpp_binomial_laplace")
    cbpp = reference_data("public", spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mj.glmer(spec["formula"], cbpp, family="binomial")  # 56 rows, 15 herds: classes 64, 16
        _settle_memory_maps(lambda: mj.glmer(spec["formula"], cbpp, family="binomial"))
        with mj.CompileCounter() as count:
            fit = mj.glmer(spec["formula"], _nearby(cbpp, "herd", 13), family="binomial")
    assert count.lowered == 0 and fit.nobs < 56, count.names


def test_batches_of_a_new_fit_object_reuse_the_compiled_batch(sleepstudy):
    """Batches compile once per structure and exact shape, whatever the fit object (they are not
    padded: see ``batch._replicate_setup``)."""
    formula = "Reaction ~ Days + (Days | Subject)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = mj.lmer(formula, sleepstudy)
        first.refit_batch(first.simulate(4, seed=1), vmap_width=2)
        second = mj.lmer(formula, sleepstudy.assign(Reaction=sleepstudy["Reaction"] + 1.0))
        Y = second.simulate(4, seed=2)
        with mj.CompileCounter() as count:
            batch = second.refit_batch(Y, vmap_width=2)
    assert count.lowered == 0 and batch.converged.all()


def test_simulate_compiles_once(sleepstudy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = mj.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    fit.simulate(3, seed=1)
    with mj.CompileCounter() as count:
        a, b = fit.simulate(3, seed=2), fit.simulate(3, seed=3)
    assert count.lowered == 0 and not np.allclose(a, b)


def test_power_curve_compiles_at_most_two_fit_programs():
    """Five sizes within 1.5x of each other: two shape classes at most, so each single-fit
    program is compiled at most twice; the response draws and the batch (unpadded, see
    ``batch._replicate_setup``) are compiled for each exact number of rows."""
    rng = np.random.default_rng(3)

    def design_for(groups):
        return pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(groups)], 6),
                             "x": rng.normal(size=6 * groups), "w": rng.normal(size=6 * groups)})

    options = dict(beta={"(Intercept)": 1.0, "x": 0.5, "w": 0.0}, theta=[0.8], sigma=1.0, nsim=4,
                   vmap_width=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mj.CompileCounter() as count:
            table = mj.power_curve("y ~ x + w + (1 | g)", design_for, sizes=[17, 18, 20, 21, 22],
                                   **options)
    assert len(table) == 15
    programs = ("linear_problem", "_deviance", "_deviance_derivatives", "_derivatives_and_solution", "solve")
    # compiled here or loaded from the program store's disk (an earlier process compiled them)
    fit_programs = [name for name in count.names + count.loaded_names
                    if name.removeprefix("jit(").removesuffix(")") in programs]
    assert fit_programs
    for name in set(fit_programs):
        assert fit_programs.count(name) <= 2, (name, count.names)
    assert sum("_map_replicates" in name for name in count.names) <= 5


def test_glmer_designs_share_one_padded_shape():
    """A GLMM's design and its random-effects-only design have the same rows and levels even
    when the shape registry holds a larger shape for one of them (here from an intercept-only
    model of the same random term)."""
    spec = reference("public", "seed2_glmer_gamma_log")
    data = reference_data("public", spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mj.glmer("y ~ 1 + (1 | grupo)", data, family=mj.Gamma("log"))  # 200 rows: class 256
        fit = mj.glmer("y ~ x + (1 | grupo)", data.iloc[:130], family=mj.Gamma("log"))
    design, design_re = fit.spec.fit_design.layout, fit.spec.fit_design_re.layout
    assert (design.n_obs, design.term_levels) == (design_re.n_obs, design_re.term_levels)
    assert np.isfinite(fit.deviance)


def test_memory_maps_stay_bounded(monkeypatch):
    """Past the guard's limit, compiled executables are dropped before the next fit: the maps
    stop growing with the number of structures, and fits stay right."""
    rng = np.random.default_rng(5)
    limit = compilation.memory_map_count() + 1500
    monkeypatch.setattr(compilation.MEMORY_MAPS, "limit", limit)
    evictions = compilation.MEMORY_MAPS.evictions
    trims = []  # each eviction hands the freed heap back (glibc keeps it otherwise: RSS stays up)
    monkeypatch.setattr(compilation, "release_free_heap", lambda: trims.append(1) or True)
    counts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(6):
            data = pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(9 + 5 * k)], 5)})
            data["x"] = rng.normal(size=len(data))
            data["y"] = rng.poisson(np.exp(0.2 * data["x"]))
            fit = mj.glmer("y ~ x + (1 | g)", data, family="poisson", nAGQ=k % 2)
            counts.append(compilation.memory_map_count())
    assert compilation.MEMORY_MAPS.evictions > evictions
    assert len(trims) == compilation.MEMORY_MAPS.evictions - evictions
    assert max(counts) < limit + 3000, counts
    assert np.isfinite(fit.deviance)
