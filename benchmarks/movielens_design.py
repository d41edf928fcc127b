"""A seeded, MovieLens-shaped crossed design: ratings of items by users (the scale issue).

MovieLens 1M has 6,040 users, 3,706 items and 1,000,209 ratings (1 to 5 stars); every user rated
at least 20 items, user activity is heavy-tailed (a median of 96 ratings, a maximum over 2,300) and
item popularity is skewed (a few items have thousands of ratings, many a handful). This draws a
design with those features, at any size:

- each user's number of ratings: 20 plus a log-normal share of the rest (at most 62% of the
  items, as ML-1M's most active user), adding up to the requested total;
- the items a user rates: distinct, drawn with probability proportional to a Zipf-like
  popularity (item k's weight (k + 10)^-1.1, items in random order);
- ratings: round(3.6 + user effect (sd 0.45) + item effect (sd 0.5) + noise (sd 0.9)) clipped to
  1..5, so ``y ~ 1 + (1 | user) + (1 | item)`` has two clear variance components.

    python benchmarks/movielens_design.py --rows 1000209 --out ml1m.csv   # users 6,040, items 3,706
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

ML1M_ROWS, ML1M_USERS, ML1M_ITEMS = 1_000_209, 6_040, 3_706


def _counts(rng, rows: int, users: int, cap: int) -> np.ndarray:
    """Ratings per user: 20 each, the rest shared in log-normal proportions (none above ``cap``),
    rounded so that they add up to ``rows`` exactly."""
    share = rng.lognormal(mean=0.0, sigma=1.0, size=users)
    counts = np.full(users, 20.0)
    for _ in range(50):  # users at the cap give their excess to the others
        free = counts < cap
        counts[free] += share[free] / share[free].sum() * (rows - counts.sum())
        counts = np.minimum(counts, cap)
        if counts.sum() >= rows - 1e-6 or not free.any():
            break
    whole = np.floor(counts).astype(int)
    order = np.argsort(whole - counts)  # largest fractional parts first
    whole[order[:rows - whole.sum()]] += 1
    return whole


def movielens_like(rows: int = ML1M_ROWS, items: int = ML1M_ITEMS, seed: int = 20181) -> pd.DataFrame:
    """``rows`` ratings by ML-1M's ratio of users to rows (at least 20 per user)."""
    rng = np.random.default_rng(seed)
    users = max(2, round(ML1M_USERS * rows / ML1M_ROWS))
    counts = _counts(rng, rows, users, cap=max(20, int(0.62 * items)))  # ML-1M's top user: 62%
    popularity = (np.arange(items) + 10.0) ** -1.1
    popularity = rng.permutation(popularity / popularity.sum())
    # distinct items per user with probability ~ popularity: the smallest keys of Exp(1) / p
    # (the exponential-races form of sampling without replacement), for all users at once
    user_of = np.repeat(np.arange(users), counts)
    item_of = np.empty(user_of.size, dtype=np.int64)
    start = 0
    for count in counts:
        keys = rng.exponential(size=items) / popularity
        item_of[start:start + count] = np.argpartition(keys, count - 1)[:count]
        start += count
    user_effect = rng.normal(0.0, 0.45, users)
    item_effect = rng.normal(0.0, 0.5, items)
    stars = np.rint(3.6 + user_effect[user_of] + item_effect[item_of] + rng.normal(0.0, 0.9, user_of.size))
    return pd.DataFrame({"y": np.clip(stars, 1, 5),
                         "user": pd.Categorical.from_codes(user_of, [f"u{i}" for i in range(users)]),
                         "item": pd.Categorical.from_codes(item_of, [f"i{i}" for i in range(items)])})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ML1M_ROWS)
    parser.add_argument("--items", type=int, default=ML1M_ITEMS)
    parser.add_argument("--seed", type=int, default=20181)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    data = movielens_like(args.rows, args.items, args.seed)
    data.to_csv(args.out, index=False)
    print(f"{len(data)} ratings, {data.user.nunique()} users, {data.item.nunique()} items -> {args.out}")


if __name__ == "__main__":
    main()
