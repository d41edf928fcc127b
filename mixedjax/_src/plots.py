"""Plots of fitted models, profiles, bootstraps and power curves (matplotlib, an optional extra).

Every function reads numbers a result already holds (random effects and their conditional SDs,
residuals, a profile's zeta table, bootstrap replicates, a power table) and draws them; none
computes model internals. Each takes ``ax=None`` (a new figure is made when None) and returns the
Axes it drew on, or a numpy array of Axes when it draws one panel per parameter or term.
A new figure uses matplotlib's constrained layout, so labels neither overlap nor are cut off when
it is saved; every panel has a title and axis labels. matplotlib is imported only when a plot is
made (from a checkout: ``pip install -e ".[plot]"``).
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd

INSTALL_HINT = ("mixedjax's plots need matplotlib: pip install matplotlib, or from a mixedjax "
                "checkout pip install -e \".[plot]\"")


def _pyplot():
    """matplotlib.pyplot, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return plt


def _panels(ax, count: int, panel_size=(3.6, 3.2), max_columns: int = 3, title: str | None = None):
    """``count`` Axes: new ones in a grid when ``ax`` is None (with ``title`` over them), else the
    given ones (checked).

    Returns a flat numpy array of Axes."""
    if ax is None:
        plt = _pyplot()
        columns = min(count, max_columns)
        rows = math.ceil(count / columns)
        # wide enough for the title too (about 0.1 inch per character at its 12 points)
        width = max(panel_size[0] * columns, 0.1 * len(title or "") + 0.4)
        figure, axes = plt.subplots(rows, columns, squeeze=False, layout="constrained",
                                    figsize=(width, panel_size[1] * rows + 0.4))
        if title is not None:
            figure.suptitle(title)
        flat = axes.ravel()
        for extra in flat[count:]:
            extra.set_visible(False)
        return flat[:count]
    flat = np.ravel(np.asarray(ax, dtype=object))
    if flat.size != count:
        raise ValueError(f"ax must hold {count} Axes (one per panel), got {flat.size}; "
                         "pass ax=None to make a new figure")
    return flat


def _returned(axes):
    """One Axes for a single panel, else the array."""
    return axes[0] if len(axes) == 1 else axes


def _single_axes(ax, figsize=(5.5, 4.2)):
    if ax is not None:
        return ax
    _, created = _pyplot().subplots(figsize=figsize, layout="constrained")
    return created


def normal_quantiles(n: int) -> np.ndarray:
    """Standard normal quantiles at R's ppoints(n) (the x axis of qqnorm)."""
    a = 3 / 8 if n <= 10 else 1 / 2
    standard = NormalDist()
    return np.array([standard.inv_cdf((i + 1 - a) / (n + 1 - 2 * a)) for i in range(n)])


def _two_sided_z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    return NormalDist().inv_cdf(0.5 + level / 2)


# ---- random effects ---------------------------------------------------------------------------

def _ranef_frame(fit, term, condvar: bool) -> tuple[str, pd.DataFrame]:
    """The named grouping factor's random-effect frame (the first factor when ``term`` is None)."""
    frames = fit.ranef_frames(condvar=condvar)
    if term is None:
        term = next(iter(frames))
    if term not in frames:
        raise ValueError(f"term {term!r} is not a grouping factor of this model; "
                         f"use one of {list(frames)}")
    return term, frames[term]


def _effect_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if not c.endswith("_sd") or c[:-3] not in frame.columns]


def caterpillar(fit, term=None, level: float = 0.95, ax=None):
    """Random effects of one grouping factor, level by level, with intervals of +-z conditional
    SDs (lme4's ``dotplot(ranef(fit, condVar = TRUE))``): one panel per random-effect column,
    levels sorted by the first column. ``term`` names the grouping factor (default: the first)."""
    z = _two_sided_z(level)
    factor, frame = _ranef_frame(fit, term, condvar=True)
    columns = _effect_columns(frame)
    frame = frame.sort_values(columns[0])
    # 0.2 inch per level keeps one tick label per level legible
    axes = _panels(ax, len(columns), panel_size=(3.6, max(3.2, 0.2 * len(frame) + 1.2)),
                   max_columns=len(columns), title=f"Random effects of {factor} with "
                                                   f"{100 * level:g}% intervals")
    positions = np.arange(len(frame))
    for axis, column in zip(axes, columns):
        axis.errorbar(frame[column].to_numpy(float), positions,
                      xerr=z * frame[f"{column}_sd"].to_numpy(float), fmt="o",
                      markersize=4, capsize=0, color="C0", ecolor="grey")
        axis.axvline(0.0, color="k", lw=0.5)
        axis.set_yticks(positions, [str(level_) for level_ in frame.index])
        axis.set_ylim(-0.7, len(frame) - 0.3)
        axis.set(xlabel="conditional mode", title=column)
    axes[0].set_ylabel(f"{factor} (sorted by {columns[0]})")
    return _returned(axes)


def qq_ranef(fit, term=None, ax=None):
    """Normal QQ plot of one grouping factor's random effects, a panel per column (lme4's
    ``qqmath(ranef(fit))``). ``term`` names the grouping factor (default: the first)."""
    factor, frame = _ranef_frame(fit, term, condvar=False)
    columns = list(frame.columns)
    axes = _panels(ax, len(columns), title=f"Normal Q-Q plot of the random effects of {factor}")
    for axis, column in zip(axes, columns):
        _qq(axis, frame[column].to_numpy())
        axis.set(title=column, ylabel="conditional mode")
    return _returned(axes)


# ---- residuals ---------------------------------------------------------------------------------

def residuals_vs_fitted(fit, ax=None):
    """Pearson residuals against fitted values (lme4's ``plot(fit)``)."""
    axis = _single_axes(ax)
    axis.scatter(fit.fitted, fit.residuals("pearson"), s=10, alpha=0.7)
    axis.axhline(0.0, color="k", lw=0.5)
    axis.set(xlabel="fitted values", ylabel="Pearson residuals", title="Residuals against fitted values")
    return axis


def qq_residuals(fit, ax=None):
    """Normal QQ plot of the scaled Pearson residuals (lme4's ``qqnorm(resid(fit))``)."""
    axis = _single_axes(ax)
    _qq(axis, fit.residuals("pearson", scaled=True))
    axis.set(ylabel="scaled Pearson residuals", title="Normal Q-Q plot of the residuals")
    return axis


def _qq(axis, values: np.ndarray) -> None:
    """Sorted values against normal quantiles, with a line through the quartiles (qqline)."""
    values = np.sort(np.asarray(values, float))
    theoretical = normal_quantiles(values.size)
    axis.scatter(theoretical, values, s=10)
    if values.size >= 2:
        q1, q3 = np.quantile(values, [0.25, 0.75])
        z1, z3 = NormalDist().inv_cdf(0.25), NormalDist().inv_cdf(0.75)
        slope = (q3 - q1) / (z3 - z1)
        axis.axline((z1, q1), slope=slope, color="grey", lw=1)
    axis.set(xlabel="standard normal quantiles")


# ---- profiles, bootstraps, power ------------------------------------------------------------------

PROFILE_COLUMNS = ("parameter", "value", "zeta")


def plot_profile(profile, level: float = 0.95, ax=None):
    """Profile zeta against each parameter's value, one panel per parameter, with dashed lines
    at zeta = +-z(level) (their crossings are the profile confidence limits). ``profile`` is an
    object with a ``.table`` DataFrame of columns parameter, value and zeta (``Profile``)."""
    table = getattr(profile, "table", None)
    if not isinstance(table, pd.DataFrame):
        raise TypeError("profile must have a .table DataFrame (columns parameter, value, zeta), "
                        f"as fit.profile() returns; got {type(profile).__name__}")
    missing = [c for c in PROFILE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"profile.table lacks columns {missing}; it needs {list(PROFILE_COLUMNS)}")
    z = _two_sided_z(level)
    parameters = list(dict.fromkeys(table["parameter"]))
    axes = _panels(ax, len(parameters), max_columns=4,
                   title=f"Profile zeta; dashed: \u00b1z for {100 * level:g}% intervals")
    for axis, parameter in zip(axes, parameters):
        rows = table[table["parameter"] == parameter].sort_values("value")
        axis.plot(rows["value"].to_numpy(float), rows["zeta"].to_numpy(float), "-", color="C0")
        for height in (-z, z):
            axis.axhline(height, color="grey", ls="--", lw=0.8)
        axis.axhline(0.0, color="k", lw=0.5)
        axis.set(xlabel=parameter, ylabel="zeta", title=parameter)
    return _returned(axes)


def plot_bootstrap(boot, bins: int = 30, ax=None):
    """Histograms of each bootstrap statistic (converged replicates), with the estimate of the
    original fit (``t0``) as a vertical line. ``boot`` is what ``fit.bootstrap(...)`` returns."""
    try:  # (batch.py, which defines BootstrapResult, imports this module for its plot method)
        replicates, t0, converged = boot.replicates, boot.t0, np.asarray(boot.batch.converged)
    except AttributeError:
        raise TypeError("boot must be a BootstrapResult (from fit.bootstrap(nsim)), "
                        f"got {type(boot).__name__}") from None
    replicates = replicates[converged]
    axes = _panels(ax, replicates.shape[1], max_columns=4,
                   title=f"Parametric bootstrap: {len(replicates)} converged replicates; "
                         "red line: the fit's estimate")
    for axis, name in zip(axes, replicates.columns):
        axis.hist(replicates[name].to_numpy(float), bins=bins, color="C0", alpha=0.7)
        axis.axvline(float(t0[name]), color="C3", lw=1.5, label="estimate")
        axis.yaxis.get_major_locator().set_params(integer=True)  # counts
        axis.set(xlabel=name, ylabel="replicates", title=name)
    return _returned(axes)


POWER_COLUMNS = ("size", "term", "power", "nsim")


def plot_power_curve(curve: pd.DataFrame, terms=None, target: float | None = 0.8, ax=None):
    """Power against size, one line per fixed effect (``terms``; default all but the intercept),
    with +-1.96 binomial Monte Carlo standard errors and a dashed line at ``target`` power.
    ``curve`` is the table ``mixedjax.power_curve`` returns."""
    if not isinstance(curve, pd.DataFrame):
        raise TypeError(f"curve must be the DataFrame mixedjax.power_curve returns, got {type(curve).__name__}")
    missing = [c for c in POWER_COLUMNS if c not in curve.columns]
    if missing:
        raise ValueError(f"curve lacks columns {missing}; pass the table from mixedjax.power_curve")
    available = list(dict.fromkeys(curve["term"]))
    if terms is None:
        terms = [t for t in available if t != "(Intercept)"] or available
    terms = [terms] if isinstance(terms, str) else list(terms)
    unknown = [t for t in terms if t not in available]
    if unknown:
        raise ValueError(f"terms {unknown} are not in the power curve; use some of {available}")
    axis = _single_axes(ax)
    for term in terms:
        rows = curve[curve["term"] == term].sort_values("size")
        p, n = rows["power"].to_numpy(float), rows["nsim"].to_numpy(float)
        error = 1.96 * np.sqrt(p * (1 - p) / np.maximum(n, 1))
        bars = np.vstack([np.minimum(error, p), np.minimum(error, 1 - p)])  # power stays in [0, 1]
        axis.errorbar(rows["size"].to_numpy(float), p, yerr=bars, fmt="o-", capsize=3, label=term)
    if target is not None:
        axis.axhline(target, color="grey", ls="--", lw=0.8)
    axis.set(xlabel="size", ylabel="power", ylim=(0, 1.02),
             title="Power by size (\u00b11.96 Monte Carlo SE)")
    axis.legend(title="term")
    return axis
