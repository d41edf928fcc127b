# lme4's fit of a MovieLens-shaped design (bench_scale.py's stored LME4_MOVIELENS figures):
#   Rscript benchmarks/movielens_lme4.R ratings.csv   (the CSV of movielens_design.py --out)
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(TRUE)
d <- read.csv(args[1], stringsAsFactors = TRUE)
t <- system.time(fit <- lmer(y ~ 1 + (1 | user) + (1 | item), data = d, REML = TRUE))
cat(sprintf("time_s %.2f\ncpu_s %.2f\nREMLcrit %.10f\n", t[["elapsed"]],
            t[["user.self"]] + t[["sys.self"]], REMLcrit(fit)))
cat("theta", format(getME(fit, "theta"), digits = 15), "\n")
cat("beta", format(fixef(fit), digits = 15), "\n")
cat("sigma", format(sigma(fit), digits = 15), "\n")
cat("feval", fit@optinfo$feval, "\n")
cat("lme4", format(packageVersion("lme4")), "\n")
