"""Shuffle quality, measured: the orders the shuffles produce follow the distribution they
promise, by chi-square at a fixed set of seeds (so the test is deterministic, and a shuffle
that lost a swap, skipped its growth phase or kept the input order fails it).

The expected distributions are computed here, independently of the code under test: the full
permutation must be uniform over all ``n!`` orders; the buffered shuffle's exact distribution
is enumerated from its documented rule (fill to ``initial``, then each output takes a
uniformly chosen buffered item and puts the next input in its place, adding one input without
an output every other step until the buffer holds ``buffer_size``; then drain uniformly).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from fractions import Fraction

import pytest
from visiondata.loaders._stream.shuffle import buffer_permutation, permutation

#: p-value threshold. The seeds are fixed, so each test gives the same statistic every run;
#: this only says how surprising a correct shuffle's statistic may be.
ALPHA_Z = 3.29  # one-sided normal quantile for p = 0.0005


def chi2_critical(df: int, z: float = ALPHA_Z) -> float:
    """The chi-square critical value (Wilson-Hilferty approximation, good for df >= 3)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def chi2(
    observed: Counter[tuple[int, ...]], expected: dict[tuple[int, ...], float], n: int
) -> float:
    assert set(observed) <= set(expected), set(observed) - set(expected)
    return sum((observed.get(k, 0) - n * p) ** 2 / (n * p) for k, p in expected.items())


@pytest.mark.parametrize("n", [3, 4, 5])
def test_full_permutation_is_uniform_over_all_orders(n: int) -> None:
    draws = 400 * math.factorial(n)
    seen = Counter(tuple(permutation(n, [1234, i]).tolist()) for i in range(draws))
    orders = list(itertools.permutations(range(n)))
    assert len(seen) == len(orders)  # every order appears
    expected = dict.fromkeys(orders, 1 / len(orders))
    stat = chi2(seen, expected, draws)
    assert stat < chi2_critical(len(orders) - 1), (stat, seen.most_common(3))


def test_full_permutation_positions_are_uniform_for_larger_inputs() -> None:
    n, draws = 24, 6000
    counts = [[0] * n for _ in range(n)]
    for i in range(draws):
        for pos, item in enumerate(permutation(n, [99, i]).tolist()):
            counts[item][pos] += 1
    expect = draws / n
    stat = sum((c - expect) ** 2 / expect for row in counts for c in row)
    assert stat < chi2_critical((n - 1) ** 2), stat


def buffered_distribution(
    n: int, buffer_size: int, initial: int
) -> dict[tuple[int, ...], Fraction]:
    """The exact distribution of the buffered shuffle's output, enumerated from its rule."""
    if buffer_size <= 1 or n <= 1:
        return {tuple(range(n)): Fraction(1)}
    start = max(1, min(initial, buffer_size))
    out: dict[tuple[int, ...], Fraction] = {}

    def drain(buf: tuple[int, ...], done: tuple[int, ...], p: Fraction) -> None:
        if not buf:
            out[done] = out.get(done, Fraction(0)) + p
            return
        for j in range(len(buf)):
            rest = list(buf)
            rest[j] = rest[-1]
            rest.pop()
            drain(tuple(rest), (*done, buf[j]), p / len(buf))

    def step(i: int, buf: tuple[int, ...], done: tuple[int, ...], grow: bool, p: Fraction) -> None:
        if i == n:
            drain(buf, done, p)
            return
        if len(buf) < start:
            step(i + 1, (*buf, i), done, grow, p)
            return
        if len(buf) < buffer_size and grow:
            step(i + 1, (*buf, i), done, False, p)
            return
        for j in range(len(buf)):
            new = list(buf)
            new[j] = i
            step(i + 1, tuple(new), (*done, buf[j]), True, p / len(buf))

    step(0, (), (), True, Fraction(1))
    assert sum(out.values()) == 1
    return out


@pytest.mark.parametrize(
    ("n", "buffer_size", "initial"),
    [
        (6, 2, 100),  # buffer_size=2: must not keep the input order
        (6, 3, 3),  # a full buffer from the start
        (7, 4, 2),  # the growth phase (the default buffer_size=1000 starts at 100 and grows)
        (8, 5, 1),  # growth from a single sample
    ],
)
def test_buffered_shuffle_follows_its_exact_distribution(
    n: int, buffer_size: int, initial: int
) -> None:
    expected = {k: float(v) for k, v in buffered_distribution(n, buffer_size, initial).items()}
    draws = 30_000
    seen = Counter(
        tuple(buffer_permutation(n, buffer_size, [77, i], initial=initial).tolist())
        for i in range(draws)
    )
    assert tuple(range(n)) in expected and seen[tuple(range(n))] < draws / 4
    # cells expected to hold at least 5 draws; the rest pooled into one (the chi-square rule)
    big = {k: p for k, p in expected.items() if p * draws >= 5}
    small_p = 1 - sum(big.values())
    observed = Counter({k: seen.get(k, 0) for k in big})
    stat = (
        chi2(observed, big, draws)
        if not small_p
        else chi2(observed, big, draws)
        + ((draws - sum(observed.values()) - draws * small_p) ** 2 / (draws * small_p))
    )
    df = len(big) - (0 if small_p else 1)
    assert stat < chi2_critical(df), (stat, df)


def test_the_enumerator_matches_the_implementation_on_the_support() -> None:
    """Every order the implementation produces is one the rule allows (and vice versa for a
    small case, where all are seen)."""
    support = set(buffered_distribution(5, 3, 2))
    seen = {tuple(buffer_permutation(5, 3, [5, i], initial=2).tolist()) for i in range(20_000)}
    assert seen == support
