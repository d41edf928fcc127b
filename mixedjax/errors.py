"""Every exception and warning mixedjax raises or issues (also exported by ``mixedjax``)."""
from ._src.errors import (ArgumentError, BoundaryWarning, ConvergenceError, ConvergenceWarning, DataError,
                          DdfWarning, FormulaError, KenwardRogerError, MissingValuesWarning, ModelSizeError,
                          ProfileWarning, ProgressWarning, RankDeficiencyWarning, RefitMLWarning, SingularFitWarning,
                          SplineError)

__all__ = [
    "FormulaError", "DataError", "ArgumentError", "KenwardRogerError", "SplineError",
    "ConvergenceError", "MissingValuesWarning", "RankDeficiencyWarning", "SingularFitWarning",
    "ConvergenceWarning", "RefitMLWarning", "DdfWarning", "BoundaryWarning", "ProfileWarning",
    "ProgressWarning", "ModelSizeError",
]
