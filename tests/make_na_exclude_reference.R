# Reference for tests/test_pandas_results.py: lme4's fitted/residuals/predict with na.exclude on
# sleepstudy with named rows and missing values (R 4, lme4 1.1-31, jsonlite).
# Run from the repository root: Rscript tests/make_na_exclude_reference.R
library(lme4)
library(jsonlite)
d <- sleepstudy
rownames(d) <- paste0("r", seq_len(nrow(d)))
d$Reaction[c(4, 50, 123)] <- NA
d$Days[77] <- NA
fit <- lmer(Reaction ~ Days + (Days | Subject), d, na.action = na.exclude)
num <- function(x) ifelse(is.na(x), NA, unname(x))
out <- list(
  source = paste("lme4", packageVersion("lme4"), "R", getRversion()),
  missing_reaction = c(4, 50, 123), missing_days = 77,
  names = names(fitted(fit)),
  fitted = num(fitted(fit)),
  residuals = num(residuals(fit)),
  pearson_scaled = num(residuals(fit, type = "pearson", scaled = TRUE)),
  predict_population = num(predict(fit, re.form = NA)),
  predict_conditional = num(predict(fit)),
  reml_criterion = REMLcrit(fit), fixef = unname(fixef(fit)),
  omit_names = names(fitted(update(fit, na.action = na.omit))))
writeLines(toJSON(out, digits = NA, na = "null", auto_unbox = TRUE),
           "tests/reference_print/na_exclude.json")
