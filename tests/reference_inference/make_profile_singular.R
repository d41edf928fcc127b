## lme4's own ML deviance at chosen profile points of a singular fit whose profile lme4 cannot
## compute (tests/test_profile.py::test_singular_fit_profile_agrees_with_lme4_deviance).
##
## Rerun from the repository root:  Rscript tests/reference_inference/make_profile_singular.R
## (R 4.2.2, lme4 1.1-31, minqa, jsonlite). The fit is sleepstudy_sub6_singular_reml
## (tests/reference_extra: Reaction ~ Days + (Days | Subject) on 6 subjects, correlation +1), for
## which profile(fit) fails ("NAs detected in profiling"). lme4's profile deviance function,
## devfun2 (ML, the fixed effects at their conditional values, parameters .sig01 .sig02 .sig03
## .sigma on the sd/correlation scale), is minimized over the other three with each parameter
## held at the values in `points` (bobyqa within the bounds sd >= 0, -1 <= cor <= 1, sigma > 0,
## from several starts; the lowest minimum is kept). zeta = sign(v - estimate) sqrt(min - base),
## base being devfun2 at the ML optimum. The points are chosen as mixedjax's 90% and 95% profile
## interval ends (and a grid over the correlation), so the test checks that those ends are where
## lme4's own deviance reaches qnorm(0.95) and qnorm(0.975).
suppressPackageStartupMessages({ library(lme4); library(minqa); library(jsonlite) })
invisible(Sys.setlocale("LC_COLLATE", "C"))

points <- list(
  .sig01 = c(16.462996, 18.609270, 63.107926, 72.591846),
  .sig02 = c(-0.9, -0.5, 0, 0.5, 0.9),
  .sig03 = c(4.372034, 5.224634),
  .sigma = c(23.861299, 24.516777, 33.676211, 34.846172)
)

root <- file.path("tests", "reference_extra"); id <- "sleepstudy_sub6_singular_reml"
spec <- fromJSON(file.path(root, "fits", paste0(id, ".json")), simplifyVector = FALSE)
data <- read.csv(file.path(root, "data", spec$dataset), stringsAsFactors = FALSE)
for (f in names(spec$factor_levels))
  data[[f]] <- factor(as.character(data[[f]]), levels = unlist(spec$factor_levels[[f]]))
fit <- lmer(as.formula(spec$formula), data = data, REML = TRUE)
ml <- refitML(fit)
dd <- lme4:::devfun2(ml, useSc = TRUE, signames = TRUE)
optimum <- attr(dd, "optimum")[1:4]
base <- dd(optimum)
lower <- c(0, -1, 0, 1e-8); upper <- c(Inf, 1, Inf, Inf)

conditional_min <- function(j, v) {
  free <- setdiff(1:4, j)
  f <- function(x) { p <- numeric(4); p[j] <- v; p[free] <- x; dd(p) }
  starts <- list(optimum[free], pmax(optimum[free] * c(1.2, 0.8, 1.1)[seq_along(free)], lower[free]))
  starts[[3]] <- starts[[1]]; starts[[3]][free == 2] <- -0.5 * sign(v - 0.5 + 1e-9)
  starts[[3]][free == 3] <- if (j == 2) 0.5 else starts[[3]][free == 3]
  best <- Inf
  for (s in starts) {
    s <- pmin(pmax(s, lower[free]), ifelse(is.finite(upper[free]), upper[free], s))
    r <- bobyqa(s, f, lower = lower[free], upper = upper[free],
                control = list(rhobeg = 0.2, rhoend = 1e-10, maxfun = 1e5))
    best <- min(best, r$fval)
  }
  best
}

rows <- list()
for (name in names(points)) {
  j <- match(name, names(optimum))
  for (v in points[[name]]) {
    m <- conditional_min(j, v)
    rows[[length(rows) + 1]] <- list(parameter = name, value = v, deviance = m,
                                     zeta = sign(v - optimum[[j]]) * sqrt(max(m - base, 0)))
  }
}
out <- list(id = id, optimum = as.list(optimum), base_deviance = base, points = rows)
write_json(out, file.path("tests", "reference_inference", "profile_singular.json"), digits = NA, auto_unbox = TRUE)
for (r in rows) cat(r$parameter, r$value, r$zeta, "\n")
