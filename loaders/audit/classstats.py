"""Class-balance statistics of a histogram: pure functions, no I/O.

All take the class counts (zeros allowed: a declared class with no samples). Conventions:

- ``imbalance_ratio``: largest / smallest *non-empty* class (empty classes are reported
  separately, since max/0 is no number);
- ``gini``: Gini coefficient of the class sizes over all classes given (0 = perfectly
  balanced, ``(k - 1) / k`` = everything in one of ``k`` classes);
- ``normalized_entropy``: Shannon entropy of the class shares divided by ``log(k)``, ``k`` the
  number of classes given (1 = balanced);
- ``effective_classes``: ``exp(entropy)``, the number of equally sized classes with the same
  entropy (Hill number of order 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["effective_classes", "entropy", "gini", "imbalance_ratio", "normalized_entropy"]


def _check(counts: Sequence[int]) -> list[int]:
    values = [int(c) for c in counts]
    if any(c < 0 for c in values):
        raise ValueError(f"class counts must be >= 0, got {min(values)}")
    return values


def imbalance_ratio(counts: Sequence[int]) -> float:
    """Largest over smallest non-empty class; 1.0 for fewer than two non-empty classes."""
    nonzero = [c for c in _check(counts) if c > 0]
    if len(nonzero) < 2:
        return 1.0
    return max(nonzero) / min(nonzero)


def gini(counts: Sequence[int]) -> float:
    """Gini coefficient of the class sizes (mean absolute difference / (2 * mean))."""
    values = sorted(_check(counts))
    k, total = len(values), sum(values)
    if k == 0 or total == 0:
        return 0.0
    # sum_i (2i - k - 1) x_(i) / (k * total), with i = 1..k over sorted values
    weighted = sum((2 * i - k - 1) * x for i, x in enumerate(values, start=1))
    return max(0.0, min(1.0, weighted / (k * total)))


def entropy(counts: Sequence[int]) -> float:
    """Shannon entropy (nats) of the class shares."""
    values = _check(counts)
    total = sum(values)
    if total == 0:
        return 0.0
    return -sum(c / total * math.log(c / total) for c in values if c > 0)


def normalized_entropy(counts: Sequence[int]) -> float:
    """Entropy divided by log(k); 1.0 when there is at most one class."""
    values = _check(counts)
    if len(values) < 2:
        return 1.0
    if sum(values) == 0:
        return 0.0
    return max(0.0, min(1.0, entropy(values) / math.log(len(values))))


def effective_classes(counts: Sequence[int]) -> float:
    """exp(entropy): 1 for one class, k for k equal classes."""
    if sum(_check(counts)) == 0:
        return 0.0
    return math.exp(entropy(counts))
