## lme4 references for glmer's observation-level random effects and mustart= / etastart=
## (tests/test_glmm_batch.py). Run in this folder: Rscript make_reference_glmm.R
## Writes grouseticks_olre.csv (lme4's grouseticks, INDEX = one level per row, cHEIGHT = centred
## HEIGHT), gaussian_log_zeros.csv (simulated, seed 2024, responses with zeros) and fits.json.
suppressPackageStartupMessages(library(lme4))
options(digits = 15)

summarise <- function(fit) {
  list(deviance = unname(deviance(fit)), loglik = as.numeric(logLik(fit)),
       fixef = as.list(fixef(fit)), theta = as.list(getME(fit, "theta")),
       sigma = sigma(fit), se = as.list(sqrt(diag(as.matrix(vcov(fit))))),
       ngrps = as.list(ngrps(fit)), nobs = nobs(fit),
       conv_messages = as.list(fit@optinfo$conv$lme4$messages),
       lme4_version = as.character(packageVersion("lme4")), R_version = R.version.string)
}

data(grouseticks, package = "lme4")
gt <- grouseticks
gt$cHEIGHT <- gt$HEIGHT - mean(gt$HEIGHT)
gt <- gt[, c("INDEX", "TICKS", "BROOD", "YEAR", "LOCATION", "cHEIGHT")]
write.csv(gt, "grouseticks_olre.csv", row.names = FALSE)
gt <- read.csv("grouseticks_olre.csv")
for (f in c("INDEX", "BROOD", "YEAR", "LOCATION")) gt[[f]] <- factor(gt[[f]])
olre <- glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION),
              data = gt, family = poisson)

set.seed(2024)
ng <- 12; nper <- 10
d <- data.frame(g = sprintf("g%02d", rep(1:ng, each = nper)), x = round(runif(ng * nper), 4))
b <- rnorm(ng, sd = 0.4)
d$y <- round(pmax(0, exp(0.3 + 1.2 * d$x + b[rep(1:ng, each = nper)]) + rnorm(ng * nper, sd = 0.8)), 3)
write.csv(d, "gaussian_log_zeros.csv", row.names = FALSE)
d <- read.csv("gaussian_log_zeros.csv")
d$g <- factor(d$g)
d$start <- pmax(d$y, 0.1)
no_start <- tryCatch(glmer(y ~ x + (1 | g), data = d, family = gaussian(link = "log")),
                     error = function(e) conditionMessage(e))
with_mustart <- glmer(y ~ x + (1 | g), data = d, family = gaussian(link = "log"), mustart = start)
with_etastart <- glmer(y ~ x + (1 | g), data = d, family = gaussian(link = "log"),
                       etastart = log(start))
## lme4's defaults stop short here (max|grad| = 0.017; its PIRLS tolerance 1e-7 leaves its
## reported -2 logLik 1e-3 below the Laplace value at its own estimates): refitted with tight
## tolerances, as ../../shared/reference/make_tight.R does, it reaches the optimum we compare with
tight <- glmerControl(tolPwrss = 1e-12, optCtrl = list(rhoend = 1e-12))
mustart_tight <- glmer(y ~ x + (1 | g), data = d, family = gaussian(link = "log"), mustart = start,
                       control = tight)
etastart_tight <- glmer(y ~ x + (1 | g), data = d, family = gaussian(link = "log"),
                        etastart = log(start), control = tight)

out <- list(
  grouseticks_olre = c(list(call = "glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION), data = grouseticks, family = poisson)"),
                       summarise(olre)),
  gaussian_log_zeros_no_start = list(error = no_start),
  gaussian_log_zeros_mustart = c(list(call = "glmer(y ~ x + (1 | g), family = gaussian(link = 'log'), mustart = pmax(y, 0.1))"),
                                 summarise(with_mustart)),
  gaussian_log_zeros_etastart = c(list(call = "glmer(y ~ x + (1 | g), family = gaussian(link = 'log'), etastart = log(pmax(y, 0.1)))"),
                                  summarise(with_etastart)),
  gaussian_log_zeros_mustart_tight = c(list(call = "glmer(y ~ x + (1 | g), family = gaussian(link = 'log'), mustart = pmax(y, 0.1), control = glmerControl(tolPwrss = 1e-12, optCtrl = list(rhoend = 1e-12)))"),
                                       summarise(mustart_tight)),
  gaussian_log_zeros_etastart_tight = c(list(call = "glmer(y ~ x + (1 | g), family = gaussian(link = 'log'), etastart = log(pmax(y, 0.1)), control = glmerControl(tolPwrss = 1e-12, optCtrl = list(rhoend = 1e-12)))"),
                                        summarise(etastart_tight)))
jsonlite::write_json(out, "fits.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
