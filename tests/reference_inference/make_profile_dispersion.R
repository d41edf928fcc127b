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
##                      -log phi for Gamma) to that order by the monotone maps (likelihood-ratio
##                      intervals are invariant under them).
## Gamma(log) only: glmmTMB 1.1.5 has no inverse.gaussian family.
suppressPackageStartupMessages({ library(glmmTMB); library(jsonlite) })

out_dir <- file.path("tests", "reference_inference", "profile_dispersion")
read_data <- function(csv) {
  d <- read.csv(file.path("tests", "reference", "data", csv))
  d$grupo <- factor(d$grupo)
  d
}
cases <- list(
  list(id = "seed2_gamma_log", csv = "seed2_gamma.csv", formula = "y ~ x + (1 | grupo)"),
  # the chapter's inverse-Gaussian data with its (1 + x | grupo) design, fitted as Gamma(log):
  # a correlation parameter, which glmmTMB can profile for this family
  list(id = "seed3_gamma_log_slopes", csv = "seed3_invgauss.csv", formula = "y ~ x + (1 + x | grupo)")
)

to_profile_scale <- function(par, n_sd) {
  # par: glmmTMB's beta..., betad, theta... -> sds, correlations, sigma, beta
  n_beta <- length(par) - 1 - length(par[names(par) == "theta"])
  beta <- par[seq_len(n_beta)]
  betad <- par[n_beta + 1]
  theta <- par[names(par) == "theta"]
  sds <- exp(theta[seq_len(n_sd)])
  cors <- if (length(theta) > n_sd) theta[-seq_len(n_sd)] / sqrt(1 + theta[-seq_len(n_sd)]^2) else numeric()
  c(sds, cors, exp(-betad / 2), beta)
}

for (case in cases) {
  d <- read_data(case$csv)
  fit <- glmmTMB(as.formula(case$formula), family = Gamma(link = "log"), data = d)
  par <- fit$fit$par
  n_sd <- if (grepl("1 \\+ x", case$formula)) 2 else 1
  estimate <- to_profile_scale(par, n_sd)
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
      at <- par; at[k] <- internal[k, 1]; low <- to_profile_scale(at, n_sd)
      at <- par; at[k] <- internal[k, 2]; high <- to_profile_scale(at, n_sd)
      changed <- which(abs(low - estimate) > 0 | abs(high - estimate) > 0)
      lower[k] <- min(low[changed], high[changed]); upper[k] <- max(low[changed], high[changed])
    }
    # glmmTMB par order (beta, betad, theta) -> profile order (sds, cors, sigma, beta)
    n_beta <- length(par) - 1 - length(par[names(par) == "theta"])
    perm <- c(n_beta + 1 + seq_len(length(par) - n_beta - 1), n_beta + 1, seq_len(n_beta))
    intervals[[sprintf("confint_%d", round(100 * level))]] <-
      list(lower = unname(lower[perm])[order], upper = unname(upper[perm])[order])
  }
  result <- c(list(id = case$id, data = case$csv, formula = case$formula, family = "Gamma",
                   link = "log", package = paste("glmmTMB", packageVersion("glmmTMB")),
                   estimate = unname(estimate)[order], minus_two_loglik = -2 * as.numeric(logLik(fit))),
              intervals)
  write(toJSON(result, digits = NA, auto_unbox = TRUE, pretty = TRUE),
        file.path(out_dir, paste0(case$id, ".json")))
}
