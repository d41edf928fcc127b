## R's GLM family functions at fixed points, for tests/test_families.py.
## Rerun from the repository root: Rscript tests/make_family_reference.R (R 4.2.2; MASS for the
## negative binomial) -> tests/reference_families.json. For each family and link: linkfun(mu),
## linkinv(eta), mu.eta(eta), variance(mu), dev.resids(y, mu, wt) and aic(y, n, mu, wt, dev) with
## dev = sum(dev.resids) (for binomial, y is a proportion of n = wt trials, as glmer's cbind
## response gives).
suppressPackageStartupMessages({ library(jsonlite); library(MASS) })
families <- list(
  list("binomial", c("logit", "probit", "cloglog", "cauchit", "log")),
  list("poisson", c("log", "identity", "sqrt")),
  list("Gamma", c("inverse", "log", "identity")),
  list("inverse.gaussian", c("1/mu^2", "log", "inverse", "identity")),
  list("gaussian", c("identity", "log", "inverse"))
)
eta_for <- function(link) switch(link,
  logit = c(-3, -0.5, 0, 0.7, 2.5), probit = c(-2, -0.5, 0, 0.7, 1.5), cloglog = c(-3, -1, 0, 0.5, 1),
  cauchit = c(-3, -0.5, 0, 0.7, 2.5), log = c(-2, -0.7, -0.3, 0.2, 1.1),
  identity = c(0.1, 0.3, 0.5, 1.2, 2.5), sqrt = c(0.4, 0.8, 1, 1.3, 2), inverse = c(0.5, 0.8, 1, 2, 4),
  "1/mu^2" = c(0.3, 0.6, 1, 2, 5))
out <- list()
for (f in families) for (link in f[[2]]) {
  fam <- get(f[[1]])(link = link)
  eta <- eta_for(link)
  if (f[[1]] == "binomial" && link == "log") eta <- c(-3, -1.5, -0.7, -0.3, -0.05)
  mu <- fam$linkinv(eta)
  wt <- c(1, 2, 5, 3, 10)
  y <- switch(f[[1]], binomial = c(0, 1, 2, 1, 7) / wt, poisson = c(0, 1, 3, 2, 6),
              c(0.3, 1.1, 0.7, 2.4, 1.6))
  dev <- fam$dev.resids(y, mu, wt)
  out[[length(out) + 1]] <- list(family = f[[1]], link = link, eta = I(eta), mu = I(mu),
    linkfun = I(fam$linkfun(mu)), mu_eta = I(fam$mu.eta(eta)), variance = I(fam$variance(mu)),
    y = I(y), weights = I(wt), dev_resids = I(dev), aic = fam$aic(y, wt, mu, wt, sum(dev)))
}
for (theta in c(0.7, 3.5)) {  # MASS's negative.binomial(theta), log link
  fam <- negative.binomial(theta)
  eta <- c(-2, -0.7, -0.3, 0.2, 1.1); mu <- fam$linkinv(eta); wt <- c(1, 1, 2, 1, 3)
  y <- c(0, 1, 3, 2, 6); dev <- fam$dev.resids(y, mu, wt)
  out[[length(out) + 1]] <- list(family = "negative.binomial", link = "log", theta = theta,
    eta = I(eta), mu = I(mu), linkfun = I(fam$linkfun(mu)), mu_eta = I(fam$mu.eta(eta)),
    variance = I(fam$variance(mu)), y = I(y), weights = I(wt), dev_resids = I(dev),
    aic = fam$aic(y, wt, mu, wt, sum(dev)))
}
write_json(out, file.path("tests", "reference_families.json"), digits = NA, auto_unbox = TRUE)
cat(length(out), "family/link cases\n")
