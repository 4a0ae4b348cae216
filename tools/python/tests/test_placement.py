"""Placing insertions (spec section 14): the generator, explicit insertions, EOS
wrapping and seeded random placement, by the rules of 14 (``tokpack.placement``)."""

import numpy as np
import pytest

import tokpack
from tokpack import placement
from tokpack.placement import PlacementError, SplitMix64


def test_splitmix64_reference_outputs():
    # Vigna's splitmix64.c from state 0, and the reference test of rand_xoshiro's
    # SplitMix64 (seed 1234567).
    g = SplitMix64(0)
    assert [g.next() for _ in range(4)] == [
        0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC]
    g = SplitMix64(1234567)
    assert [g.next() for _ in range(5)] == [
        6457827717110365317, 3203168211198807973, 9817491932198370423,
        4593380528125082431, 16408922859458223821]
    # 64-bit wrapping: the state passes 2**64.
    g = SplitMix64(2**64 - 1)
    values = [g.next() for _ in range(3)]
    assert all(0 <= v < 2**64 for v in values)
    assert g.state == (2**64 - 1 + 3 * placement.GOLDEN_GAMMA) % 2**64
    for bad in (-1, 2**64):
        with pytest.raises(ValueError):
            SplitMix64(bad)


def test_uniform_is_the_high_half_of_the_product():
    a, b = SplitMix64(99), SplitMix64(99)
    for m in (1, 2, 3, 10, 2**32, 2**64 - 1, 2**64):
        x = b.next()
        assert a.uniform(m) == (x * m) >> 64
        assert 0 <= (x * m) >> 64 < m
    g = SplitMix64(5)
    assert {g.uniform(1) for _ in range(50)} == {0}
    counts = np.bincount([g.uniform(4) for _ in range(4000)], minlength=4)
    assert counts.min() > 800


def test_eos_wrapping():
    kept, dropped = placement.wrap_eos(
        [[1, 2, 3], [], [4], [5, 9], [1, 2, 3, 4], [9], [1, 2, 3, 4, 5], [1, 2, 3, 9], [9, 9]],
        seq_len=4, eos_id=9)
    assert dropped == [1, 6]  # empty, longer than L
    assert kept == [
        (0, [1, 2, 3, 9]),  # appended; then L long: nothing prepended
        (2, [9, 4, 9]),
        (3, [9, 5, 9]),  # already ends with e: only prepended
        (4, [1, 2, 3, 4]),  # exactly L: unchanged
        (5, [9, 9]),  # [9] ends with e; prepended once
        (7, [1, 2, 3, 9]),  # exactly L: unchanged
        (8, [9, 9, 9]),
    ]
    # Appending leaves it short of L: prepended.
    assert placement.wrap_eos([[1, 2]], 4, 0) == ([(0, [0, 1, 2, 0])], [])


def test_explicit_insertions():
    got = placement.explicit_insertions({"3": [1, 2], 9: [3]}, seq_len=8, num_rows=2)
    assert got == [(3, [1, 2]), (9, [3])]
    assert placement.explicit_insertions([(9, [3]), (3, [1, 2])], 8, 2) == got
    # Crossing a row boundary: refused, or split at each boundary.
    with pytest.raises(PlacementError, match="crosses the boundary of row 0 at 8"):
        placement.explicit_insertions({"6": [1, 2, 3]}, 8, 2)
    assert placement.explicit_insertions({"6": [1, 2, 3]}, 8, 2, split_across_rows=True) == [
        (6, [1, 2]), (8, [3])]
    assert placement.explicit_insertions({"2": list(range(20))}, 8, 3, split_across_rows=True) == [
        (2, list(range(6))), (8, list(range(6, 14))), (16, list(range(14, 20)))]
    # 13.5's example: L = 4096, {"8190": [7, ..., 12]}.
    split = placement.explicit_insertions({"8190": [7, 8, 9, 10, 11, 12]}, 4096, 3, True)
    assert tokpack.interchange.rows_dict(split, 4096) == {
        "1": [[4094, [7, 8]]], "2": [[0, [9, 10, 11, 12]]]}
    # Past the view's last row.
    for inserts in ({"16": [1]}, {"15": [1, 2]}, {"100": [1]}):
        with pytest.raises(PlacementError, match="past the view"):
            placement.explicit_insertions(inserts, 8, 2, split_across_rows=True)
    with pytest.raises(PlacementError, match="no tokens"):
        placement.explicit_insertions({"1": []}, 8, 2)
    for key in ("+5", "-1", "1.0", "x", " 1"):
        with pytest.raises(PlacementError):
            placement.explicit_insertions({key: [1]}, 8, 2)


def test_explicit_overlaps_are_refused_naming_both():
    with pytest.raises(tokpack.TokpackError) as info:
        placement.explicit_insertions({"1000": [1, 2, 3], "1002": [4, 5, 6]}, 4096, 1)
    assert info.value.code == "insertion_overlap"
    assert "insertion at position 1002 (length 3) overlaps the insertion at 1000 (length 3)" in str(info.value)
    # Touching is allowed; the same position twice is not.
    placement.explicit_insertions({"1000": [1, 2, 3], "1003": [4]}, 4096, 1)
    with pytest.raises(tokpack.TokpackError):
        placement.explicit_insertions([(5, [1]), (5, [2])], 8, 1)
    # After splitting.
    with pytest.raises(tokpack.TokpackError) as info:
        placement.explicit_insertions({"6": [1, 2, 3], "8": [4]}, 8, 2, split_across_rows=True)
    assert "position 8 (length 1) overlaps the insertion at 8 (length 1)" in str(info.value)


def test_random_placement_by_hand():
    # L = 4, rows 0:2, one sequence of 2 tokens, seed 7: row = uniform(2), offset =
    # uniform(3), from the generator directly.
    g = SplitMix64(7)
    row, offset = g.uniform(2), g.uniform(3)
    done = placement.place_random([[1, 2]], 4, (0, 2), seed=7)
    assert done.positions == [row * 4 + offset] and done.collisions == 0 and done.dropped == []
    # The same draw against an occupied span: a collision, then the next draw.
    occupied = placement.Occupied()
    occupied.add(row * 4 + offset, 1)
    done = placement.place_random([[1, 2]], 4, (0, 2), seed=7, occupied=occupied)
    assert done.collisions >= 1 and done.positions[0] != row * 4 + offset


def test_random_placement_rules():
    seqs = [[1] * n for n in (1, 2, 3, 8, 5, 1)]
    done = placement.place(8, 10, sequences=seqs, rows=(2, 7), seed=11)
    assert done.placed == len(seqs) and done.dropped == [] and done.explicit == 0
    spans = sorted((p, len(t)) for p, t, _ in done.insertions)
    for p, n in spans:
        assert 2 <= p // 8 < 7 and p % 8 + n <= 8
    for (p, n), (q, _) in zip(spans, spans[1:]):
        assert p + n <= q
    assert all(f == 1 for _, _, f in done.insertions)
    # The same seed gives the same placement; another seed (almost surely) another.
    again = placement.place(8, 10, sequences=seqs, rows=(2, 7), seed=11)
    assert again.insertions == done.insertions and again.collisions == done.collisions
    assert placement.place(8, 10, sequences=seqs, rows=(2, 7), seed=12).insertions != done.insertions
    # Not targets.
    assert {f for _, _, f in placement.place(8, 10, sequences=seqs, rows=(2, 7), seed=11,
                                             targets=False).insertions} == {0}


def test_random_placement_avoids_explicit_insertions_and_counts_collisions():
    # One row of 4 with 3 positions taken: a 1-token sequence has one place left.
    done = placement.place(4, 1, explicit={"0": [5, 6, 7]}, sequences=[[9]], rows=(0, 1), seed=3)
    assert done.positions == [0, 3]
    g = SplitMix64(3)
    draws = 0
    while True:
        draws += 1
        g.uniform(1)
        if g.uniform(4) == 3:
            break
    assert done.collisions == draws - 1


def test_random_placement_gives_up_after_max_tries():
    full = {"0": [1, 1, 1, 1]}
    with pytest.raises(PlacementError, match="found no place in 5 draws"):
        placement.place(4, 1, explicit=full, sequences=[[2]], rows=(0, 1), seed=1, max_tries=5)
    done = placement.place(4, 1, explicit=full, sequences=[[2], [3]], rows=(0, 1), seed=1,
                           max_tries=5, allow_drop=True)
    assert done.dropped == [0, 1] and done.collisions == 10 and done.placed == 0
    assert done.positions == [0]
    # A dropped sequence consumes its draws: the next one sees the generator after them.
    two = placement.place(8, 1, explicit={"0": [1] * 7}, sequences=[[2, 2], [3]], rows=(0, 1),
                          seed=4, max_tries=3, allow_drop=True)
    g = SplitMix64(4)
    for _ in range(3):
        g.uniform(1), g.uniform(7)
    second = None
    for _ in range(3):
        row, offset = g.uniform(1), g.uniform(8)
        if offset == 7:
            second = row * 8 + offset
            break
    assert two.dropped == ([0] if second is not None else [0, 1])
    assert two.positions == [0] + ([second] if second is not None else [])
    # max_tries 0: nothing is drawn.
    assert placement.place(4, 1, sequences=[[1]], rows=(0, 1), max_tries=0,
                           allow_drop=True).dropped == [0]


def test_random_placement_reports_original_indices_after_wrapping():
    done = placement.place(4, 1, explicit={"0": [1, 1, 1, 1]}, sequences=[[], [5], [1] * 9, [6]],
                           rows=(0, 1), seed=1, max_tries=2, allow_drop=True, wrap_eos_id=0)
    assert done.dropped_by_wrapping == [0, 2]
    assert done.dropped == [1, 3]


def test_random_placement_input_errors():
    with pytest.raises(PlacementError, match="more than the row length"):
        placement.place(4, 2, sequences=[[1] * 5], rows=(0, 2))
    with pytest.raises(PlacementError, match="no tokens"):
        placement.place(4, 2, sequences=[[]], rows=(0, 2))
    for rows in ((0, 3), (1, 1), (2, 1), (-1, 1)):
        with pytest.raises(PlacementError, match="rows"):
            placement.place(4, 2, sequences=[[1]], rows=rows)
    with pytest.raises(PlacementError, match="need rows"):
        placement.place(4, 2, sequences=[[1]])
    with pytest.raises(PlacementError, match="vocabulary size"):
        placement.place(4, 2, explicit={"0": [7]}, vocab_size=7)


def test_many_placements_are_disjoint_and_in_range():
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 50, int(rng.integers(1, 17))).tolist() for _ in range(400)]
    done = placement.place(16, 200, sequences=seqs, rows=(50, 150), seed=2**64 - 1,
                           max_tries=50, allow_drop=True)
    spans = sorted((p, len(t)) for p, t, _ in done.insertions)
    assert len(spans) == done.placed == len(seqs) - len(done.dropped)
    for (p, n), (q, _) in zip(spans, spans[1:]):
        assert p + n <= q
    assert all(50 <= p // 16 < 150 and p % 16 + n <= 16 for p, n in spans)
    by_position = {p: t for p, t, _ in done.insertions}
    placed_seqs = sorted(map(tuple, (s for i, s in enumerate(seqs) if i not in done.dropped)))
    assert sorted(map(tuple, by_position.values())) == placed_seqs
