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
from workflow.persistence.models import Case, Document, StepRecordRow
from workflow.services import bulk
from workflow.services.cases import history_chain

pytestmark = pytest.mark.db


def _condition(ids: list[int]) -> str:
    return str(among(Case.__table__.c.id, ids).compile(db.engine))


def _one_by_one(ids: list[int]) -> tuple[dict, dict, dict]:
    """Each case read alone through the ORM, and its chain by the case page's query."""
    steps, docs = {}, {}
    for i in ids:
        steps[i] = [(r.id, r.step, r.occurred_on, r.data or {}, r.recorded_by_role, r.note)
                    for r in db.session.execute(sa.select(StepRecordRow).where(
                        StepRecordRow.case_id == i).order_by(StepRecordRow.id)).scalars()]
        docs[i] = sorted((d.step_record_id, d.doc_type, d.attached_on)
                         for d in db.session.execute(sa.select(Document).where(
                             Document.case_id == i)).scalars())
    return steps, docs, {i: history_chain.entries(i) for i in ids}


def test_a_chunk_with_a_gap_is_read_by_range_and_a_sparse_one_by_list(world, pin):
    synthetic.seed(20, 3, date(2026, 1, 15), "R")
    driven = three_cases(world)  # documents and acknowledgements, between two seeded runs
    synthetic.seed(20, 4, date(2026, 1, 15), "T")
    every = list(db.session.execute(sa.select(Case.id).order_by(Case.id)).scalars())
    left_out = [i for i in every if every[19] < i < every[-20]]  # the three driven cases
    assert set(driven) <= set(left_out) and len(left_out) == 3
    kinds = {e.kind for i in left_out for e in history_chain.entries(i)}
    assert kinds == {"step", "document", "acknowledgement"}  # what must not leak in
    gap = [i for i in every if i not in left_out]
    sparse = every[::4]
    assert "BETWEEN" in _condition(gap) and " IN " not in _condition(gap)
    assert "BETWEEN" not in _condition(sparse) and " IN " in _condition(sparse)
    assert " IN " in _condition([])
    for ids in (gap, sparse):
        steps, docs, chained = _one_by_one(ids)
        got = bulk.histories(ids)
        assert set(got) <= set(ids)
        assert {i: sorted((r.seq, r.step, r.occurred_on, r.data, r.recorded_by_role, r.note)
                          for r in got.get(i, [])) for i in ids} == steps
        got_docs = bulk.document_refs(ids)
        assert set(got_docs) <= set(ids)
        assert {i: sorted((d.step_seq, d.doc_type, d.attached_on) for d in got_docs.get(i, []))
                for i in ids} == docs
        entries = history_chain.entries_of_cases(ids)
        assert set(entries) == set(ids)
        for i in ids:
            assert sorted(entries[i], key=lambda e: (e.kind, e.id)) == sorted(
                chained[i], key=lambda e: (e.kind, e.id))
    assert bulk.histories(left_out) and bulk.document_refs(left_out)  # they are there to read
