"""GLM families and links as R names them, as small immutable (hashable) objects of JAX functions.

A ``Family`` carries: the link (g, g^{-1}, d mu / d eta), the variance function V(mu), the unit
deviance dev(y, mu) (times prior weight a), and R's ``family$aic`` (-2 log-likelihood, with the
dispersion estimated as sum(dev) / sum(a) for Gamma and inverse.gaussian), which is what lme4's
Laplace objective adds to log|L|^2 + ||u||^2.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial


import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np
from scipy import special

from . import _jax  # noqa: F401  (float64)
from .compilation import jit
from .arguments import ArgumentError

_EPS = 2.220446049250313e-16
_EXP_BOUND = 700.0  # exp() argument bound in log-type links, as R's pmax/pmin guards


def _clip_exp(eta):
    return jnp.exp(jnp.clip(eta, -_EXP_BOUND, _EXP_BOUND))


@dataclass(frozen=True)
class Link:
    """A link g: mu -> eta, with inverse and derivative d mu / d eta."""

    name: str

    def linkfun(self, mu, xp=jnp):
        """g(mu); with ``xp=numpy`` on the host, with no eager JAX operation (each costs a first
        fit the compilation of a program)."""
        name = self.name
        if name == "identity":
            return mu
        if name == "log":
            return xp.log(mu)
        if name == "logit":
            return xp.log(mu / (1 - mu))
        if name == "probit":
            return jsp.ndtri(mu) if xp is jnp else special.ndtri(mu)
        if name == "cloglog":
            return xp.log(-xp.log1p(-mu))
        if name == "cauchit":
            return xp.tan(xp.pi * (mu - 0.5))
        if name == "inverse":
            return 1.0 / mu
        if name == "sqrt":
            return xp.sqrt(mu)
        if name == "1/mu^2":
            return 1.0 / mu ** 2
        raise ValueError(name)

    def linkinv(self, eta):
        name = self.name
        if name == "identity":
            return eta
        if name == "log":
            return jnp.maximum(_clip_exp(eta), _EPS)
        if name == "logit":
            return jnp.clip(jsp.expit(eta), _EPS, 1 - _EPS)
        if name == "probit":
            bound = -jsp.ndtri(_EPS)
            return jsp.ndtr(jnp.clip(eta, -bound, bound))
        if name == "cloglog":
            return jnp.clip(-jnp.expm1(-_clip_exp(eta)), _EPS, 1 - _EPS)
        if name == "cauchit":
            bound = -jnp.tan(jnp.pi * (_EPS - 0.5))
            return 0.5 + jnp.arctan(jnp.clip(eta, -bound, bound)) / jnp.pi
        if name == "inverse":
            return 1.0 / eta
        if name == "sqrt":
            return eta ** 2
        if name == "1/mu^2":
            return 1.0 / jnp.sqrt(eta)
        raise ValueError(name)

    def valid_mean(self, mu) -> np.ndarray:
        """Where the link is finite at mu (numpy: a host check that compiles nothing)."""
        mu = np.asarray(mu, float)
        name = self.name
        if name in ("logit", "probit", "cloglog", "cauchit"):
            return (mu > 0) & (mu < 1)
        if name in ("log", "1/mu^2"):
            return mu > 0
        if name == "inverse":
            return mu != 0
        if name == "sqrt":
            return mu >= 0
        return np.isfinite(mu)

    def mu_eta(self, eta):
        name = self.name
        if name == "identity":
            return jnp.ones_like(eta)
        if name == "log":
            return jnp.maximum(_clip_exp(eta), _EPS)
        if name == "logit":
            e = _clip_exp(-jnp.abs(eta))
            return jnp.maximum(e / (1 + e) ** 2, _EPS)
        if name == "probit":
            return jnp.maximum(jnp.exp(-0.5 * eta ** 2) / np.sqrt(2 * np.pi), _EPS)
        if name == "cloglog":
            eta = jnp.minimum(eta, _EXP_BOUND)
            return jnp.maximum(jnp.exp(eta - jnp.exp(eta)), _EPS)
        if name == "cauchit":
            return jnp.maximum(1.0 / (jnp.pi * (1 + eta ** 2)), _EPS)
        if name == "inverse":
            return -1.0 / eta ** 2
        if name == "sqrt":
            return 2.0 * eta
        if name == "1/mu^2":
            return -1.0 / (2.0 * eta ** 1.5)
        raise ValueError(name)


_ALLOWED_LINKS = {
    "binomial": ("logit", "probit", "cloglog", "cauchit", "log"),
    "poisson": ("log", "identity", "sqrt"),
    "Gamma": ("inverse", "log", "identity"),
    "inverse.gaussian": ("1/mu^2", "log", "inverse", "identity"),
    "gaussian": ("identity", "log", "inverse"),
    "negative.binomial": ("log", "identity", "sqrt"),  # MASS's negative.binomial
}


@dataclass(frozen=True)
class Family:
    """A GLM family (R's ``family`` object): name, link, variance, deviance and aic."""

    name: str
    link: Link

    def __post_init__(self):
        allowed = _ALLOWED_LINKS.get(self.name)
        if allowed is None:
            raise ArgumentError(f"unknown family {self.name!r}; use one of {', '.join(_ALLOWED_LINKS)}")
        if self.link.name not in allowed:
            raise ArgumentError(f"link {self.link.name!r} not available for {self.name} family; "
                             f"available links are {', '.join(repr(a) for a in allowed)}")

    def __str__(self) -> str:
        return f"{self.name}({self.link.name})"

    @property
    def r_name(self) -> str:
        """R's ``family$family``, as summaries print it."""
        return self.name

    @property
    def has_dispersion(self) -> bool:
        """Gamma, inverse.gaussian and gaussian estimate a scale; binomial and poisson fix it at 1."""
        return self.name in ("Gamma", "inverse.gaussian", "gaussian")

    @property
    def canonical(self) -> bool:
        return (self.name, self.link.name) in {("binomial", "logit"), ("poisson", "log"),
                                               ("Gamma", "inverse"), ("inverse.gaussian", "1/mu^2"),
                                               ("gaussian", "identity")}

    def variance(self, mu):
        if self.name == "binomial":
            return mu * (1 - mu)
        if self.name == "poisson":
            return mu
        if self.name == "Gamma":
            return mu ** 2
        if self.name == "inverse.gaussian":
            return mu ** 3
        return mu * 0.0 + 1.0  # numpy in, numpy out, as the others

    def unit_deviance(self, y, mu, weights):
        """a * d(y, mu), R's ``dev.resids``; 0 log 0 = 0. Written as y log y - y log mu so that
        derivatives in mu stay finite at y = 0."""
        if self.name == "binomial":
            return 2 * weights * (jsp.xlogy(y, y) - jsp.xlogy(y, mu)
                                  + jsp.xlogy(1 - y, 1 - y) - jsp.xlogy(1 - y, 1 - mu))
        if self.name == "poisson":
            return 2 * weights * (jsp.xlogy(y, y) - jsp.xlogy(y, mu) - (y - mu))
        if self.name == "Gamma":
            return -2 * weights * (jnp.log(jnp.where(y == 0, 1.0, y / mu)) - (y - mu) / mu)
        if self.name == "inverse.gaussian":
            return weights * (y - mu) ** 2 / (y * mu ** 2)
        return weights * (y - mu) ** 2

    def aic(self, y, mu, weights, deviance_sum):
        """R's ``family$aic(y, n, mu, wt, dev)``: -2 log-likelihood (+2 for an estimated scale)."""
        if self.name == "binomial":
            successes = jnp.round(weights * y)
            log_density = (jsp.gammaln(weights + 1) - jsp.gammaln(successes + 1)
                           - jsp.gammaln(weights - successes + 1)
                           + jsp.xlogy(successes, mu) + jsp.xlogy(weights - successes, 1 - mu))
            return -2 * jnp.sum(jnp.where(weights > 0, log_density, 0.0))
        if self.name == "poisson":
            log_density = jsp.xlogy(y, mu) - mu - jsp.gammaln(y + 1)
            return -2 * jnp.sum(weights * log_density)
        total_weight = jnp.sum(weights)
        dispersion = deviance_sum / total_weight
        if self.name == "Gamma":
            # -2 sum a log dgamma(y; shape nu = 1 / dispersion, scale mu / nu) + 2, written through
            # the deviance: sum a (log mu + y / mu) = deviance / 2 + sum a (log y + 1), so that
            # aic = 2 W lgamma(nu) - 2 W nu log nu + W + 2 W nu + 2 sum a log y + 2 (W = sum a):
            # like the other dispersion families' it depends on mu only through the deviance,
            # which the level-wise derivatives of ``scalar_term`` use
            shape = 1.0 / dispersion
            return (2 * total_weight * (jsp.gammaln(shape) - shape * jnp.log(shape) + shape) + total_weight
                    + 2 * jnp.sum(weights * jnp.log(y)) + 2)
        if self.name == "inverse.gaussian":
            return (total_weight * (jnp.log(dispersion * 2 * jnp.pi) + 1)
                    + 3 * jnp.sum(jnp.log(y) * weights) + 2)
        # rows of weight 0 (shape-class padding) are not observations
        positive = weights > 0
        n = jnp.sum(positive)
        return (n * (jnp.log(2 * jnp.pi * deviance_sum / n) + 1) + 2
                - jnp.sum(jnp.log(jnp.where(positive, weights, 1.0))))

    @property
    def padding_response(self) -> float:
        """A response value valid for the family, for zero-weight padding rows."""
        return 0.5 if self.name == "binomial" else 1.0

    def mustart(self, y, weights):
        """R's ``family$initialize`` starting means: numpy in, numpy out; traced in (a batch
        replicate's response), traced out."""
        if self.name == "binomial":
            return (weights * y + 0.5) / (weights + 1)
        if self.name == "poisson":
            return y + 0.1
        return 1.0 * y

    def validate(self, y: np.ndarray, weights: np.ndarray) -> None:
        """R's response checks, with counts of the rows that break each rule."""
        from .frame import DataError
        if self.name == "binomial":
            outside = int(np.sum((y < 0) | (y > 1)))
            if outside:
                raise DataError(f"binomial response: {outside} values outside [0, 1]; use 0/1, "
                                "proportions with weights= as numbers of trials, or cbind(successes, failures)")
            successes = weights * y
            broken = int(np.sum(np.abs(successes - np.round(successes)) > 1e-7))
            if broken:
                raise DataError(f"binomial response: {broken} rows have a non-integer number of "
                                "successes (proportion x weights); weights must be numbers of trials")
        elif self.name == "poisson":
            negative = int(np.sum(y < 0))
            if negative:
                raise DataError(f"poisson response: {negative} negative counts")
            fractional = int(np.sum(np.abs(y - np.round(y)) > 1e-7))
            if fractional:
                import warnings
                warnings.warn(f"non-integer x = {y[np.abs(y - np.round(y)) > 1e-7][0]} in {fractional} "
                              "poisson responses (R: dpois non-integer x)", UserWarning, stacklevel=4)
        elif self.name in ("Gamma", "inverse.gaussian"):
            bad = int(np.sum(y <= 0))
            if bad:
                raise DataError(f"{self.name} response: {bad} non-positive values; "
                                "the response must be > 0")


@dataclass(frozen=True)
class NegativeBinomial(Family):
    """MASS's ``negative.binomial(theta)``: a known size theta, V(mu) = mu + mu^2 / theta, R's
    deviance residuals and aic (-2 log-likelihood of the counts). ``theta`` is a number where the
    family is a static argument of a compiled program, and may be traced where a program builds
    the family from an estimated size (``negative_binomial_model.py``)."""

    theta: float = 1.0

    def __str__(self) -> str:
        return f"negative.binomial(theta = {self.theta!r}, link = {self.link.name})"

    @property
    def r_name(self) -> str:
        from .display import r_format
        return f"Negative Binomial({r_format([round(float(self.theta), 4)])[0]})"

    @property
    def canonical(self) -> bool:
        return False  # the canonical link is log(mu / (mu + theta)), which MASS does not offer

    def variance(self, mu):
        return mu + mu ** 2 / self.theta

    def unit_deviance(self, y, mu, weights):
        theta = self.theta
        # log1p forms: at large sizes (no overdispersion: theta -> infinity) log(y + theta) -
        # log(mu + theta) and the log-gamma differences below cancel to rounding (1e-7 of the
        # deviance at theta = 2e8); betaln is accurate there
        return 2 * weights * (jsp.xlogy(y, y) - jsp.xlogy(y, mu)
                              - (y + theta) * jnp.log1p((y - mu) / (mu + theta)))

    def aic(self, y, mu, weights, deviance_sum):
        theta = self.theta
        positive = y > 0
        y_safe = jnp.where(positive, y, 1.0)
        # log Gamma(y + theta) - log Gamma(theta) = log Gamma(y) - log B(theta, y) (0 at y = 0)
        gamma_ratio = jnp.where(positive, jsp.gammaln(y_safe) - jsp.betaln(theta, y_safe), 0.0)
        minus_log_density = (theta * jnp.log1p(mu / theta) + y * jnp.log(mu + theta) - jsp.xlogy(y, mu)
                             + jsp.gammaln(y + 1) - gamma_ratio)
        return 2 * jnp.sum(weights * minus_log_density)

    def mustart(self, y, weights):
        return y + (y == 0) / 6.0

    def validate(self, y: np.ndarray, weights: np.ndarray) -> None:
        from .frame import DataError
        negative = int(np.sum(y < 0))
        if negative:
            raise DataError(f"negative binomial response: {negative} negative values (e.g. "
                            f"{y[y < 0][0]!r}); the response must be counts 0, 1, 2, ...")
        fractional = np.abs(y - np.round(y)) > 1e-7
        if fractional.any():
            raise DataError(f"negative binomial response: {int(fractional.sum())} non-integer values "
                            f"(e.g. {y[fractional][0]!r}); the response must be counts 0, 1, 2, ...")


def negative_binomial(theta, link: str = "log") -> NegativeBinomial:
    """MASS's ``negative.binomial(theta)`` (lme4's family for ``glmer.nb``): counts with a known
    size theta > 0, variance mu + mu^2 / theta. ``mixedjax.glmer_nb`` estimates theta."""
    try:
        value = float(theta)
    except (TypeError, ValueError) as error:
        raise ArgumentError(f"negative_binomial(theta): theta must be a positive number, got "
                            f"{theta!r}") from error
    if not (np.isfinite(value) and value > 0):
        raise ArgumentError(f"negative_binomial(theta): theta must be positive and finite, got {theta!r}; "
                            "theta is the size (variance mu + mu^2 / theta); use "
                            "mixedjax.glmer_nb() to estimate it")
    return NegativeBinomial("negative.binomial", Link(link), value)


def binomial(link: str = "logit") -> Family:
    return Family("binomial", Link(link))


def poisson(link: str = "log") -> Family:
    return Family("poisson", Link(link))


def Gamma(link: str = "inverse") -> Family:  # noqa: N802 (R's name)
    return Family("Gamma", Link(link))


def inverse_gaussian(link: str = "1/mu^2") -> Family:
    return Family("inverse.gaussian", Link(link))


def gaussian(link: str = "identity") -> Family:
    return Family("gaussian", Link(link))


_BY_NAME = {"binomial": binomial, "poisson": poisson, "Gamma": Gamma, "gamma": Gamma,
            "inverse.gaussian": inverse_gaussian, "inverse_gaussian": inverse_gaussian,
            "gaussian": gaussian}


def as_family(family) -> Family:
    """A Family from a Family, a name ("binomial", "Gamma", "inverse.gaussian", ...) or a factory."""
    if isinstance(family, Family):
        return family
    if callable(family) and family in _BY_NAME.values():
        return family()
    if isinstance(family, str) and family in _BY_NAME:
        return _BY_NAME[family]()
    if family is negative_binomial or (isinstance(family, str) and family.replace("_", ".").lower()
                                       in ("negative.binomial", "nbinom2")):
        raise ArgumentError(f"family {family!r} needs its size theta: use "
                            "family=mixedjax.negative_binomial(theta), or mixedjax.glmer_nb() to "
                            "estimate theta")
    raise ArgumentError(f"family must be a mixedjax family such as mixedjax.binomial(link='probit') or "
                     f"one of {', '.join(sorted(set(_BY_NAME)))}; got {family!r}")


@partial(jit, static_argnames=("family", "function"))
def family_call(family: Family, function: str, *arrays):
    """``family.<function>(*arrays)`` (or ``family.link.<function>``) as one compiled call: a
    result object evaluating e.g. deviance residuals eagerly would otherwise compile every
    elementwise operation on its own (tens of milliseconds each, on first use)."""
    owner = family.link if function in ("linkfun", "linkinv", "mu_eta") else family
    return getattr(owner, function)(*arrays)
