## Fits every simulated response of one design with lme4's glmer (default settings), for
## bench_glmm_robust.py. Usage: Rscript bench_glmm_robust.R DIR
## DIR holds covariates.csv (factor columns listed in spec.json), responses.csv (one column per
## dataset) and spec.json (formula, family_call, response, trials); writes lme4.csv.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
dir <- commandArgs(trailingOnly = TRUE)[1]
spec <- fromJSON(file.path(dir, "spec.json"))
d <- read.csv(file.path(dir, "covariates.csv"))
for (f in spec$factors) d[[f]] <- factor(d[[f]])
Y <- as.matrix(read.csv(file.path(dir, "responses.csv")))
family <- eval(parse(text = spec$family_call))
rows <- lapply(seq_len(ncol(Y)), function(j) {
  y <- Y[, j]
  d[[spec$response]] <- if (nzchar(spec$trials)) round(y * d[[spec$trials]]) else y
  warns <- character()
  started <- proc.time()[["elapsed"]]
  fit <- tryCatch(withCallingHandlers(
    glmer(as.formula(spec$formula), data = d, family = family),
    warning = function(w) {warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning")}),
    error = function(e) e)
  elapsed <- proc.time()[["elapsed"]] - started
  if (inherits(fit, "error"))
    return(data.frame(dataset = j, criterion = NA, converged = FALSE, warning = "",
                      error = conditionMessage(fit), seconds = elapsed, estimates = ""))
  messages <- c(warns, fit@optinfo$conv$lme4$messages)
  messages <- unique(messages[!grepl("singular", messages)])
  data.frame(dataset = j, criterion = -2 * as.numeric(logLik(fit)),
             converged = length(messages) == 0, warning = paste(messages, collapse = " | "),
             error = "", seconds = elapsed,
             estimates = paste(sprintf("%.17g", c(getME(fit, "theta"), fixef(fit))), collapse = ";"))
})
write.csv(do.call(rbind, rows), file.path(dir, "lme4.csv"), row.names = FALSE)
