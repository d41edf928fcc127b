## make_reference_extra.R -- a second set of lme4 reference fits (data/, fits/), for testing
## fits the package has not been tuned against.  Same layout / JSON format as ../reference/.
## R 4.2.2, lme4 1.1-31 (Debian bookworm packages).
## Usage: cd tests/reference_extra && Rscript make_reference_extra.R
## Helper functions below are copied verbatim from ../reference/make_reference.R.

## ---------------------------------------------------------------------------
## Helper functions: data round-trip through CSV, fitting, timing, extraction.
## ---------------------------------------------------------------------------
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
invisible(Sys.setlocale("LC_COLLATE", "C"))   # factor levels sorted by code point
options(useFancyQuotes = FALSE, width = 80, warn = 1)

DIG <- 10  # significant digits in JSON

## write a data.frame to data/<name>.csv (factors as strings, doubles with 17
## significant digits so the CSV round-trips exactly), then read it back; all
## fits are done on the data *as read back from the CSV*.
## factor columns -> factor(); levels = sorted unique values (numbers
## numerically when the column reads as numeric, strings by code point).
csv_roundtrip <- function(df, name, factors, outdir) {
  out <- df
  qcols <- integer(0)
  for (j in seq_along(out)) {
    v <- out[[j]]
    if (is.factor(v) || is.character(v)) { out[[j]] <- as.character(v); qcols <- c(qcols, j) }
    else if (is.logical(v)) out[[j]] <- as.integer(v)
    else if (is.double(v) && any(v != round(v), na.rm = TRUE)) out[[j]] <- sprintf("%.17g", v)
  }
  dir.create(file.path(outdir, "data"), showWarnings = FALSE, recursive = TRUE)
  path <- file.path(outdir, "data", paste0(name, ".csv"))
  write.csv(out, path, row.names = FALSE, quote = if (length(qcols)) qcols else FALSE)
  back <- read.csv(path, stringsAsFactors = FALSE)
  for (f in factors) back[[f]] <- factor(back[[f]])
  attr(back, "csv") <- paste0(name, ".csv")
  attr(back, "factors") <- factors
  back
}

mk_call <- function(spec) {
  args <- list(formula = str2lang(spec$formula), data = as.name(spec$data_symbol))
  if (spec$fun == "lmer") {
    args$REML <- spec$REML
  } else {
    args$family <- str2lang(spec$family)
    if (!is.null(spec$nAGQ) && spec$nAGQ != 1) args$nAGQ <- spec$nAGQ
  }
  if (!is.null(spec$weights)) args$weights <- as.name(spec$weights)
  if (!is.null(spec$offset))  args$offset  <- as.name(spec$offset)
  if (!is.null(spec$control)) args$control <- str2lang(spec$control)
  as.call(c(as.name(spec$fun), args))
}

nl <- function(x) { if (is.null(x)) return(NULL); l <- as.list(unname(x)); names(l) <- names(x); l }
mat_json <- function(m) list(rownames = I(rownames(m)), colnames = I(colnames(m)),
                             values = lapply(seq_len(nrow(m)), function(i) I(unname(m[i, ]))))

extract <- function(fit, spec, data, warns, msgs, times) {
  REML <- isREML(fit); lmm <- isLMM(fit)
  fam <- family(fit)
  sfit <- summary(fit)
  ll <- logLik(fit)
  res <- list()
  if (lmm && REML) {
    res$REMLcrit <- REMLcrit(fit)
    res$deviance <- deviance(fit, REML = FALSE)   # ML deviance at the REML estimates
    res$logLik <- as.numeric(ll)                   # REML log-likelihood
    res$logLik_ML <- as.numeric(logLik(fit, REML = FALSE))
  } else if (lmm) {
    res$deviance <- deviance(fit)                  # = -2 logLik (ML)
    res$logLik <- as.numeric(ll)
  } else {
    res$deviance <- -2 * as.numeric(ll)            # 'deviance' column of summary() (= -2 logLik)
    res$deviance_resid_sumsq <- deviance(fit)      # what lme4's deviance() returns for GLMMs:
    res$logLik <- as.numeric(ll)                   #   sum(residuals(fit, "deviance")^2)
  }
  res$logLik_df <- attr(ll, "df")
  res$AIC <- AIC(fit); res$BIC <- BIC(fit)
  res$df.resid <- df.residual(fit)
  res$summary_AICtab <- nl(sfit$AICtab)
  fe <- fixef(fit); V <- as.matrix(vcov(fit))
  res$fixef <- nl(fe)
  res$fixef_se <- nl(setNames(sqrt(diag(V)), names(fe)))
  res$vcov <- mat_json(V)
  if (!lmm) {
    vw <- character(0)
    V2 <- tryCatch(withCallingHandlers(as.matrix(vcov(fit, use.hessian = FALSE)),
            warning = function(w) { vw <<- c(vw, conditionMessage(w)); invokeRestart("muffleWarning") }),
          error = function(e) NULL)
    if (!is.null(V2)) res$vcov_no_hessian <- mat_json(V2)
    res$vcov_no_hessian_warning <- I(vw)
  }
  ct <- sfit$coefficients
  res$coef_table <- list(columns = I(colnames(ct)), rows = I(rownames(ct)),
                         values = lapply(seq_len(nrow(ct)), function(i) I(unname(ct[i, ]))))
  th <- getME(fit, "theta")
  res$theta <- nl(th)
  res$theta_lower <- I(getME(fit, "lower"))
  res$sigma <- sigma(fit)
  vc <- VarCorr(fit)
  res$VarCorr <- lapply(names(vc), function(g) {
    m <- vc[[g]]; sds <- attr(m, "stddev")
    out <- list(group = g, terms = I(names(sds)), sd = nl(sds),
                var = nl(setNames(diag(as.matrix(m)), names(sds))))
    if (length(sds) > 1) out$corr <- mat_json(attr(m, "correlation"))
    out
  })
  res$VarCorr_residual_sd <- if (isTRUE(attr(vc, "useSc"))) attr(vc, "sc") else NULL
  vdf <- as.data.frame(vc)
  res$VarCorr_df <- lapply(seq_len(nrow(vdf)), function(i)
    list(grp = vdf$grp[i], var1 = if (is.na(vdf$var1[i])) NULL else vdf$var1[i],
         var2 = if (is.na(vdf$var2[i])) NULL else vdf$var2[i],
         vcov = vdf$vcov[i], sdcor = vdf$sdcor[i]))
  re <- tryCatch(ranef(fit, condVar = TRUE), error = function(e) ranef(fit))
  res$ranef <- lapply(names(re), function(g) {
    d <- re[[g]]
    out <- list(levels = I(rownames(d)), columns = I(colnames(d)),
                values = setNames(lapply(colnames(d), function(cn) I(d[[cn]])), colnames(d)))
    pv <- attr(d, "postVar")
    if (!is.null(pv)) {
      if (!is.list(pv)) pv <- list(pv)
      sds <- do.call(c, lapply(pv, function(a) lapply(seq_len(dim(a)[1]), function(k) I(sqrt(a[k, k, ])))))
      if (length(sds) == ncol(d)) out$cond_sd <- setNames(sds, colnames(d))
    }
    out
  })
  names(res$ranef) <- names(re)
  fv <- fitted(fit)
  res$fitted_first20 <- I(unname(head(fv, 20)))
  if (!lmm) res$linpred_first20 <- I(unname(head(predict(fit, type = "link"), 20)))
  q <- quantile(sfit$residuals, na.rm = TRUE); names(q) <- c("Min", "1Q", "Median", "3Q", "Max")
  res$scaled_resid_quantiles <- nl(q)
  res$isSingular <- isSingular(fit)
  res$conv_messages <- I(as.character(unlist(fit@optinfo$conv$lme4$messages)))
  res$conv_opt_code <- fit@optinfo$conv$opt
  res$optinfo_warnings <- I(as.character(unlist(fit@optinfo$warnings)))
  res$fit_warnings <- I(warns)
  res$fit_messages <- I(msgs)
  res$optimizer <- fit@optinfo$optimizer
  res$feval <- fit@optinfo$feval
  res$devcomp_cmp <- nl(fit@devcomp$cmp)
  res$time_s <- median(times)
  res$time_s_all <- I(times)
  res$time_reps <- length(times)

  fac_used <- intersect(attr(data, "factors"), all.vars(str2lang(spec$formula)))
  list(id = spec$id,
       dataset = attr(data, "csv"),
       data_symbol = spec$data_symbol,
       formula = spec$formula,
       fun = spec$fun,
       family = fam$family,
       link = fam$link,
       family_call = if (spec$fun == "glmer") spec$family else "gaussian()",
       REML = if (lmm) REML else NULL,
       nAGQ = if (!lmm) unname(fit@devcomp$dims[["nAGQ"]]) else NULL,
       weights = spec$weights, offset = spec$offset, control = spec$control,
       call = paste(deparse(mk_call(spec), width.cutoff = 500L), collapse = " "),
       notes = spec$notes,
       nobs = nobs(fit),
       ngrps = nl(ngrps(fit)),
       factor_levels = setNames(lapply(fac_used, function(f) I(levels(data[[f]]))), fac_used),
       results = res)
}

run_fit <- function(spec, data, outdir, max_reps = 5) {
  cat(sprintf("[%s] %s ... ", spec$id, spec$formula))
  env <- new.env()
  assign(spec$data_symbol, data, envir = env)
  cl <- mk_call(spec)
  warns <- character(0); msgs <- character(0)
  t1 <- system.time(fit <- withCallingHandlers(eval(cl, env),
        warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
        message = function(m) { msgs <<- c(msgs, trimws(conditionMessage(m))); invokeRestart("muffleMessage") }))[["elapsed"]]
  nrep <- if (t1 < 2) max_reps else if (t1 < 15) min(3, max_reps) else 1
  times <- t1
  if (nrep > 1) for (i in 2:nrep)
    times[i] <- system.time(suppressWarnings(suppressMessages(eval(cl, env))))[["elapsed"]]
  js <- extract(fit, spec, data, warns, msgs, times)
  dir.create(file.path(outdir, "fits"), showWarnings = FALSE, recursive = TRUE)
  writeLines(toJSON(js, auto_unbox = TRUE, digits = I(DIG), pretty = TRUE, null = "null", na = "null"),
             file.path(outdir, "fits", paste0(spec$id, ".json")))
  ## capture stdout and messages (e.g. "Correlation matrix not shown ...") interleaved
  txt <- character(0); tc <- textConnection("txt", "w", local = TRUE)
  sink(tc); sink(tc, type = "message")
  print(summary(fit))
  sink(type = "message"); sink(); close(tc)
  writeLines(txt, file.path(outdir, "fits", paste0(spec$id, ".summary.txt")))
  cat(sprintf("%.3fs x%d%s%s\n", median(times), length(times),
              if (length(warns)) paste0(" WARN: ", paste(warns, collapse = " | ")) else "",
              if (js$results$isSingular) " [singular]" else ""))
  invisible(fit)
}

S <- function(...) list(...)   # spec constructor

## ---------------------------------------------------------------------------
## EXTRA reference fits.  Timing uses at most 2 repeats (max_reps = 2).
## ---------------------------------------------------------------------------
OUT <- "."
REPS <- 2
fit <- function(spec, data) run_fit(spec, data, OUT, max_reps = REPS)
failed <- character(0)
try_fit <- function(spec, data) {
  r <- tryCatch(fit(spec, data), error = function(e) {
    cat("ERROR:", conditionMessage(e), "\n")
    failed <<- c(failed, sprintf("%s: %s", spec$id, conditionMessage(e)))
    NULL
  })
  invisible(r)
}

## ---- data ------------------------------------------------------------------
## sleepstudy + a numeric weights column w and an offset column off
ss <- sleepstudy
ss$w <- 1 + (ss$Days %% 3) / 2
set.seed(20240101)
ss$off <- round(rnorm(nrow(ss), mean = 0, sd = 20), 2)
sleep <- csv_roundtrip(ss, "sleepstudy_extra", "Subject", OUT)

## sleepstudy subset of 6 subjects (309 ... 334): singular fit (slope/intercept corr = +1)
ss6 <- droplevels(subset(sleepstudy, Subject %in% levels(sleepstudy$Subject)[2:7]))
sleep6 <- csv_roundtrip(ss6, "sleepstudy_sub6", "Subject", OUT)

## cake: temperature as an UNORDERED factor (levels 175 < ... < 225), numeric temp kept too
ck <- cake
ck$temperature <- factor(as.character(ck$temperature))
cake_d <- csv_roundtrip(ck[, c("replicate", "recipe", "temperature", "temp", "angle")], "cake",
                        c("replicate", "recipe", "temperature"), OUT)

## Orthodont (nlme): Subject / Sex as plain factors (levels sorted by code point)
od <- as.data.frame(nlme::Orthodont)
od <- data.frame(distance = od$distance, age = od$age,
                 Subject = as.character(od$Subject), Sex = as.character(od$Sex))
orth <- csv_roundtrip(od, "Orthodont", c("Subject", "Sex"), OUT)

## ChickWeight (datasets): Chick, Diet plain factors; TimeF = Time as a factor column
cw <- as.data.frame(ChickWeight)
cw <- data.frame(weight = cw$weight, Time = cw$Time, TimeF = as.character(cw$Time),
                 Chick = as.character(cw$Chick), Diet = as.character(cw$Diet))
chick <- csv_roundtrip(cw, "ChickWeight", c("Chick", "Diet", "TimeF"), OUT)

pen <- csv_roundtrip(Penicillin, "Penicillin", c("plate", "sample"), OUT)
pas <- csv_roundtrip(Pastes, "Pastes", c("batch", "cask", "sample"), OUT)

## simulated: factor-valued random-effect term (0 + trt | g), 3-level trt, 20 groups
set.seed(1001)
ng <- 20; nper <- 4
Lt <- t(chol(matrix(c(4, 2, 1,  2, 5, 2.5,  1, 2.5, 3), 3, 3)))
b <- t(Lt %*% matrix(rnorm(3 * ng), 3, ng))          # ng x 3 random effects
d <- expand.grid(rep = 1:nper, trt = c("a", "b", "c"), g = sprintf("g%02d", 1:ng),
                 stringsAsFactors = FALSE)
gi <- match(d$g, sprintf("g%02d", 1:ng)); ti <- match(d$trt, c("a", "b", "c"))
d$y <- 10 + c(0, 1.5, -1)[ti] + b[cbind(gi, ti)] + rnorm(nrow(d), sd = 1.5)
simtrt <- csv_roundtrip(d[, c("g", "trt", "rep", "y")], "sim_factor_slopes", c("g", "trt"), OUT)

## simulated: 30 subjects x 20 items crossed; items nested in 4 blocks (5 items each)
set.seed(1002)
d <- expand.grid(subj = sprintf("s%02d", 1:30), item = sprintf("i%02d", 1:20), stringsAsFactors = FALSE)
d$block <- sprintf("B%d", (match(d$item, sprintf("i%02d", 1:20)) - 1) %/% 5 + 1)
d$x <- round(runif(nrow(d), -1, 1), 3)
us <- rnorm(30, sd = 2); ui <- rnorm(20, sd = 1.5); ub <- rnorm(4, sd = 1)
d$y <- 5 + 0.8 * d$x + us[match(d$subj, sprintf("s%02d", 1:30))] +
  ui[match(d$item, sprintf("i%02d", 1:20))] + ub[match(d$block, sprintf("B%d", 1:4))] +
  rnorm(nrow(d), sd = 1)
simx <- csv_roundtrip(d, "sim_crossed3", c("subj", "item", "block"), OUT)

## cbpp with a proportion column
cb <- cbpp[, c("herd", "incidence", "size", "period")]
cb$prop <- cb$incidence / cb$size
cbpp_d <- csv_roundtrip(cb, "cbpp", c("herd", "period"), OUT)

## grouseticks: YEAR factor, cHEIGHT = centred HEIGHT
gt <- grouseticks
gt$cHEIGHT <- gt$HEIGHT - mean(gt$HEIGHT)
gt <- gt[, c("INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION", "cHEIGHT")]
grouse <- csv_roundtrip(gt, "grouseticks", c("INDEX", "BROOD", "YEAR", "LOCATION"), OUT)

## simulated poisson counts with an exposure column (and its log)
set.seed(1003)
ng <- 25; nper <- 12
d <- data.frame(g = rep(sprintf("g%02d", 1:ng), each = nper))
d$x <- round(rnorm(nrow(d)), 3)
d$expo <- round(runif(nrow(d), 0.5, 10), 2)
d$logexpo <- log(d$expo)
u <- rnorm(ng, sd = 0.6)
d$count <- rpois(nrow(d), d$expo * exp(-0.5 + 0.4 * d$x + u[match(d$g, sprintf("g%02d", 1:ng))]))
simexpo <- csv_roundtrip(d, "sim_poisson_exposure", "g", OUT)

## VerbAgg: the first 60 respondents (ids 1..60), r2 coded 0/1 (Y = 1)
va <- VerbAgg[as.integer(as.character(VerbAgg$id)) <= 60,
              c("id", "item", "Anger", "Gender", "btype", "situ", "mode", "r2")]
va$r2 <- as.integer(va$r2 == "Y")
verb <- csv_roundtrip(va, "VerbAgg60", c("id", "item", "Gender", "btype", "situ", "mode"), OUT)

## simulated positive responses for Gamma(inverse)
set.seed(1004)
ng <- 15; nper <- 10
d <- data.frame(g = rep(sprintf("g%02d", 1:ng), each = nper))
d$x <- round(runif(nrow(d), 0, 2), 3)
u <- rnorm(ng, sd = 0.05)
eta <- 0.4 + 0.15 * d$x + u[match(d$g, sprintf("g%02d", 1:ng))]   # inverse link: mu = 1/eta > 0
d$y <- rgamma(nrow(d), shape = 4, rate = 4 * eta)                 # mean 1/eta, CV 0.5
simgam <- csv_roundtrip(d, "sim_gamma_inverse", "g", OUT)

## simulated 0/1 response with a scalar random intercept (for nAGQ = 9)
set.seed(1005)
ng <- 30; nper <- 8
d <- data.frame(g = rep(sprintf("g%02d", 1:ng), each = nper))
d$x <- round(rnorm(nrow(d)), 3)
u <- rnorm(ng, sd = 1.2)
d$y <- rbinom(nrow(d), 1, plogis(-0.3 + 0.9 * d$x + u[match(d$g, sprintf("g%02d", 1:ng))]))
simbin <- csv_roundtrip(d, "sim_binary_agq", "g", OUT)

## simulated poisson counts with prior weights
set.seed(1006)
ng <- 20; nper <- 10
d <- data.frame(g = rep(sprintf("g%02d", 1:ng), each = nper))
d$x <- round(runif(nrow(d), -1, 1), 3)
d$w <- sample(c(0.5, 1, 2, 3), nrow(d), replace = TRUE)
u <- rnorm(ng, sd = 0.5)
d$count <- rpois(nrow(d), exp(1 + 0.6 * d$x + u[match(d$g, sprintf("g%02d", 1:ng))]))
simpw <- csv_roundtrip(d, "sim_poisson_weights", "g", OUT)

## ---- lmer fits -------------------------------------------------------------
try_fit(S(id = "sleepstudy_quad_ml", data_symbol = "sleepstudy", fun = "lmer", REML = FALSE,
  formula = "Reaction ~ Days + I(Days^2) + (Days | Subject)",
  notes = "I() term in the fixed effects (quadratic), correlated slopes, ML"), sleep)
try_fit(S(id = "sleepstudy_logdays_reml", data_symbol = "sleepstudy", fun = "lmer", REML = TRUE,
  formula = "Reaction ~ log(Days + 1) + (1 | Subject)",
  notes = "function call log(Days + 1) as a fixed-effect term, REML"), sleep)
try_fit(S(id = "sleepstudy_slope_only_reml", data_symbol = "sleepstudy", fun = "lmer", REML = TRUE,
  formula = "Reaction ~ 1 + Days + (0 + Days | Subject)",
  notes = "random slope without random intercept (0 + Days | Subject)"), sleep)
try_fit(S(id = "sleepstudy_weights_reml", data_symbol = "sleepstudy", fun = "lmer", REML = TRUE,
  formula = "Reaction ~ Days + (Days | Subject)", weights = "w",
  notes = "prior weights w = 1 + (Days %% 3)/2 via weights="), sleep)
try_fit(S(id = "sleepstudy_offset_arg_ml", data_symbol = "sleepstudy", fun = "lmer", REML = FALSE,
  formula = "Reaction ~ Days + (Days | Subject)", offset = "off",
  notes = "offset column passed as offset= argument, ML"), sleep)
try_fit(S(id = "sleepstudy_offset_formula_reml", data_symbol = "sleepstudy", fun = "lmer", REML = TRUE,
  formula = "Reaction ~ Days + offset(off) + (1 | Subject)",
  notes = "offset(off) written inside the formula, REML"), sleep)
try_fit(S(id = "cake_interaction_reml", data_symbol = "cake", fun = "lmer", REML = TRUE,
  formula = "angle ~ recipe * temperature + (1 | recipe:replicate)",
  notes = "factor x factor interaction (names like recipeB:temperature185), (1 | a:b) grouping"), cake_d)
try_fit(S(id = "cake_numtemp_ml", data_symbol = "cake", fun = "lmer", REML = FALSE,
  formula = "angle ~ recipe + temp + (1 | replicate)",
  notes = "factor + numeric covariate, ML"), cake_d)
try_fit(S(id = "orthodont_slopes_reml", data_symbol = "Orthodont", fun = "lmer", REML = TRUE,
  formula = "distance ~ age * Sex + (age | Subject)",
  notes = "numeric x factor interaction, correlated random slopes, REML"), orth)
try_fit(S(id = "chickweight_slopes_ml", data_symbol = "ChickWeight", fun = "lmer", REML = FALSE,
  formula = "weight ~ Time * Diet + (Time | Chick)",
  notes = "50 groups, large random slope variance, ML"), chick)
try_fit(S(id = "sleepstudy_sub6_singular_reml", data_symbol = "sleep6", fun = "lmer", REML = TRUE,
  formula = "Reaction ~ Days + (Days | Subject)",
  notes = "6 subjects (309..334): singular fit, slope/intercept correlation +1"), sleep6)
try_fit(S(id = "penicillin_crossed_ml", data_symbol = "Penicillin", fun = "lmer", REML = FALSE,
  formula = "diameter ~ 1 + (1 | plate) + (1 | sample)", notes = "fully crossed random effects, ML"), pen)
try_fit(S(id = "pastes_explicit_nested_ml", data_symbol = "Pastes", fun = "lmer", REML = FALSE,
  formula = "strength ~ 1 + (1 | batch) + (1 | batch:cask)",
  notes = "nesting written out as (1|batch) + (1|batch:cask), ML"), pas)
try_fit(S(id = "sim_factor_slopes_reml", data_symbol = "simdat", fun = "lmer", REML = TRUE,
  formula = "y ~ trt + (0 + trt | g)",
  notes = "factor-valued random-effect term: 3x3 unstructured covariance over trt levels"), simtrt)
try_fit(S(id = "sleepstudy_two_terms_reml", data_symbol = "sleepstudy", fun = "lmer", REML = TRUE,
  formula = "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
  notes = "two separate terms on one grouping factor (printed Subject and Subject.1)"), sleep)
try_fit(S(id = "sim_crossed3_reml", data_symbol = "simdat", fun = "lmer", REML = TRUE,
  formula = "y ~ x + (1 | subj) + (1 | item) + (1 | block)",
  notes = "30 subj x 20 items crossed, items nested in 4 blocks (block coded explicitly)"), simx)
try_fit(S(id = "chickweight_timefactor_reml", data_symbol = "ChickWeight", fun = "lmer", REML = TRUE,
  formula = "weight ~ TimeF + Diet + (1 | Chick)",
  notes = "15 fixed effects: summary omits the correlation matrix (message)"), chick)

## ---- glmer fits ------------------------------------------------------------
try_fit(S(id = "cbpp_probit_laplace", data_symbol = "cbpp", fun = "glmer",
  family = 'binomial(link = "probit")', nAGQ = 1,
  formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)", notes = "binomial, probit link"), cbpp_d)
try_fit(S(id = "cbpp_cloglog_laplace", data_symbol = "cbpp", fun = "glmer",
  family = 'binomial(link = "cloglog")', nAGQ = 1,
  formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)", notes = "binomial, cloglog link"), cbpp_d)
try_fit(S(id = "cbpp_prop_weights_laplace", data_symbol = "cbpp", fun = "glmer", family = "binomial",
  nAGQ = 1, formula = "prop ~ period + (1 | herd)", weights = "size",
  notes = "binomial response as proportion with weights = size (same fit as cbind form)"), cbpp_d)
try_fit(S(id = "grouseticks_poisson_laplace", data_symbol = "grouseticks", fun = "glmer", family = "poisson",
  nAGQ = 1, formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)",
  notes = "poisson with two (partially nested) grouping factors"), grouse)
try_fit(S(id = "sim_poisson_offset_formula", data_symbol = "simdat", fun = "glmer", family = "poisson",
  nAGQ = 1, formula = "count ~ x + offset(log(expo)) + (1 | g)",
  notes = "poisson, offset(log(expo)) inside the formula"), simexpo)
try_fit(S(id = "sim_poisson_offset_arg", data_symbol = "simdat", fun = "glmer", family = "poisson",
  nAGQ = 1, formula = "count ~ x + (1 | g)", offset = "logexpo",
  notes = "poisson, offset = logexpo argument (same model as sim_poisson_offset_formula)"), simexpo)
try_fit(S(id = "verbagg60_crossed_binary", data_symbol = "VerbAgg", fun = "glmer", family = "binomial",
  nAGQ = 1, formula = "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
  notes = "0/1 binomial, crossed respondents x items (first 60 ids of VerbAgg)"), verb)
try_fit(S(id = "sim_gamma_inverse_laplace", data_symbol = "simdat", fun = "glmer", family = "Gamma",
  nAGQ = 1, formula = "y ~ x + (1 | g)",
  notes = "Gamma with its default inverse link, random intercept"), simgam)
try_fit(S(id = "sim_binary_nagq9", data_symbol = "simdat", fun = "glmer", family = "binomial",
  nAGQ = 9, formula = "y ~ x + (1 | g)",
  notes = "0/1 binomial, adaptive Gauss-Hermite quadrature with 9 points"), simbin)
try_fit(S(id = "sim_poisson_weights_laplace", data_symbol = "simdat", fun = "glmer", family = "poisson",
  nAGQ = 1, formula = "count ~ x + (1 | g)", weights = "w",
  notes = "poisson with prior weights (0.5, 1, 2, 3)"), simpw)

try_fit(S(id = "cbpp_binomial_nagq0", data_symbol = "cbpp", fun = "glmer", family = "binomial",
  nAGQ = 0, formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
  notes = "nAGQ = 0: fixed effects estimated in the PIRLS step"), cbpp_d)
try_fit(S(id = "grouseticks_poisson_nagq0", data_symbol = "grouseticks", fun = "glmer", family = "poisson",
  nAGQ = 0, formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)",
  notes = "nAGQ = 0 with two grouping factors"), grouse)
try_fit(S(id = "sim_poisson_sqrt_laplace", data_symbol = "simdat", fun = "glmer", family = 'poisson(link = "sqrt")',
  nAGQ = 1, formula = "count ~ x + (1 | g)", notes = "poisson, sqrt link"), simpw)
try_fit(S(id = "sim_gamma_identity_slopes", data_symbol = "simdat", fun = "glmer", family = 'Gamma(link = "log")',
  nAGQ = 1, formula = "y ~ x + (x || g)", notes = "Gamma log, uncorrelated random slopes"), simgam)

if (length(failed)) { cat("FAILED fits:\n"); cat(failed, sep = "\n") } else cat("all fits OK\n")
cat(capture.output(sessionInfo()), sep = "\n", file = file.path(OUT, "fits", "sessionInfo.txt"))
