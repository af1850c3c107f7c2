"""The pure core (shuffle, partition, mixing, state, elastic) against expectations written out
by hand: small cases worked on paper, not recomputed with the functions under test. These are
also the targeted tests of ``bash .ci/mutation`` (see .ci/mutation.py), so they stay fast."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from visiondata.loaders._stream.elastic import Segment, delivered, remaining, segment_layout
from visiondata.loaders._stream.mixing import (
    SourceCounts,
    balanced_selection,
    epoch_sequence,
    integer_weights,
    interleave,
    mix_counts,
)
from visiondata.loaders._stream.partition import (
    WorkerSpan,
    batch_sizes,
    first_layout,
    later_layout,
    num_batches,
    rank_span,
    worker_batches_before,
    worker_span,
)
from visiondata.loaders._stream.shuffle import (
    _below,
    buffer_permutation,
    draws,
    permutation,
    resume_start,
)
from visiondata.loaders._stream.state import MAX_SEGMENTS, STATE_VERSION, LoaderState
from visiondata.loaders.errors import StateError


def _l(a: Any) -> list[int]:
    return [int(x) for x in a]


class TestShuffle:
    def test_below_maps_the_64_bit_range_onto_the_bound(self) -> None:
        assert _below(0, 7) == 0
        assert _below(2**64 - 1, 7) == 6
        assert _below(2**63, 10) == 5
        assert _below(2**62, 4) == 1
        assert _below(3 * 2**62, 4) == 3

    def test_draws_are_a_prefix_stable_stream(self) -> None:
        five = draws([3, 1], 5)
        assert five.dtype == np.uint64 and len(five) == 5
        assert _l(draws([3, 1], 3)) == _l(five[:3])
        assert _l(draws([3, 2], 3)) != _l(five[:3])
        assert len(draws([1], 0)) == 0

    def test_permutation_edges(self) -> None:
        assert _l(permutation(0, [1])) == []
        assert _l(permutation(1, [1])) == [0]

    def test_every_order_of_three_appears(self) -> None:
        """Fisher-Yates that skips its last swap (or draws ``j < i``: Sattolo's cycles) cannot
        produce all six orders of three."""
        seen = {tuple(_l(permutation(3, [5, i]))) for i in range(300)}
        assert len(seen) == 6
        two = {tuple(_l(permutation(2, [5, i]))) for i in range(60)}
        assert two == {(0, 1), (1, 0)}

    @pytest.mark.parametrize("size", [-1, 0, 1])
    def test_buffer_of_one_or_less_keeps_the_order(self, size: int) -> None:
        assert _l(buffer_permutation(6, size, [1])) == [0, 1, 2, 3, 4, 5]

    def test_tiny_inputs(self) -> None:
        assert _l(buffer_permutation(0, 5, [1])) == []
        assert _l(buffer_permutation(1, 5, [1])) == [0]

    def test_buffer_of_two_has_exactly_its_four_orders_of_three(self) -> None:
        """Buffer {0, 1}: the first output is 0 or 1 (never 2), then the rest drain."""
        seen = {tuple(_l(buffer_permutation(3, 2, [9, i]))) for i in range(200)}
        assert seen == {(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0)}
        pairs = {tuple(_l(buffer_permutation(2, 2, [9, i]))) for i in range(60)}
        assert pairs == {(0, 1), (1, 0)}

    def test_growth_phase_read_ahead_is_exact(self) -> None:
        """initial=2, buffer_size=6: before output k the reader has read 3, 5, 7, 9 inputs
        (two per output while growing), then one more per output: the largest input output k
        can be is 2, 4, 6, 8, 9, 10, ... and each bound is reached for some seed."""
        perms = np.stack([buffer_permutation(30, 6, [4, i], initial=2) for i in range(400)])
        assert _l(perms.max(axis=0)[:8]) == [2, 4, 6, 8, 9, 10, 11, 12]
        assert all(sorted(_l(p)) == list(range(30)) for p in perms)

    @pytest.mark.parametrize("initial", [0, 1])
    def test_growth_from_one_sample(self, initial: int) -> None:
        """initial 0 or 1 starts from one sample: reads 2, 4, 6, 8 inputs before outputs
        0..3 (the buffer reaches 5 at output 3), then one more per output."""
        perms = [buffer_permutation(30, 5, [6, i], initial=initial) for i in range(400)]
        assert _l(np.stack(perms).max(axis=0)[:7]) == [1, 3, 5, 7, 8, 9, 10]

    def test_default_initial_buffer_is_100_then_grows(self) -> None:
        """100 inputs, then one added without an output: output 0 is one of inputs 0..100."""
        perms = np.stack([buffer_permutation(140, 1000, [8, i]) for i in range(1500)])
        assert _l(perms.max(axis=0)[:3]) == [100, 102, 104]

    def test_large_buffer_stops_growing_at_its_size(self) -> None:
        """Past 256 the buffer's length and size are distinct int objects: the size compare
        must be by value (the buffer of 300 never holds a 301st sample)."""
        for seed in range(3):
            perm = buffer_permutation(1500, 300, [2, seed], initial=250)
            assert int((perm - np.arange(1500)).max()) <= 299
            assert sorted(_l(perm)) == list(range(1500))

    def test_initial_above_buffer_size_starts_full(self) -> None:
        perms = np.stack([buffer_permutation(12, 3, [4, i], initial=50) for i in range(300)])
        assert _l(perms.max(axis=0)[:4]) == [2, 3, 4, 5]

    def test_resume_start(self) -> None:
        perm = np.array([3, 1, 0, 2], dtype=np.int64)
        assert [resume_start(perm, k) for k in range(6)] == [0, 0, 0, 2, 4, 4]
        assert resume_start(np.zeros(0, dtype=np.int64), 0) == 0


class TestPartition:
    def test_rank_span_drop_and_wrap(self) -> None:
        assert [rank_span(10, 3, r, "drop") for r in range(3)] == [(0, 3), (3, 6), (6, 9)]
        assert [rank_span(10, 3, r, "wrap") for r in range(3)] == [(0, 4), (4, 8), (8, 12)]
        assert rank_span(9, 3, 2, "wrap") == (6, 9)
        assert rank_span(0, 3, 1, "wrap") == (0, 0)
        with pytest.raises(ValueError, match=r"remainder 'pad' is not one of \['drop', 'wrap'\]"):
            rank_span(10, 3, 0, "pad")

    def test_num_batches(self) -> None:
        assert [num_batches(n, 4, True) for n in (0, 3, 4, 10)] == [0, 0, 1, 2]
        assert [num_batches(n, 4, False) for n in (0, 3, 4, 10)] == [0, 1, 1, 3]

    def test_worker_span_tables(self) -> None:
        # 10 samples, batches of 4: b0=4 (worker 0), b1=4 (worker 1), b2=2 (worker 0)
        assert worker_span(10, 4, False, 2, 0) == WorkerSpan(0, 6, (4, 2))
        assert worker_span(10, 4, False, 2, 1) == WorkerSpan(6, 10, (4,))
        assert worker_span(10, 4, True, 2, 0) == WorkerSpan(0, 4, (4,))
        assert worker_span(10, 4, True, 2, 1) == WorkerSpan(4, 8, (4,))
        three = [worker_span(10, 4, False, 3, w) for w in range(3)]
        assert three == [WorkerSpan(0, 4, (4,)), WorkerSpan(4, 8, (4,)), WorkerSpan(8, 10, (2,))]
        assert worker_span(10, 4, False, 4, 3) == WorkerSpan(10, 10, ())
        assert worker_span(0, 4, False, 2, 1) == WorkerSpan(0, 0, ())
        assert worker_span(10, 4, False, 2, 0).num_samples == 6
        assert worker_span(10, 4, False, 2, 1).num_samples == 4  # 10 - 6
        # past CPython's small-int cache: batch and worker numbers compare by value
        many = worker_span(599, 2, False, 1, 0)
        assert (many.stop, many.batch_sizes[-1], len(many.batch_sizes)) == (599, 1, 300)
        assert worker_span(10, 1, False, 301, 300) == WorkerSpan(10, 10, ())
        assert worker_span(10, 4, False, 2, 5) == WorkerSpan(0, 0, ())  # no such worker: empty

    def test_worker_batches_before(self) -> None:
        assert [worker_batches_before(5, 2, w) for w in range(2)] == [3, 2]
        assert [worker_batches_before(4, 3, w) for w in range(3)] == [2, 1, 1]
        assert worker_batches_before(0, 3, 2) == 0

    def test_batch_sizes(self) -> None:
        assert batch_sizes(10, 3, 4) == (4, 4, 2)
        assert batch_sizes(12, 3, 4) == (4, 4, 4)
        assert batch_sizes(9, 3, 4) == (4, 4, 1)
        assert batch_sizes(8, 3, 4) == (4, 3, 1)
        assert batch_sizes(2, 4, 4) == (1, 1, 0, 0)
        assert batch_sizes(0, 2, 4) == (0, 0)
        assert batch_sizes(5, 0, 4) == ()

    def test_first_layout(self) -> None:
        lay = first_layout(10, 3, 2, False, "drop")
        assert _l(lay.positions) == list(range(9))
        assert lay.starts == (0, 3, 6, 9) and lay.num_batches == 2 and lay.batch_size == 2
        assert lay.world_size == 3
        assert lay.rank_sizes(1) == (2, 1)
        assert _l(lay.rank_positions(1)) == [3, 4, 5]
        blocks = [lay.worker_block(1, 2, w) for w in range(2)]
        assert [(_l(b), s) for b, s in blocks] == [([3, 4], (2,)), ([5], (1,))]
        assert _l(lay.used()) == list(range(9))
        dropped = first_layout(10, 3, 2, True, "drop")
        assert dropped.num_batches == 1 and dropped.rank_sizes(2) == (2,)
        assert _l(dropped.used()) == [0, 1, 3, 4, 6, 7]
        wrap = first_layout(10, 3, 4, False, "wrap")
        assert _l(wrap.positions) == list(range(12)) and wrap.starts == (0, 4, 8, 12)
        assert wrap.num_batches == 1

    def test_values_are_frozen_and_layouts_compare_by_identity(self) -> None:
        with pytest.raises(dataclasses.FrozenInstanceError):
            WorkerSpan(0, 1, (1,)).stop = 2  # type: ignore[misc]
        lay = first_layout(10, 2, 2, False, "drop")
        with pytest.raises(dataclasses.FrozenInstanceError):
            lay.batch_size = 3  # type: ignore[misc]
        # numpy positions: equality by identity (a field-wise == would be ambiguous)
        assert lay == lay and lay != first_layout(10, 2, 2, False, "drop") and {lay: 1}[lay] == 1

    def test_worker_block_of_three_workers(self) -> None:
        lay = first_layout(14, 1, 2, False, "drop")  # batches 2,2,2,2,2,2,2 -> workers 0,1,2,0,..
        blocks = [lay.worker_block(0, 3, w) for w in range(3)]
        assert [(_l(b), s) for b, s in blocks] == [
            ([0, 1, 2, 3, 4, 5], (2, 2, 2)),
            ([6, 7, 8, 9], (2, 2)),
            ([10, 11, 12, 13], (2, 2)),
        ]

    def test_later_layout(self) -> None:
        rest = np.array([5, 1, 7, 2, 9, 4, 8], dtype=np.int64)
        lay = later_layout(rest, 3, 2, False)  # 7 over 3 ranks: 3, 2, 2
        assert lay.starts == (0, 3, 5, 7) and lay.num_batches == 2
        assert [lay.rank_sizes(r) for r in range(3)] == [(2, 1), (1, 1), (1, 1)]
        assert _l(lay.rank_positions(0)) == [5, 1, 7]
        dropped = later_layout(rest, 3, 2, True)
        assert dropped.num_batches == 1
        assert _l(dropped.used()) == [5, 1, 2, 9, 4, 8]
        even = later_layout(np.arange(6, dtype=np.int64), 2, 2, False)
        assert even.starts == (0, 3, 6) and even.num_batches == 2
        empty = later_layout(np.zeros(0, dtype=np.int64), 2, 3, False)
        assert empty.num_batches == 0 and empty.world_size == 2 and _l(empty.used()) == []


class TestMixing:
    def test_integer_weights(self) -> None:
        assert integer_weights([0.75, 0.25]) == [3, 1]
        assert integer_weights([3, 1]) == [3, 1]
        assert integer_weights([2, 4]) == [1, 2]
        assert integer_weights([0.5]) == [1]
        assert integer_weights([1 / 3, 2 / 3]) == [1, 2]
        assert integer_weights([0.1, 0.15]) == [2, 3]
        for bad in ([1, 0], [-1, 2]):
            with pytest.raises(ValueError, match=r"weights must be > 0, got \["):
                integer_weights(bad)

    def test_mix_counts(self) -> None:
        assert mix_counts([10, 10], [1, 1], 1) == [10, 10]
        assert mix_counts([10, 10], [1, 1], 3) == [9, 9]
        assert mix_counts([10, 30], [1, 2], 1) == [10, 20]
        assert mix_counts([30, 10], [1, 2], 1) == [5, 10]
        assert mix_counts([10, 10], [1, 2], 1, samples_per_epoch=7) == [2, 4]
        assert mix_counts([10, 10], [1, 2], 2, samples_per_epoch=7) == [2, 4]
        assert mix_counts([10, 10], [1, 2], 4, samples_per_epoch=7) == [0, 0]
        assert mix_counts([2, 2], [1, 1], 1, samples_per_epoch=20) == [10, 10]
        with pytest.raises(ValueError, match="zip"):  # a weight per source, no fewer
            mix_counts([10, 10], [1], 1)

    def test_interleave(self) -> None:
        assert _l(interleave([2, 1])) == [0, 1, 0]
        assert _l(interleave([0, 3])) == [1, 1, 1]
        assert _l(interleave([1, 1])) == [0, 1]
        assert _l(interleave([3, 1])) == [0, 0, 1, 0]  # ties keep source order
        assert _l(interleave([1, 4])) == [1, 1, 0, 1, 1]
        assert _l(interleave([])) == []
        assert interleave([]).dtype == np.int64

    def test_one_source_in_shard_order_unshuffled(self) -> None:
        seq = epoch_sequence([SourceCounts((2, 3))], None, seed=0, epoch=0, shuffle=False)
        assert _l(seq) == [0, 1, 2, 3, 4]

    def test_one_source_shuffled_shard_order(self) -> None:
        """Shards keep their samples together; the shard order is ``permutation(3, key)``."""
        for epoch in range(6):
            seq = epoch_sequence([SourceCounts((2, 1, 3))], None, seed=4, epoch=epoch, shuffle=True)
            shards = [[0, 1], [2], [3, 4, 5]]
            order = _l(permutation(3, [4, epoch, 0, 0, 0]))
            assert _l(seq) == [i for s in order for i in shards[s]]

    def test_two_sources_interleave_with_offsets(self) -> None:
        srcs = [SourceCounts((2,)), SourceCounts((4,))]
        seq = epoch_sequence(srcs, [1, 1], seed=0, epoch=0, shuffle=False)
        assert _l(seq) == [0, 2, 1, 3]

    def test_small_sources_cycle(self) -> None:
        srcs = [SourceCounts((2,)), SourceCounts((3,))]
        seq = epoch_sequence(srcs, [1, 1], seed=0, epoch=0, shuffle=False, samples_per_epoch=10)
        assert _l(seq) == [0, 2, 1, 3, 0, 4, 1, 2, 0, 3]

    def test_weights_default_to_equal_when_only_samples_per_epoch_is_given(self) -> None:
        seq = epoch_sequence(
            [SourceCounts((4,))], None, seed=0, epoch=0, shuffle=False, samples_per_epoch=6
        )
        assert _l(seq) == [0, 1, 2, 3, 0, 1]

    def test_world_size_rounds_the_mix(self) -> None:
        srcs = [SourceCounts((3,)), SourceCounts((3,))]
        seq = epoch_sequence(srcs, [1, 1], seed=0, epoch=0, shuffle=False, world_size=2)
        assert _l(seq) == [0, 3, 1, 4]

    def test_one_source_is_not_rounded_to_the_world(self) -> None:
        """One source without weights: every sample (the partition drops or wraps the rest);
        several without weights: equal weights."""
        seq = epoch_sequence(
            [SourceCounts((5,))], None, seed=0, epoch=0, shuffle=False, world_size=2
        )
        assert _l(seq) == [0, 1, 2, 3, 4]
        srcs = [SourceCounts((2,)), SourceCounts((4,))]
        same = epoch_sequence(srcs, None, seed=0, epoch=0, shuffle=False)
        assert _l(same) == [0, 2, 1, 3]

    def test_options_are_keywords(self) -> None:
        with pytest.raises(TypeError):
            epoch_sequence([SourceCounts((2,))], None, 0, 0, False)  # type: ignore[misc]

    def test_golden_orders(self) -> None:
        """Orders are the same on every machine and version (as test_shuffle's golden ones):
        the seed streams of the class selection, the shard order and each cycle are pinned.
        Checked by hand: per class 3 of 9 (class 1 and 2 repeat one sample), read in the shard
        order 1, 2, 0; source A (ids 0-2) cycles with a new shard order each pass."""
        labels = np.array([0, 0, 0, 1, 1, 0, 2, 2, 0], dtype=np.int64)
        src = SourceCounts((3, 2, 4), labels=labels)
        seq = epoch_sequence([src], None, seed=7, epoch=2, shuffle=True, balance="class")
        assert _l(seq) == [3, 3, 4, 5, 6, 6, 7, 0, 1]
        srcs = [SourceCounts((2, 1)), SourceCounts((3,))]
        mixed = epoch_sequence(srcs, [1, 1], seed=7, epoch=1, shuffle=True, samples_per_epoch=16)
        assert _l(mixed) == [0, 3, 1, 4, 2, 5, 2, 3, 0, 4, 1, 5, 2, 3, 0, 4]
        # a source of three one-sample shards, four passes: each pass a new shard order
        four = epoch_sequence(
            [SourceCounts((1, 1, 1)), SourceCounts((12,))],
            [1, 1],
            seed=7,
            epoch=1,
            shuffle=True,
            samples_per_epoch=24,
        )
        assert _l(four[0::2]) == [0, 2, 1, 2, 1, 0, 1, 2, 0, 2, 0, 1]
        assert _l(four[1::2]) == list(range(3, 15))

    def test_source_counts_are_values_compared_by_identity(self) -> None:
        a = SourceCounts((1, 2))
        with pytest.raises(dataclasses.FrozenInstanceError):
            a.shard_sizes = (3,)  # type: ignore[misc]
        assert a == a and a != SourceCounts((1, 2))  # labels are arrays: no field-wise ==

    def test_weights_are_read_to_a_thousandth(self) -> None:
        assert integer_weights([0.001, 1]) == [1, 1000]
        assert integer_weights([1 / 1001, 1]) == [1, 1000]

    def test_errors(self) -> None:
        with pytest.raises(ValueError, match="source 0 has no per-sample labels"):
            epoch_sequence(
                [SourceCounts((2,))], None, seed=0, epoch=0, shuffle=False, balance="class"
            )
        with pytest.raises(ValueError, match="source 1 has no samples"):
            epoch_sequence(
                [SourceCounts((2,)), SourceCounts(())],
                [1, 1],
                seed=0,
                epoch=0,
                shuffle=False,
                samples_per_epoch=4,
            )
        assert _l(epoch_sequence([SourceCounts(())], None, seed=0, epoch=0, shuffle=True)) == []

    def test_balanced_selection(self) -> None:
        labels = [0, 0, 0, 1]
        assert _l(balanced_selection(labels, 5, [1])) == [0, 1, 2, 3, 3]
        for seed in range(20):
            four = _l(balanced_selection(labels, 4, [seed]))
            assert four.count(3) == 2 and len(set(four[:2])) == 2 and set(four[:2]) <= {0, 1, 2}
        assert _l(balanced_selection([-1, 0, 1], 2, [1])) == [1, 2]
        assert _l(balanced_selection([-1, -1], 2, [1])) == []
        assert _l(balanced_selection(labels, 0, [1])) == []
        assert _l(balanced_selection([5, 5, 7], 3, [1])) == [0, 1, 2]  # 2 of class 5, 1 of 7
        assert _l(balanced_selection([0, 1, 2, 2], 2, [1])) == [0, 1]  # class 2 gets none
        assert _l(balanced_selection([4, 4], 1, [1])) in ([0], [1])  # one asked for: one

    def test_balanced_passes_reorder(self) -> None:
        """A rare class repeats in a new order each pass: over seeds, the third pick of a
        two-member class is sometimes the first pick's sample and sometimes the other."""
        firsts = set()
        for seed in range(40):
            picked = _l(balanced_selection([0, 0, 1, 1, 1, 1, 1, 1], 6, [seed]))
            assert picked[:3] in ([0, 0, 1], [0, 1, 1])
            firsts.add(tuple(picked[:3]))
        assert firsts == {(0, 0, 1), (0, 1, 1)}

    def test_class_balance_in_an_epoch(self) -> None:
        src = SourceCounts((2, 2), labels=np.array([0, 0, 0, 1], dtype=np.int64))
        seq = epoch_sequence([src], None, seed=3, epoch=1, shuffle=False, balance="class")
        assert _l(seq).count(3) == 2 and len(seq) == 4
        assert _l(seq) == sorted(_l(seq))  # shard order, unshuffled


def _state(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "version": 2,
        "epoch": 1,
        "seed": 5,
        "fingerprint": "abc",
        "world_size": 2,
        "num_workers": 0,
        "batch_size": 4,
        "batches": 3,
        "earlier": [{"world_size": 1, "num_workers": 2, "batch_size": 8, "batches": 1}],
    }
    return base | over


class TestState:
    def test_round_trip(self) -> None:
        state = LoaderState.from_dict(_state())
        assert state.epoch == 1 and state.seed == 5 and state.fingerprint == "abc"
        assert state.current == Segment(2, 0, 4, 3)
        assert state.earlier == (Segment(1, 2, 8, 1),)
        assert state.to_dict() == _state()
        assert STATE_VERSION == 2
        with pytest.raises(dataclasses.FrozenInstanceError):
            state.epoch = 2  # type: ignore[misc]  # a state is a value

    def test_not_a_mapping(self) -> None:
        with pytest.raises(StateError, match=r"state must be a dict from state_dict\(\), got list"):
            LoaderState.from_dict([1, 2])  # type: ignore[arg-type]

    @pytest.mark.parametrize("version", [None, 0, 3, "2", 2.0, True])
    def test_version(self, version: Any) -> None:
        with pytest.raises(
            StateError, match=r"state version .* is not supported \(expected 1 or 2"
        ):
            LoaderState.from_dict(_state(version=version))

    def test_only_extra_keys(self) -> None:
        with pytest.raises(StateError) as info:
            LoaderState.from_dict({"version": 2, "foo": 1})
        assert str(info.value) == (
            "state keys: missing ['batch_size', 'batches', 'earlier', 'epoch', 'fingerprint', "
            "'num_workers', 'seed', 'world_size'], unexpected ['foo']"
        )
        assert isinstance(info.value, ValueError)

    def test_missing_keys(self) -> None:
        data = _state()
        del data["seed"], data["batches"]
        with pytest.raises(StateError, match=r"missing \['batches', 'seed'\], unexpected \[\]$"):
            LoaderState.from_dict(data)

    def test_extra_key(self) -> None:
        with pytest.raises(StateError, match=r"missing \[\], unexpected \['rank'\]$"):
            LoaderState.from_dict(_state(rank=0))

    def test_version_1(self) -> None:
        v1 = {k: v for k, v in _state().items() if k != "earlier"} | {"version": 1, "rank": 1}
        state = LoaderState.from_dict(v1)
        assert state.earlier == () and state.current == Segment(2, 0, 4, 3)
        with pytest.raises(StateError, match=r"unexpected \['earlier'\]"):
            LoaderState.from_dict(v1 | {"earlier": []})

    def test_fingerprint_must_be_a_string(self) -> None:
        with pytest.raises(StateError, match=r"state: fingerprint=7 is not a string"):
            LoaderState.from_dict(_state(fingerprint=7))

    def test_earlier(self) -> None:
        seg = {"world_size": 1, "num_workers": 0, "batch_size": 1, "batches": 0}
        assert len(LoaderState.from_dict(_state(earlier=[seg] * MAX_SEGMENTS)).earlier) == 64
        with pytest.raises(StateError, match=r"at most 64 segments \(got list of 65\)"):
            LoaderState.from_dict(_state(earlier=[seg] * (MAX_SEGMENTS + 1)))
        with pytest.raises(StateError, match=r"at most 64 segments \(got dict of -\)"):
            LoaderState.from_dict(_state(earlier={}))
        with pytest.raises(StateError, match=r"state.earlier\[1\]: expected a dict with keys"):
            LoaderState.from_dict(_state(earlier=[seg, seg | {"extra": 1}]))
        with pytest.raises(StateError, match=r"state.earlier\[0\]: expected a dict with keys"):
            LoaderState.from_dict(_state(earlier=[[1, 2, 3, 4]]))
        with pytest.raises(StateError, match=r"state.earlier\[0\]: batch_size=0 is not an int"):
            LoaderState.from_dict(_state(earlier=[seg | {"batch_size": 0}]))

    @pytest.mark.parametrize(
        ("key", "ok", "bad"),
        [
            ("epoch", [0, 1 << 62], [-1, (1 << 62) + 1, True, 1.0, "1"]),
            ("seed", [0, 1 << 62], [-1, (1 << 62) + 1, False]),
            ("world_size", [1, 1 << 20], [0, (1 << 20) + 1, True]),
            ("num_workers", [0, 1 << 12], [-1, (1 << 12) + 1]),
            ("batch_size", [1, 1 << 31], [0, (1 << 31) + 1]),
            ("batches", [0, 1 << 62], [-1, (1 << 62) + 1]),
        ],
    )
    def test_integer_bounds(self, key: str, ok: list[Any], bad: list[Any]) -> None:
        for value in ok:
            state = LoaderState.from_dict(_state(**{key: value}))
            assert state.to_dict()[key] == value
        for value in bad:
            with pytest.raises(StateError, match=rf"^state: {key}={value!r} is not an integer in "):
                LoaderState.from_dict(_state(**{key: value}))

    def test_bounds_are_named(self) -> None:
        with pytest.raises(StateError, match=r"world_size=0 is not an integer in 1\.\.1048576$"):
            LoaderState.from_dict(_state(world_size=0))
        with pytest.raises(StateError, match=r"epoch=-1 is not an integer in 0\.\.4611686018427"):
            LoaderState.from_dict(_state(epoch=-1))

    def test_check_compatible(self) -> None:
        state = LoaderState.from_dict(_state())
        state.check_compatible(5, "abc")
        with pytest.raises(StateError) as info:
            state.check_compatible(6, "abd")
        assert str(info.value) == (
            "state does not fit this loader (other data or order options): "
            "seed: state has 5, loader has 6; fingerprint: state has 'abc', loader has 'abd'"
        )
        with pytest.raises(StateError, match=r"options\): fingerprint: state has 'abc'"):
            state.check_compatible(5, "x")


def _identity(segment: int, rank: int, worker: int, n: int) -> Any:
    return np.arange(n, dtype=np.int64)


def _reverse(segment: int, rank: int, worker: int, n: int) -> Any:
    return np.arange(n, dtype=np.int64)[::-1]


class TestElastic:
    def test_segment(self) -> None:
        with pytest.raises(dataclasses.FrozenInstanceError):
            Segment(2, 0, 4).batches = 1  # type: ignore[misc]  # states hold them
        assert Segment(2, 0, 4).workers == 1 and Segment(2, 3, 4).workers == 3
        assert Segment(2, 0, 4).batches == 0
        assert Segment(2, 0, 4, 5).same_world(Segment(2, 1, 4, 0))
        assert not Segment(2, 0, 4).same_world(Segment(2, 0, 3))
        assert not Segment(2, 0, 4).same_world(Segment(3, 0, 4))
        assert not Segment(2, 2, 4).same_world(Segment(2, 1, 4))

    def test_delivered_and_remaining(self) -> None:
        # 10 over 2 ranks of 5, batches (2, 2, 1); 2 workers: worker 0 has batches 0 and 2
        lay = first_layout(10, 2, 2, False, "drop")
        seg = Segment(2, 2, 2, batches=1)
        assert _l(delivered(lay, seg, 0, _identity)) == [0, 1, 5, 6]
        assert _l(remaining(lay, seg, 0, _identity)) == [2, 3, 4, 7, 8, 9]
        assert _l(delivered(lay, seg, 0, _reverse)) == [2, 1, 7, 6]
        assert _l(remaining(lay, seg, 0, _reverse)) == [0, 3, 4, 5, 8, 9]
        two = Segment(2, 2, 2, batches=2)  # worker 1's first batch too
        assert _l(delivered(lay, two, 0, _identity)) == [0, 1, 3, 4, 5, 6, 8, 9]
        assert _l(delivered(lay, Segment(2, 2, 2), 0, _identity)) == []

    def test_segment_layout_without_earlier_is_the_first_layout(self) -> None:
        lay = segment_layout(
            10, [], Segment(3, 0, 2), drop_last=False, remainder="drop", order=_identity
        )
        assert _l(lay.positions) == list(range(9)) and lay.starts == (0, 3, 6, 9)

    def test_one_resume(self) -> None:
        lay = segment_layout(
            10,
            [Segment(2, 2, 2, 1)],
            Segment(3, 1, 2),
            drop_last=False,
            remainder="drop",
            order=_identity,
        )
        assert _l(lay.positions) == [2, 3, 4, 7, 8, 9]
        assert lay.starts == (0, 2, 4, 6) and lay.num_batches == 1

    def test_a_chain_passes_each_segment_its_index(self) -> None:
        def order(segment: int, rank: int, worker: int, n: int) -> Any:
            return _identity(0, 0, 0, n) if segment == 0 else _reverse(0, 0, 0, n)

        lay = segment_layout(
            10,
            [Segment(1, 0, 4, 1), Segment(1, 0, 2, 1)],
            Segment(2, 0, 2),
            drop_last=False,
            remainder="drop",
            order=order,
        )
        # segment 0 delivered 0..3 (identity), segment 1 the last two of 4..9 (reversed)
        assert _l(lay.positions) == [4, 5, 6, 7] and lay.starts == (0, 2, 4)

    def test_segment_layout_options_are_keywords(self) -> None:
        with pytest.raises(TypeError):
            segment_layout(10, [], Segment(1, 0, 2), False, "drop", _identity)  # type: ignore[misc]

    def test_a_segment_cannot_claim_more_batches_than_it_had(self) -> None:
        opts: dict[str, Any] = dict(drop_last=False, remainder="drop", order=_identity)
        full = segment_layout(10, [Segment(2, 2, 2, 3)], Segment(1, 0, 2), **opts)
        assert _l(full.positions) == [] and full.num_batches == 0
        with pytest.raises(
            ValueError, match=r"^segment 0 claims 4 batches per rank, but it had only 3$"
        ):
            segment_layout(10, [Segment(2, 2, 2, 4)], Segment(1, 0, 2), **opts)
        with pytest.raises(ValueError, match=r"^segment 1 claims 5 batches"):
            segment_layout(10, [Segment(2, 2, 2, 1), Segment(1, 0, 2, 5)], Segment(1, 0, 2), **opts)
