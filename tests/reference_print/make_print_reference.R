## make_print_reference.R -- lme4's short printed forms and broom.mixed-style tables, the references of
## tests/test_print_forms.py. R 4.2.2, lme4 1.1-31, lmerTest (Debian bookworm packages); broom.mixed is
## not packaged there, so its tables are assembled from the lme4/lmerTest quantities broom.mixed's
## tidy.merMod/glance.merMod read (coef(summary(fit)), as.data.frame(VarCorr(fit), order = "lower.tri"),
## as.data.frame(ranef(fit, condVar = TRUE)), confint(fit, method = "Wald"), logLik, AIC, BIC,
## deviance, df.residual, sigma).
## Usage: cd tests/reference_print && Rscript make_print_reference.R
suppressPackageStartupMessages({ library(lme4); library(lmerTest); library(jsonlite) })
options(useFancyQuotes = FALSE, width = 80, warn = 1)

fits <- list(
  sleepstudy_reml = function() lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy),
  sleepstudy_uncorrelated_ml = function()
    lmer(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), data = sleepstudy, REML = FALSE),
  penicillin_crossed_reml = function() lmer(diameter ~ 1 + (1 | plate) + (1 | sample), data = Penicillin),
  dyestuff2_singular = function() lmer(Yield ~ 1 + (1 | Batch), data = Dyestuff2),
  cbpp_binomial = function() glmer(cbind(incidence, size - incidence) ~ period + (1 | herd),
                                   data = cbpp, family = binomial)
)

capture <- function(expr) paste0(paste(capture.output(expr), collapse = "\n"), "\n")

for (name in names(fits)) {
  fit <- suppressMessages(fits[[name]]())
  lme4_fit <- if (is(fit, "lmerModLmerTest")) as(fit, "lmerMod") else fit
  writeLines(capture.output(print(lme4_fit)), paste0(name, ".print.txt"))
  vc <- VarCorr(fit)
  writeLines(capture.output(print(vc)), paste0(name, ".varcorr.txt"))
  writeLines(capture.output(print(vc, comp = "Variance")), paste0(name, ".varcorr_variance.txt"))
  writeLines(capture.output(print(vc, comp = c("Variance", "Std.Dev."))),
             paste0(name, ".varcorr_both.txt"))
  coefs <- coef(summary(fit))
  wald <- confint(fit, method = "Wald")
  ran_pars <- as.data.frame(vc, order = "lower.tri")
  ran_vals <- as.data.frame(ranef(fit, condVar = TRUE))
  out <- list(
    varcorr_frame = as.data.frame(vc),
    fixed = list(term = rownames(coefs), columns = colnames(coefs), values = unname(coefs)),
    wald = list(rows = rownames(wald), values = unname(wald)),
    ran_pars = list(grp = ran_pars$grp, var1 = ran_pars$var1, var2 = ran_pars$var2,
                    sdcor = ran_pars$sdcor),
    ran_vals = list(grpvar = as.character(ran_vals$grpvar), term = as.character(ran_vals$term),
                    grp = as.character(ran_vals$grp), condval = ran_vals$condval,
                    condsd = ran_vals$condsd),
    glance = lapply(list(nobs = nobs(fit), sigma = sigma(fit), logLik = as.numeric(logLik(fit)),
                         AIC = AIC(fit), BIC = BIC(fit), REML = isREML(fit),
                         deviance = if (isREML(fit)) REMLcrit(fit) else deviance(fit),
                         df.residual = df.residual(fit)), unbox),
    fitted = unname(fitted(fit)), residuals = unname(residuals(fit, type = "response")),
    predict_fixed = unname(predict(fit, re.form = NA)))
  writeLines(toJSON(out, digits = NA, na = "null", pretty = TRUE),
             paste0(name, ".json"))
}
