"""A chunk of cases is read by a range of ids when it is nearly all of one, and by a list of ids
otherwise (persistence/case_ids); either way each case gets exactly its own rows: a case
inside the range that the chunk does not have contributes nothing."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from tests.integration.conftest import world  # noqa: F401  (fixture)
from tests.integration.test_reports import pin, three_cases  # noqa: F401  (pin: fixture)
from workflow.cli import synthetic
from workflow.persistence.case_ids import among
from workflow.persistence.db import db
from workflow.persistence.models import Case
from workflow.services import bulk
from workflow.services.cases import history_chain

pytestmark = pytest.mark.db


def _condition(ids: list[int]) -> str:
    return str(among(Case.__table__.c.id, ids).compile(db.engine))


def _one_by_one(ids: list[int]) -> tuple[dict, dict, dict]:
    """Each case read alone, by the single-case queries (the case page's)."""
    steps, docs = {}, {}
    for i in ids:
        steps[i] = sorted(bulk.histories([i]).get(i, []), key=lambda r: r.seq)
        docs[i] = sorted(bulk.document_refs([i]).get(i, []), key=lambda d: (d.step_seq,
                                                                              d.doc_type))
    return steps, docs, {i: history_chain.entries(i) for i in ids}


def test_a_chunk_with_a_gap_is_read_by_range_and_a_sparse_one_by_list(world, pin):
    three_cases(world)  # cases with documents and acknowledgements
    synthetic.seed(40, 3, date(2026, 1, 15), "R")
    every = list(db.session.execute(sa.select(Case.id).order_by(Case.id)).scalars())
    assert len(every) > 30
    gap = every[:10] + every[12:30]  # cases 11 and 12 lie inside the range, not in the chunk
    sparse = every[::4]
    assert "BETWEEN" in _condition(gap) and " IN " not in _condition(gap)
    assert "BETWEEN" not in _condition(sparse) and " IN " in _condition(sparse)
    assert " IN " in _condition([])
    for ids in (gap, sparse):
        steps, docs, chained = _one_by_one(ids)
        got = bulk.histories(ids)
        assert {i: sorted(got.get(i, []), key=lambda r: r.seq) for i in ids} == steps
        assert set(got) <= set(ids)
        got_docs = bulk.document_refs(ids)
        assert set(got_docs) <= set(ids)
        assert {i: sorted(got_docs.get(i, []), key=lambda d: (d.step_seq, d.doc_type))
                for i in ids} == docs
        entries = history_chain.entries_of_cases(ids)
        assert set(entries) == set(ids)
        for i in ids:
            assert sorted(entries[i], key=lambda e: (e.kind, e.id)) == sorted(
                chained[i], key=lambda e: (e.kind, e.id))
        if ids is gap:  # the driven cases' documents and acknowledgements are in it
            assert sum(map(len, docs.values())) > 0
            assert {e.kind for i in ids for e in entries[i]} == {"step", "document",
                                                                 "acknowledgement"}
