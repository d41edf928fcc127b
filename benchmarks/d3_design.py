"""A seeded design shaped like MixedModels.jl's ``d3`` benchmark data set (the scale issue).

``d3`` (MixedModelsDatasets) is a synthetic data set with 130,418 rows and three crossed grouping
factors, g (4,726 levels), h (172 levels) and i (34 levels), an integer covariate u (0 to 29,
mean 13.66) and an integer response y (-50 to 50, mean 4.94); its benchmark model is
``y ~ 1 + u + (1 + u | g) + (1 + u | h) + (1 + u | i)`` (three 2 x 2 covariance blocks, 9 theta).
It is not available offline, so this draws a design with those dimensions:

- every level of every factor appears at least once; the rest of the rows pick their g uniformly
  (about 28 rows a level) and their h and i with Zipf-like weights (level k's weight
  (k + 5)^-1, levels in random order), independently, so the three factors are crossed and the
  g-by-h and g-by-i blocks are sparse;
- u: uniform integers 0..29;
- y = round(5 + 0.1 u + b_g + b_h + b_i + noise), clipped to -50..50, with per-level intercepts
  and slopes on u drawn from correlated normals (intercept sd 3, 2, 1.5; slope sd 0.15, 0.1,
  0.05; correlation 0.3) and noise sd 8, so the model has variance in every term.

    python benchmarks/d3_design.py --out d3_sim.csv
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

D3_ROWS, D3_LEVELS = 130_418, {"g": 4_726, "h": 172, "i": 34}
# (intercept sd, slope sd) of each factor's effects
EFFECT_SD = {"g": (3.0, 0.15), "h": (2.0, 0.1), "i": (1.5, 0.05)}


def _levels(rng, rows: int, levels: int, skewed: bool) -> np.ndarray:
    """Each of ``levels`` codes once, the rest of the ``rows`` drawn (uniformly or by a Zipf-like
    weight), in random order."""
    weights = np.ones(levels) if not skewed else rng.permutation((np.arange(levels) + 5.0) ** -1.0)
    rest = rng.choice(levels, size=rows - levels, p=weights / weights.sum())
    return rng.permutation(np.concatenate([np.arange(levels), rest]))


def d3_like(rows: int = D3_ROWS, seed: int = 20183) -> pd.DataFrame:
    """``rows`` rows with d3's factor sizes; g, h and i as string-coded categoricals."""
    rng = np.random.default_rng(seed)
    u = rng.integers(0, 30, size=rows)
    y = 5.0 + 0.1 * u + rng.normal(0.0, 8.0, rows)
    columns = {}
    for name, levels in D3_LEVELS.items():
        codes = _levels(rng, rows, levels, skewed=name != "g")
        sd_intercept, sd_slope = EFFECT_SD[name]
        covariance = np.array([[sd_intercept ** 2, 0.3 * sd_intercept * sd_slope],
                               [0.3 * sd_intercept * sd_slope, sd_slope ** 2]])
        effects = rng.multivariate_normal(np.zeros(2), covariance, size=levels)
        y += effects[codes, 0] + effects[codes, 1] * u
        labels = np.array([f"{name}{k + 1}" for k in range(levels)])
        columns[name] = pd.Categorical(labels[codes], categories=labels)
    return pd.DataFrame({**columns, "u": u.astype(np.int64),
                         "y": np.clip(np.round(y), -50, 50).astype(np.int64)})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=D3_ROWS)
    parser.add_argument("--seed", type=int, default=20183)
    parser.add_argument("--out", required=True, help="CSV file to write")
    args = parser.parse_args()
    data = d3_like(args.rows, args.seed)
    data.to_csv(args.out, index=False)
    print(f"{len(data):,} rows, levels "
          + ", ".join(f"{name} {data[name].nunique():,}" for name in D3_LEVELS) + f": {args.out}")


if __name__ == "__main__":
    main()
