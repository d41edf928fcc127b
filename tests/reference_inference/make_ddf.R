## make_ddf.R -- lmerTest (Satterthwaite) and pbkrtest (Kenward-Roger) reference numbers for
## mixedjax's coef_table / contest / anova / summary(ddf=...) (tests/test_satterthwaite.py,
## tests/test_kenward_roger.py).
## R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2.
## Usage: cd tests/reference_inference && Rscript make_ddf.R
## Reads the lmer reference specs (formula, data, REML, weights, factor levels) from
## ../reference/fits and ../reference_extra/fits, refits each with lmerTest::lmer and writes
## ddf/<id>.json (numbers, full precision) and ddf/<id>.summary_<method>.txt, ddf/<id>.anova_<...>.txt.
suppressPackageStartupMessages({ library(lmerTest); library(pbkrtest); library(jsonlite) })
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(useFancyQuotes = FALSE, width = 80, warn = 1)

FITS <- list(
  c("reference", "sleepstudy_slopes_reml"), c("reference", "sleepstudy_slopes_ml"),
  c("reference", "sleepstudy_uncorr_reml"), c("reference", "sleepstudy_int_reml"),
  c("reference", "penicillin_crossed_reml"), c("reference", "pastes_nested_reml"),
  c("reference", "seed1_lmer_reml"),
  c("reference_extra", "orthodont_slopes_reml"), c("reference_extra", "chickweight_slopes_ml"),
  c("reference_extra", "cake_interaction_reml"), c("reference_extra", "cake_numtemp_ml"),
  c("reference_extra", "sleepstudy_weights_reml"), c("reference_extra", "chickweight_timefactor_reml"),
  c("reference_extra", "sim_factor_slopes_reml"), c("reference_extra", "sleepstudy_quad_ml"),
  c("reference_extra", "sim_crossed3_reml"), c("reference_extra", "sleepstudy_two_terms_reml"))

OUT <- "ddf"
dir.create(OUT, showWarnings = FALSE)

load_data <- function(root, spec) {
  data <- read.csv(file.path("..", root, "data", spec$dataset), stringsAsFactors = FALSE)
  for (f in names(spec$factor_levels))
    data[[f]] <- factor(as.character(data[[f]]), levels = unlist(spec$factor_levels[[f]]))
  data
}

fit_model <- function(spec, data) {
  args <- list(formula = str2lang(spec$formula), data = as.name(spec$data_symbol), REML = spec$REML)
  if (!is.null(spec$weights)) args$weights <- as.name(spec$weights)
  env <- new.env()
  assign(spec$data_symbol, data, envir = env)
  eval(as.call(c(quote(lmerTest::lmer), args)), envir = env)
}

mat <- function(m) list(rownames = I(as.character(rownames(m))), colnames = I(as.character(colnames(m))),
                        values = lapply(seq_len(nrow(m)), function(i) I(unname(as.numeric(m[i, ])))))
table_json <- function(tab) mat(as.matrix(as.data.frame(tab)))
text_out <- function(x, path) writeLines(capture.output(print(x)), file.path(OUT, path))

## contrasts tested: each a matrix with p columns
contrasts_for <- function(p) {
  set.seed(20240601 + p)
  out <- list(unit_last = matrix(c(rep(0, p - 1), 1), nrow = 1), all = diag(p))
  if (p >= 2) out$first_two <- diag(p)[1:2, , drop = FALSE]
  if (p >= 3) out$random_two <- matrix(round(rnorm(2 * p), 2), nrow = 2)
  if (p >= 2) out$rank_deficient <- rbind(diag(p)[1, ], diag(p)[2, ], diag(p)[1, ] + diag(p)[2, ])
  out
}

for (f in FITS) {
  root <- f[1]; id <- f[2]
  spec <- fromJSON(file.path("..", root, "fits", paste0(id, ".json")), simplifyVector = FALSE)
  data <- load_data(root, spec)
  fit <- fit_model(spec, data)
  p <- length(fixef(fit))
  res <- list(id = id, root = root, formula = spec$formula, REML = spec$REML,
              theta = I(unname(getME(fit, "theta"))), sigma = sigma(fit),
              vcov_varpar = mat(fit@vcov_varpar),
              coef_satterthwaite = mat(summary(fit)$coefficients))
  text_out(summary(fit), paste0(id, ".summary_satterthwaite.txt"))
  text_out(anova(fit), paste0(id, ".anova3_satterthwaite.txt"))
  res$anova3_satterthwaite <- table_json(anova(fit, type = 3))
  res$anova1_satterthwaite <- table_json(anova(fit, type = 1))
  res$anova3_hypotheses <- lapply(attr(anova(fit, type = 3), "hypotheses"), mat)
  res$anova1_hypotheses <- lapply(attr(anova(fit, type = 1), "hypotheses"), mat)
  Ls <- contrasts_for(p)
  res$contrasts <- lapply(Ls, function(L) {
    colnames(L) <- names(fixef(fit))
    out <- list(L = mat(L),
                joint_satterthwaite = table_json(contest(fit, L, joint = TRUE)),
                each_satterthwaite = table_json(contest(fit, L, joint = FALSE, confint = FALSE)))
    if (isREML(fit)) {
      out$joint_kr <- table_json(contest(fit, L, joint = TRUE, ddf = "Kenward-Roger"))
      out$each_kr <- table_json(contest(fit, L, joint = FALSE, confint = FALSE, ddf = "Kenward-Roger"))
      kr <- KRmodcomp(fit, L)
      out$krmodcomp <- list(stats = kr$stats[c("ndf", "ddf", "Fstat", "p.value", "F.scaling",
                                               "FstatU", "p.valueU")])
    }
    out
  })
  if (isREML(fit)) {
    res$coef_kr <- mat(summary(fit, ddf = "Kenward-Roger")$coefficients)
    res$vcov_adj <- mat(as.matrix(vcovAdj(fit)))
    res$vcov <- mat(as.matrix(vcov(fit)))
    res$anova3_kr <- table_json(anova(fit, type = 3, ddf = "Kenward-Roger"))
    text_out(summary(fit, ddf = "Kenward-Roger"), paste0(id, ".summary_kr.txt"))
    text_out(anova(fit, ddf = "Kenward-Roger"), paste0(id, ".anova3_kr.txt"))
  }
  text_out(anova(fit, type = 1), paste0(id, ".anova1_satterthwaite.txt"))
  write_json(res, file.path(OUT, paste0(id, ".json")), digits = NA, auto_unbox = TRUE)
  cat(id, "\n")
}
