"""broom.mixed's tables of a fitted model: ``tidy`` (one row per estimate) and ``glance`` (one row).

Column names and term names are broom.mixed's (tidy.merMod, glance.merMod): fixed effects from the
coefficient table (lmerTest's Satterthwaite t tests for lmer fits, as broom.mixed gives for an
lmerTest fit; Wald z tests for glmer), random-effect parameters as ``sd__<column>``,
``cor__<column>.<column>`` and ``sd__Observation`` (the residual) in lme4's ``.sig`` order, and
conditional modes with their conditional standard deviations. Every number comes from the fit's
existing properties; this module only arranges them.
"""
from __future__ import annotations

from statistics import NormalDist

import pandas as pd

from . import arguments

DEFAULT_TESTS = "default"  # coef_table()'s own default: Satterthwaite (lmer), Wald z (glmer)
EFFECTS = ("fixed", "ran_pars", "ran_vals")
# broom.mixed's column order (reorder_cols); a table has those of its parts
COLUMNS = ("effect", "group", "level", "term", "estimate", "std.error", "statistic", "df",
           "p.value", "conf.low", "conf.high")
_FIXED_NAMES = {"Estimate": "estimate", "Std. Error": "std.error", "t value": "statistic",
                "z value": "statistic", "df": "df", "Pr(>|t|)": "p.value", "Pr(>|z|)": "p.value"}


def _effects(effects) -> list[str]:
    chosen = [effects] if isinstance(effects, str) else list(effects)
    unknown = [e for e in chosen if e not in EFFECTS]
    if unknown or not chosen:
        raise arguments.ArgumentError(f"effects must be one or more of {', '.join(EFFECTS)}, "
                                      f"not {effects!r}")
    return chosen


def _fixed(fit, ddf, conf_int: bool, level: float, method: str) -> pd.DataFrame:
    table = (fit.coef_table() if ddf == DEFAULT_TESTS else fit.coef_table(ddf)).rename(columns=_FIXED_NAMES)
    table.insert(0, "term", table.index)
    if conf_int:
        interval = fit.confint(method=method, level=level).loc[list(fit.fixef.index)]
        table["conf.low"], table["conf.high"] = interval.iloc[:, 0], interval.iloc[:, 1]
    return table.reset_index(drop=True)


def _ran_pars_term(var1, var2) -> str:
    present = [v for v in (var1, var2) if isinstance(v, str)]
    prefix = "cor" if len(present) == 2 else "sd"
    return f"{prefix}__{'.'.join(present) if present else 'Observation'}"


def _ran_pars(fit, conf_int: bool, level: float, method: str) -> pd.DataFrame:
    table = fit.varcorr_table()
    out = pd.DataFrame({"group": table["grp"].to_numpy(),
                        "term": [_ran_pars_term(a, b) for a, b in zip(table["var1"], table["var2"])],
                        "estimate": table["sdcor"].to_numpy()})
    if conf_int:  # Wald intervals of lme4's confint are NA for these, as in broom.mixed
        interval = fit.confint(method=method, level=level).loc[list(table.index)]
        out["conf.low"], out["conf.high"] = interval.iloc[:, 0].to_numpy(), interval.iloc[:, 1].to_numpy()
    return out


def _ran_vals(fit, conf_int: bool, level: float, method: str) -> pd.DataFrame:
    if conf_int and method != "Wald":
        raise arguments.ArgumentError("only Wald intervals are available for conditional modes "
                                      f"(conf_method='Wald'), not {method!r}")
    parts = []
    for factor, frame in fit.ranef_frames(condvar=True).items():
        columns = [c for c in frame.columns if not c.endswith("_sd") or c[:-3] not in frame.columns]
        for column in columns:
            parts.append(pd.DataFrame({"group": factor, "level": [str(v) for v in frame.index],
                                       "term": column, "estimate": frame[column].to_numpy(),
                                       "std.error": frame[f"{column}_sd"].to_numpy()}))
    out = pd.concat(parts, ignore_index=True)
    if conf_int:
        z = NormalDist().inv_cdf(1 - (1 - level) / 2)
        out["conf.low"] = out["estimate"] - z * out["std.error"]
        out["conf.high"] = out["estimate"] + z * out["std.error"]
    return out


def tidy(fit, effects=("ran_pars", "fixed"), conf_int: bool = False, conf_level: float = 0.95,
         conf_method: str = "Wald", ddf=DEFAULT_TESTS) -> pd.DataFrame:
    """broom.mixed's ``tidy(fit, effects, conf.int, conf.level, conf.method)`` (see module doc).

    ``ddf``: the fixed-effect tests, as ``coef_table(ddf)``: by default Satterthwaite for lmer
    (lmerTest) and Wald z for glmer; ``None`` for lmer gives lme4's table (no df, no p-values)."""
    chosen = _effects(effects)
    conf_int = arguments.boolean(conf_int, "conf_int")
    level = arguments.probability(conf_level, "conf_level")
    if conf_method not in ("Wald", "profile", "boot"):
        raise arguments.ArgumentError(f"conf_method must be 'Wald', 'profile' or 'boot', not "
                                      f"{conf_method!r}")
    build = {"fixed": lambda: _fixed(fit, ddf, conf_int, level, conf_method),
             "ran_pars": lambda: _ran_pars(fit, conf_int, level, conf_method),
             "ran_vals": lambda: _ran_vals(fit, conf_int, level, conf_method)}
    parts = []
    for effect in chosen:
        part = build[effect]()
        part.insert(0, "effect", effect)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    return out[[c for c in COLUMNS if c in out.columns]]


def glance(fit, criterion: tuple[str, float]) -> pd.DataFrame:
    """broom.mixed's ``glance(fit)``: nobs, sigma, logLik, AIC, BIC, the fit's ``criterion``
    (name, value: deviance, or ``REMLcrit`` for a REML fit, as broom.mixed; each result class
    says which, see ``_glance_criterion``), df.residual."""
    row = {"nobs": fit.nobs, "sigma": fit.sigma, "logLik": fit.loglik, "AIC": fit.aic,
           "BIC": fit.bic, criterion[0]: criterion[1], "df.residual": fit.df_resid}
    return pd.DataFrame([row])
