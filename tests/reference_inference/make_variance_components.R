## make_variance_components.R -- references for standard errors of variance components
## (tests/test_variance_components.py). lme4 reports none; two independent R computations:
##  (a) numDeriv's finite-difference Hessian H of lme4's own deviance (REML criterion for REML
##      fits, ML deviance otherwise; glmer: Laplace deviance over (sd-scale parameters, beta),
##      PIRLS at tolPwrss = 1e-12 so that differences are not PIRLS noise), cov = 2 H^{-1};
##  (b) lmer only: lmerTest's fit@vcov_varpar (covariance of (theta, sigma)) carried to the sd
##      scale by the delta method, J A J' with J = d(sd-scale)/d(theta, sigma) (numDeriv).
## Parameters are lme4's .sig01, ... (SDs and correlations in theta's layout), then .sigma.
## R 4.2.2, lme4 1.1-31, lmerTest, numDeriv.  Rerun: cd tests/reference_inference && Rscript make_variance_components.R
suppressPackageStartupMessages({ library(lme4); library(jsonlite); library(numDeriv) })
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(warn = 1)

load_csv <- function(path, factors) {
  d <- read.csv(path, stringsAsFactors = FALSE)
  for (f in factors) d[[f]] <- factor(d[[f]])
  d
}
datasets <- list(
  sleepstudy = load_csv("../reference/data/sleepstudy.csv", "Subject"),
  Penicillin = load_csv("../reference/data/Penicillin.csv", c("plate", "sample")),
  Pastes = load_csv("../reference/data/Pastes.csv", c("batch", "cask", "sample")),
  cbpp = load_csv("../reference/data/cbpp.csv", c("herd", "period")),
  Orthodont = load_csv("../reference_extra/data/Orthodont.csv", c("Subject", "Sex")))
levels_of <- function(d) { out <- list(); for (n in names(d)) if (is.factor(d[[n]])) out[[n]] <- I(levels(d[[n]])); out }
mat <- function(m) lapply(seq_len(nrow(m)), function(i) I(unname(m[i, ])))

## the lmer deviance with sigma free, at sd-scale parameters (as lme4:::devfun2, REML or ML)
lmer_sd_deviance <- function(fit) {
  devfun <- update(fit, devFunOnly = TRUE)
  env <- environment(devfun)
  vlist <- lengths(fit@cnms); reml <- isREML(fit)
  n <- nrow(env$pp$V); p <- ncol(env$pp$V); ldW <- sum(log(env$resp$weights))
  function(pars) {
    sigma <- pars[length(pars)]
    devfun(lme4:::Sv_to_Cv(pars, n = vlist, s = sigma))  # (ignores the trailing sigma)
    dof <- if (reml) n - p else n
    env$pp$ldL2() - ldW + (if (reml) env$pp$ldRX2() else 0) +
      (env$resp$wrss() + env$pp$sqrL(1)) / sigma^2 + dof * log(2 * pi * sigma^2)
  }
}

lmer_case <- function(id, data_name, formula, REML) {
  message(id)
  data <- datasets[[data_name]]
  fit <- lmer(as.formula(formula), data = data, REML = REML)
  vlist <- lengths(fit@cnms)
  est <- lme4:::Cv_to_Sv(getME(fit, "theta"), n = vlist, s = sigma(fit))  # (appends sigma)
  f <- lmer_sd_deviance(fit)
  H <- hessian(f, est)
  ## lmerTest: covariance of (theta, sigma), delta method to the sd scale
  tfit <- lmerTest::lmer(as.formula(formula), data = data, REML = REML)
  A <- tfit@vcov_varpar
  to_sd <- function(x) lme4:::Cv_to_Sv(x[-length(x)], n = vlist, s = x[length(x)])
  J <- jacobian(to_sd, c(getME(tfit, "theta"), sigma(tfit)))
  list(id = id, fun = "lmer", data_name = data_name, formula = formula, REML = REML,
       factor_levels = levels_of(data), estimate = I(est), deviance_at_estimate = f(est),
       criterion = if (REML) REMLcrit(fit) else deviance(fit),
       vcov_numderiv = mat(2 * solve(H)), vcov_lmerTest = mat(J %*% A %*% t(J)))
}

glmer_case <- function(id, data_name, formula, family) {
  data <- datasets[[data_name]]
  fit <- glmer(as.formula(formula), data = data, family = family,
               control = glmerControl(tolPwrss = 1e-12))
  devfun <- update(fit, devFunOnly = TRUE)
  vlist <- lengths(fit@cnms); nth <- length(getME(fit, "theta"))
  f <- function(pars) devfun(c(lme4:::Sv_to_Cv(pars[1:nth], n = vlist), pars[-(1:nth)]))
  est <- c(lme4:::Cv_to_Sv(getME(fit, "theta"), n = vlist), fixef(fit))
  H <- hessian(f, est)
  V <- 2 * solve(H)
  list(id = id, fun = "glmer", data_name = data_name, formula = formula, family = family,
       factor_levels = levels_of(data), estimate = I(est[1:nth]), deviance_at_estimate = f(est),
       vcov_numderiv = mat(V[1:nth, 1:nth, drop = FALSE]), vcov_full_numderiv = mat(V))
}

cases <- list(
  lmer_case("sleepstudy_slopes_reml", "sleepstudy", "Reaction ~ Days + (Days | Subject)", TRUE),
  lmer_case("sleepstudy_slopes_ml", "sleepstudy", "Reaction ~ Days + (Days | Subject)", FALSE),
  lmer_case("sleepstudy_uncorr_reml", "sleepstudy", "Reaction ~ Days + (Days || Subject)", TRUE),
  lmer_case("penicillin_crossed_reml", "Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", TRUE),
  lmer_case("pastes_nested_ml", "Pastes", "strength ~ 1 + (1 | batch/cask)", FALSE),
  lmer_case("orthodont_slopes_reml", "Orthodont", "distance ~ age + Sex + (age | Subject)", TRUE),
  glmer_case("cbpp_binomial", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"))
write_json(cases, "variance_components.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
for (case in cases) { cat(case$id, "\n"); print(sqrt(diag(do.call(rbind, case$vcov_numderiv)))) }
