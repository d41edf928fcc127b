## make_anova.R -- lme4 likelihood-ratio tables (anova(m1, m2, ...)) for tests/test_anova.py.
## R 4.2.2, lme4 1.1-31.  Rerun: cd tests/reference_inference && Rscript make_anova.R
## Writes anova.json: per case the models (formula, fun, family, REML), the table (full precision),
## its row order and the printed text (print(anova(...)) at width 80), and the message lines;
## for glmer models also -2 logLik refitted with a tight PIRLS tolerance (tight_deviance).
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(useFancyQuotes = FALSE, width = 80, warn = 1)

## data as the Python tests read them: the committed CSVs, factor() of the named columns
load_csv <- function(path, factors) {
  d <- read.csv(path, stringsAsFactors = FALSE)
  for (f in factors) d[[f]] <- factor(d[[f]])
  d
}
sleepstudy <- load_csv("../reference/data/sleepstudy.csv", "Subject")
Penicillin <- load_csv("../reference/data/Penicillin.csv", c("plate", "sample"))
cbpp <- load_csv("../reference/data/cbpp.csv", c("herd", "period"))
grouseticks <- load_csv("../reference_extra/data/grouseticks.csv", c("BROOD", "YEAR", "LOCATION"))
cake <- load_csv("../reference_extra/data/cake.csv", c("replicate", "recipe", "temperature"))

levels_of <- function(d) { out <- list(); for (n in names(d)) if (is.factor(d[[n]])) out[[n]] <- I(levels(d[[n]])); out }

## one case: fit each model, run anova with the given arguments, keep everything the test needs
run_case <- function(id, data_name, csv, models, refit = TRUE, note = "") {
  data <- get(data_name)
  fits <- list(); specs <- list()
  for (name in names(models)) {
    m <- models[[name]]
    call <- if (m$fun == "lmer")
      call("lmer", str2lang(m$formula), data = as.name(data_name), REML = m$REML)
    else call("glmer", str2lang(m$formula), data = as.name(data_name), family = str2lang(m$family))
    fits[[name]] <- eval(call)
    specs[[name]] <- c(m, list(name = name))
    if (m$fun == "glmer") {
      ## lme4's default PIRLS tolerance (tolPwrss = 1e-7) stops short on some fits (grouseticks gt0:
      ## -2 logLik 0.013 too high); the same model with tolPwrss = 1e-12 is the converged reference
      call$control <- quote(glmerControl(tolPwrss = 1e-12))
      specs[[name]]$tight_deviance <- -2 * c(logLik(eval(call)))
    }
  }
  env <- list2env(fits)
  acall <- as.call(c(as.name("anova"), lapply(names(fits), as.name), list(refit = refit)))
  messages <- character(0); warns <- character(0)
  tab <- withCallingHandlers(eval(acall, env),
    message = function(m) { messages <<- c(messages, conditionMessage(m)); invokeRestart("muffleMessage") },
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  printed <- capture.output(print(tab))
  cols <- lapply(as.list(tab), function(v) I(ifelse(is.na(v), NA, v)))
  list(id = id, note = note, data_name = data_name, csv = csv, factor_levels = levels_of(data),
       refit = refit, models = unname(specs), rownames = I(rownames(tab)), table = cols,
       heading = I(attr(tab, "heading")), printed = paste(printed, collapse = "\n"),
       messages = I(trimws(messages)), warnings = I(warns))
}

L <- function(formula, REML = TRUE) list(fun = "lmer", formula = formula, REML = REML)
G <- function(formula, family) list(fun = "glmer", formula = formula, family = family)

cases <- list(
  run_case("sleepstudy_reml_triple", "sleepstudy", "reference/data/sleepstudy.csv",
           list(fm_slopes = L("Reaction ~ Days + (Days | Subject)"),
                fm_int = L("Reaction ~ Days + (1 | Subject)"),
                fm_uncorr = L("Reaction ~ Days + (Days || Subject)")),
           note = "REML fits refit with ML; argument order differs from npar order"),
  run_case("sleepstudy_ml_pair", "sleepstudy", "reference/data/sleepstudy.csv",
           list(fm1 = L("Reaction ~ Days + (1 | Subject)", FALSE),
                fm2 = L("Reaction ~ Days + (Days | Subject)", FALSE)),
           note = "ML fits: no refit"),
  run_case("sleepstudy_reml_norefit", "sleepstudy", "reference/data/sleepstudy.csv",
           list(fm1 = L("Reaction ~ Days + (1 | Subject)"),
                fm2 = L("Reaction ~ Days + (Days | Subject)")),
           refit = FALSE, note = "refit = FALSE compares REML criteria"),
  run_case("sleepstudy_fixed_effects", "sleepstudy", "reference/data/sleepstudy.csv",
           list(fm0 = L("Reaction ~ 1 + (Days | Subject)"),
                fm1 = L("Reaction ~ Days + (Days | Subject)"),
                fm2 = L("Reaction ~ Days + I(Days^2) + (Days | Subject)")),
           note = "fixed-effect comparison (REML fits refit with ML)"),
  run_case("penicillin_crossed", "Penicillin", "reference/data/Penicillin.csv",
           list(fm_plate = L("diameter ~ 1 + (1 | plate)"),
                fm_both = L("diameter ~ 1 + (1 | plate) + (1 | sample)"))),
  run_case("cbpp_period", "cbpp", "reference/data/cbpp.csv",
           list(gm0 = G("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", "binomial"),
                gm1 = G("cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"))),
  run_case("grouseticks_poisson", "grouseticks", "reference_extra/data/grouseticks.csv",
           list(gt1 = G("TICKS ~ YEAR + cHEIGHT + (1 | BROOD)", "poisson"),
                gt2 = G("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", "poisson"),
                gt0 = G("TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", "poisson"))),
  run_case("cake_ml_interaction", "cake", "reference_extra/data/cake.csv",
           list(ck_add = L("angle ~ recipe + temperature + (1 | recipe:replicate)", FALSE),
                ck_int = L("angle ~ recipe * temperature + (1 | recipe:replicate)", FALSE)),
           note = "ML fits with factor interactions; large Df")
)
write_json(cases, "anova.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
for (case in cases) { cat("==", case$id, "\n"); cat(case$messages, sep = "\n"); cat(case$printed, "\n") }
