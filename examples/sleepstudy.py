"""Fit lme4's sleepstudy example and print its summary (the README's first command)."""
import os

import pandas as pd

import mixedjax

HERE = os.path.dirname(os.path.abspath(__file__))
sleepstudy = pd.read_csv(os.path.join(HERE, "..", "tests", "reference", "data", "sleepstudy.csv"))
sleepstudy["Subject"] = sleepstudy["Subject"].astype(str)

fit = mixedjax.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
print(fit.summary())
