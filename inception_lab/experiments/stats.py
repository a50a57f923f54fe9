"""The ledger's verdict rule: paired differences over seeds, a 95% t-interval, and the interval a
new seed would fall in.

Every configuration of an experiment trains with the same seeds, and one seed draws the same
training images and batch order for all of them, so the runs pair up by seed. The per-seed
differences d_1 .. d_n remove what the seeds share (an easy or hard draw of the data) and
their mean has the t-interval

    mean(d) ± t_{0.975, n-1} * sd(d) / sqrt(n).

A difference is *shown* only when that interval excludes zero: with no true difference this
happens in 5% of experiments (tests/test_experiments.py simulates it). The old rule, "ahead on
every seed", fired in about 10% of experiments with 3 against 3 seeds and no true difference.

A single new run (a learner's live seed) is compared with the *prediction* interval of one more
seed, mean ± t * sd * sqrt(1 + 1/n), not with the min-max of the stored seeds (a range that a
stored seed is inside by construction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["PairedDifference", "paired_difference", "prediction_interval", "t_quantile"]


def _t_cdf(t: float, df: int) -> float:
    """Student's t CDF for df >= 1, from the regularised incomplete beta function."""
    x = df / (df + t * t)
    tail = 0.5 * _betainc(df / 2, 0.5, x)
    return 1.0 - tail if t > 0 else tail


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) by Lentz's continued fraction (Numerical Recipes
    6.4); exact to ~1e-14 for the small a, b used here."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _betainc(b, a, 1.0 - x)
    log_front = a * math.log(x) + b * math.log1p(-x) - math.log(a)
    log_front -= math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * f


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with df degrees of freedom (bisection on the CDF)."""
    if not 0.5 <= p < 1 or df < 1:
        raise ValueError(f"need 0.5 <= p < 1 and df >= 1, got p={p!r}, df={df!r}")
    lo, hi = 0.0, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


@dataclass(frozen=True)
class PairedDifference:
    """a - b over the seeds both have: the mean difference and its 95% t-interval."""

    seeds: tuple[int, ...]
    differences: tuple[float, ...]
    mean: float
    low: float
    high: float

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def shown(self) -> bool:
        """True when the interval excludes zero (needs at least 2 pairs)."""
        return self.n >= 2 and (self.low > 0 or self.high < 0)


def paired_difference(
    a: dict[int, float], b: dict[int, float], level: float = 0.95
) -> PairedDifference:
    """The mean of a[s] - b[s] over the seeds s in both, with its `level` t-interval.

    a, b: seed -> value. With fewer than 2 common seeds the interval is (-inf, inf)."""
    seeds = tuple(sorted(set(a) & set(b)))
    diffs = tuple(a[s] - b[s] for s in seeds)
    n = len(diffs)
    if n == 0:
        raise ValueError(f"no seed in common: {sorted(a)} against {sorted(b)}")
    mean = sum(diffs) / n
    if n < 2:
        return PairedDifference(seeds, diffs, mean, -math.inf, math.inf)
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return PairedDifference(seeds, diffs, mean, mean - half, mean + half)


def prediction_interval(values: list[float], level: float = 0.95) -> tuple[float, float]:
    """Where one more seed's value falls with probability `level` (normal model):
    mean ± t_{n-1} * sd * sqrt(1 + 1/n). Needs at least 2 values."""
    n = len(values)
    if n < 2:
        raise ValueError(f"a prediction interval needs at least 2 values, got {n}")
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(0.5 + level / 2, n - 1) * sd * math.sqrt(1 + 1 / n)
    return mean - half, mean + half
