# print.anova on hand-made tables: the cases mixedjax.display.format_anova must print as R does
# beyond those the fitted references reach (tiny values zapped, NA cells, p-values below eps,
# no p-value column, a zero-row table, Df columns left unzapped, wide tables wrapped at width 80).
# Writes tests/reference_print/anova_print.json. Run from tests/reference_print:
#   Rscript make_anova_print_reference.R
# (R 4.2.2, options(width = 80, digits = 7), as every printed reference of the tests.)
library(jsonlite)
options(width = 80, digits = 7, useFancyQuotes = FALSE)

as_anova <- function(columns, rownames, heading) {
  frame <- as.data.frame(columns, check.names = FALSE)
  rownames(frame) <- rownames
  structure(frame, heading = heading, class = c("anova", "data.frame"))
}

cases <- list(
  f_table = as_anova(list(`Sum Sq` = c(30031.0, 1.2e-7, 512.25), `Mean Sq` = c(30031.0, 1.2e-7, 256.125),
                          NumDF = c(1, 1, 2), DenDF = c(17.0003, 161.99999, 42.5),
                          `F value` = c(45.853, 1.8e-10, 0.39107), `Pr(>F)` = c(3.264e-06, 0.99999, 0.6788)),
                     c("Days", "tiny", "group"),
                     "Type III Analysis of Variance Table with Satterthwaite's method"),
  lrt_table = as_anova(list(npar = c(4, 6, 7), AIC = c(1802.079, 1763.939, 1765.9),
                            BIC = c(1814.850, 1783.097, 1788.2), logLik = c(-897.0393, -875.9697, -875.95),
                            deviance = c(1794.079, 1751.939, 1751.9), Chisq = c(NA, 42.1391, 0.0394),
                            Df = c(NA, 2, 1), `Pr(>Chisq)` = c(NA, 7.072e-10, 0.8427)),
                       c("fm0", "fm1", "fm2"),
                       c("Data: sleepstudy", "Models:", "fm0: Reaction ~ Days + (1 | Subject)",
                         "fm1: Reaction ~ Days + (Days | Subject)", "fm2: Reaction ~ Days * x + (Days | Subject)")),
  below_eps = as_anova(list(Df = c(1, 3), Chisq = c(210.5, 2.25), `Pr(>Chisq)` = c(1e-300, 0.5222)),
                       c("a", "b"), "Analysis of Deviance Table"),
  no_p_values = as_anova(list(Df = c(1, 2, 40), `Sum Sq` = c(0.000123456, 12.5, 1024.75),
                              `Mean Sq` = c(0.000123456, 6.25, 25.61875)),
                         c("x", "g", "Residuals"), "Analysis of Variance Table"),
  zero_rows = as_anova(list(`Sum Sq` = numeric(0), `Mean Sq` = numeric(0), NumDF = numeric(0),
                            DenDF = numeric(0), `F value` = numeric(0), `Pr(>F)` = numeric(0)),
                       character(0), "Type III Analysis of Variance Table with Satterthwaite's method"),
  wide = as_anova(list(`Sum of squares of the first kind` = c(1.5, 2.25),
                       `Mean square of the first kind` = c(1.5, 1.125),
                       `Numerator degrees of freedom` = c(1, 2), DenDF = c(10, 10),
                       `F value` = c(2.5, 1.875), `Pr(>F)` = c(0.1449, 0.2038)),
                  c("first", "second"), "A table wider than the console")
)

out <- lapply(names(cases), function(id) {
  x <- cases[[id]]
  list(id = id, heading = attr(x, "heading"), rownames = rownames(x), columns = names(x),
       values = lapply(as.list(x), function(v) ifelse(is.na(v), "NA", format(v, digits = 17))),
       printed = paste(capture.output(print(x)), collapse = "\n"))
})
writeLines(toJSON(list(provenance = paste("make_anova_print_reference.R,", R.version.string),
                       cases = out), auto_unbox = TRUE, pretty = TRUE, digits = NA),
           "anova_print.json")
