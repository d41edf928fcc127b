# lme4 at shifted and scaled sleepstudy responses, for tests/test_shift_scale.py.
# Provenance: R 4, lme4 1.1-31, default lmer control (REML, bobyqa + Nelder-Mead as lme4 chooses);
# data tests/reference/data/sleepstudy.csv. Run from tests/:  Rscript make_shift_scale_reference.R
suppressMessages(library(lme4))
d <- read.csv("reference/data/sleepstudy.csv")
d$Subject <- factor(d$Subject)
formula <- Reaction ~ Days + (Days | Subject)
cases <- list(c(0, 1), c(1e3, 1), c(1e6, 1), c(1e9, 1), c(0, 1e-9), c(0, 1e-3), c(0, 1e3), c(0, 1e9))
out <- lapply(cases, function(sk) {
  e <- d
  e$Reaction <- e$Reaction * sk[2] + sk[1]
  f <- lmer(formula, e)
  list(shift = sk[1], scale = sk[2], REMLcrit = REMLcrit(f), theta = unname(getME(f, "theta")),
       sigma = sigma(f), fixef = unname(fixef(f)), se = unname(sqrt(diag(as.matrix(vcov(f))))))
})
writeLines(jsonlite::toJSON(list(formula = "Reaction ~ Days + (Days | Subject)",
                                 lme4 = as.character(packageVersion("lme4")), cases = out),
                            auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "reference_shift_scale.json")
