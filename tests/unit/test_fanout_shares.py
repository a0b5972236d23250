"""Splitting branches over report processes by their number of cases
(services/reports/fanout.py)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from workflow.services.reports.fanout import shares


@settings(max_examples=200)
@given(st.dictionaries(st.integers(1, 10_000), st.integers(0, 5_000), max_size=60),
       st.integers(1, 8))
def test_every_branch_is_in_exactly_one_share_and_the_shares_are_balanced(weights, n):
    ids = sorted(weights)
    parts = shares(weights, ids, n)
    assert sorted(i for part in parts for i in part) == ids
    assert len(parts) <= n and all(parts)
    if len(parts) > 1:
        loads = [sum(weights[i] for i in part) for part in parts]
        # heaviest first, each to the lightest share: no share exceeds another by more than
        # the heaviest single branch
        assert max(loads) - min(loads) <= max(weights.values())


def test_a_branch_without_cases_still_gets_a_share():
    assert sorted(map(sorted, shares({1: 10, 2: 0, 3: 0}, [1, 2, 3], 2))) == [[1], [2, 3]]
