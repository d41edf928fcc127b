"""Fit lme4's sleepstudy example and print its summary (the README's first command)."""
import mixedjax

sleepstudy = mixedjax.datasets.load("sleepstudy")

fit = mixedjax.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
print(fit.summary())
