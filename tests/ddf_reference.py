"""Shared helpers of test_satterthwaite.py and test_kenward_roger.py: the lmerTest / pbkrtest
reference numbers (tests/reference_inference/make_ddf.R) and whether lme4 stopped short."""
from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from references import ROOT_OF_FOLDER, case_ids, read_json, read_text, reference_fit
from mixedjax._src import lmm

DDF_DIR = ("reference_inference", "ddf")
IDS = case_ids(*DDF_DIR)

AT_LME4_TOL = 1e-6   # our derivatives at lme4's estimates vs lmerTest's numDeriv ones
AT_OPTIMUM_TOL = 1e-4
# where lme4 stops short of the optimum (our criterion lower), df move with the estimates: the
# comparison at lme4's own estimates (AT_LME4_TOL) is then the test of the method
STOPPED_SHORT_TOL = 2e-3


@functools.cache
def ddf_reference(fit_id: str) -> dict:
    return read_json(*DDF_DIR, f"{fit_id}.json")


def text(fit_id: str, what: str) -> str:
    return read_text(*DDF_DIR, f"{fit_id}.{what}.txt")


def fit_for(fit_id: str):
    return reference_fit(ROOT_OF_FOLDER[ddf_reference(fit_id)["root"]], fit_id)


def values(table: dict) -> np.ndarray:
    return np.array(table["values"], dtype=float).reshape(len(table["values"]), -1)


@functools.cache
def lme4_stopped_short(fit_id: str) -> bool:
    """Our profiled criterion is lower than at lme4's theta by more than rounding."""
    fit, ref = fit_for(fit_id), ddf_reference(fit_id)
    at_lme4 = float(lmm.profiled_deviance(jnp.asarray(ref["theta"]), fit.problem, fit.reml))
    ours = float(lmm.profiled_deviance(jnp.asarray(fit.theta_values), fit.problem, fit.reml))
    return ours < at_lme4 - 1e-10  # rounding of the criterion is ~1e-12


def tolerance(fit_id: str) -> float:
    return STOPPED_SHORT_TOL if lme4_stopped_short(fit_id) else AT_OPTIMUM_TOL


def max_relative(ours, theirs, floor: float = 1e-300) -> float:
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    both_nan = np.isnan(ours) & np.isnan(theirs)
    error = np.abs(ours - theirs) / np.maximum(np.abs(theirs), floor)
    return float(np.max(np.where(both_nan, 0.0, error), initial=0.0))


def without_correlation_note(summary: str) -> str:
    """R emits 'Correlation matrix not shown ...' as a message, which make_ddf.R does not capture."""
    return summary.split("\nCorrelation matrix not shown")[0].rstrip()


def log_p(table) -> np.ndarray:
    """The table with its last column (a p-value) on the log scale: far-tail p-values (1e-47)
    amplify last-digit differences of F or t, their logarithms do not."""
    out = np.array(table, dtype=float, copy=True)
    out[:, -1] = np.log(np.maximum(out[:, -1], 1e-300))  # both underflow to 0 far out
    return out
