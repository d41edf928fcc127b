"""Checks of the arguments users pass to the fitting functions and result methods.

Each check returns the value in the form the code uses (a Python bool, int or a float array) or
raises ``ArgumentError`` naming the argument, the value received and what to pass instead, so
that a wrong value never reaches numpy or JAX (where it would fail with an internal error or,
worse, be silently reinterpreted: ``bool("FALSE")`` is True, ``int(2.5)`` is 2).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import ArgumentError


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _shown(value) -> str:
    return f"{value!r} ({type(value).__name__})"


def boolean(value, name: str) -> bool:
    """True or False (numpy's bools too); strings, None and numbers are errors."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ArgumentError(f"{name} must be True or False, got {_shown(value)}")


def integer(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number (an int, or a float with no fractional part) within [minimum, maximum]."""
    whole = isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer())
    if isinstance(value, (bool, np.bool_)) or not whole:
        raise ArgumentError(f"{name} must be a whole number, got {_shown(value)}")
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        bounds = (f"between {minimum} and {maximum}" if maximum is not None
                  else f"at least {minimum}")
        raise ArgumentError(f"{name} must be {bounds}, got {number}")
    return number


def probability(value, name: str) -> float:
    """A number strictly between 0 and 1 (a confidence level, a test size)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ArgumentError(f"{name} must be a number between 0 and 1, got {_shown(value)}")
    return float(value)


def positive(value, name: str) -> float:
    """A finite number > 0 (a size, a scale)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not (math.isfinite(value) and value > 0):
        raise ArgumentError(f"{name} must be a positive, finite number, got {_shown(value)}")
    return float(value)


def finite_vector(value, name: str, length: int, what: str) -> np.ndarray:
    """A 1-d float array of ``length`` finite values; ``what`` says what the values are."""
    try:
        if isinstance(value, str) or np.asarray(value).dtype.kind in "US":
            raise TypeError("text, not numbers")  # np.asarray(["1.5"], float) would parse it
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as error:
        raise ArgumentError(f"{name} must be {_count(length, 'number')} ({what}); got {_shown(value)}") from error
    if array.ndim > 1 and array.size == array.shape[0]:
        array = array.ravel()
    if array.ndim != 1 or array.shape[0] != length:
        raise ArgumentError(f"{name} must have {_count(length, 'value')} ({what}), got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ArgumentError(f"{name} has {_count(bad.size, 'non-finite value')} (first at position {bad[0]}: "
                            f"{array[bad[0]]}); give finite numbers ({what})")
    return array


def start_vector(start, names: list[str]) -> np.ndarray:
    """``start=`` of a fit: one finite value per covariance parameter (theta), in lme4's order."""
    return finite_vector(start, "start", len(names),
                         f"theta, the covariance parameters {', '.join(names)}")


def seed(value) -> int:
    """A random seed: a whole number that fits JAX's 64-bit key."""
    return integer(value, "seed", minimum=-2 ** 63, maximum=2 ** 63 - 1)


def na_action(value) -> str:
    """How results on the fit's rows treat the rows dropped for missing values: "omit" (left
    out, R's na.omit) or "exclude" (NaN there, R's na.exclude)."""
    if isinstance(value, str) and value in ("omit", "exclude"):
        return value
    raise ArgumentError(f"na_action must be 'omit' (leave out the rows dropped for missing values) "
                        f"or 'exclude' (NaN at those rows, as R's na.exclude), got {_shown(value)}")
