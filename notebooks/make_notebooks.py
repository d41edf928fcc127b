"""Writes the notebooks of this folder (committed without outputs). Run: python make_notebooks.py"""
import nbformat as nbf


def notebook(cells):
    nb = nbf.v4.new_notebook()
    nb.cells = [nbf.v4.new_markdown_cell(c[3:]) if c.startswith("md:") else nbf.v4.new_code_cell(c)
                for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


SETUP = """import os, time, warnings
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import mixedjax as mj

SMALL = bool(os.environ.get("MIXEDJAX_NOTEBOOK_SMALL"))  # CI runs these notebooks small
DATA = os.path.join("..", "tests", "reference", "data")"""

sleepstudy = notebook([
    "md:# sleepstudy with mixedjax\n\nlme4's classic example: reaction times over 10 days of sleep "
    "deprivation, a random intercept and slope per subject.",
    SETUP,
    """sleepstudy = pd.read_csv(os.path.join(DATA, "sleepstudy.csv"))
sleepstudy["Subject"] = sleepstudy["Subject"].astype(str)
fig, ax = plt.subplots(figsize=(7, 4))
for subject, rows in sleepstudy.groupby("Subject"):
    ax.plot(rows.Days, rows.Reaction, color="grey", alpha=0.5)
ax.set(xlabel="Days of sleep deprivation", ylabel="Reaction time (ms)")""",
    """fit = mj.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
print(fit.summary())""",
    "md:Estimates with lme4's names, the random effects and their conditional SDs:",
    """display(fit.fixef, fit.theta, fit.varcorr)
fit.ranef_frames(condvar=True)["Subject"].head()""",
    "md:Predictions: with the subject's effects, for the population (`re_form='~0'`), and for a new subject.",
    """new = pd.DataFrame({"Days": [0.0, 9.0, 0.0, 9.0], "Subject": ["308", "308", "new", "new"]})
pd.DataFrame({"subject": fit.predict(new, allow_new_levels=True),
              "population": fit.predict(new, re_form="~0")}, index=new.Subject + "/" + new.Days.astype(str))""",
    "md:Residuals against fitted values, and a caterpillar plot of the random slopes:",
    """fig, axes = plt.subplots(1, 2, figsize=(10, 4))
axes[0].scatter(fit.fitted, fit.residuals("pearson", scaled=True), s=10)
axes[0].axhline(0, color="k", lw=0.5); axes[0].set(xlabel="fitted", ylabel="scaled residual")
re = fit.ranef_frames(condvar=True)["Subject"].sort_values("Days")
axes[1].errorbar(re["Days"], range(len(re)), xerr=1.96 * re["Days_sd"], fmt="o")
axes[1].set_yticks(range(len(re)), re.index); axes[1].set(xlabel="random slope (Days)")""",
    "md:Intervals: Wald for the fixed effects, and a parametric bootstrap (all refits in one batch).",
    """display(fit.confint())
start = time.perf_counter()
ci = fit.confint(method="boot", nsim=100 if SMALL else 1000, seed=1)
print(f"bootstrap: {time.perf_counter() - start:.1f} s")
ci""",
    "md:The profiled REML criterion is a JAX function of theta: differentiate it.",
    """import jax
devfun = fit.deviance_function()
theta = jax.numpy.asarray(fit.theta_values)
print(devfun(theta), jax.grad(devfun)(theta))""",
])

power = notebook([
    "md:# Simulation study and power curve\n\nHow many subjects does a study need to detect a "
    "slope of 0.5 with a random intercept (theta = 0.8, sigma = 2)? Every dataset is simulated and "
    "refitted inside compiled, vmapped batches.",
    SETUP,
    """def design(n_groups, per_group=8):
    return pd.DataFrame({"g": np.repeat([f"s{i}" for i in range(n_groups)], per_group),
                         "x": np.tile(np.linspace(-1, 1, per_group), n_groups)})

beta, theta, sigma = {"(Intercept)": 1.0, "x": 0.5}, [0.8], 2.0
nsim = 200 if SMALL else 2000""",
    """start = time.perf_counter()
table = mj.power("y ~ x + (1 | g)", design(20), beta, theta, sigma, nsim=nsim, seed=1)
print(f"{nsim} fits in {time.perf_counter() - start:.1f} s (compile included)")
table""",
    """sizes = [6, 10, 16, 24] if SMALL else [6, 10, 16, 24, 32, 48]
start = time.perf_counter()
curve = mj.power_curve("y ~ x + (1 | g)", design, sizes, beta, theta, sigma, nsim=nsim, seed=2)
print(f"{len(sizes) * nsim} fits in {time.perf_counter() - start:.1f} s")
slope = curve[curve.term == "x"]
slope""",
    """fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(slope["size"], slope["power"], "o-")
ax.axhline(0.8, color="grey", ls="--")
ax.set(xlabel="number of groups (8 observations each)", ylabel="power (Wald z, alpha = 0.05)",
       ylim=(0, 1.02), title="Power to detect a slope of 0.5")""",
    "md:A parametric bootstrap of a fitted GLMM (cbpp, binomial), as lme4's `bootMer`:",
    """cbpp = pd.read_csv(os.path.join(DATA, "cbpp.csv")).astype({"herd": str, "period": str})
gfit = mj.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
start = time.perf_counter()
boot = gfit.bootstrap(100 if SMALL else 1000, seed=3)
print(f"bootstrap: {time.perf_counter() - start:.1f} s")
boot.summary()""",
])

nbf.write(sleepstudy, "sleepstudy.ipynb")
nbf.write(power, "power_and_bootstrap.ipynb")
