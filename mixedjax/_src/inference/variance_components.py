"""Standard errors of variance components on lme4's standard-deviation scale (lme4 gives none).

Parameters psi = (.sig01, .sig02, ..., .sigma): per random-effects term, in theta's layout, the
standard deviations (diagonal positions) and correlations (below the diagonal), then the residual
standard deviation sigma (lmer only). The asymptotic covariance of psi-hat is

    Cov(psi-hat) = 2 H^{-1},   H = d^2 d / d psi d psi'   at the estimates,

with d the objective the fit minimized, written in psi with nothing profiled out but beta:
  - lmer, REML fit: the REML criterion d_R(theta(psi), sigma); ML fit: the ML deviance, beta at
    its conditional estimate (``variance_parameters.lmm_deviance``, theta from psi by ``theta_from_sdcor``);
  - glmer: the Laplace (or AGQ) deviance D(theta(psi), beta) over (psi, beta) jointly, the beta
    block included in H and the psi block of 2 H^{-1} reported (sigma, where the family has one, is
    plugged in by lme4 rather than estimated through D, so it has no standard error here);
    nAGQ = 0 fits use the nAGQ = 0 objective of psi alone.
H is the exact autodiff Hessian. At a boundary estimate (a standard deviation 0, or a correlation
+-1) the quadratic approximation does not hold: those parameters (and correlations of a zero-SD
column) get NaN with a ``BoundaryWarning``, and the others are computed with them held fixed.
"""
from __future__ import annotations

import warnings
from functools import singledispatch

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .. import blocks, covariance_layout, covariance_structures, glmm
from ..model_kinds import GeneralizedKind, LinearKind
from ..variance_parameters import (_lower_positions, lmm_deviance, sdcor_from_theta, sig_names,
                                   theta_from_sdcor)
from ..errors import BoundaryWarning

BOUNDARY_SD = 1e-4          # an SD below this (relative to sigma for lmer) is on the boundary
BOUNDARY_CORRELATION = 1e-6  # |rho| above 1 - this is on the boundary


def _sigma_is_parameter(fit) -> bool:
    """lmer: sigma scales Var(b) and is a parameter of the deviance (.sigma); glmer: neither."""
    return fit.kind.sigma_scales_covariance


def _scale(fit) -> float:
    return fit.sigma if _sigma_is_parameter(fit) else 1.0


def varpar_estimates(fit) -> np.ndarray:
    """psi-hat: lme4's (.sig01, ..., .sigma) at the fit (no .sigma for glmer)."""
    layout = fit.spec.design.layout
    sdcor = np.asarray(sdcor_from_theta(jnp.asarray(fit.theta_values), _scale(fit), layout))
    return np.append(sdcor, fit.sigma) if _sigma_is_parameter(fit) else sdcor


def varpar_labels(fit) -> list[str]:
    """Readable labels in .sig order: ``Subject: sd (Intercept)``, ``Subject: cor Days.(Intercept)``,
    ``Residual: sd``."""
    labels = []
    for group, term in zip(fit.spec.group_names(), fit.spec.terms):
        rows, cols = covariance_structures.sdcor_positions(term.structure, term.n_columns)
        names = term.column_names
        for i, j in zip(rows, cols):
            if term.structure in ("cs", "ar1") and i != j:
                labels.append(f"{group}: cor ({term.structure})")
            else:
                labels.append(f"{group}: sd {names[i]}" if i == j else f"{group}: cor {names[i]}.{names[j]}")
    return labels + (["Residual: sd"] if _sigma_is_parameter(fit) else [])


def boundary_parameters(fit, estimates: np.ndarray) -> np.ndarray:
    """Mask of parameters at the boundary: zero SDs, correlations of +-1 and correlations that
    involve a zero SD (a correlation with a degenerate effect is not identified)."""
    scale = _scale(fit)
    mask = np.zeros(len(estimates), bool)
    for term, (_, _, where) in zip(fit.spec.terms, covariance_layout.term_slices(fit.spec.design.layout)):
        rows, cols = covariance_structures.sdcor_positions(term.structure, term.n_columns)
        values, start = estimates[where], where.start
        sd = {int(i): v for i, j, v in zip(rows, cols, values) if i == j}
        zero = {i for i, v in sd.items() if v < BOUNDARY_SD * scale}
        for k, (i, j) in enumerate(zip(rows, cols)):
            if i == j:
                mask[start + k] = i in zero
            else:
                lowest = float(covariance_structures.correlation(term.structure, term.n_columns,
                                                                 -np.pi / 2, np)) \
                    if term.structure in ("cs", "ar1") else -1.0
                mask[start + k] = (bool(zero) if term.structure in ("cs", "ar1") else i in zero or j in zero) \
                    or values[k] > 1 - BOUNDARY_CORRELATION or values[k] < lowest + BOUNDARY_CORRELATION
    return mask


def _theta_map(fit, psi: np.ndarray):
    """sdcor -> theta, with the Cholesky factor of a term's correlation matrix held constant
    when all its correlations are on the boundary (chol of a singular R has no derivative; those
    correlations are not differentiated anyway)."""
    layout = fit.spec.design.layout
    mask = boundary_parameters(fit, psi[:layout.n_theta])
    constant = {}
    for k, (structure, p, where) in enumerate(covariance_layout.term_slices(layout)):
        rows, cols = covariance_structures.sdcor_positions(structure, p)
        off = rows != cols
        if structure == "us" and p > 1 and mask[where][off].all():
            R = np.eye(p)
            R[rows[off], cols[off]] = R[cols[off], rows[off]] = psi[where][off]
            eigenvalues, vectors = np.linalg.eigh(R)  # a PSD square root, triangularized by QR
            root = vectors * np.sqrt(np.maximum(eigenvalues, 0.0))
            C = np.linalg.qr(root.T)[1].T
            constant[k] = C * np.sign(np.where(np.diag(C) == 0, 1.0, np.diag(C)))[None, :]

    def theta_of(sdcor, scale):
        if not constant:
            return theta_from_sdcor(sdcor, scale, layout)
        pieces = []
        for k, (structure, p, where) in enumerate(covariance_layout.term_slices(layout)):
            values = sdcor[where]
            if k in constant:
                rows, cols = _lower_positions(p)
                sd = values[rows == cols]
                pieces.append((sd[:, None] * constant[k])[rows, cols] / scale)
            else:
                pieces.append(covariance_structures.from_sdcor(structure, values, p, scale,
                                                               blocks.cholesky))
        return jnp.concatenate(pieces)
    return theta_of


def _objective_and_point(fit):
    """(d(x), x-hat, number of variance parameters) with x = psi (lmer) or (psi, beta) (glmer)."""
    psi = varpar_estimates(fit)
    return _objective(fit.kind, fit, _theta_map(fit, psi), psi)


@singledispatch
def _objective(kind, fit, theta_of, psi):
    raise TypeError(f"variance-component standard errors: no objective for a {type(kind).__name__} model")


@_objective.register
def _(kind: LinearKind, fit, theta_of, psi):
    problem, reml = fit.problem, kind.reml
    return (lambda x: lmm_deviance(theta_of(x[:-1], x[-1]), x[-1], problem, reml)), psi, len(psi)


@_objective.register
def _(kind: GeneralizedKind, fit, theta_of, psi):
    data, family, n_agq = fit.problem, kind.family, kind.n_agq
    n_psi = len(psi)
    if n_agq == 0:
        return (lambda x: glmm.laplace_deviance(theta_of(x, 1.0), None, data, family,
                                                joint=True)), psi, n_psi

    def deviance(x):
        theta = theta_of(x[:n_psi], 1.0)
        if n_agq == 1:
            return glmm.laplace_deviance(theta, x[n_psi:], data, family)
        return glmm.agq_deviance(theta, x[n_psi:], data, family, n_agq)
    return deviance, np.concatenate([psi, fit.beta]), n_psi


def deviance_hessian(fit) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """(H over the free coordinates, x-hat, number of variance parameters, free mask): the exact
    Hessian of the fit's objective in x = psi or (psi, beta), boundary parameters held fixed."""
    objective, x_hat, n_psi = _objective_and_point(fit)
    free = np.ones(len(x_hat), bool)
    free[:n_psi] = ~boundary_parameters(fit, x_hat[:n_psi])
    index = np.flatnonzero(free)
    fixed_point = jnp.asarray(x_hat)

    def restricted(z):
        return objective(fixed_point.at[index].set(z))
    H = np.asarray(jax.hessian(restricted)(jnp.asarray(x_hat[index])))
    return 0.5 * (H + H.T), x_hat, n_psi, free


def varpar_covariance(fit) -> np.ndarray:
    """2 H^{-1} for the variance parameters (n_psi x n_psi, NaN rows/columns at the boundary)."""
    H, x_hat, n_psi, free = deviance_hessian(fit)
    names = sig_names(fit.spec.design.layout, _sigma_is_parameter(fit))
    if not free[:n_psi].all():
        fixed = [f"{n} ({label})" for n, label, f in zip(names, varpar_labels(fit), free) if not f]
        warnings.warn(f"variance parameter(s) {', '.join(fixed)} are on the boundary of the "
                      "parameter space (a zero standard deviation or a correlation of +-1): the "
                      "deviance is not quadratic there, so their standard errors are NaN; the others "
                      "are computed with them held fixed", BoundaryWarning, stacklevel=3)
    full = np.full((len(x_hat), len(x_hat)), np.nan)
    eigenvalues = np.linalg.eigvalsh(H) if np.all(np.isfinite(H)) else np.array([-1.0])
    if eigenvalues.size and eigenvalues.min() <= 0:
        warnings.warn("the Hessian of the deviance with respect to the variance parameters is not "
                      "positive definite at the estimates (not a minimum, or a flat direction): "
                      "standard errors are NaN", BoundaryWarning, stacklevel=3)
        return full[:n_psi, :n_psi]
    index = np.flatnonzero(free)
    full[np.ix_(index, index)] = 2.0 * np.linalg.inv(H)
    return 0.5 * (full[:n_psi, :n_psi] + full[:n_psi, :n_psi].T)


def varpar_vcov_frame(fit) -> pd.DataFrame:
    """Cov(psi-hat) labelled with lme4's .sig names; ``.attrs["labels"]`` maps them to readable labels."""
    names = sig_names(fit.spec.design.layout, _sigma_is_parameter(fit))
    frame = pd.DataFrame(varpar_covariance(fit), index=names, columns=names)
    frame.attrs["labels"] = dict(zip(names, varpar_labels(fit)))
    return frame


def varcorr_se_table(fit, se: bool = True) -> pd.DataFrame:
    """VarCorr in .sig order: grp, var1, var2, sdcor (estimate) and, with ``se``, its standard error."""
    rows = []
    for group, term in zip(fit.spec.group_names(), fit.spec.terms):
        names = term.column_names
        for i, j in zip(*covariance_structures.sdcor_positions(term.structure, term.n_columns)):
            # (cs's and ar1's one correlation is listed at its first pair)
            rows.append((group, names[j] if i != j else names[i], names[i] if i != j else None))
    if _sigma_is_parameter(fit):
        rows.append(("Residual", None, None))
    names = sig_names(fit.spec.design.layout, _sigma_is_parameter(fit))
    table = pd.DataFrame(rows, columns=["grp", "var1", "var2"], index=names)
    table["sdcor"] = varpar_estimates(fit)
    if se:
        table["se"] = np.sqrt(np.diag(varpar_covariance(fit)))
    return table
