"""What kind of mixed model a fit is: decided once, when the result object is built.

A fitted model carries ``fit.kind``, a ``LinearKind`` (lmer) or a ``GeneralizedKind`` (glmer,
glmer_nb), small immutable (hashable) objects that hold what differs between the two and say it
in the same fields. Modules outside the result classes read these fields, or dispatch on the
kind's type with ``functools.singledispatch`` where the two kinds need different algorithms
(batch setup, profiles, variance-component standard errors); none probes a fit's attributes to
guess its kind.

The two kinds, in the fields below:

- lmer: y | b ~ N(X beta + Z b + offset, sigma^2 W^{-1}), Var(b) = sigma^2 Lambda Lambda'. sigma
  is a parameter of the deviance (profiled out of it), fitted by REML or ML; fixed effects get t
  tests, with Satterthwaite or Kenward-Roger denominator df (lmerTest).
- glmer: g(E[y | b]) = X beta + Z b + offset, Var(b) = Lambda Lambda' (not scaled by sigma, as
  lme4 >= 2.0-1 reports it); sigma, where the family has a dispersion, is plugged in, not a
  parameter of the Laplace deviance; fixed effects get Wald z tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .families import Family
from .frame import DataError

# families whose -2 log L are of the same counts (a Poisson glmer against glmer_nb: the test of
# overdispersion lme4 users run), so that likelihood-ratio tests may compare them
COUNT_FAMILIES = frozenset({"poisson", "negative.binomial"})


@dataclass(frozen=True)
class LinearKind:
    """A linear mixed model (lme4's lmerMod), fitted by REML (``reml``) or ML."""

    reml: bool
    name: ClassVar[str] = "lmer"
    family: ClassVar[None] = None  # (batches and simulations pass the family as static data)
    n_agq: ClassVar[int] = 0
    # Var(b) = sigma^2 T T', and sigma is a parameter of the deviance (lme4's .sigma)
    sigma_scales_covariance: ClassVar[bool] = True
    has_residual: ClassVar[bool] = True
    # fixed effects: t tests, which need denominator df (Satterthwaite, Kenward-Roger)
    ddf_tests: ClassVar[bool] = True
    # lme4 expands `||` in an lmer call's formula (as printed in anova headings), not in glmer's
    expands_double_bar: ClassVar[bool] = True
    # replicates in lock step on CPU: measured on 2 cores, sleepstudy batches ran fastest at 2-4
    cpu_vmap_width: ClassVar[int] = 4

    @property
    def criterion_name(self) -> str:
        """The criterion the fit minimized: "REML" or "deviance"."""
        return "REML" if self.reml else "deviance"

    def check_responses(self, Y: np.ndarray, weights: np.ndarray) -> None:
        """Any finite response is a valid lmer response (finiteness is checked by the caller)."""

    def same_response_law(self, other, weights, other_weights) -> bool:
        """Whether two fits to the same y have comparable likelihoods (any two lmer fits do)."""
        return True

    def family_difference(self, other) -> str:
        return ""


@dataclass(frozen=True)
class GeneralizedKind:
    """A generalized linear mixed model (lme4's glmerMod) of ``family``, by Laplace (n_agq = 1),
    nAGQ = 0 or adaptive Gauss-Hermite quadrature with ``n_agq`` points."""

    family: Family
    n_agq: int
    name: ClassVar[str] = "glmer"
    reml: ClassVar[bool] = False
    criterion_name: ClassVar[str] = "deviance"
    sigma_scales_covariance: ClassVar[bool] = False
    ddf_tests: ClassVar[bool] = False
    expands_double_bar: ClassVar[bool] = False
    # each lane waits for the slowest of its group, and GLMM replicates vary most: cbpp ran
    # fastest at 1 lane on 2 cores
    cpu_vmap_width: ClassVar[int] = 1

    @property
    def has_residual(self) -> bool:
        """A residual standard deviation (the dispersion's root) is reported and counted."""
        return self.family.has_dispersion

    def check_responses(self, Y: np.ndarray, weights: np.ndarray) -> None:
        """Y's columns are valid responses of the family (binomial: proportions of the trials)."""
        try:
            self.family.validate(Y, weights)
        except DataError as error:
            counts = " (for counts of successes, divide by the trials, the fit's weights)" \
                if self.family.name == "binomial" else ""
            raise DataError(f"refit_batch: Y is not a valid {self.family.name} response{counts}: "
                            f"{error}") from error

    def same_response_law(self, other, weights, other_weights) -> bool:
        """Whether two fits to the same y have comparable likelihoods: the same prior weights and
        the same family, or two count families."""
        names = {self.family.name, other.family.name}
        return bool(np.array_equal(weights, other_weights)) and (len(names) == 1 or names <= COUNT_FAMILIES)

    def family_difference(self, other) -> str:
        return f", family {self.family.name} vs {other.family.name}"


ModelKind = LinearKind | GeneralizedKind
