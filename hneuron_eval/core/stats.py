"""Intervals, written once: percentile bootstrap (scipy.stats.bootstrap), Wilson, and the AUROC with its CI.

Identification's report, the detector's lm-eval metrics, the leaderboard and judge-check all call
these, so the same data always gets the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

N_BOOT = 2000  # resamples of every bootstrap unless a caller says otherwise
SEED = 0  # of every bootstrap: tables are reproducible byte for byte


def bootstrap_ci(samples: Sequence[np.ndarray], statistic: Callable[..., float], n_boot: int = N_BOOT,
                 paired: bool = False, seed: int = SEED) -> tuple[float, float]:
    """95% percentile-bootstrap CI of ``statistic(*samples)``; each sample is resampled on its own unless ``paired``."""
    from scipy.stats import bootstrap

    res = bootstrap(tuple(samples), statistic, paired=paired, vectorized=False, n_resamples=n_boot,
                    method="percentile", random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def wilson_ci(hits: int, n: int) -> tuple[float, float]:
    """Wilson 95% interval of the proportion ``hits / n`` (NaN without data)."""
    from scipy.stats import binomtest

    if not n:
        return math.nan, math.nan
    ci = binomtest(int(hits), int(n)).proportion_ci(method="wilson")
    return float(ci.low), float(ci.high)


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties half: the AUROC (Mann-Whitney U / (n+ n-))."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(positive, negative).statistic / (len(positive) * len(negative)))


def auroc_ci(positive: np.ndarray, negative: np.ndarray, n_boot: int = N_BOOT,
             seed: int = SEED) -> tuple[float, float]:
    """95% bootstrap CI of the AUROC, resampling positives and negatives separately (so both stay present)."""
    if len(positive) < 2 or len(negative) < 2:
        return math.nan, math.nan
    return bootstrap_ci((np.asarray(positive), np.asarray(negative)), auroc, n_boot, seed=seed)


def auroc_difference_ci(positive: np.ndarray, negative: np.ndarray, n_boot: int = N_BOOT,
                        seed: int = SEED) -> tuple[float, float, float]:
    """AUROC of score column 0 minus column 1 on the same answers ((n, 2) arrays), with its paired 95% CI.

    Positives and negatives are resampled separately; a resampled answer keeps both its scores.
    """
    if len(positive) < 2 or len(negative) < 2:
        return math.nan, math.nan, math.nan

    def diff(p_idx: np.ndarray, n_idx: np.ndarray) -> float:
        p, n = positive[p_idx.astype(int)], negative[n_idx.astype(int)]
        return auroc(p[:, 0], n[:, 0]) - auroc(p[:, 1], n[:, 1])

    idx = (np.arange(len(positive)), np.arange(len(negative)))
    return (diff(*idx), *bootstrap_ci(idx, diff, n_boot, seed=seed))
