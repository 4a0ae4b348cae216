"""Rows with insertions (spec 13.4) worked out by hand on the small dataset of
``test_rows.py``, several overlays together, and the cost of a row without
insertions."""

import numpy as np
import pytest

import tokpack
from spec_planner import make_plan
from spec_writer import dataset_sections, overlay_file, write
from tokpack.format import overlay_sections

DID = bytes(range(16))
# tokens 10..19; offsets [0, 3, 3, 5, 9, 10]; mask bits [1 1 0 | 1 1 | 0 1 1 1 | 1].
DOCS = [[10, 11, 12], [], [13, 14], [15, 16, 17, 18], [19]]
MASKS = [[1, 1, 0], [], [1, 1], [0, 1, 1, 1], [1]]
DS = tokpack.Dataset.from_buffer(write(dataset_sections(DOCS, 100, MASKS), dataset_id=DID))
BFD = tokpack.Plan.from_buffer(make_plan([len(d) for d in DOCS], 4, "bfd").file(DID, 10, 5))


def overlay(insertions, seq_len=4, rows=2, plan=None):
    return tokpack.Overlay.from_buffer(overlay_file(
        DS, seq_len, rows, insertions, plan_id=None if plan is None else plan.file_id))


def row(i, *overlays, seq_len=4, **kwargs):
    rows = tokpack.Rows(DS, seq_len, overlays=overlays, **kwargs)
    return {k: v.tolist() for k, v in rows.row(i).items()}


def expect(input_ids, labels, position_ids, cu_seqlens):
    return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids,
            "cu_seqlens": cu_seqlens, "loss_mask": [int(x != -100) for x in labels]}


def test_without_overlay():
    assert row(0) == expect([10, 11, 12, 13], [11, -100, 13, 14], [0, 1, 2, 0], [0, 3, 4])
    assert row(1) == expect([14, 15, 16, 17], [-100, 16, 17, 18], [0, 0, 1, 2], [0, 1, 4])


def test_span_inside_a_row():
    # o = 1, len 2: inputs 1..2; labels of j = 0 .. 1 predict the inserted tokens; the
    # label of o + len - 1 = 2 still predicts the token after the span (13, bit 1).
    assert row(0, overlay([(1, [50, 51], 1)])) == expect(
        [10, 50, 51, 13], [50, 51, 13, 14], [0, 1, 2, 0], [0, 3, 4])
    # Not targets: the same positions get -100.
    assert row(0, overlay([(1, [50, 51], 0)])) == expect(
        [10, 50, 51, 13], [-100, -100, 13, 14], [0, 1, 2, 0], [0, 3, 4])


def test_span_at_offset_0_changes_no_label():
    # j runs from max(o - 1, 0) = 0 to o + len - 2 = -1: nothing. Row 1's label of
    # position 0 predicts token 5 (mask bit 0); row 0's last label is not touched
    # (the L + 1-th token of a contiguous row is never overwritten).
    ov = overlay([(4, [60], 1)])
    assert row(1, ov) == expect([60, 15, 16, 17], [-100, 16, 17, 18], [0, 0, 1, 2], [0, 1, 4])
    assert row(0, ov) == row(0)
    ov = overlay([(4, [60, 61], 1)])
    assert row(1, ov)["labels"] == [61, 16, 17, 18]


def test_span_at_the_end_of_a_row():
    ov = overlay([(3, [70], 1)])
    assert row(0, ov) == expect([10, 11, 12, 70], [11, -100, 70, 14], [0, 1, 2, 0], [0, 3, 4])
    # With document-boundary masking, position 2 (p + 1 = 3 starts document 2) has no
    # target by the structure: its label stays -100.
    masked = row(0, ov, mask_document_boundaries=True)
    assert masked["labels"] == [11, -100, -100, 14]
    # o = 2, len 2: j = 1 predicts the first inserted token; j = 2 has no structural
    # target (p + 1 = 3 starts a document); position 3 still predicts token 4.
    assert row(0, overlay([(2, [70, 71], 1)]), mask_document_boundaries=True)["labels"] == [
        11, 70, -100, 14]


def test_the_whole_row():
    ov = overlay([(4, [1, 2, 3, 4], 1)])
    assert row(1, ov) == expect([1, 2, 3, 4], [2, 3, 4, 18], [0, 0, 1, 2], [0, 1, 4])
    ov = overlay([(4, [1, 2, 3, 4], 0)])
    assert row(1, ov)["labels"] == [-100, -100, -100, 18]


def test_padding_positions():
    # Tail padded: row 2 is stream positions 8, 9 and two padding positions. Inserted
    # tokens overwrite padding inputs; only positions with p + 1 < n get a label.
    ov = overlay([(9, [80, 81, 82], 1)], rows=3)
    got = row(2, ov, tail="pad", pad_id=0)
    assert got == expect([18, 80, 81, 82], [80, -100, -100, -100], [0, 0, 0, 1], [0, 1, 2, 4])


def test_touching_insertions():
    ov = overlay([(0, [1], 1), (1, [2, 3], 0), (3, [4], 1)])
    assert row(0, ov) == expect([1, 2, 3, 4], [-100, -100, 4, 14], [0, 1, 2, 0], [0, 3, 4])


def test_plan_view():
    # bfd, L = 4: row 1 is segments (0, 3) and (9, 1); row 2 is (3, 2) and padding.
    rows = tokpack.Rows(DS, plan=BFD)
    assert rows.row(1)["labels"].tolist() == [11, -100, -100, -100]
    ov = overlay([(6, [90, 91], 1), (9, [95, 96, 97], 1)], rows=3, plan=BFD)
    rows = tokpack.Rows(DS, plan=BFD, overlays=[ov])
    assert rows.plan_id == BFD.file_id
    got = {k: v.tolist() for k, v in rows.row(1).items()}
    # j = 1 keeps a target (position 2 is in the same segment), j = 2 does not (3 is
    # the next segment's first position).
    assert got == expect([10, 11, 90, 91], [11, 90, -100, -100], [0, 1, 2, 0], [0, 3, 4])
    got = {k: v.tolist() for k, v in rows.row(2).items()}
    assert got == expect([13, 95, 96, 97], [95, -100, -100, -100], [0, 1, 0, 1], [0, 2, 4])
    assert rows.row(0)["input_ids"].tolist() == [15, 16, 17, 18]


def test_plan_view_binding():
    ov = overlay([(6, [90], 1)], rows=3, plan=BFD)
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.Rows(DS, 4, overlays=[ov])  # the contiguous view, not the plan's
    assert info.value.code == "wrong_view"
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.Rows(DS, plan=BFD, overlays=[overlay([(6, [90], 1)], rows=3)])
    assert info.value.code == "wrong_view"


def test_several_overlays():
    a = overlay([(1, [50], 1), (6, [60, 61], 1)])
    b = overlay([(2, [70, 71], 0), (4, [80, 81], 1)])
    # b's tokens are not targets: j = 1, 2 get -100.
    assert row(0, a, b) == expect([10, 50, 70, 71], [50, -100, -100, 14], [0, 1, 2, 0], [0, 3, 4])
    assert row(1, a, b) == row(1, b, a) == expect(
        [80, 81, 60, 61], [81, 60, 61, 18], [0, 0, 1, 2], [0, 1, 4])


@pytest.mark.parametrize("first,second,names", [
    ([(1, [50, 51], 1)], [(2, [70], 1)], "insertion at position 2 (length 1) overlaps the insertion at 1 (length 2)"),
    ([(5, [50], 1)], [(5, [70, 71], 1)], "insertion at position 5 (length 2) overlaps the insertion at 5 (length 1)"),
    ([(0, [1], 1), (6, [2, 3], 1)], [(4, [9, 9, 9], 1)], "insertion at position 6 (length 2) overlaps the insertion at 4 (length 3)"),
])
def test_overlapping_overlays_are_refused(first, second, names):
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.Rows(DS, 4, overlays=[overlay(first), overlay(second)])
    assert info.value.code == "insertion_overlap"
    assert names in str(info.value)
    # Touching is allowed.
    tokpack.Rows(DS, 4, overlays=[overlay([(1, [5, 5], 1)]), overlay([(3, [6], 1)])])


def test_a_row_without_insertions_costs_one_binary_search_per_overlay(monkeypatch):
    overlays = [overlay([(1, [50], 1)]), overlay([(2, [51], 1)]), overlay([])]
    rows = tokpack.Rows(DS, 4, overlays=overlays)
    searches, applied = [], []
    real_search, real_rows = np.searchsorted, overlay_sections.row_insertions
    monkeypatch.setattr(np, "searchsorted", lambda *a, **k: searches.append(1) or real_search(*a, **k))
    monkeypatch.setattr(overlay_sections, "row_insertions",
                        lambda *a, **k: applied.append(1) or real_rows(*a, **k))
    plain = tokpack.Rows(DS, 4)
    searches.clear()
    base = plain.row(1)
    base_searches = len(searches)
    searches.clear()
    assert {k: v.tolist() for k, v in rows.row(1).items()} == {k: v.tolist() for k, v in base.items()}
    assert len(searches) - base_searches == len(overlays) and applied == []
    rows.row(0)
    assert len(applied) == 2


def test_rows_iterate_with_overlays():
    ov = overlay([(1, [50], 1), (5, [60], 1)])
    rows = tokpack.Rows(DS, 4, overlays=[ov])
    assert [r["input_ids"].tolist() for r in rows] == [[10, 50, 12, 13], [14, 60, 16, 17]]
    assert rows.overlays == (ov,) and "1 overlays" in repr(rows)
    # The raw token window of the contiguous view is not changed by overlays.
    assert rows.tokens(0).tolist() == [10, 11, 12, 13, 14]


# -- rows of a plan view through an unverified overlay (13.2), the lean path of a raw
# dataset against the general checks that name the failure -------------------------


@pytest.mark.parametrize("name,insertions,r", [
    ("crosses_row", [(3, [1, 2], 1)], 0),
    ("token_out_of_range", [(5, [7, 150], 1)], 1),
    ("out_of_order_in_row", [(6, [1], 1), (5, [3], 1)], 1),
    ("equal_in_row", [(5, [1], 1), (5, [3], 1)], 1),
    ("overlap_in_row", [(4, [1, 2, 3], 1), (5, [4], 1)], 1),
    ("out_of_order_across_rows", [(9, [1], 1), (2, [3], 1)], 0),
])
def test_plan_row_through_unverified_overlay_is_checked(name, insertions, r):
    ov = overlay(insertions, rows=BFD.num_rows, plan=BFD)
    rows = tokpack.Rows(DS, plan=BFD, overlays=[ov])
    with pytest.raises(tokpack.TokpackError) as general:
        ov.row_insertions(r)
    with pytest.raises(tokpack.TokpackError) as got:
        rows.row(r)
    assert general.value.code == "bad_overlay"
    assert str(got.value) == str(general.value)


def test_payload_range_checked_through_a_plan_view():
    data = bytearray(overlay_file(DS, 4, BFD.num_rows, [(1, [7, 8], 1), (5, [9], 1)],
                                  plan_id=BFD.file_id))
    ov = tokpack.Overlay.from_buffer(bytes(data))
    at = ov.sections[2]["offset"] + 8  # off[1]: 2 -> 0 (an empty payload)
    data[at : at + 8] = (0).to_bytes(8, "little")
    ov = tokpack.Overlay.from_buffer(bytes(data))
    rows = tokpack.Rows(DS, plan=BFD, overlays=[ov])
    with pytest.raises(tokpack.TokpackError) as general:
        ov.row_insertions(0)
    with pytest.raises(tokpack.TokpackError) as got:
        rows.row(0)
    assert got.value.code == "bad_overlay" and str(got.value) == str(general.value)
    assert rows.row(1)["input_ids"].tolist()[1:2] == [7]  # insertion 1 is now INS_TOKENS[0:3]


def test_token_chunks_are_checked_once_and_a_bad_one_per_row(monkeypatch):
    """INS_TOKENS are checked against vocab_size a chunk at a time, the first time a
    row needs the chunk; a chunk holding a bad id leaves the rows whose own tokens
    are good readable, and the row holding it refused."""
    from tokpack import rows as rows_module

    monkeypatch.setattr(rows_module, "_TOKEN_CHUNK", 4)
    good = overlay([(0, [1, 2], 1), (4, [3], 0), (9, [4, 5], 1)], rows=BFD.num_rows, plan=BFD)
    bad = overlay([(0, [1, 2], 1), (4, [150], 0), (9, [4, 5], 1)], rows=BFD.num_rows, plan=BFD)
    plain = tokpack.Rows(DS, plan=BFD, overlays=[good])
    checked = tokpack.Rows(DS, plan=BFD, overlays=[bad])
    assert checked.row(0)["input_ids"].tolist()[:2] == [1, 2]  # same chunk as the bad id
    assert checked.row(2)["input_ids"].tolist() == plain.row(2)["input_ids"].tolist()
    with pytest.raises(tokpack.TokpackError) as err:
        checked.row(1)
    assert err.value.code == "bad_overlay" and "150" in str(err.value)
    assert bytes(checked._fast_overlays[0].chunks_ok) == b"\0\0"
    assert bytes(plain._fast_overlays[0].chunks_ok) == b"\1\1"  # rows 0 and 2 read both
