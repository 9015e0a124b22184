"""Budget curves: the expected best metric of a GAN after k hyperparameter trials.

"Are GANs Created Equal?" (Lucic et al., NeurIPS 2018) compares GANs under an equal budget by
the distribution of the best score reached with k trials, and Dodge et al. ("Show Your Work",
EMNLP 2019) give it in closed form. With the study's N trial values of a GAN sorted from worst
to best, v_(1) .. v_(N), the best of k trials drawn with replacement is v_(i) with probability
(i/N)^k - ((i-1)/N)^k, so

    E[best of k] = sum_i v_(i) * ((i/N)^k - ((i-1)/N)^k).

The 95% band resamples the N trials with replacement (``reps`` bootstrap studies) and takes
the 2.5% and 97.5% quantiles of the curve: how much the curve itself could move had the study
drawn other trials. A trial's value is its ranked value (the leaderboard's per-trial value:
``best/<metric>``); trials that diverged or never reached a ranked evaluation are left out and
counted (``excluded``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BAND = (2.5, 97.5)  # percentiles of the bootstrap band
REPS = 2000  # bootstrap resamples


def _worst_first(values, mode: str) -> np.ndarray:
    """Values as "higher is better" scores, sorted worst first."""
    v = np.asarray(values, dtype=np.float64)
    return np.sort(v if mode == "max" else -v)


def expected_best(values, k: int, mode: str = "max") -> float:
    """E[best of k trials drawn with replacement from ``values``] (closed form above)."""
    scores = _worst_first(values, mode)
    n = len(scores)
    i = np.arange(1, n + 1)
    weights = (i / n) ** k - ((i - 1) / n) ** k
    best = float(weights @ scores)
    return best if mode == "max" else -best


def budget_curve(values, mode: str = "max", reps: int = REPS, seed: int = 0) -> dict:
    """``{k, mean, lo, hi, n}``: E[best of k] for k = 1..N and its bootstrap band."""
    scores = _worst_first(values, mode)
    n = len(scores)
    ks = np.arange(1, n + 1)
    i = np.arange(1, n + 1)[:, None]
    weights = (i / n) ** ks - ((i - 1) / n) ** ks  # (N, K): column k = weights of E[best of k]
    mean = scores @ weights
    rng = np.random.default_rng(seed)
    resampled = np.sort(scores[rng.integers(0, n, size=(reps, n))], axis=1)
    boot = resampled @ weights
    lo, hi = np.percentile(boot, BAND, axis=0)
    sign = 1.0 if mode == "max" else -1.0
    lo, hi = (lo, hi) if mode == "max" else (hi, lo)
    return {"k": ks.tolist(), "mean": (sign * mean).tolist(), "lo": (sign * lo).tolist(),
            "hi": (sign * hi).tolist(), "n": n}


def budget_curves(rows: list[dict]) -> dict[str, dict]:
    """A budget curve per leaderboard row (GAN) from its ``trial_values``."""
    curves = {}
    for row in rows:
        values = row.get("trial_values") or []
        if values:
            curves[row["gan"]] = {**budget_curve(values, row["mode"]), "excluded": row["trials"] - len(values)}
    return curves


def plot_budget_curves(curves: dict[str, dict], metric: str, path: Path, title: str = "") -> Path:
    """One line per GAN (expected best after k trials) with its shaded 95% bootstrap band."""
    from trainables.plots import new_figure, save_figure

    fig, ax = new_figure(figsize=(6, 3.8))
    for j, (gan, c) in enumerate(sorted(curves.items())):
        ax.plot(c["k"], c["mean"], marker="o", markersize=3, color=f"C{j}", label=f"{gan} (N={c['n']})")
        ax.fill_between(c["k"], c["lo"], c["hi"], color=f"C{j}", alpha=0.15, linewidth=0)
    ax.set_xlabel("trials k")
    ax.set_ylabel(f"expected best {metric}")
    ax.set_title(title or "expected best after k trials (95% bootstrap band)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
