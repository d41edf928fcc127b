## make_scale.R -- lme4 reference fits of the scale benchmark's models (issue 13): kb07 with many
## covariance parameters, InstEval with (0 + service | dept), and a simulated d3-shaped design.
## (The kb07 fits were made when this script was make_kb07.R and held only them.)
## R 4.2.2 + lme4 1.1-31 (Debian bookworm packages, reference BLAS), jsonlite.
## Usage: cd tests/reference_scale && Rscript make_scale.R [id ...]
## Data: data/kb07.csv (copied unchanged from the shared reference set; Kronmueller & Barr 2007 as
## the MixedModels.jl benchmark suite stores it). G and H become factors (levels sorted by code
## point); S..Z are numeric +-1 codes. InstEval: lme4's own data set (the one mixedjax.datasets
## loads). d3: the CSV that `python benchmarks/d3_design.py --out FILE` writes (seeded), read from
## the environment variable D3_CSV (not stored: 2.5 MB, made again in a second). Each fit: REML
## (lme4's default), default control (nloptwrap), timed once (the maximal model runs for minutes).
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(warn = 1)

datasets <- list(
  kb07 = function() {
    kb07 <- read.csv("data/kb07.csv", stringsAsFactors = FALSE)
    kb07$G <- factor(kb07$G); kb07$H <- factor(kb07$H)
    kb07
  },
  InstEval = function() { data("InstEval", package = "lme4", envir = environment()); InstEval },
  d3_sim = function() {
    d3 <- read.csv(Sys.getenv("D3_CSV", "data/d3_sim.csv"), stringsAsFactors = FALSE)
    for (name in c("g", "h", "i")) d3[[name]] <- factor(d3[[name]])
    d3
  })

models <- list(  # id = c(data set, formula)
  kb07_20theta_reml = c("kb07", "Y ~ 1 + S + T + U + (1 + S + T + U | G) + (1 + S + T + U | H)"),
  kb07_maximal_reml = c("kb07", paste("Y ~ 1 + S + T + U + V + W + X + Z",
                                      "+ (1 + S + T + U + V + W + X + Z | G)",
                                      "+ (1 + S + T + U + V + W + X + Z | H)")),
  insteval_service_dept_reml = c("InstEval",
    "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept) + (0 + service | dept)"),
  d3_sim_reml = c("d3_sim", "y ~ 1 + u + (1 + u | g) + (1 + u | h) + (1 + u | i)"))
ids <- commandArgs(trailingOnly = TRUE)
if (!length(ids)) ids <- names(models)

fit_one <- function(id) {
  dataset <- models[[id]][[1]]
  formula <- models[[id]][[2]]
  data <- datasets[[dataset]]()
  warns <- character(0)
  start <- proc.time()[["elapsed"]]
  fit <- withCallingHandlers(
    lmer(as.formula(formula), data = data, REML = TRUE),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { warns <<- c(warns, conditionMessage(m)); invokeRestart("muffleMessage") })
  elapsed <- proc.time()[["elapsed"]] - start
  fe <- fixef(fit)
  se <- sqrt(diag(as.matrix(vcov(fit))))
  th <- getME(fit, "theta")
  devfun <- as.function(fit)
  out <- list(
    id = id, dataset = dataset, formula = formula, fun = "lmer", REML = TRUE,
    provenance = paste("tests/reference_scale/make_scale.R,", R.version.string, ", lme4",
                       as.character(packageVersion("lme4")), ",", format(Sys.time(), tz = "UTC", usetz = TRUE)),
    nobs = nobs(fit), ngrps = as.list(ngrps(fit)),
    results = list(
      REMLcrit = REMLcrit(fit), deviance = deviance(fit, REML = FALSE),
      fixef = as.list(fe), fixef_se = as.list(unname(se)), sigma = sigma(fit),
      theta = as.list(th), theta_names = I(names(th)),
      REMLcrit_devfun_at_theta = devfun(th),
      isSingular = isSingular(fit), conv_messages = I(fit@optinfo$conv$lme4$messages),
      fit_warnings = I(warns), optimizer = fit@optinfo$optimizer, feval = fit@optinfo$feval,
      time_s = elapsed))
  writeLines(toJSON(out, auto_unbox = TRUE, digits = I(15), pretty = TRUE),
             file.path("fits", paste0(id, ".json")))
  cat(id, ": REMLcrit", format(REMLcrit(fit), digits = 12), "time", elapsed, "s\n")
}
for (id in ids) fit_one(id)
writeLines(capture.output(sessionInfo()), "fits/sessionInfo.txt")
