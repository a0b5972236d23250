"""The hash chain finds the first changed, removed or inserted record, and nothing else."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow.chain import GENESIS, Entry, first_break, link, org_head

KEY = b"test-key"


def chain(payloads):
    entries, prev = [], GENESIS
    for i, p in enumerate(payloads, start=1):
        h = link(KEY, prev, p)
        entries.append(Entry("step", i * 10, i, p, prev, h))
        prev = h
    return entries, prev


PAYLOADS = [{"step": "application_submitted", "on": date(2023, 3, 1), "data": {"a": 1}},
            {"step": "applicant_interviewed", "on": date(2023, 3, 15), "data": {"interviewer": "张伟"}},
            {"doc": "interview_record", "on": date(2023, 3, 16)}]


def test_intact_chain_verifies():
    entries, head = chain(PAYLOADS)
    assert first_break(KEY, entries, head) is None


@pytest.mark.parametrize("i", range(3))
def test_edited_record_is_found(i):
    entries, head = chain(PAYLOADS)
    entries[i] = entries[i]._replace(payload={**entries[i].payload, "data": {"x": 2}})
    found = first_break(KEY, entries, head)
    assert found is not None and found.entry == entries[i]


def test_removed_last_record_is_found_by_the_head():
    entries, head = chain(PAYLOADS)
    found = first_break(KEY, entries[:-1], head)
    assert found is not None and found.entry is None


def test_removed_middle_record_is_found():
    entries, head = chain(PAYLOADS)
    found = first_break(KEY, [entries[0], entries[2]], head)
    assert found is not None and found.entry == entries[2]


def test_recomputing_without_the_key_does_not_hide_an_edit():
    entries, head = chain(PAYLOADS)
    forged = dict(entries[1].payload, data={"interviewer": "别人"})
    fake = link(b"guessed", entries[1].prev_hash, forged)
    entries[1] = entries[1]._replace(payload=forged, hash=fake)
    assert first_break(KEY, entries, head) is not None


@given(st.lists(st.dictionaries(st.text(max_size=5), st.integers(), max_size=3), min_size=1,
                max_size=8))
def test_any_chain_verifies_and_org_head_depends_on_every_case(payloads):
    entries, head = chain(payloads)
    assert first_break(KEY, entries, head) is None
    a = org_head(KEY, [(1, head), (2, GENESIS)])
    assert a != org_head(KEY, [(1, head), (2, "1" * 64)])
    assert a == org_head(KEY, [(2, GENESIS), (1, head)])
