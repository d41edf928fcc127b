"""Every exception and warning mixedjax raises or issues, in one place.

Errors are for input that cannot be used: each message names the column, term or value and
the fix. Warnings are for fits that completed but need attention; inside a batch the same
conditions are a status per replicate, not an exception. The modules that raise them import
them from here (and their old homes still export them: ``mixedjax.frame.DataError`` is this
``DataError``). This module imports nothing, so any module can use it.
"""

# ---- bad input ----------------------------------------------------------------------------------

class FormulaError(ValueError):
    """A formula that lme4's syntax does not allow, with the reason and the fix."""


class DataError(ValueError):
    """Bad input data: a missing column, a wrong type, an empty frame; the message names the fix."""


class ArgumentError(ValueError):
    """An argument value that mixedjax cannot use, with the reason and the fix."""


class KenwardRogerError(ValueError):
    """Kenward-Roger's method does not apply to this fit or contrast."""


class SplineError(ValueError):
    """The profile cannot be inverted by a spline (too few points, or zeta not monotone)."""


# ---- fits that produced nothing usable ----------------------------------------------------------

class ConvergenceError(FloatingPointError):
    """A fit that produced no usable estimates (non-finite deviance or fixed effects)."""


# ---- fits that completed, with something to report ----------------------------------------------

class MissingValuesWarning(UserWarning):
    """Rows were dropped because a used column had a missing value (R's na.omit)."""


class RankDeficiencyWarning(UserWarning):
    """Linearly dependent fixed-effects columns were dropped (lme4: message + drop.cols)."""


class SingularFitWarning(UserWarning):
    """A covariance parameter estimate is on the boundary (a variance 0 or a correlation +-1)."""


class ConvergenceWarning(UserWarning):
    """The optimizer stopped without meeting lme4's convergence checks."""


class RefitMLWarning(UserWarning):
    """REML fits were refitted by maximum likelihood before the comparison (lme4's message)."""


class DdfWarning(UserWarning):
    """The variance-parameter Hessian is not positive definite: df may be unreliable."""


class BoundaryWarning(UserWarning):
    """A variance parameter is on the boundary of its space: its standard error is undefined."""


class ProfileWarning(UserWarning):
    """Something in a profile needs attention (NA points, bounds used as interval ends, ...)."""


class ModelSizeError(MemoryError):
    """A model whose dense trailing block would not fit in this machine's memory; the message names
    the block, its order and the memory it needs."""


class ProgressWarning(UserWarning):
    """A progress bar was due but tqdm is not installed."""


__all__ = [
    "FormulaError", "DataError", "ArgumentError", "KenwardRogerError", "SplineError",
    "ConvergenceError", "MissingValuesWarning", "RankDeficiencyWarning", "SingularFitWarning",
    "ConvergenceWarning", "RefitMLWarning", "DdfWarning", "BoundaryWarning", "ProfileWarning",
    "ProgressWarning", "ModelSizeError",
]

# Tracebacks and reprs name the public home (``mixedjax.DataError``), where users import them from.
for _name in __all__:
    globals()[_name].__module__ = "mixedjax"
del _name
