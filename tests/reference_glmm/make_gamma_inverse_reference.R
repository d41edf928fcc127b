## lme4 reference for Gamma(inverse) pos ~ x + z + (x | g) on the fuzz test's data
## (tests/test_glmm_invalid_start.py). gamma_inverse_fuzz.csv holds columns pos, x, z, g of
## tests/test_fuzz.py's fuzz_data() (seed 20261201), written from Python at full precision.
## At lme4's estimates X beta < 0 in some rows: PIRLS started at u = 0 has invalid means there.
## Run in this folder: Rscript make_gamma_inverse_reference.R  (writes gamma_inverse_fuzz.json)
suppressPackageStartupMessages(library(lme4))
d <- read.csv("gamma_inverse_fuzz.csv")
d$g <- factor(d$g)
summarise <- function(fit) {
  list(deviance = unname(deviance(fit)), minus2loglik = -2 * as.numeric(logLik(fit)),
       fixef = unname(fixef(fit)), theta = unname(getME(fit, "theta")), sigma = sigma(fit),
       se = unname(sqrt(diag(as.matrix(vcov(fit))))), min_Xbeta = min(getME(fit, "X") %*% fixef(fit)),
       conv_messages = as.list(fit@optinfo$conv$lme4$messages))
}
formula <- pos ~ x + z + (x | g)
default <- glmer(formula, d, family = Gamma(link = "inverse"))
## tight tolerances (as ../../shared/reference/make_tight.R): the optimum itself, and lme4's
## Laplace objective (devFunOnly, PIRLS to 1e-12) at it
tight <- glmer(formula, d, family = Gamma(link = "inverse"),
               control = glmerControl(tolPwrss = 1e-12, optCtrl = list(rhoend = 1e-12)))
devfun <- glmer(formula, d, family = Gamma(link = "inverse"), devFunOnly = TRUE,
                control = glmerControl(tolPwrss = 1e-12))
tight_summary <- summarise(tight)
tight_summary$devfun_at_optimum <- devfun(c(tight_summary$theta, tight_summary$fixef))
out <- list(call = "glmer(pos ~ x + z + (x | g), data, family = Gamma(link = 'inverse'))",
            default = summarise(default), tight = tight_summary,
            lme4_version = as.character(packageVersion("lme4")), R_version = R.version.string)
writeLines(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "gamma_inverse_fuzz.json")
