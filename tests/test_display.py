"""Tests of mixedjax/_src/display/: lme4's print(summary(fit)) text, reproduced exactly.

The package is loaded from its folder, so that what is tested is display alone: the numbers
printed are lme4's own (tests/references.py reads them), not our fits'.
"""

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from references import read_json, reference, reference_ids

ROOT = Path(__file__).resolve().parent.parent
DISPLAY = ROOT / "mixedjax" / "_src" / "display"
_spec = importlib.util.spec_from_file_location("mixedjax_display", DISPLAY / "__init__.py",
                                               submodule_search_locations=[str(DISPLAY)])
display = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = display      # dataclasses look the module up while it is executed
_spec.loader.exec_module(display)

FITS = [pytest.param(root, fit_id, id=fit_id) for root, fit_id in reference_ids("lmer") + reference_ids("glmer")]


def summary_data_from_reference(j: dict) -> "display.SummaryData":
    """Build SummaryData from a reference fit (the numbers lme4 reported)."""
    r = j["results"]
    glmm = j["fun"] == "glmer"
    blocks = []
    for b in r["VarCorr"]:
        terms = tuple(b["terms"])
        corr = None
        if len(terms) > 1 and b.get("corr") is not None:
            corr = np.array(b["corr"]["values"], dtype=float)
        blocks.append(display.VarCorrBlock(
            group=b["group"], names=terms,
            variance=np.array([b["var"][t] for t in terms], dtype=float),
            sd=np.array([b["sd"][t] for t in terms], dtype=float),
            corr=corr))
    vc = np.array(r["vcov"]["values"], dtype=float)
    sd = np.sqrt(np.diag(vc))
    fcorr = vc / sd[:, None] / sd[None, :]
    np.fill_diagonal(fcorr, 1.0)
    ct = r["coef_table"]
    q = r["scaled_resid_quantiles"]
    messages = display.convergence_messages(
        r["optimizer"], int(r["conv_opt_code"] or 0), tuple(r["conv_messages"] or ()),
        tuple(r["optinfo_warnings"] or ()))
    aic = r.get("summary_AICtab", {})
    return display.SummaryData(
        kind=j["fun"],
        # lmer expands `||` in the printed formula; glmer (lme4 1.1-31) prints the call's formula
        formula=j["formula"] if j["fun"] == "lmer" or "||" not in j["formula"] else (j["formula"],),
        data_name=j["data_symbol"],
        reml=bool(j.get("REML")) if not glmm else False,
        family=j["family"] if glmm else None,
        link=j["link"] if glmm else None,
        nagq=int(j["nAGQ"]) if glmm else 1,
        reml_criterion=r.get("REMLcrit"),
        aic=aic.get("AIC"), bic=aic.get("BIC"), loglik=aic.get("logLik"),
        deviance=aic.get("deviance"), df_resid=aic.get("df.resid"),
        resid_quantiles=tuple(q[k] for k in ("Min", "1Q", "Median", "3Q", "Max")),
        varcorr=tuple(blocks),
        residual_sd=r.get("VarCorr_residual_sd"),
        nobs=int(j["nobs"]),
        ngrps=tuple((k, int(v)) for k, v in j["ngrps"].items()),
        coef_names=tuple(ct["rows"]),
        coef_columns=tuple(ct["columns"]),
        coef_values=np.array(ct["values"], dtype=float),
        fixef_corr=fcorr,
        messages=messages,
        weights=j.get("weights"),
        offset=j.get("offset"),
        control=j.get("control"),
    )


def _norm(text):
    lines = [ln.rstrip() for ln in text.split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    # the optimizer named on the convergence line may legitimately differ
    return [re.sub(r"^optimizer \([^)]*\) convergence code", "optimizer (*) convergence code", ln)
            for ln in lines]


@pytest.mark.parametrize("root, fit_id", FITS)
def test_reference_summary(root, fit_id):
    d = summary_data_from_reference(reference(root, fit_id))
    expected = reference(root, fit_id)["summary_text"]
    got = display.format_summary(d)
    assert _norm(got) == _norm(expected)


@pytest.mark.parametrize("root, fit_id", FITS)
def test_reference_html(root, fit_id):
    d = summary_data_from_reference(reference(root, fit_id))
    h = display.format_summary_html(d)
    assert h.startswith("<div") and h.rstrip().endswith("</div>")
    assert "Random effects" in h and "Fixed effects" in h


def test_exact_text_ends_like_r():
    """Singular fit: the convergence lines are followed by the blank line lme4 prints."""
    spec = reference("public", "dyestuff2_reml_singular")
    d = summary_data_from_reference(spec)
    got = display.format_summary(d)
    assert got.endswith("boundary (singular) fit: see help('isSingular')\n")
    exp = spec["summary_text"]
    assert got + "\n" == exp


# ---------------------------------------------------------------------------
# number formatting helpers, checked against values printed by R 4.2.2
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("x, digits, nsmall, expected", [
    ([612.10, 35.07], 5, 0, ["612.10", " 35.07"]),        # format(c(612.10, 35.07), digits = 5)
    ([612.0990, 35.07, 654.94], 4, 0, ["612.10", " 35.07", "654.94"]),
    ([24.741, 5.922, 25.592], 4, 0, ["24.741", " 5.922", "25.592"]),
    ([1764.0, 2451.0], 4, 0, ["1764", "2451"]),
    ([0.1, 123456.0], 7, 0, ["     0.1", "123456.0"]),
    ([1e-10, 1.0], 7, 0, ["1e-10", "1e+00"]),
    ([123456789.0], 7, 0, ["123456789"]),
    ([1.5e-8], 3, 0, ["1.5e-08"]),
    ([0.000474, 0.001068, 0.000182], 3, 0, ["0.000474", "0.001068", "0.000182"]),
    ([1.0, -0.363, 0.28], 7, 3, [" 1.000", "-0.363", " 0.280"]),
    ([0.0, 0.5], 7, 3, ["0.000", "0.500"]),
    ([9996.0], 3, 0, ["9996"]),                          # rounding would widen: stays fixed
    ([0.15, 0.25], 1, 0, ["0.1", "0.2"]),
    ([100.0, 1e5], 7, 0, ["1e+02", "1e+05"]),
    ([float("nan"), 1.0], 7, 0, ["NaN", "  1"]),
    ([None, 2.5], 7, 0, [" NA", "2.5"]),
    ([1e-300, 1e300], 7, 0, ["1e-300", "1e+300"]),
    ([123.456, 0.001234], 4, 0, ["1.235e+02", "1.234e-03"]),
    ([0.99999, 1.00001], 4, 0, ["1", "1"]),
    ([99999.5, 0.1], 5, 0, ["1e+05", "1e-01"]),
    ([-0.0000123, 45.6], 3, 0, ["-1.23e-05", " 4.56e+01"]),
])
def test_r_format(x, digits, nsmall, expected):
    assert display.r_format(x, digits=digits, nsmall=nsmall) == expected


@pytest.mark.parametrize("x, digits, expected", [
    (0.15, 1, 0.1), (2.5, 0, 2.0), (-1.005, 2, -1.0), (0.285, 2, 0.28),
    (123.456, -1, 120.0), (1.0005, 3, 1.0), (2.675, 2, 2.67), (0.125, 2, 0.12),
])
def test_r_round(x, digits, expected):
    assert display.r_round(x, digits) == expected


@pytest.mark.parametrize("pv, expected", [
    ([1.221464549e-09, 1.318465504e-256], ["1.22e-09", "< 2e-16"]),
    ([1e-20, 1e-30], ["<2e-16", "<2e-16"]),
    ([0.00713, 4.51e-06], ["0.00713", "4.51e-06"]),
    ([0.5, 0.0123], ["0.5000", "0.0123"]),
    ([0.0001234], ["0.000123"]),
    ([0.00001234], ["1.23e-05"]),
])
def test_format_pval(pv, expected):
    assert display.r_format_pval(pv, digits=3) == expected


@pytest.mark.parametrize("names, minlength, expected", [
    (["(Intercept)", "period2", "period3", "period4"], 6, ["(Intr)", "perid2", "perid3", "perid4"]),
    (["(Intercept)", "Time", "Diet2", "Time:Diet2"], 6, ["(Intr)", "Time", "Diet2", "Tm:Dt2"]),
    (["log(Days + 1)"], 11, ["log(Days+1)"]),
    (["recipeB:temperature185"], 11, ["rcpB:tmp185"]),
    (["SexMale", "age:SexMale"], 6, ["SexMal", "ag:SxM"]),
    (["abcdefgh", "abcdefgi"], 4, ["abcdfgh", "abcdefg"]),
    (["Cheese", "Chase"], 3, ["Ches", "Chas"]),
    (["my var one", "my var two", "x   y z"], 4, ["myvo", "myvt", "xyz"]),
    (["a b c d e f g h", "Treatment:Long name here"], 6, ["abcdefgh", "Tr:Lnh"]),
])
def test_abbreviate(names, minlength, expected):
    assert display.r_abbreviate(names, minlength) == expected


def test_zapsmall():
    # zapsmall(c(-1.479837, 0.009499, 1.389712), 5)
    assert display.r_zapsmall([-1.479837, 0.009499, 1.389712], 5) == [-1.47984, 0.0095, 1.38971]


def test_strwrap_and_title():
    t = "Generalized linear mixed model fit by maximum likelihood (Laplace Approximation)"
    assert display.r_strwrap(t, 78, exdent=2) == [
        "Generalized linear mixed model fit by maximum likelihood (Laplace",
        "  Approximation)"]


def test_glmer_nagq0_header():
    d = display.SummaryData(kind="glmer", formula="y ~ x + (1 | g)", data_name="d",
                            family="binomial", link="logit", nagq=0,
                            aic=1.0, bic=2.0, loglik=-0.5, deviance=1.0, df_resid=10,
                            resid_quantiles=(-1, -0.5, 0, 0.5, 1),
                            varcorr=(display.VarCorrBlock("g", ("(Intercept)",), np.array([1.0]),
                                                          np.array([1.0]), None),),
                            nobs=12, ngrps=(("g", 3),), coef_names=("(Intercept)",),
                            coef_columns=("Estimate", "Std. Error", "z value", "Pr(>|z|)"),
                            coef_values=np.array([[0.5, 0.25, 2.0, 0.0455]]))
    lines = display.format_summary(d).split("\n")
    assert lines[:3] == [
        "Generalized linear mixed model fit by maximum likelihood (Adaptive",
        "  Gauss-Hermite Quadrature, nAGQ = 0) [glmerMod]",
        " Family: binomial  ( logit )"]
    # printCoefmat(digits = 4): estimates/SE rounded to 4 decimals, shown with 4 digits
    assert "(Intercept)     0.50       0.25       2   0.0455 *" in lines


def test_signif_stars():
    assert display.r_signif_stars([0.0005, 0.001, 0.005, 0.03, 0.07, 0.5]) == [
        "***", "***", "**", "*", ".", " "]


def test_convergence_messages():
    assert display.convergence_messages("nloptwrap", 0, ()) == ()
    assert display.convergence_messages(
        "nloptwrap", 0, ("boundary (singular) fit: see help('isSingular')",)) == (
        "optimizer (nloptwrap) convergence code: 0 (OK)",
        "boundary (singular) fit: see help('isSingular')")


@pytest.mark.parametrize("text, expected", [
    ("y~x+(1|g)", ["y ~ x + (1 | g)"]),
    ("y ~ a/b - 1 + (0+x||g)", ["y ~ a/b - 1 + (0 + x || g)"]),
    ("Reaction ~ Days + I(Days^2) + (Days | Subject)", ["Reaction ~ Days + I(Days^2) + (Days | Subject)"]),
    ("y ~ log(Days + 1) + x %in% z + poly(x, 2, raw=TRUE) + `my var` + 1e5 + 0.5 + 2L + -1",
     ["y ~ log(Days + 1) + x %in% z + poly(x, 2, raw = TRUE) + `my var` + ",
      "    1e+05 + 0.5 + 2L + -1"]),
    ("y ~ aaaaaaaaaaaaaaaaaaaaaaa*bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb*cccccccccccccccccccccccc + "
     "f(aaaaaaaaaaaaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb, cccccccccccccccccccccc, "
     "dddddddddddddddd) + (1 + xxxxxxxxxxxxxxxxxxxxxxxxxxxx + yyyyyyyyyyyyyyyyyyyyyyyyyyyyy + "
     "zzzzzzzzzzzzzzzzzzzzzzz | gggggggggggggggggggggggggggggg)",
     ["y ~ aaaaaaaaaaaaaaaaaaaaaaa * bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb * ",
      "    cccccccccccccccccccccccc + f(aaaaaaaaaaaaaaaaaaaaaaaaaaaa, ",
      "    bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb, cccccccccccccccccccccc, ",
      "    dddddddddddddddd) + (1 + xxxxxxxxxxxxxxxxxxxxxxxxxxxx + yyyyyyyyyyyyyyyyyyyyyyyyyyyyy + ",
      "    zzzzzzzzzzzzzzzzzzzzzzz | gggggggggggggggggggggggggggggg)"]),
])
def test_r_deparse(text, expected):
    """deparse(quote(<formula>)) in R 4.2.2 (width.cutoff = 60)."""
    assert display.r_deparse(text) == expected


def _minimal_lmer(formula):
    return display.SummaryData(
        kind="lmer", formula=formula, data_name="d", reml=True, reml_criterion=100.0,
        resid_quantiles=(-1, -0.5, 0, 0.5, 1),
        varcorr=(display.VarCorrBlock("g", ("(Intercept)",), np.array([1.0]), np.array([1.0])),),
        residual_sd=1.0, nobs=10, ngrps=(("g", 2),))


@pytest.mark.parametrize("formula, expected", [
    # long formulas: deparse() lines joined by cat(fill = TRUE), as lme4 prints them
    ("y ~ predictor_1 + predictor_2 + predictor_3 + predictor_4 + predictor_5 + predictor_6 + "
     "predictor_7 + predictor_8 + predictor_9 + predictor_10 + predictor_11 + (1 | g)",
     ["Formula: ",
      "y ~ predictor_1 + predictor_2 + predictor_3 + predictor_4 + predictor_5 +  ",
      "    predictor_6 + predictor_7 + predictor_8 + predictor_9 + predictor_10 +  ",
      "    predictor_11 + (1 | g)"]),
    ("cnt ~ very_long_covariate_one + very_long_covariate_two + (1 | g)",
     ["Formula: cnt ~ very_long_covariate_one + very_long_covariate_two + (1 |      g)"]),
])
def test_formula_line_wrapping(formula, expected):
    lines = display.format_summary(_minimal_lmer(formula)).split("\n")
    assert lines[1:1 + len(expected)] == expected


def test_wide_matrix_wraps_like_r():
    """Correlation of fixed effects with 12 coefficients wraps at width 80 (R output)."""
    names = ["(Intercept)"] + ["predictor_%d" % i for i in range(1, 12)]
    p = len(names)
    corr = np.eye(p)
    d = display.SummaryData(
        kind="lmer", formula="y ~ x", data_name="d", reml=True, reml_criterion=1.0,
        resid_quantiles=(-1, 0, 0, 0, 1), residual_sd=1.0, nobs=100,
        varcorr=(display.VarCorrBlock("g", ("(Intercept)",), np.array([1.0]), np.array([1.0])),),
        ngrps=(("g", 5),), coef_names=tuple(names), coef_columns=("Estimate", "Std. Error", "t value"),
        coef_values=np.ones((p, 3)), fixef_corr=corr)
    lines = display.format_summary(d).split("\n")
    i = lines.index("Correlation of Fixed Effects:")
    assert lines[i + 1].rstrip() == "            (Intr) prdc_1 prdc_2 prdc_3 prdc_4 prdc_5 prdc_6 prdc_7 prdc_8"
    assert lines[i + 12] == "predictr_11 0.000  0.000  0.000  0.000  0.000  0.000  0.000  0.000  0.000 "
    assert lines[i + 13] == "            prdc_9 prd_10"


@pytest.mark.parametrize("text, expected", [
    # deparse(lme4:::expandDoubleVerts(<formula>)) in R 4.2.2 + lme4 1.1-31
    ("Reaction ~ Days + (Days || Subject)", ["Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))"]),
    ("y ~ x + (x + z || g)", ["y ~ x + ((1 | g) + (0 + x | g) + (0 + z | g))"]),
    ("y ~ (0 + x || g)", ["y ~ ((0 + x | g))"]),
    ("y ~ (1 + x||g) + (1|h)", ["y ~ ((1 | g) + (0 + x | g)) + (1 | h)"]),
    ("y ~ (a*b || g)", ["y ~ ((1 | g) + (0 + a | g) + (0 + b | g) + (0 + a:b | g))"]),
    ("y ~ (x - 1 || g)", ["y ~ ((0 + x | g))"]),
    ("y ~ (x + 0 || g/h)", ["y ~ ((0 + x | g/h))"]),
    ("y ~ x + (log(z) + I(x^2) || g)", ["y ~ x + ((1 | g) + (0 + log(z) | g) + (0 + I(x^2) | g))"]),
    ("y ~ (c + b:a + a + d:c || g)", ["y ~ ((1 | g) + (0 + c | g) + (0 + a | g) + (0 + b:a | g) + (0 + ",
                                      "    c:d | g))"]),
    ("y ~ ((a+b)^2 || g)", ["y ~ ((1 | g) + (0 + a | g) + (0 + b | g) + (0 + a:b | g))"]),
    ("y ~ (a/b || g)", ["y ~ ((1 | g) + (0 + a | g) + (0 + a:b | g))"]),
])
def test_lme4_formula_lines(text, expected):
    assert display.lme4_formula_lines(text) == expected


ANOVA_PRINT = read_json("reference_print", "anova_print.json")["cases"]  # make_anova_print_reference.R


def _anova_frame(case) -> pd.DataFrame:
    columns = {c: [np.nan if v == "NA" else float(v) for v in case["values"][c]] for c in case["columns"]}
    return pd.DataFrame(columns, index=case["rownames"], columns=case["columns"], dtype=float)


@pytest.mark.parametrize("case", ANOVA_PRINT, ids=[c["id"] for c in ANOVA_PRINT])
def test_format_anova_is_print_anova(case):
    heading = case["heading"] if isinstance(case["heading"], list) else [case["heading"]]
    assert display.format_anova(_anova_frame(case), heading) == case["printed"]


def test_anova_table_is_a_data_frame_printed_as_r():
    case = next(c for c in ANOVA_PRINT if c["id"] == "f_table")
    table = display.AnovaTable(_anova_frame(case))
    table.heading = [case["heading"]]
    table.hypotheses = {"Days": np.eye(1)}
    assert isinstance(table, pd.DataFrame)
    assert str(table) == repr(table) == case["printed"]
    assert type(table["F value"]) is pd.Series and type(table.iloc[:2]) is pd.DataFrame
    assert type(table.table) is pd.DataFrame and table.table.equals(pd.DataFrame(table))
    assert table.hypotheses["Days"].shape == (1, 1)
    assert table._repr_html_().startswith("<p>Type III Analysis of Variance Table with Satterthwaite&#x27;s")
