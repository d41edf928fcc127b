"""Plots of fitted models, profiles, bootstraps and power curves (matplotlib, imported only when
a plot is drawn). Each function takes ``ax=None`` and returns the Axes it drew on."""
from ._src.plots import (caterpillar, plot_bootstrap, plot_power_curve, plot_profile, qq_ranef, qq_residuals,
                         residuals_vs_fitted)

__all__ = ["caterpillar", "qq_ranef", "residuals_vs_fitted", "qq_residuals", "plot_profile", "plot_bootstrap",
           "plot_power_curve"]
