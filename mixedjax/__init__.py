"""mixedjax: lme4's lmer and glmer on JAX.

>>> import mixedjax
>>> fit = mixedjax.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)   # doctest: +SKIP
>>> print(fit.summary())                                                  # doctest: +SKIP
"""
from . import _jax  # noqa: F401  (switches float64 on before anything else)
from .arguments import ArgumentError
from .progress import ProgressWarning
from .compilation import CompileCounter, configure_default_cache, enable_compilation_cache, optimize_programs
from .formula import FormulaError
from .frame import DataError, MissingValuesWarning
from .families import Family, Gamma, binomial, gaussian, inverse_gaussian, negative_binomial, poisson
from .generalized_model import GeneralizedLinearMixedModel, glmer
from .negative_binomial_model import NegativeBinomialMixedModel, glmer_nb
from .linear_model import LinearMixedModel, lmer
from .model import RankDeficiencyWarning
from .inference.likelihood_ratio import RefitMLWarning, anova
from .power import power, power_curve, simulate_formula
from . import datasets
from . import plots  # matplotlib is imported only when a plot is drawn
from .results import ConvergenceError, ConvergenceWarning, SingularFitWarning

__all__ = [
    # fitting and results
    "lmer", "LinearMixedModel", "glmer", "GeneralizedLinearMixedModel", "glmer_nb",
    "NegativeBinomialMixedModel", "anova",
    # families
    "Family", "binomial", "poisson", "Gamma", "inverse_gaussian", "gaussian", "negative_binomial",
    # errors and warnings
    "FormulaError", "DataError", "ArgumentError", "ConvergenceError", "ProgressWarning",
    "MissingValuesWarning", "RankDeficiencyWarning", "ConvergenceWarning", "SingularFitWarning",
    "RefitMLWarning",
    # simulation, power, compilation, data, plots
    "power", "power_curve", "simulate_formula", "enable_compilation_cache", "CompileCounter",
    "optimize_programs",
    "cache_directory", "datasets", "plots",
]
__version__ = "0.1.0"
cache_directory = configure_default_cache()  # the program store's folder (None: memory only)
