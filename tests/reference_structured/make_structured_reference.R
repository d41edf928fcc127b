## glmmTMB references for structured covariances, diag(), cs(), ar1(), us() (lme4 2.x / glmmTMB
## syntax; tests/test_covariance_structures.py). lme4 1.1-31 has none of them, so glmmTMB is the
## reference (REML = TRUE for Gaussian fits, as lmer's default; ML, the only choice, for
## Poisson), with lme4 1.1's (Days || Subject) beside diag(Days | Subject).
## Run in this folder: Rscript make_structured_reference.R
## Writes structured_sim.csv (simulated, seed 2026: 30 subjects g x 5 times t x 2 replicates, a
## covariate x, a Gaussian response y with AR(1) subject-by-time effects, a Poisson count) and
## structured.json.
suppressPackageStartupMessages({library(glmmTMB); library(lme4); library(jsonlite)})
options(digits = 15)

set.seed(2026)
n_g <- 30; n_t <- 5; n_rep <- 2
d <- expand.grid(rep = 1:n_rep, t = 1:n_t, g = 1:n_g)
d$g <- sprintf("g%02d", d$g)
d$t <- sprintf("t%d", d$t)
d$x <- round(rnorm(nrow(d)), 4)
ar <- 0.6 ^ abs(outer(1:n_t, 1:n_t, "-"))
b <- t(chol(1.5 ^ 2 * ar)) %*% matrix(rnorm(n_t * n_g), n_t)   # n_t x n_g
cell <- cbind(match(d$t, sprintf("t%d", 1:n_t)), match(d$g, sprintf("g%02d", 1:n_g)))
d$y <- round(2 + 0.5 * d$x + b[cell] + rnorm(nrow(d)), 4)
a <- t(chol(0.5 ^ 2 * ar)) %*% matrix(rnorm(n_t * n_g), n_t)
slope <- rnorm(n_g, sd = 0.3)
d$count <- rpois(nrow(d), exp(0.5 + 0.3 * d$x + a[cell] + slope[cell[, 2]] * d$x))
d <- d[, c("g", "t", "rep", "x", "y", "count")]
write.csv(d, "structured_sim.csv", row.names = FALSE)
d <- read.csv("structured_sim.csv", stringsAsFactors = TRUE)

data(sleepstudy, package = "lme4")

tmb_summary <- function(fit, call) {
  vc <- VarCorr(fit)$cond
  blocks <- lapply(names(vc), function(g) {
    m <- vc[[g]]
    list(group = g, names = colnames(m), sd = unname(attr(m, "stddev")),
         corr = unname(attr(m, "correlation")))
  })
  fam <- family(fit)$family
  list(call = call, criterion = -2 * as.numeric(logLik(fit)), reml = isTRUE(fit$modelInfo$REML),
       fixef = as.list(fixef(fit)$cond), se = as.list(sqrt(diag(vcov(fit)$cond))),
       sigma = if (fam == "gaussian") sigma(fit) else NULL, varcorr = blocks,
       converged = fit$fit$convergence == 0, pdHess = fit$sdr$pdHess,
       varcorr_print = paste(capture.output(print(VarCorr(fit))), collapse = "\n"),
       glmmTMB_version = as.character(packageVersion("glmmTMB")), R_version = R.version.string)
}

lme4_summary <- function(fit, call) {
  vc <- as.data.frame(VarCorr(fit))
  list(call = call, criterion = unname(if (isREML(fit)) REMLcrit(fit) else deviance(fit)),
       fixef = as.list(fixef(fit)), se = as.list(sqrt(diag(as.matrix(vcov(fit))))),
       sigma = sigma(fit), theta = unname(getME(fit, "theta")),
       varcorr_sd = vc$sdcor[is.na(vc$var2)], lme4_version = as.character(packageVersion("lme4")))
}

## lme4 reports vcov(beta) of a linear mixed model conditional on the covariance parameters,
## sigma^2 (X' V^-1 X)^-1; glmmTMB's sdreport adds the uncertainty of the covariance parameters
## (REML: beta is a random effect there; ML: the inverse Hessian over all parameters), which is
## not negligible where beta-hat depends on theta. So for Gaussian fits se_conditional is lme4's
## formula, evaluated at glmmTMB's estimates (one random-effects term: Z's columns level-major).
conditional_se <- function(fit) {
  vc <- VarCorr(fit)$cond
  stopifnot(length(vc) == 1)
  Z <- as.matrix(getME(fit, "Z")); X <- getME(fit, "X")
  Sigma_b <- kronecker(diag(ncol(Z) / nrow(vc[[1]])), vc[[1]][, , drop = FALSE])
  V <- Z %*% Sigma_b %*% t(Z) + diag(sigma(fit) ^ 2, nrow(Z))
  as.list(setNames(sqrt(diag(solve(t(X) %*% solve(V, X)))), colnames(X)))
}

tmb <- function(formula, data, family = gaussian(), REML = family$family == "gaussian") {
  fit <- glmmTMB(formula, data = data, family = family, REML = REML)
  out <- tmb_summary(fit, paste(deparse(formula, width.cutoff = 500), collapse = " "))
  if (family$family == "gaussian") out$se_conditional <- conditional_se(fit)
  out
}

out <- list(
  sleepstudy_us = tmb(Reaction ~ Days + us(Days | Subject), sleepstudy),
  sleepstudy_diag = tmb(Reaction ~ Days + diag(Days | Subject), sleepstudy),
  sleepstudy_double_bar_lme4 = lme4_summary(lmer(Reaction ~ Days + (Days || Subject), sleepstudy),
                                            "lmer(Reaction ~ Days + (Days || Subject), sleepstudy)"),
  sleepstudy_cs = tmb(Reaction ~ Days + cs(Days | Subject), sleepstudy),
  sim_ar1 = tmb(y ~ x + ar1(0 + t | g), d),
  sim_cs = tmb(y ~ x + cs(0 + t | g), d),
  sim_diag_ml = tmb(y ~ x + diag(1 + x | g), d, REML = FALSE),
  sim_double_bar_ml_lme4 = lme4_summary(lmer(y ~ x + (1 + x || g), d, REML = FALSE),
                                        "lmer(y ~ x + (1 + x || g), sim, REML = FALSE)"),
  sim_poisson_ar1 = tmb(count ~ x + ar1(0 + t | g), d, family = poisson()),
  sim_poisson_diag = tmb(count ~ x + diag(1 + x | g), d, family = poisson())
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), "structured.json")
