## lme4 profile confidence intervals for mixedjax's tests (tests/test_profile.py).
##
## Rerun from the repository root:  Rscript tests/reference_inference/make_profile.R
## (R 4.2.2, lme4 1.1-31, jsonlite). For each fit id below it refits the model described by
## tests/reference*/fits/<id>.json on the same CSV data and factor levels, and writes
## tests/reference_inference/profile/<id>.json with
##   confint_95, confint_90: confint(fit) (method "profile") at level 0.95 and 0.9, rows in lme4's
##                           names (.sig01, ..., .sigma, fixed effects), columns lower/upper;
##   profile:                the raw profile(fit) table (.zeta, one column per parameter, .par);
##   seconds:                system.time(confint(fit))["elapsed"] (a second, separate run);
##   warnings / error:       what lme4 said.
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
invisible(Sys.setlocale("LC_COLLATE", "C"))

cases <- list(
  c("reference", "sleepstudy_slopes_reml"), c("reference", "sleepstudy_slopes_ml"),
  c("reference", "sleepstudy_uncorr_reml"), c("reference", "sleepstudy_int_reml"),
  c("reference", "dyestuff_reml"), c("reference", "dyestuff_ml"),
  c("reference", "dyestuff2_reml_singular"), c("reference", "penicillin_crossed_reml"),
  c("reference", "pastes_nested_reml"), c("reference", "seed1_lmer_ml"),
  c("reference", "seed1_lmer_reml"), c("reference", "seed2_glmer_gamma_log"),
  c("reference", "cbpp_binomial_laplace"), c("reference", "cbpp_binomial_nagq25"),
  c("reference_extra", "cbpp_binomial_nagq0"), c("reference_extra", "grouseticks_poisson_laplace"),
  c("reference_extra", "chickweight_timefactor_reml"), c("reference_extra", "cake_numtemp_ml"),
  c("reference_extra", "orthodont_slopes_reml"), c("reference_extra", "penicillin_crossed_ml"),
  c("reference_extra", "sleepstudy_sub6_singular_reml"), c("reference_extra", "pastes_explicit_nested_ml"),
  c("reference_extra", "cbpp_probit_laplace"), c("reference_extra", "sim_crossed3_reml")
)

fit_model <- function(spec, data) {
  form <- as.formula(spec$formula)
  if (spec$fun == "lmer") return(lmer(form, data = data, REML = isTRUE(spec$REML)))
  fam <- get(spec$family)(link = spec$link)
  nagq <- if (is.null(spec$nAGQ)) 1L else spec$nAGQ
  glmer(form, data = data, family = fam, nAGQ = nagq)
}

ci_list <- function(ci) list(names = I(rownames(ci)), lower = I(unname(ci[, 1])),
                             upper = I(unname(ci[, 2])), columns = I(colnames(ci)))

outdir <- file.path("tests", "reference_inference", "profile")
dir.create(outdir, showWarnings = FALSE)
for (case in cases) {
  root <- file.path("tests", case[1]); id <- case[2]
  spec <- fromJSON(file.path(root, "fits", paste0(id, ".json")), simplifyVector = FALSE)
  if (!is.null(spec$weights) || !is.null(spec$offset)) next
  data <- read.csv(file.path(root, "data", spec$dataset), stringsAsFactors = FALSE)
  for (f in names(spec$factor_levels))
    data[[f]] <- factor(as.character(data[[f]]), levels = unlist(spec$factor_levels[[f]]))
  fit <- fit_model(spec, data)
  warns <- character()
  out <- list(id = id, root = case[1], formula = spec$formula)
  res <- withCallingHandlers(tryCatch({
    pr <- profile(fit)
    list(profile = as.list(as.data.frame(pr)) , ci95 = confint(pr, level = 0.95),
         ci90 = confint(pr, level = 0.9))
  }, error = function(e) list(error = conditionMessage(e))),
  warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  if (!is.null(res$error)) {
    out$error <- res$error
  } else {
    prof <- res$profile
    prof$.par <- as.character(prof$.par)
    out$profile <- prof
    out$confint_95 <- ci_list(res$ci95)
    out$confint_90 <- ci_list(res$ci90)
    out$seconds <- unname(system.time(suppressWarnings(suppressMessages(confint(fit))))["elapsed"])
  }
  out$warnings <- I(unique(warns))
  write_json(out, file.path(outdir, paste0(id, ".json")), digits = NA, auto_unbox = TRUE)
  cat(id, if (is.null(out$error)) "ok" else paste("error:", out$error), "\n")
}
