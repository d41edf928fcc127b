## make_predict.R -- lme4 predictions on new data for tests/test_predict.py.
## predict(fit, newdata, re.form, allow.new.levels, type) and, for the population-level part,
## standard errors sqrt(diag(X V X')) with X from the fit's fixed-effects terms and contrasts on
## newdata and V = vcov(fit); on the response scale times |d mu / d eta| at the prediction.
## For glmer fits also se_fit_tmb: the same with V from glmmTMB's fit of the same model (the
## inverse of the Laplace deviance's exact Hessian, TMB's autodiff), because lme4's vcov of a
## glmer fit inverts a finite-difference Hessian (deriv12, step 1e-4) of a deviance that PIRLS
## leaves ~1e-5 short; on poisson_offset that moves SE(x) by 4e-3 relative.
## R 4.2.2, lme4 1.1-31, glmmTMB 1.1.5 (TMB 1.9.2).  Rerun: cd tests/reference_inference && Rscript make_predict.R
suppressPackageStartupMessages({ library(lme4); library(glmmTMB); library(jsonlite) })
invisible(Sys.setlocale("LC_COLLATE", "C"))
load_csv <- function(path, factors) {
  d <- read.csv(path, stringsAsFactors = FALSE)
  for (f in factors) d[[f]] <- factor(d[[f]])
  d
}
levels_of <- function(d) { out <- list(); for (n in names(d)) if (is.factor(d[[n]])) out[[n]] <- I(levels(d[[n]])); out }
sleepstudy <- load_csv("../reference/data/sleepstudy.csv", "Subject")
Penicillin <- load_csv("../reference/data/Penicillin.csv", c("plate", "sample"))
cbpp <- load_csv("../reference/data/cbpp.csv", c("herd", "period"))
cake <- load_csv("../reference_extra/data/cake.csv", c("replicate", "recipe", "temperature"))
expo <- load_csv("../reference_extra/data/sim_poisson_exposure.csv", "g")

fixed_levels <- function(fit, tt) {  # the fitted levels of the factors in the fixed part
  levels <- lapply(Filter(is.factor, model.frame(fit)), levels)
  levels[intersect(names(levels), all.vars(tt))]
}
fixed_se <- function(fit, newdata, V = as.matrix(vcov(fit))) {
  tt <- delete.response(terms(fit, fixed.only = TRUE))
  X <- if (length(attr(tt, "term.labels")) == 0) matrix(1, nrow(newdata), 1)  # ~ 1: one row per case
       else model.matrix(tt, model.frame(tt, newdata, xlev = fixed_levels(fit, tt)), contrasts.arg = attr(getME(fit, "X"), "contrasts"))
  sqrt(rowSums((X %*% V) * X))
}
tmb_vcov <- function(fit, data) {  # glmmTMB's V of the same glmer model, converged tightly
  m <- glmmTMB(formula(fit), data = data, family = family(fit),
               control = glmmTMBControl(optCtrl = list(rel.tol = 1e-14, eval.max = 1e4, iter.max = 1e4)))
  stopifnot(max(abs(fixef(m)$cond - fixef(fit))) < 1e-4)
  vcov(m)$cond
}

case <- function(id, fit, data_name, csv, newdata, predictions) {
  data <- get(data_name)
  if (!isLMM(fit)) V_tmb <- tmb_vcov(fit, data)
  out <- list()
  for (p in predictions) {
    re <- if (is.null(p$re_form)) NULL else if (p$re_form == "~0") NA else as.formula(p$re_form)
    value <- predict(fit, newdata = newdata, re.form = re, allow.new.levels = p$allow_new_levels,
                     type = p$type)
    eta <- predict(fit, newdata = newdata, re.form = re, allow.new.levels = p$allow_new_levels)
    se <- fixed_se(fit, newdata)
    extra <- list()
    if (!isLMM(fit)) {
      scale <- if (p$type == "response") abs(family(fit)$mu.eta(eta)) else 1
      se <- se * scale
      extra$se_fit_tmb <- I(unname(fixed_se(fit, newdata, V_tmb) * scale))
    }
    out[[length(out) + 1]] <- c(p, list(fit = I(unname(value)), se_fit = I(unname(se))), extra)
  }
  nd <- lapply(newdata, function(v) I(as.character(v)))
  list(id = id, data_name = data_name, csv = csv, call = deparse1(getCall(fit)),
       fun = if (isLMM(fit)) "lmer" else "glmer", formula = deparse1(formula(fit)),
       REML = isREML(fit), family = family(fit)$family, factor_levels = levels_of(data),
       newdata = nd, numeric = I(names(newdata)[vapply(newdata, is.numeric, NA)]), predictions = out)
}
P <- function(re_form = NULL, allow_new_levels = FALSE, type = "link")
  list(re_form = re_form, allow_new_levels = allow_new_levels, type = type)

fm_slopes <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
nd_sleep <- data.frame(Days = c(0, 3.5, 9, 12, 2), Subject = factor(c("308", "309", "372", "999", "999")))
fm_log <- lmer(Reaction ~ log(Days + 1) + I(Days^2) + (1 | Subject), sleepstudy, REML = FALSE)
fm_pen <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
nd_pen <- data.frame(plate = c("a", "b", "x"), sample = c("A", "F", "C"))
fm_cake <- lmer(angle ~ recipe * temperature + (1 | recipe:replicate), cake)
nd_cake <- data.frame(recipe = c("A", "B", "C", "C"), temperature = c("175", "215", "225", "185"),
                      replicate = c("1", "3", "15", "99"))
## glmer fits converged tightly (lme4's defaults stop short on cbpp: beta off in the 4th digit)
tight <- glmerControl(tolPwrss = 1e-12, optimizer = "nloptwrap",
                      optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, maxeval = 1e5))
gm_cbpp <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial,
                 control = tight)
nd_cbpp <- data.frame(period = c("1", "2", "4", "3"), herd = c("1", "7", "15", "20"))
gm_expo <- glmer(count ~ x + offset(log(expo)) + (1 | g), expo, family = poisson, control = tight)
nd_expo <- data.frame(x = c(-1, 0, 0.5, 2), expo = c(1, 2.5, 10, 0.3), g = c("g01", "g02", "new", "g03"))

cases <- list(
  case("sleepstudy_slopes", fm_slopes, "sleepstudy", "reference/data/sleepstudy.csv", nd_sleep,
       list(P(NULL, TRUE), P("~0"), P("~(Days | Subject)", TRUE))),
  case("sleepstudy_log_quad", fm_log, "sleepstudy", "reference/data/sleepstudy.csv", nd_sleep,
       list(P(NULL, TRUE), P("~0"))),
  case("penicillin_crossed", fm_pen, "Penicillin", "reference/data/Penicillin.csv", nd_pen,
       list(P(NULL, TRUE), P("~(1 | sample)", TRUE), P("~0"))),
  case("cake_interaction", fm_cake, "cake", "reference_extra/data/cake.csv", nd_cake,
       list(P(NULL, TRUE), P("~0"))),
  case("cbpp_binomial", gm_cbpp, "cbpp", "reference/data/cbpp.csv", nd_cbpp,
       list(P(NULL, TRUE), P(NULL, TRUE, "response"), P("~0", FALSE, "response"))),
  case("poisson_offset", gm_expo, "expo", "reference_extra/data/sim_poisson_exposure.csv", nd_expo,
       list(P(NULL, TRUE), P(NULL, TRUE, "response"), P("~0", FALSE, "response"))))
write_json(cases, "predict.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
