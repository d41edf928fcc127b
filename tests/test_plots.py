"""mixedjax.plots draws the numbers the results hold (Agg backend, no display), in figures a
person would keep: every plot saved as a PNG has a title and axis labels, and no text overlapping
other text or cut off at the figure's edge (set MIXEDJAX_PLOT_DIR to keep the PNGs)."""
import itertools
import os
import shutil
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from scipy.special import ndtri  # noqa: E402

import mixedjax as mj  # noqa: E402
from mixedjax import plots  # noqa: E402
from mixedjax._src import plots as plots_src  # noqa: E402  (its helpers)

from references import reference_fit  # noqa: E402


@pytest.fixture(scope="module")
def fit():
    return reference_fit("public", "sleepstudy_slopes_reml")


@pytest.fixture(scope="module")
def boot(fit):
    return fit.bootstrap(30, seed=5)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def scatter_points(axis) -> np.ndarray:
    return np.asarray(axis.collections[0].get_offsets())


def test_caterpillar_shows_sorted_modes_with_condvar_intervals(fit):
    axes = plots.caterpillar(fit, level=0.9)
    frame = fit.ranef_frames(condvar=True)["Subject"].sort_values("(Intercept)")
    z = 1.6448536269514722
    assert len(axes) == 2  # (Intercept) and Days
    for axis, column in zip(axes, ["(Intercept)", "Days"]):
        markers = axis.lines[0]
        np.testing.assert_allclose(markers.get_xdata(), frame[column])
        np.testing.assert_array_equal(markers.get_ydata(), np.arange(len(frame)))
        segments = axis.collections[0].get_segments()
        widths = np.array([s[1, 0] - s[0, 0] for s in segments])
        np.testing.assert_allclose(widths, 2 * z * frame[f"{column}_sd"])
        assert [t.get_text() for t in axis.get_yticklabels()] == list(frame.index)


def test_caterpillar_honours_ax_and_rejects_bad_arguments(fit):
    _, given = plt.subplots(1, 2)
    returned = plots.caterpillar(fit, term="Subject", ax=given)
    assert list(returned) == list(given)
    _, one = plt.subplots()
    with pytest.raises(ValueError, match="ax must hold 2 Axes"):
        plots.caterpillar(fit, ax=one)
    with pytest.raises(ValueError, match=r"term 'Patient'.*\['Subject'\]"):
        plots.caterpillar(fit, term="Patient")
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        plots.caterpillar(fit, level=95)


def test_residuals_vs_fitted_and_the_fit_method(fit):
    _, given = plt.subplots()
    axis = fit.plot(ax=given)
    assert axis is given
    np.testing.assert_allclose(scatter_points(axis), np.column_stack([fit.fitted, fit.residuals("pearson")]))


def test_qq_residuals_against_normal_quantiles(fit):
    axis = plots.qq_residuals(fit)
    n = fit.nobs
    points = scatter_points(axis)
    np.testing.assert_allclose(points[:, 0], ndtri((np.arange(1, n + 1) - 0.5) / n))
    np.testing.assert_allclose(points[:, 1], np.sort(fit.residuals("pearson", scaled=True)))


def test_qq_ranef_one_panel_per_column(fit):
    axes = plots.qq_ranef(fit, term="Subject")
    frame = fit.ranef["Subject"]
    n = len(frame)
    for axis, column in zip(axes, frame.columns):
        points = scatter_points(axis)
        np.testing.assert_allclose(points[:, 1], np.sort(frame[column]))
        np.testing.assert_allclose(points[:, 0], ndtri((np.arange(1, n + 1) - 0.5) / n))


def test_small_samples_use_r_ppoints():
    np.testing.assert_allclose(plots_src.normal_quantiles(5), ndtri((np.arange(1, 6) - 3 / 8) / (5 + 1 / 4)))


def test_profile_zeta_panels_from_a_table():
    values = np.linspace(-1, 1, 7)
    table = pd.DataFrame({"parameter": ["a"] * 7 + ["b"] * 7,
                          "value": np.concatenate([values[::-1], 3 + values]),
                          "zeta": np.concatenate([2 * values[::-1], values ** 3])})
    axes = plots.plot_profile(SimpleNamespace(table=table))
    assert len(axes) == 2
    np.testing.assert_allclose(axes[0].lines[0].get_xdata(), values)  # sorted by value
    np.testing.assert_allclose(axes[0].lines[0].get_ydata(), 2 * values)
    np.testing.assert_allclose(axes[1].lines[0].get_ydata(), values ** 3)
    assert axes[1].get_xlabel() == "b"
    with pytest.raises(ValueError, match=r"lacks columns \['zeta'\]"):
        plots.plot_profile(SimpleNamespace(table=table.drop(columns="zeta")))
    with pytest.raises(TypeError, match=r"\.table DataFrame"):
        plots.plot_profile(table)


def test_bootstrap_histograms_mark_the_estimate(boot):
    axes = boot.plot(bins=10)
    names = list(boot.replicates.columns)
    assert len(axes) == len(names)
    converged = int(boot.batch.converged.sum())
    for axis, name in zip(axes, names):
        assert sum(patch.get_height() for patch in axis.patches) == converged
        assert axis.lines[0].get_xdata()[0] == pytest.approx(boot.t0[name])
        assert axis.get_xlabel() == name
    with pytest.raises(TypeError, match="BootstrapResult"):
        plots.plot_bootstrap(boot.replicates)


def test_power_curve_lines_per_term():
    design = lambda n: pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(n)], 4),
                                     "x": np.tile([-1.0, -0.3, 0.3, 1.0], n)})
    curve = mj.power_curve("y ~ x + (1 | g)", design, [6, 12], beta=[0.0, 1.0], theta=[0.5],
                           sigma=1.0, nsim=24, seed=3)
    axis = plots.plot_power_curve(curve)
    slope = curve[curve.term == "x"].sort_values("size")
    assert [t.get_text() for t in axis.get_legend().get_texts()] == ["x"]
    np.testing.assert_allclose(axis.lines[0].get_xdata(), slope["size"])
    np.testing.assert_allclose(axis.lines[0].get_ydata(), slope["power"])
    bars = np.concatenate(axis.collections[0].get_segments())  # +-1.96 SE, cut at 0 and 1
    assert bars[:, 1].min() >= 0 and bars[:, 1].max() <= 1
    _, given = plt.subplots()
    assert plots.plot_power_curve(curve, terms=["(Intercept)", "x"], ax=given) is given
    with pytest.raises(ValueError, match=r"terms \['z'\]"):
        plots.plot_power_curve(curve, terms="z")


def test_missing_matplotlib_says_how_to_install(fit, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'from a mixedjax checkout pip install -e "\.\[plot\]"'):
        plots.residuals_vs_fitted(fit)


# ---- saved figures ----------------------------------------------------------------------------

def _drawn_texts(figure):
    """(text, window extent) of every visible, non-empty text the figure draws: suptitle, panel
    titles, axis labels, tick labels inside the view, legend texts."""
    renderer = figure.canvas.get_renderer()
    texts = [figure._suptitle] if figure._suptitle is not None else []
    for axis in figure.axes:
        if not axis.get_visible():
            continue
        texts += [axis.title, axis.xaxis.label, axis.yaxis.label]
        low, high = sorted(axis.get_xlim())
        texts += [t for t in axis.get_xticklabels() if low <= t.get_position()[0] <= high]
        low, high = sorted(axis.get_ylim())
        texts += [t for t in axis.get_yticklabels() if low <= t.get_position()[1] <= high]
        legend = axis.get_legend()
        if legend is not None:
            texts += [legend.get_title(), *legend.get_texts()]
    return [(t.get_text(), t.get_window_extent(renderer), t.get_fontsize()) for t in texts
            if t.get_visible() and t.get_text().strip()]


def _check_saved(figure, path):
    figure.savefig(path, dpi=80)
    if os.environ.get("MIXEDJAX_PLOT_DIR"):
        os.makedirs(os.environ["MIXEDJAX_PLOT_DIR"], exist_ok=True)
        shutil.copy(path, os.environ["MIXEDJAX_PLOT_DIR"])
    assert path.stat().st_size > 0
    panels = [a for a in figure.axes if a.get_visible()]
    for axis in panels:
        assert axis.get_title(), "every panel has a title"
        assert axis.get_xlabel() and (axis.get_ylabel() or axis is not panels[0]), "axis labels"
    texts = _drawn_texts(figure)
    frame = figure.bbox
    for text, box, size in texts:
        assert size >= 8, f"{text!r} is set in {size} pt"
        assert box.x0 >= frame.x0 - 1 and box.y0 >= frame.y0 - 1 and box.x1 <= frame.x1 + 1 \
            and box.y1 <= frame.y1 + 1, f"{text!r} is cut off at the figure's edge"
    for (a, box_a, _), (b, box_b, _) in itertools.combinations(texts, 2):
        overlap_x = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
        overlap_y = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
        assert overlap_x <= 1 or overlap_y <= 1, f"{a!r} overlaps {b!r}"
    tight = figure.get_tightbbox(figure.canvas.get_renderer())
    assert tight.x0 >= -1 and tight.y0 >= -1 and tight.x1 <= figure.get_figwidth() + 0.02 \
        and tight.y1 <= figure.get_figheight() + 0.02, "something is drawn outside the figure"


@pytest.fixture(scope="module")
def curve():
    design = lambda n: pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(n)], 4),
                                     "x": np.tile([-1.0, -0.3, 0.3, 1.0], n)})
    return mj.power_curve("y ~ x + (1 | g)", design, [6, 12], beta=[0.0, 1.0], theta=[0.5],
                          sigma=1.0, nsim=24, seed=3)


@pytest.fixture(scope="module")
def crossed():
    return reference_fit("public", "penicillin_crossed_reml")


@pytest.fixture(scope="module")
def binomial():
    return reference_fit("public", "cbpp_binomial_laplace")


PLOTS = {
    "caterpillar": lambda r: plots.caterpillar(r["fit"]),
    "caterpillar_24_levels": lambda r: r["crossed"].plot_ranef("plate"),
    "qq_ranef": lambda r: plots.qq_ranef(r["fit"]),
    "residuals_vs_fitted": lambda r: r["fit"].plot(),
    "residuals_vs_fitted_glmer": lambda r: r["binomial"].plot(),
    "qq_residuals": lambda r: plots.qq_residuals(r["fit"]),
    "profile": lambda r: plots.plot_profile(r["profile"]),
    "bootstrap": lambda r: r["boot"].plot(),
    "power_curve": lambda r: plots.plot_power_curve(r["curve"]),
}


@pytest.fixture(scope="module")
def results(fit, boot, curve, crossed, binomial):
    values = np.linspace(-2.5, 2.5, 11)
    profile = SimpleNamespace(table=pd.DataFrame({  # a profile's table, without profiling
        "parameter": np.repeat([".sig01", ".sig02", ".sig03", ".sigma", "(Intercept)", "Days"], 11),
        "value": np.concatenate([10 * k + 3 * values for k in range(6)]),
        "zeta": np.tile(values, 6)}))
    return {"fit": fit, "boot": boot, "curve": curve, "crossed": crossed, "binomial": binomial,
            "profile": profile}


@pytest.mark.parametrize("name", list(PLOTS))
def test_saved_plot_has_titles_labels_and_no_clipped_or_overlapping_text(name, results, tmp_path):
    drawn = PLOTS[name](results)
    figure = np.ravel(np.asarray(drawn, dtype=object))[0].figure
    assert figure.get_layout_engine() is not None  # constrained layout
    _check_saved(figure, tmp_path / f"{name}.png")
