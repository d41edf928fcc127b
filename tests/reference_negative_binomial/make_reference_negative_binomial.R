## lme4 and glmmTMB references for negative binomial GLMMs (tests/test_negative_binomial.py).
## R 4.2, lme4 1.1-31 (glmer.nb; MASS's negative.binomial family), glmmTMB 1.1.5 (nbinom2).
## Run in this folder: Rscript make_reference_negative_binomial.R
## Writes nb_offset.csv (simulated, seed 2026: 30 groups of 6 counts with an exposure t, used as
## offset(log(t))) and fits.json.
##
## glmer.nb stops its 1-D search for theta at tol = 5e-5 on log(theta) with glmer's default
## tolerances (and passing tol= through glmer.nb fails in 1.1-31: "unused argument (tol = ...)"),
## so beside its default fit the script runs lme4's own scheme with tight tolerances: theta by
## optimize() over log(theta) to 1e-10 of the deviance of glmer(family = negative.binomial(theta))
## refitted with tolPwrss = 1e-12 and the optimizer's tolerances at 1e-12 ("*_tight").
suppressPackageStartupMessages({ library(lme4); library(glmmTMB); library(MASS); library(jsonlite) })
options(digits = 15, width = 80)

tight <- glmerControl(tolPwrss = 1e-12, optimizer = "bobyqa",
                      optCtrl = list(rhoend = 1e-12, maxfun = 1e5))

with_digits <- function(digits, expr) {
  old <- options(digits = digits)
  on.exit(options(old))
  expr
}

lme4_summary <- function(fit) {
  list(deviance = -2 * as.numeric(logLik(fit)), loglik = as.numeric(logLik(fit)),
       df = attr(logLik(fit), "df"), AIC = AIC(fit), BIC = BIC(fit),
       df_resid = df.residual(fit), family = family(fit)$family,
       nb_theta = getME(fit, "glmer.nb.theta"),
       fixef = as.list(fixef(fit)), theta = as.list(getME(fit, "theta")),
       sd = as.list(sqrt(unlist(lapply(VarCorr(fit), function(v) diag(v))))),
       se = as.list(sqrt(diag(as.matrix(vcov(fit))))), sigma = sigma(fit),
       fitted_head = head(unname(fitted(fit)), 5),
       deviance_residuals_head = head(unname(residuals(fit, type = "deviance")), 5),
       pearson_residuals_head = head(unname(residuals(fit, type = "pearson")), 5),
       summary = with_digits(7, capture.output(print(summary(fit)))),
       lme4_version = as.character(packageVersion("lme4")), R_version = R.version.string)
}

## lme4's glmer.nb scheme (optTheta) with tight tolerances
glmer_nb_tight <- function(formula, data) {
  deviance_at <- function(log_theta)
    -2 * as.numeric(logLik(glmer(formula, data = data, control = tight,
                                 family = negative.binomial(exp(log_theta)))))
  start <- getME(glmer.nb(formula, data = data), "glmer.nb.theta")
  best <- optimize(deviance_at, log(start) + c(-0.5, 0.5), tol = 1e-10)
  glmer(formula, data = data, control = tight, family = negative.binomial(exp(best$minimum)))
}

tmb_summary <- function(fit) {
  list(deviance = -2 * as.numeric(logLik(fit)), loglik = as.numeric(logLik(fit)),
       df = attr(logLik(fit), "df"), AIC = AIC(fit), nb_theta = sigma(fit),
       fixef = as.list(fixef(fit)$cond),
       sd = as.list(sqrt(unlist(lapply(VarCorr(fit)$cond, function(v) diag(v))))),
       se = as.list(sqrt(diag(vcov(fit)$cond))),
       glmmTMB_version = as.character(packageVersion("glmmTMB")))
}

data(grouseticks, package = "lme4")
gt <- grouseticks
gt$cHEIGHT <- gt$HEIGHT - mean(gt$HEIGHT)   # as mixedjax.datasets.load("grouseticks")

set.seed(2026)
ng <- 30; nper <- 6
d <- data.frame(g = sprintf("g%02d", rep(1:ng, each = nper)), x = round(runif(ng * nper), 4),
                t = round(runif(ng * nper, 1, 4), 3))
b <- rnorm(ng, sd = 0.5)
d$y <- rnbinom(ng * nper, size = 2, mu = d$t * exp(0.2 + 0.8 * d$x + b[rep(1:ng, each = nper)]))
write.csv(d, "nb_offset.csv", row.names = FALSE)
d <- read.csv("nb_offset.csv")
d$g <- factor(d$g)

gt_formula <- TICKS ~ YEAR + cHEIGHT + (1 | BROOD)
sim_formula <- y ~ x + offset(log(t)) + (1 | g)
out <- list(
  grouseticks_glmer_nb = c(list(call = "glmer.nb(TICKS ~ YEAR + cHEIGHT + (1 | BROOD), data = grouseticks)"),
                           lme4_summary(glmer.nb(gt_formula, data = gt))),
  grouseticks_glmer_nb_tight = c(list(call = "lme4's glmer.nb scheme, tight tolerances"),
                                 lme4_summary(glmer_nb_tight(gt_formula, gt))),
  grouseticks_nbinom2 = c(list(call = "glmmTMB(TICKS ~ YEAR + cHEIGHT + (1 | BROOD), data = grouseticks, family = nbinom2)"),
                          tmb_summary(glmmTMB(gt_formula, data = gt, family = nbinom2))),
  grouseticks_known_theta = c(list(call = "glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD), data = grouseticks, family = negative.binomial(2), control = tight)"),
                              lme4_summary(glmer(gt_formula, data = gt, control = tight,
                                                 family = negative.binomial(2)))),
  grouseticks_known_theta_agq = c(list(call = "glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD), data = grouseticks, family = negative.binomial(2), nAGQ = 7, control = tight)"),
                                  lme4_summary(glmer(gt_formula, data = gt, control = tight, nAGQ = 7,
                                                     family = negative.binomial(2)))),
  grouseticks_known_theta_nagq0 = c(list(call = "glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD), data = grouseticks, family = negative.binomial(2), nAGQ = 0, control = tight)"),
                                    lme4_summary(glmer(gt_formula, data = gt, control = tight, nAGQ = 0,
                                                       family = negative.binomial(2)))),
  offset_glmer_nb = c(list(call = "glmer.nb(y ~ x + offset(log(t)) + (1 | g), data = nb_offset)"),
                      lme4_summary(glmer.nb(sim_formula, data = d))),
  offset_glmer_nb_tight = c(list(call = "lme4's glmer.nb scheme, tight tolerances"),
                            lme4_summary(glmer_nb_tight(sim_formula, d))),
  offset_nbinom2 = c(list(call = "glmmTMB(y ~ x + offset(log(t)) + (1 | g), data = nb_offset, family = nbinom2)"),
                     tmb_summary(glmmTMB(sim_formula, data = d, family = nbinom2))),
  offset_known_theta = c(list(call = "glmer(y ~ x + offset(log(t)) + (1 | g), data = nb_offset, family = negative.binomial(1.5), control = tight)"),
                         lme4_summary(glmer(sim_formula, data = d, control = tight,
                                            family = negative.binomial(1.5)))))
## the likelihood-ratio test of overdispersion lme4 users run (theta = infinity is a boundary:
## lme4 reports chi-squared on 1 df, as mixedjax.anova does)
poisson_tight <- function(formula, data) glmer(formula, data = data, family = poisson, control = tight)
gt_poisson <- poisson_tight(gt_formula, gt)   # data = data in both calls, as anova.merMod checks
gt_nb <- glmer_nb_tight(gt_formula, gt)
table <- as.data.frame(anova(gt_poisson, gt_nb))
out$grouseticks_anova_poisson_nb <- c(list(call = "anova(glmer(..., family = poisson), glmer.nb(...)), tight tolerances",
                                           rows = rownames(table)), as.list(table))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "fits.json")
