"""The fast constructors of the values bulk reads and replays make by the ten thousand
(`StepRecord.stored`, `Paperwork.of`, `Violation.missed`) make exactly what the dataclass
constructor makes."""
from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow.history import Paperwork, Responsible, StepRecord, Violation

texts = st.text(max_size=8)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


@given(st.integers(1, 10**9), texts, days,
       st.dictionaries(texts, st.integers() | texts | st.none(), max_size=3),
       st.sampled_from(["branch", "committee"]), st.none() | texts)
def test_a_stored_record_is_the_constructors(seq, step, on, data, role, note):
    made = StepRecord(seq, step, on, data, role, None, note)
    fast = StepRecord.stored(seq, step, on, data, role, note)
    assert fast == made and made == fast
    assert repr(fast) == repr(made)
    assert dataclasses.asdict(fast) == dataclasses.asdict(made)
    assert fast.answerable() == made.answerable() == []
    assert pickle.loads(pickle.dumps(fast)) == made
    assert copy.copy(fast) == made
    assert dataclasses.replace(fast, note="x") == dataclasses.replace(made, note="x")
    assert fast != dataclasses.replace(made, seq=seq + 1)


@given(st.integers(1, 10**9), texts, days, st.lists(texts, max_size=3).map(tuple),
       st.sampled_from(list(Responsible)), texts)
def test_fast_paperwork_is_the_constructors(seq, step, on, missing, who, org):
    made = Paperwork(seq, step, on, missing, who, org)
    fast = Paperwork.of(seq, step, on, missing, who, org)
    assert fast == made and hash(fast) == hash(made) and repr(fast) == repr(made)
    assert {fast, made} == {made}


@given(texts, st.sampled_from(list(Responsible)), days, texts)
def test_a_fast_miss_is_the_constructors(rule, who, due_on, org):
    made = Violation(rule, who, None, due_on, f"{due_on} 到期未完成", due_on=due_on, org=org)
    fast = Violation.missed(rule, who, due_on, org)
    assert fast == made and hash(fast) == hash(made) and repr(fast) == repr(made)
    assert fast.key == made.key and pickle.loads(pickle.dumps(fast)) == made


@pytest.mark.parametrize("value", [
    StepRecord.stored(1, "application_submitted", date(2024, 1, 2), {}, "branch", None),
    Paperwork.of(1, "application_submitted", date(2024, 1, 2), ("申请书",),
                 Responsible.BRANCH, "B1"),
    Violation.missed("conversion_vote_due", Responsible.BRANCH, date(2024, 1, 2), "B1")])
def test_fast_values_stay_frozen(value):
    name = dataclasses.fields(value)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, name, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(value, name)


@pytest.mark.parametrize("cls, make", [(StepRecord, StepRecord.stored), (Paperwork, Paperwork.of)])
def test_every_field_left_out_reads_a_class_default(cls, make):
    """A field added later without a plain default (a default factory, or none) would be
    missing from the fast values: this fails first."""
    given_names = set(inspect.signature(make).parameters)
    for f in dataclasses.fields(cls):
        if f.name not in given_names:
            assert f.default is not dataclasses.MISSING, f.name
            assert getattr(cls, f.name) == f.default, f.name
