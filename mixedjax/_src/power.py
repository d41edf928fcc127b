"""Simulation studies and power analysis from given parameters (lme4's simulate.formula with
newparams, simr's powerSim / powerCurve), run as batches of compiled, vmapped refits.

Parameters are lme4's: ``beta`` (fixed effects, in the model matrix's column order or a dict by
name), ``theta`` (relative covariance factors, lme4's order and scale: Var(b) = sigma^2 T T' for
lmer, T T' for glmer) and ``sigma`` (residual SD, or sqrt(dispersion) for Gamma/inverse.gaussian).
"""
from __future__ import annotations

import warnings
from statistics import NormalDist
from types import SimpleNamespace

import numpy as np
import pandas as pd

from . import _jax  # noqa: F401  (float64)
from . import arguments
from .families import as_family
from .formula import parse_formula
from .model import model_spec
from .model_kinds import GeneralizedKind, LinearKind


def _design_with_response(formula: str, design: pd.DataFrame, family) -> pd.DataFrame:
    """lme4 simulates from a design without a response: add a placeholder one if needed."""
    response = parse_formula(formula).response
    data = design.copy()
    if response not in data.columns:
        data[response] = 1.0  # valid for every family; replaced by the simulated values
    return data


def _named(values, names, what):
    if isinstance(values, dict):
        missing = [n for n in names if n not in values]
        if missing:
            raise arguments.ArgumentError(f"{what} lacks {missing}; give one value per name in {list(names)}")
        return np.array([float(values[n]) for n in names])
    values = np.asarray(values, float).ravel()
    if values.size != len(names):
        raise arguments.ArgumentError(f"{what} needs {len(names)} values ({list(names)}), got {values.size}")
    return values


def simulate_formula(formula: str, design: pd.DataFrame, beta, theta, sigma: float = 1.0,
                     family="gaussian", nsim: int = 1, seed: int = 0, weights=None) -> np.ndarray:
    """nobs x nsim responses simulated from ``formula`` on ``design`` with the given parameters."""
    from .simulate import draw_responses, simulation_model
    nsim = arguments.integer(nsim, "nsim", minimum=1)
    seed = arguments.seed(seed)
    if isinstance(sigma, (bool, np.bool_)) or not np.isscalar(sigma) or not np.isfinite(sigma) \
            or not sigma > 0:
        raise arguments.ArgumentError(f"sigma must be a positive number, got {sigma!r}")
    family = as_family(family)
    glmm = not (family.name == "gaussian" and family.link.name == "identity")
    data = _design_with_response(formula, design, family)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = model_spec(formula, data, weights=weights)
    stand_in = SimpleNamespace(
        spec=spec, beta=_named(beta, spec.fixed.names, "beta"),
        theta_values=_named(theta, spec.theta_names(), "theta"), sigma=float(sigma),
        u=np.zeros(spec.design.layout.n_random), prior_weights=spec.frame.weights,
        # (simulation reads the kind's family and scale, not how it would be fitted)
        kind=GeneralizedKind(family, 1) if glmm else LinearKind(reml=True))
    model = simulation_model(stand_in)
    layout = spec.design.layout
    return draw_responses(model, seed, nsim, layout.term_levels, layout.term_columns,
                          stand_in.kind.family, False)


def power(formula: str, design: pd.DataFrame, beta, theta, sigma: float = 1.0, nsim: int = 1000,
          family="gaussian", alpha: float = 0.05, level: float = 0.95, REML: bool = True,
          seed: int = 0, **batch_options) -> pd.DataFrame:
    """Simulate ``nsim`` datasets from the true parameters, refit them all, and summarize each
    fixed effect: true value, mean estimate, bias, RMSE, coverage of Wald intervals at ``level``
    and power of the Wald z test at ``alpha`` (two-sided; the share of converged replicates that
    reject beta = 0). Also the share of singular and of converged fits."""
    from .generalized_model import glmer
    from .linear_model import lmer
    nsim = arguments.integer(nsim, "nsim", minimum=1)
    alpha, level = arguments.probability(alpha, "alpha"), arguments.probability(level, "level")
    REML = arguments.boolean(REML, "REML")
    family = as_family(family)
    Y = simulate_formula(formula, design, beta, theta, sigma, family, nsim, seed)
    data = _design_with_response(formula, design, family)
    response = parse_formula(formula).response
    data[response] = Y[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if family.name == "gaussian" and family.link.name == "identity":
            fit = lmer(formula, data, REML=REML)
        else:
            fit = glmer(formula, data, family=family)
    batch = fit.refit_batch(Y, **batch_options)
    true = _named(beta, fit.spec.fixed.names, "beta")
    ok = batch.converged
    estimates, se = batch.beta[ok], batch.se[ok]
    z_test = NormalDist().inv_cdf(1 - alpha / 2)
    z_ci = NormalDist().inv_cdf(1 - (1 - level) / 2)
    table = pd.DataFrame({
        "true": true,
        "mean": estimates.mean(axis=0),
        "bias": estimates.mean(axis=0) - true,
        "rmse": np.sqrt(((estimates - true) ** 2).mean(axis=0)),
        "coverage": (np.abs(estimates - true) <= z_ci * se).mean(axis=0),
        "power": (np.abs(estimates / se) > z_test).mean(axis=0),
    }, index=pd.Index(fit.spec.fixed.names, name="term"))
    table["nsim"] = int(ok.sum())
    table["singular"] = float(batch.singular.mean())
    table["converged"] = float(ok.mean())
    return table


def power_curve(formula: str, design_for, sizes, beta, theta, sigma: float = 1.0,
                nsim: int = 1000, **options) -> pd.DataFrame:
    """``power`` at each size: ``design_for(size)`` returns the design DataFrame (e.g. with
    ``size`` groups or ``size`` observations per group). One row per (size, term)."""
    tables = []
    for size in sizes:
        table = power(formula, design_for(size), beta, theta, sigma, nsim=nsim, **options)
        tables.append(table.reset_index().assign(size=size))
    return pd.concat(tables, ignore_index=True)[["size", "term", "true", "mean", "bias", "rmse",
                                                 "coverage", "power", "nsim", "singular", "converged"]]
