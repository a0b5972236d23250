"""Vote arithmetic (票决制): coherence, quorum and majority, checked against an independent formula."""
from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from workflow.votes import Vote, VoteInvalid, VoteMethod, VoteResult, tally, validate

SECRET = VoteMethod.SECRET_BALLOT


def vote(eligible=9, present=9, written=0, yes=9, no=0, abstain=0, method=SECRET) -> Vote:
    return Vote(eligible, present, written, yes, no, abstain, method)


def data(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {"eligible": 9, "present": 7, "written": 1, "yes": 6, "no": 1,
                               "abstain": 1, "method": "secret_ballot"}
    base.update(changes)
    return base


# --- valid votes: quorum and majority --------------------------------------------------------

@pytest.mark.parametrize("v, quorum, passed", [
    (vote(), True, True),
    (vote(8, 5, 0, 5, 0, 0), True, True),
    (vote(8, 4, 0, 4, 0, 0), False, False),  # exactly half present is no quorum
    (vote(8, 5, 0, 4, 1, 0), True, False),   # exactly half yes is no majority
    (vote(9, 5, 0, 5, 0, 0), True, True),    # odd: 5 > 4.5
    (vote(9, 4, 0, 4, 0, 0), False, False),
    (vote(9, 5, 4, 5, 0, 4), True, True),    # written opinions may abstain
    (vote(10, 6, 3, 6, 3, 0), True, True),   # 6 > 5: written "no" do not matter
    (vote(10, 6, 4, 5, 5, 0), True, False),
    (vote(10, 6, 4, 6, 4, 0), True, True),   # written opinions count as votes
    (vote(10, 4, 6, 10, 0, 0), False, False),  # enough votes, but no quorum
    (vote(1, 1, 0, 1, 0, 0), True, True),
    (vote(1, 0, 1, 1, 0, 0), False, False),
    (vote(3, 2, 0, 0, 0, 0), True, False),   # nobody voted
    (vote(method=VoteMethod.SHOW_OF_HANDS), True, True),  # method is another rule's business
])
def test_tally(v, quorum, passed):
    assert validate(v) == {}
    result = tally(v)
    assert (result.quorum, result.passed) == (quorum, passed)
    assert (result.reasons == ()) == passed


def test_reasons_say_why_in_chinese():
    assert tally(vote(8, 3, 0, 3, 0, 0)) == VoteResult(False, False, (
        "出席人数 3 未超过应到人数 8 的半数", "赞成票 3 未超过应到人数 8 的半数"))
    assert tally(vote(8, 6, 0, 4, 2, 0)) == VoteResult(True, False, (
        "赞成票 4 未超过应到人数 8 的半数",))
    assert tally(vote(8, 4, 4, 5, 0, 0)).reasons == ("出席人数 4 未超过应到人数 8 的半数",)


# --- invalid votes ---------------------------------------------------------------------------

@pytest.mark.parametrize("v, fields", [
    (vote(eligible=0, present=0, yes=0), {"eligible"}),
    (vote(eligible=-1, present=0, yes=0), {"eligible"}),
    (vote(present=-1, yes=0), {"present"}),
    (vote(written=-1), {"written"}),
    (vote(yes=-1), {"yes"}),
    (vote(no=-2), {"no"}),
    (vote(abstain=-3), {"abstain"}),
    (vote(eligible=2**31, present=2**31, yes=2**31), {"eligible", "present", "yes"}),
    (vote(eligible=8, present=9, yes=0), {"present", "written"}),
    (vote(eligible=9, present=8, written=2, yes=0), {"written"}),
    (vote(eligible=9, present=9, written=0, yes=5, no=4, abstain=1), {"yes"}),
    (vote(eligible=9, present=7, written=1, yes=9, no=0, abstain=0), {"yes"}),
])
def test_invalid(v, fields):
    errors = validate(v)
    assert set(errors) == fields
    assert all(errors.values())
    with pytest.raises(VoteInvalid) as exc:
        tally(v)
    assert exc.value.fields == errors


def test_reasons_for_invalid_counts_are_chinese():
    errors = validate(vote(eligible=8, present=6, written=3, yes=6, no=3, abstain=1))
    assert errors == {
        "written": "书面意见人数 3 超过缺席人数 2",
        "yes": "赞成、反对、弃权票合计 10 超过实到人数与书面意见人数之和 9",
    }


# --- from_data -------------------------------------------------------------------------------

def test_from_data():
    assert Vote.from_data(data()) == Vote(9, 7, 1, 6, 1, 1, SECRET)
    assert Vote.from_data(data(method="show_of_hands")).method is VoteMethod.SHOW_OF_HANDS
    assert Vote.from_data(data(extra="ignored")) == Vote(9, 7, 1, 6, 1, 1, SECRET)


@pytest.mark.parametrize("changes, fields", [
    ({"yes": True}, {"yes"}),
    ({"no": False}, {"no"}),
    ({"eligible": "9"}, {"eligible"}),
    ({"present": 7.0}, {"present"}),
    ({"written": None}, {"written"}),
    ({"abstain": -1}, {"abstain"}),
    ({"no": 10**400}, {"no"}),  # beyond what the description allows, and any column
    ({"method": "acclamation"}, {"method"}),
    ({"method": 1}, {"method"}),
    ({"method": None}, {"method"}),
    ({"yes": "6", "no": True, "method": "x"}, {"yes", "no", "method"}),
])
def test_from_data_rejects_bad_values(changes, fields):
    with pytest.raises(VoteInvalid) as exc:
        Vote.from_data(data(**changes))
    assert set(exc.value.fields) == fields
    assert all(exc.value.fields.values())


@pytest.mark.parametrize("missing", ["eligible", "present", "written", "yes", "no", "abstain",
                                     "method"])
def test_from_data_rejects_missing_fields(missing):
    d = data()
    del d[missing]
    with pytest.raises(VoteInvalid) as exc:
        Vote.from_data(d)
    assert set(exc.value.fields) == {missing}


def test_from_data_lists_every_missing_field():
    with pytest.raises(VoteInvalid) as exc:
        Vote.from_data({})
    assert set(exc.value.fields) == {"eligible", "present", "written", "yes", "no", "abstain",
                                     "method"}


def test_vote_invalid_is_a_value_error_with_a_message():
    err = VoteInvalid({"present": "实到人数不能为负数"})
    assert isinstance(err, ValueError)
    assert "实到人数不能为负数" in str(err)


# --- property tests against an independent reference ----------------------------------------

counts = st.integers(min_value=0, max_value=60)
methods = st.sampled_from(list(VoteMethod))


def reference_invalid(e: int, p: int, w: int, y: int, n: int, a: int) -> bool:
    return (min(e, p, w, y, n, a) < 0 or e < 1 or p > e or w > e - p
            or y + n + a > p + w)


def reference(e: int, p: int, y: int) -> tuple[bool, bool]:
    quorum = p > Fraction(e, 2)
    return quorum, quorum and y > Fraction(e, 2)


@given(counts, counts, counts, counts, counts, counts, methods)
def test_tally_matches_reference(e, p, w, y, n, a, method):
    v = Vote(e, p, w, y, n, a, method)
    if reference_invalid(e, p, w, y, n, a):
        assert validate(v)
        with pytest.raises(VoteInvalid):
            tally(v)
        return
    assert validate(v) == {}
    result = tally(v)
    assert (result.quorum, result.passed) == reference(e, p, y)
    assert bool(result.reasons) != result.passed


@st.composite
def valid_votes(draw: st.DrawFn) -> Vote:
    e = draw(st.integers(min_value=1, max_value=200))
    p = draw(st.integers(min_value=0, max_value=e))
    w = draw(st.integers(min_value=0, max_value=e - p))
    y = draw(st.integers(min_value=0, max_value=p + w))
    n = draw(st.integers(min_value=0, max_value=p + w - y))
    a = draw(st.integers(min_value=0, max_value=p + w - y - n))
    return Vote(e, p, w, y, n, a, draw(methods))


@given(valid_votes())
def test_every_coherent_vote_is_counted_per_reference(v):
    assert validate(v) == {}
    assert (tally(v).quorum, tally(v).passed) == reference(v.eligible, v.present, v.yes)


ints = st.integers(min_value=-50, max_value=200)


@given(ints, ints, ints, ints, ints, ints, methods)
def test_every_incoherent_vote_is_refused(e, p, w, y, n, a, method):
    assume(reference_invalid(e, p, w, y, n, a))
    v = Vote(e, p, w, y, n, a, method)
    assert validate(v)
    with pytest.raises(VoteInvalid):
        tally(v)


@given(valid_votes())
def test_from_data_round_trips(v):
    raw = {"eligible": v.eligible, "present": v.present, "written": v.written, "yes": v.yes,
           "no": v.no, "abstain": v.abstain, "method": str(v.method)}
    assert Vote.from_data(raw) == v


@given(st.sampled_from(["eligible", "present", "written", "yes", "no", "abstain"]),
       st.one_of(st.booleans(), st.text(), st.floats(), st.none(),
                 st.integers(max_value=-1), st.integers(min_value=2**31)))
def test_from_data_refuses_non_counts(field, value):
    with pytest.raises(VoteInvalid) as exc:
        Vote.from_data(data(**{field: value}))
    assert field in exc.value.fields
