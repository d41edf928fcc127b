# What lme4 does with the bad inputs of issue 11 (items 5 and 6), beside the choices that
# tests/test_bad_input.py and tests/test_arguments.py make (mixedjax raises where lme4 stops, and
# also where lme4 silently reinterprets: REML="FALSE", nAGQ=2.5, Days ~ Days). Tests never run R.
# Run: Rscript tests/lme4_bad_input.R. Output recorded with R version 4.2.2 Patched (2022-11-10 r83330), lme4 1.1.31, 2026-12-01:
#   == REML='FALSE' 
#     fit: sigma 30.89543 REML FALSE theta 1.165612 fixef 251.4051 10.46729 
#   == REML=NULL 
#     error: argument is of length zero 
#   == REML=NA 
#     error: missing value where TRUE/FALSE needed 
#   == inf weight 
#     error: objective in x0 returns NA 
#   == NA weight 
#     fit: sigma 30.57741 REML TRUE theta 1.199339 fixef 251.0922 10.44121 
#   == zero weights 
#     error: Downdated VtV is not positive definite 
#   == nAGQ=2.5 
#     nAGQ used 2 132.5952 
#     fit: sigma 1 REML FALSE theta 1.733239 fixef -3.19181 0.5848308 
#   == nAGQ=2 
#     nAGQ2 dev 132.5952 
#     fit: sigma 1 REML FALSE theta 1.733239 fixef -3.19181 0.5848308 
#   == trailing + 
#     error: <text>:2:0: unexpected end of input
#   1: Reaction ~ Days + (1|Subject) +
#      ^ 
#   == Days ~ Days 
#     warning: the response appeared on the right-hand side and was dropped 
#     warning: problem with term 1 in model.matrix: no columns are assigned 
#   boundary (singular) fit: see help('isSingular')
#     fit: sigma 2.880293 REML TRUE theta 0 fixef 4.5 
#   == y*1e200 
#     fit: sigma Inf REML TRUE theta 1 fixef 2.514051e+202 1.046729e+201 
#   == simulate(-1) 
#     error: (nsim <- as.integer(nsim[1])) > 0 is not TRUE 
#   == simulate(0) 
#     error: error in evaluating the argument 'x' in selecting a method for function 'print': (nsim <- as.integer(nsim[1])) > 0 is not TRUE 
#   == bootMer(0) 
#     error: error in evaluating the argument 'x' in selecting a method for function 'print': (nsim <- as.integer(nsim[1])) > 0 is not TRUE 
#   == start wrong length 
#     error: incorrect number of theta components (!=1) 
#   == start nan 
#     error: x0 contains NA 
#   == refit short 
#     error: replacement has 100 rows, data has 180 
#   == refit NA 
#     error: NA/NaN/Inf in 'y' 
#   == (1|Subject/) 
#     error: <text>:1:30: unexpected ')'
#   1: Reaction ~ Days + (1|Subject/)
#                                    ^ 
#   == ~ . 
#     fit: sigma 23.58587 REML TRUE theta 0.5554263 fixef 283.2347 5.978559 -94.9052 -79.13691 -33.5798 -27.36517 -34.83176 -20.64291 -36.16656 -60.06814 17.58936 -50.30154 -23.19854 -41.37086 -15.37751 -30.76658 -39.76684 -31.15197 -24.2477 53.32608 
#   == dotted 
#     fit: sigma 25.5918 REML TRUE theta 0.9667418 0.01516906 0.23091 fixef 251.4051 10.46729 
#   == backtick dotted 
#     fit: sigma 30.99123 REML TRUE theta 1.197882 fixef 251.4051 10.46729 

suppressMessages(library(lme4))
ss <- sleepstudy
try1 <- function(label, expr) { cat("==", label, "\n"); r <- tryCatch(withCallingHandlers(expr, warning=function(w){cat("  warning:", conditionMessage(w), "\n"); invokeRestart("muffleWarning")}), error=function(e) {cat("  error:", conditionMessage(e), "\n"); NULL}); if (!is.null(r) && inherits(r, "merMod")) cat("  fit: sigma", sigma(r), "REML", isREML(r), "theta", getME(r,"theta"), "fixef", fixef(r), "\n") }
try1("REML='FALSE'", lmer(Reaction ~ Days + (1|Subject), ss, REML="FALSE"))
try1("REML=NULL", lmer(Reaction ~ Days + (1|Subject), ss, REML=NULL))
try1("REML=NA", lmer(Reaction ~ Days + (1|Subject), ss, REML=NA))
w <- rep(1, 180); w[6] <- Inf
try1("inf weight", lmer(Reaction ~ Days + (1|Subject), ss, weights=w))
w <- rep(1, 180); w[6] <- NA
try1("NA weight", lmer(Reaction ~ Days + (1|Subject), ss, weights=w))
try1("zero weights", lmer(Reaction ~ Days + (1|Subject), ss, weights=rep(0,180)))
ss$yb <- as.numeric(ss$Reaction > 300)
try1("nAGQ=2.5", {f <- glmer(yb ~ Days + (1|Subject), ss, family=binomial, nAGQ=2.5); cat("  nAGQ used", f@devcomp$dims["nAGQ"], deviance(f), "\n"); f})
try1("nAGQ=2", {f <- glmer(yb ~ Days + (1|Subject), ss, family=binomial, nAGQ=2); cat("  nAGQ2 dev", deviance(f), "\n"); f})
try1("trailing +", lmer(as.formula("Reaction ~ Days + (1|Subject) +"), ss))
try1("Days ~ Days", lmer(Days ~ Days + (1|Subject), ss))
big <- ss; big$Reaction <- big$Reaction * 1e200
try1("y*1e200", lmer(Reaction ~ Days + (1|Subject), big))
fit <- lmer(Reaction ~ Days + (1|Subject), ss)
try1("simulate(-1)", simulate(fit, -1))
try1("simulate(0)", print(dim(simulate(fit, 0))))
try1("bootMer(0)", print(bootMer(fit, fixef, nsim=0)))
try1("start wrong length", lmer(Reaction ~ Days + (1|Subject), ss, start=c(1,0,1)))
try1("start nan", lmer(Reaction ~ Days + (Days|Subject), ss, start=c(NaN,0,1)))
try1("refit short", refit(fit, ss$Reaction[1:100]))
y <- ss$Reaction; y[4] <- NA
try1("refit NA", refit(fit, y))
try1("(1|Subject/)", lmer(as.formula("Reaction ~ Days + (1|Subject/)"), ss))
try1("~ .", lmer(Reaction ~ . + (1|Subject), ss))
dd <- ss; names(dd)[2] <- "a.b"
try1("dotted", lmer(Reaction ~ a.b + (a.b|Subject), dd))
try1("backtick dotted", lmer(Reaction ~ `a.b` + (1|Subject), dd))
