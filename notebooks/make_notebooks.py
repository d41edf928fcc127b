"""Writes the notebooks of this folder (committed without outputs). Run: python make_notebooks.py"""
import nbformat as nbf


def notebook(cells):
    nb = nbf.v4.new_notebook()
    nb.cells = [nbf.v4.new_markdown_cell(c[3:]) if c.startswith("md:") else nbf.v4.new_code_cell(c)
                for c in cells]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"  # stable ids: regenerating leaves unchanged notebooks unchanged
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


SETUP = """import os, time, warnings
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import mixedjax as mj

SMALL = bool(os.environ.get("MIXEDJAX_NOTEBOOK_SMALL"))  # CI runs these notebooks small"""

sleepstudy = notebook([
    "md:# sleepstudy with mixedjax\n\nlme4's classic example: reaction times over 10 days of sleep "
    "deprivation, a random intercept and slope per subject.",
    SETUP,
    """sleepstudy = mj.datasets.load("sleepstudy")  # lme4's data, with R's factor levels
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
new.assign(subject=fit.predict(new, allow_new_levels=True),  # Series on new's index
           population=fit.predict(new, re_form="~0"))""",
    "md:Diagnostics (`mixedjax.plots`): residuals against fitted values (lme4's `plot(fit)`) and "
    "normal QQ plots of the residuals and of the random effects.",
    """fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
fit.plot(ax=axes[0])
mj.plots.qq_residuals(fit, ax=axes[1])
mj.plots.qq_ranef(fit, term="Subject", ax=axes[2:])
fig.tight_layout()""",
    "md:The random effects per subject with 95% intervals from their conditional variances "
    "(lme4's `dotplot(ranef(fit, condVar = TRUE))`):",
    """fit.plot_ranef("Subject");""",
    "md:Intervals: Wald for the fixed effects, and a parametric bootstrap (all refits in one batch).",
    """display(fit.confint(method="Wald"))
start = time.perf_counter()
boot = fit.bootstrap(100 if SMALL else 1000, seed=1)
print(f"bootstrap: {time.perf_counter() - start:.1f} s")
display(fit.confint(method="boot", nsim=100 if SMALL else 1000, seed=1))
boot.plot();""",
    "md:Likelihood-profile intervals (lme4's default `confint`) and the profile zeta plots: a "
    "straight line means the Wald approximation is good for that parameter.",
    """display(fit.confint(method="profile"))
mj.plots.plot_profile(fit.profile());""",
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
nsim = 100 if SMALL else 2000""",
    """start = time.perf_counter()
table = mj.power("y ~ x + (1 | g)", design(20), beta, theta, sigma, nsim=nsim, seed=1)
print(f"{nsim} fits in {time.perf_counter() - start:.1f} s (compile included)")
table""",
    "md:**Batch speed.** The same design refitted to many simulated responses: one compiled, "
    "vmapped call against a Python loop of single refits (both compiled before timing).",
    """data = design(20).assign(y=mj.simulate_formula("y ~ x + (1 | g)", design(20), beta, theta, sigma, seed=4)[:, 0])
fit = mj.lmer("y ~ x + (1 | g)", data)
fit.refit_batch(fit.simulate(nsim, seed=6)); fit.refit(fit.simulate(1, seed=6))  # compile both (one shape each)
Y = fit.simulate(nsim, seed=5)
start = time.perf_counter(); batch = fit.refit_batch(Y); batch_seconds = time.perf_counter() - start
loop_n = 20
start = time.perf_counter()
for j in range(loop_n):
    fit.refit(Y[f"sim_{j + 1}"])  # simulate gives a DataFrame: sim_1, sim_2, ...
loop_seconds = (time.perf_counter() - start) / loop_n * nsim
print(f"batch: {nsim / batch_seconds:,.0f} fits per second; loop of single refits: "
      f"{nsim / loop_seconds:,.0f} fits per second ({loop_seconds / batch_seconds:.0f}x)")
batch.to_frame().head()""",
    """sizes = [6, 12, 24] if SMALL else [6, 10, 16, 24, 32, 48]  # one compile per size
start = time.perf_counter()
curve = mj.power_curve("y ~ x + (1 | g)", design, sizes, beta, theta, sigma, nsim=nsim, seed=2)
print(f"{len(sizes) * nsim} fits in {time.perf_counter() - start:.1f} s")
curve[curve.term == "x"]""",
    """ax = mj.plots.plot_power_curve(curve)
ax.set(xlabel="number of groups (8 observations each)", title="Power to detect a slope of 0.5");""",
    "md:A parametric bootstrap of a fitted GLMM (cbpp, binomial), as lme4's `bootMer`:",
    """cbpp = mj.datasets.load("cbpp")
gfit = mj.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
start = time.perf_counter()
boot = gfit.bootstrap(100 if SMALL else 1000, seed=3)
print(f"bootstrap: {time.perf_counter() - start:.1f} s")
boot.summary()""",
    """boot.plot(bins=20);""",
])


def chapter_notebook(title, intro, simulate, plot, fit, compare, recover):
    """One worked example of the lme4 chapter: simulate, plot, fit, compare, recover b."""
    return notebook([
        f"md:# {title}\n\n{intro}",
        SETUP,
        "md:## Simulate the data\n\nThe chapter simulates in R; this is the same design in numpy, "
        "seeded (the draws differ from R's, so the estimates differ from the chapter's in the "
        "last digits, not in what they show).",
        simulate,
        "md:## Plot the data",
        plot,
        "md:## Fit the model and read the summary",
        fit,
        "md:## Estimated against true parameters",
        *([compare] if isinstance(compare, str) else compare),
        "md:## Recover the random effects\n\nThe conditional modes (lme4's `ranef`) against the "
        "simulated effects; the caterpillar plot shows 95% intervals from the conditional "
        "variances, with the true values as crosses.",
        recover,
    ])


RECOVER = """estimated = fit.ranef["grupo"]
true = pd.DataFrame(true_effects, index=estimated.index, columns=estimated.columns)
display(pd.concat({"estimated": estimated, "true": true}, axis=1))
axes = np.atleast_1d(fit.plot_ranef("grupo"))
for ax, column in zip(axes, estimated.columns):
    order = estimated.sort_values(estimated.columns[0]).index
    ax.scatter(true.loc[order, column], range(len(order)), marker="x", color="C3", zorder=3)
fig, axes = plt.subplots(1, len(estimated.columns), figsize=(4.5 * len(estimated.columns), 4), squeeze=False)
for ax, column in zip(axes[0], estimated.columns):
    ax.scatter(true[column], estimated[column])
    ax.axline((0, 0), slope=1, color="grey", lw=1)
    ax.set(xlabel=f"true {column}", ylabel=f"estimated {column}")"""

SCATTER_BY_GROUP = """fig, ax = plt.subplots(figsize=(7, 4))
for group, rows in datos.groupby("grupo", observed=True):
    ax.scatter(rows.x, rows.y, s=10, label=group)
ax.set(xlabel="x", ylabel="y{scale}")
ax.legend(title="grupo", ncol=2, fontsize=8)"""

GROUPS = """n_i, G = {n_i}, 10
grupo = pd.Categorical(np.repeat([str(g) for g in range(1, G + 1)], n_i),
                       categories=[str(g) for g in range(1, G + 1)])
index = grupo.codes
rng = np.random.default_rng({seed})
"""

normal = chapter_notebook(
    "lme4 chapter, example 1: normal model with a random intercept",
    "$y_{ij} \\mid b_{0i} \\sim N(4 - 6 x_{ij} + b_{0i}, \\sigma_y^2 = 16)$, "
    "$b_0 \\sim N(0, \\sigma_{b0}^2 = 625)$, $x \\sim U(-5, 6)$; 10 groups of 50 observations.",
    GROUPS.format(n_i=50, seed=1234567) + """x = rng.uniform(-5, 6, size=len(index))
b0 = rng.normal(0, np.sqrt(625), size=G)          # random intercepts
media = 4 - 6 * x + b0[index]
y = rng.normal(media, np.sqrt(16))
datos = pd.DataFrame({"obs": np.tile(np.arange(1, n_i + 1), G), "grupo": grupo, "b0": b0[index],
                      "x": x, "media": media, "y": y})
true_effects = b0[:, None]
datos.head(6)""",
    SCATTER_BY_GROUP.replace("{scale}", ""),
    """fit = mj.lmer("y ~ x + (1 | grupo)", datos)
print(fit.summary())""",
    """varcorr = fit.varcorr.set_index("grp")
pd.DataFrame({"true": [4, -6, 4, 25],
              "estimated": [fit.fixef["(Intercept)"], fit.fixef["x"], fit.sigma,
                            varcorr.loc["grupo", "sdcor"]]},
             index=["beta0", "beta1", "sigma_y", "sigma_b0"])""",
    RECOVER,
)

gamma = chapter_notebook(
    "lme4 chapter, example 2: Gamma GLMM (log link) with a random intercept",
    "$y_{ij} \\mid b_{0i} \\sim \\mathrm{Gamma}(\\mu_{ij}, \\phi = 0.5)$, "
    "$\\log \\mu_{ij} = 2 - 8 x_{ij} + b_{0i}$, $b_0 \\sim N(0, \\sigma_{b0}^2 = 9)$, "
    "$x \\sim U(0, 1)$; 10 groups of 20 observations. In the GLM parametrization the Gamma has "
    "shape $1/\\phi$ and scale $\\mu\\phi$ (variance $\\phi\\mu^2$).",
    GROUPS.format(n_i=20, seed=123456) + """x = rng.uniform(0, 1, size=len(index))
b0 = rng.normal(0, np.sqrt(9), size=G)
media = np.exp(2 - 8 * x + b0[index])
phi = 0.5
y = rng.gamma(shape=1 / phi, scale=media * phi)
datos = pd.DataFrame({"obs": np.tile(np.arange(1, n_i + 1), G), "grupo": grupo, "b0": b0[index],
                      "x": x, "media": media, "y": y})
true_effects = b0[:, None]
datos.head(6)""",
    SCATTER_BY_GROUP.replace("{scale}", " (log scale)") + "\nax.set_yscale('log')",
    """fit = mj.glmer("y ~ x + (1 | grupo)", datos, family=mj.Gamma(link="log"))
print(fit.summary())""",
    ["md:The dispersion $\\phi$ is `fit.sigma ** 2` (the Residual line of the summary). The "
     "random-intercept variance is Var(b) = ΛΛᵀ; lme4 1.1-31, which the chapter used, printed it "
     "multiplied by $\\phi$: `fit.summary(legacy_varcorr=True)` prints it that way.",
     """varcorr = fit.varcorr.set_index("grp")
pd.DataFrame({"true": [2, -8, 0.5, 3],
              "estimated": [fit.fixef["(Intercept)"], fit.fixef["x"], fit.sigma ** 2,
                            varcorr.loc["grupo", "sdcor"]]},
             index=["beta0", "beta1", "phi", "sigma_b0"])"""],
    RECOVER,
)

inverse_gaussian = chapter_notebook(
    "lme4 chapter, example 3: inverse-Gaussian GLMM (log link) with correlated random intercepts and slopes",
    "$y_{ij} \\mid b_i \\sim \\mathrm{IG}(\\mu_{ij}, \\phi = 0.5)$, "
    "$\\log \\mu_{ij} = 2 - 8 x_{ij} + b_{0i} + b_{1i} x_{ij}$, "
    "$(b_0, b_1) \\sim N(0, [[1, 0.5], [0.5, 1]])$, $x \\sim U(0, 1)$; 10 groups of 20 "
    "observations. numpy's `wald(mean, scale)` is the inverse Gaussian with variance "
    "$\\mu^3/\\mathrm{scale}$, so scale $= 1/\\phi$.",
    GROUPS.format(n_i=20, seed=12345) + """x = rng.uniform(0, 1, size=len(index))
Sigma = np.array([[1.0, 0.5], [0.5, 1.0]])
b = rng.multivariate_normal(np.zeros(2), Sigma, size=G)    # (b0, b1) per group
media = np.exp(2 - 8 * x + b[index, 0] + b[index, 1] * x)
phi = 0.5
y = rng.wald(media, 1 / phi)
datos = pd.DataFrame({"obs": np.tile(np.arange(1, n_i + 1), G), "grupo": grupo, "b0": b[index, 0],
                      "b1": b[index, 1], "x": x, "media": media, "y": y})
true_effects = b
datos.head(6)""",
    SCATTER_BY_GROUP.replace("{scale}", " (log scale)") + "\nax.set_yscale('log')",
    """fit = mj.glmer("y ~ x + (1 + x | grupo)", datos, family=mj.inverse_gaussian(link="log"))
print(fit.summary())""",
    ["md:The covariance of the random effects is the `vcov` of the row with both `var1` and "
     "`var2` (its `sdcor` is the correlation).",
     """varcorr = fit.varcorr
row = lambda var1, var2=None: varcorr[(varcorr.grp == "grupo") & (varcorr.var1 == var1)
                                      & (varcorr.var2.isna() if var2 is None else varcorr.var2 == var2)]
pd.DataFrame({"true": [2, -8, 0.5, 1, 1, 0.5],
              "estimated": [fit.fixef["(Intercept)"], fit.fixef["x"], fit.sigma ** 2,
                            row("(Intercept)").vcov.item(), row("x").vcov.item(),
                            row("(Intercept)", "x").vcov.item()]},
             index=["beta0", "beta1", "phi", "var_b0", "var_b1", "cov_b01"])"""],
    RECOVER,
)

nbf.write(sleepstudy, "sleepstudy.ipynb")
nbf.write(power, "power_and_bootstrap.ipynb")
nbf.write(normal, "lme4_chapter_1_normal.ipynb")
nbf.write(gamma, "lme4_chapter_2_gamma.ipynb")
nbf.write(inverse_gaussian, "lme4_chapter_3_inverse_gaussian.ipynb")
