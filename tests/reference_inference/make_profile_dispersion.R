## glmmTMB references for mixedjax's profiles of GLMMs with a dispersion
## (tests/test_profile_dispersion.py). lme4 cannot profile these ("can't (yet) profile GLMMs with
## non-fixed scale parameters"); glmmTMB maximizes the same Laplace likelihood with the
## dispersion as a parameter (exact Hessian of the joint log density at the mode) and gives
## likelihood-ratio intervals by root finding (confint(method = "uniroot"), TMB's tmbroot).
##
## Rerun from the repository root:  Rscript tests/reference_inference/make_profile_dispersion.R
## (R 4.2.2, glmmTMB 1.1.5, jsonlite). Writes tests/reference_inference/profile_dispersion/<id>.json:
##   estimate:          sds and correlations of b, sigma (sqrt of the dispersion phi, glmmTMB's
##                      sigma(fit)), fixed effects, in mixedjax's profile order (.sig01, ...,
##                      .sigma, fixed effects);
##   minus_two_loglik:  -2 logLik(fit);
##   confint_95, confint_90: uniroot intervals, mapped from glmmTMB's internal scale (theta =
##                      log sd, and for a 2 x 2 block t with cor = t / sqrt(1 + t^2); betad =
##                      -log phi for Gamma, log phi for gaussian) to that order by the monotone
##                      maps (likelihood-ratio intervals are invariant under them).
## Gamma(log) and gaussian(log): glmmTMB 1.1.5 has no inverse.gaussian family. The gaussian(log)
## data have zero responses, where R's family$initialize fails: its starting means are
## pmax(y, 0.1) (what tests/reference_glmm/make_reference_glmm.R gives glmer as mustart).
suppressPackageStartupMessages({ library(glmmTMB); library(jsonlite) })

out_dir <- file.path("tests", "reference_inference", "profile_dispersion")
read_data <- function(csv) {
  d <- read.csv(file.path("tests", csv))
  for (f in intersect(c("grupo", "g"), names(d))) d[[f]] <- factor(d[[f]])
  d
}
gaussian_log <- gaussian(link = "log")
gaussian_log$initialize <- expression({ n <- rep.int(1, nobs); mustart <- pmax(y, 0.1) })
cases <- list(
  list(id = "seed2_gamma_log", csv = "reference/data/seed2_gamma.csv", formula = "y ~ x + (1 | grupo)",
       family = Gamma(link = "log")),
  # the chapter's inverse-Gaussian data with its (1 + x | grupo) design, fitted as Gamma(log):
  # a correlation parameter, which glmmTMB can profile for this family
  list(id = "seed3_gamma_log_slopes", csv = "reference/data/seed3_invgauss.csv",
       formula = "y ~ x + (1 + x | grupo)", family = Gamma(link = "log")),
  list(id = "gaussian_log_zeros", csv = "reference_glmm/gaussian_log_zeros.csv",
       formula = "y ~ x + (1 | g)", family = gaussian_log)
)

to_profile_scale <- function(par, n_sd, family) {
  # par: glmmTMB's beta..., betad, theta... -> sds, correlations, sigma, beta
  n_beta <- length(par) - 1 - length(par[names(par) == "theta"])
  beta <- par[seq_len(n_beta)]
  betad <- par[n_beta + 1]
  theta <- par[names(par) == "theta"]
  sds <- exp(theta[seq_len(n_sd)])
  cors <- if (length(theta) > n_sd) theta[-seq_len(n_sd)] / sqrt(1 + theta[-seq_len(n_sd)]^2) else numeric()
  sigma <- if (family == "Gamma") exp(-betad / 2) else exp(betad / 2)
  c(sds, cors, sigma, beta)
}

for (case in cases) {
  d <- read_data(case$csv)
  fit <- glmmTMB(as.formula(case$formula), family = case$family, data = d)
  family <- case$family$family
  par <- fit$fit$par
  n_sd <- if (grepl("1 \\+ x", case$formula)) 2 else 1
  estimate <- to_profile_scale(par, n_sd, family)
  # lme4's .sig order for a 2 x 2 block is sd1, cor, sd2
  order <- if (n_sd == 2) c(1, 3, 2, 4, 5, 6) else seq_along(estimate)
  intervals <- list()
  for (level in c(0.95, 0.9)) {
    ci <- confint(fit, method = "uniroot", level = level, full = TRUE)
    # rows: fixed effects, d~(Intercept), theta_...; reorder to glmmTMB's par order
    internal <- rbind(ci[seq_len(length(par) - length(par[names(par) == "theta"]) - 1), 1:2, drop = FALSE],
                      ci[grepl("^d~", rownames(ci)), 1:2, drop = FALSE],
                      ci[grepl("^theta_", rownames(ci)), 1:2, drop = FALSE])
    lower <- numeric(length(par)); upper <- numeric(length(par))
    for (k in seq_along(par)) {
      at <- par; at[k] <- internal[k, 1]; low <- to_profile_scale(at, n_sd, family)
      at <- par; at[k] <- internal[k, 2]; high <- to_profile_scale(at, n_sd, family)
      changed <- which(abs(low - estimate) > 0 | abs(high - estimate) > 0)
      lower[k] <- min(low[changed], high[changed]); upper[k] <- max(low[changed], high[changed])
    }
    # glmmTMB par order (beta, betad, theta) -> profile order (sds, cors, sigma, beta)
    n_beta <- length(par) - 1 - length(par[names(par) == "theta"])
    perm <- c(n_beta + 1 + seq_len(length(par) - n_beta - 1), n_beta + 1, seq_len(n_beta))
    intervals[[sprintf("confint_%d", round(100 * level))]] <-
      list(lower = unname(lower[perm])[order], upper = unname(upper[perm])[order])
  }
  result <- c(list(id = case$id, data = case$csv, formula = case$formula, family = family,
                   link = "log", package = paste("glmmTMB", packageVersion("glmmTMB")),
                   estimate = unname(estimate)[order], minus_two_loglik = -2 * as.numeric(logLik(fit))),
              intervals)
  write(toJSON(result, digits = NA, auto_unbox = TRUE, pretty = TRUE),
        file.path(out_dir, paste0(case$id, ".json")))
}
