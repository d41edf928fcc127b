"""mixedjax: lme4's lmer and glmer on JAX.

>>> import mixedjax
>>> fit = mixedjax.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)   # doctest: +SKIP
>>> print(fit.summary())                                                  # doctest: +SKIP
"""
import importlib

from ._src import _jax  # noqa: F401  (switches float64 on before anything else)
from ._src import _shutdown  # noqa: F401  (a quicker interpreter exit)
from ._src.compilation import CompileCounter, configure_default_cache, enable_compilation_cache, optimize_programs
from .errors import (ArgumentError, BoundaryWarning, ConvergenceError, ConvergenceWarning, DataError, DdfWarning,
                     FormulaError, KenwardRogerError, MissingValuesWarning, ModelSizeError, ProfileWarning,
                     ProgressWarning, RankDeficiencyWarning, RefitMLWarning, SingularFitWarning, SplineError)
from ._src.display import AnovaTable
from ._src.families import Family, Gamma, binomial, gaussian, inverse_gaussian, negative_binomial, poisson
from ._src.generalized_model import GeneralizedLinearMixedModel, glmer
from ._src.negative_binomial_model import NegativeBinomialMixedModel, glmer_nb
from ._src.linear_model import LinearMixedModel, lmer
from ._src.inference.likelihood_ratio import anova
from ._src.power import power, power_curve, simulate_formula
from . import datasets, errors
from . import plots  # matplotlib is imported only when a plot is drawn
from ._src.results import MixedModelResults, OptimizerSummary, Summary, VarCorr

__all__ = [
    # fitting and results
    "lmer", "LinearMixedModel", "glmer", "GeneralizedLinearMixedModel", "glmer_nb",
    "NegativeBinomialMixedModel", "anova",
    # result types (BatchResult, BootstrapResult and Profile load their modules when first named)
    "MixedModelResults", "VarCorr", "Summary", "OptimizerSummary", "AnovaTable", "BatchResult",
    "BootstrapResult", "Profile",
    # families
    "Family", "binomial", "poisson", "Gamma", "inverse_gaussian", "gaussian", "negative_binomial",
    # errors and warnings (mixedjax.errors)
    "FormulaError", "DataError", "ArgumentError", "KenwardRogerError", "SplineError", "ConvergenceError",
    "MissingValuesWarning", "RankDeficiencyWarning", "ConvergenceWarning", "SingularFitWarning",
    "RefitMLWarning", "DdfWarning", "BoundaryWarning", "ProfileWarning", "ProgressWarning", "ModelSizeError",
    # simulation, power, compilation, data, plots
    "power", "power_curve", "simulate_formula", "enable_compilation_cache", "CompileCounter",
    "optimize_programs",
    "cache_directory", "datasets", "errors", "plots",
]
__version__ = "0.1.0"
cache_directory = configure_default_cache()  # the program store's folder (None: memory only)

# result types whose modules are not needed to fit a model, imported when first asked for
_LAZY_RESULT_TYPES = {"BatchResult": "batch", "BootstrapResult": "batch", "Profile": "inference.profile"}


def __getattr__(name):
    if name in _LAZY_RESULT_TYPES:
        return getattr(importlib.import_module(f"._src.{_LAZY_RESULT_TYPES[name]}", __name__), name)
    raise AttributeError(f"module 'mixedjax' has no attribute {name!r}")
