"""The nested state machine of the pipeline, built once per process from `workflow.states`.

Two forms are compiled from the same declarations: the `transitions` HierarchicalMachine that
single cases are bound to (add_model → trigger → remove_model), and a plain lookup table that
bulk replay uses because it is many times faster per step. A test proves they agree on every
state, step and condition outcome.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from transitions import MachineError
from transitions.extensions.nesting import HierarchicalMachine, NestedState

from workflow import votes
from workflow.states import STAGES, Transition

INITIAL_STATE = "new"
SEPARATOR = "."


_ABSENT = object()  # a vote field missing from the data (distinct from any stored value)
_VOTE_KEYS = (*votes.COUNT_FIELDS, "method")


def vote_result(vote: Any) -> votes.VoteResult:
    """`votes.tally(votes.Vote.from_data(vote))`, remembered by the vote's values: a replay
    asks it up to three times per vote (the machine's condition, the facts, the quorum rule)
    and most recorded votes repeat a few counts. Raises what the tally raises."""
    if isinstance(vote, Mapping):
        key = tuple(vote.get(k, _ABSENT) for k in _VOTE_KEYS)
        try:
            hash(key)
        except TypeError:  # an unhashable value (a list for a count): not remembered
            pass
        else:
            return _remembered_tally(*key)
    return votes.tally(votes.Vote.from_data(vote))


@lru_cache(maxsize=4096, typed=True)  # typed: True and 1 are different counts
def _remembered_tally(*values: Any) -> votes.VoteResult:
    return votes.tally(votes.Vote.from_data(
        {k: v for k, v in zip(_VOTE_KEYS, values) if v is not _ABSENT}))


def _vote_passed(data: Mapping[str, Any]) -> bool:
    try:
        return vote_result(data["vote"]).passed
    except (votes.VoteInvalid, KeyError, TypeError):
        return False


CONDITIONS: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "result_pass": lambda d: d.get("result") == "pass",
    "decision_approved": lambda d: d.get("decision") == "approved",
    "decision_returned": lambda d: d.get("decision") == "returned",
    "decision_rejected": lambda d: d.get("decision") == "rejected",
    "vote_passed": _vote_passed,
    "outcome_convert": lambda d: d.get("outcome") == "convert",
    "outcome_extend": lambda d: d.get("outcome") == "extend",
    "outcome_disqualify": lambda d: d.get("outcome") == "disqualify",
}


class StepNotAllowed(Exception):
    """The step does not belong to the case's current state (an `invalid` request)."""

    def __init__(self, state: str, step: str) -> None:
        super().__init__(f"step {step!r} is not allowed in state {state!r}")
        self.state, self.step = state, step


class _State(NestedState):
    separator = SEPARATOR


class _Machine(HierarchicalMachine):
    state_cls = _State


def all_transitions() -> Iterator[Transition]:
    for stage in STAGES:
        yield from stage.TRANSITIONS


def state_definitions() -> list[Any]:
    states: list[Any] = [INITIAL_STATE]
    for stage in STAGES:
        if stage.SUBSTATES:
            states.append({"name": stage.STAGE, "children": list(stage.SUBSTATES),
                           "initial": stage.INITIAL})
        else:
            states.append(stage.STAGE)
    return states


def leaf_states() -> list[str]:
    leaves = [INITIAL_STATE]
    for stage in STAGES:
        subs = stage.SUBSTATES or {"": ""}
        leaves += [f"{stage.STAGE}{SEPARATOR}{s}" if s else stage.STAGE for s in subs]
    return leaves


def stage_of(state: str) -> str:
    return state.split(SEPARATOR, 1)[0]


def _condition(name: str) -> Callable[[Any], bool]:
    check = CONDITIONS[name]
    return lambda event: check(event.kwargs.get("data", {}))


@cache
def machine() -> _Machine:
    """The process-wide machine; cases are bound to it, never given their own."""
    m = _Machine(model=None, states=state_definitions(), initial=INITIAL_STATE,
                 auto_transitions=False, send_event=True, ignore_invalid_triggers=False)
    for t in all_transitions():
        m.add_transition(t.trigger, t.source, t.dest,
                         conditions=[_condition(c) for c in t.conditions])
    return m


class BoundCase:
    """A throwaway model object: the machine sets `.state` on it."""

    state: str


def fire(state: str, step: str, data: Mapping[str, Any]) -> str:
    """Fire one step on the shared machine, returning the new leaf state."""
    m, model = machine(), BoundCase()
    m.add_model(model, initial=state)
    try:
        try:
            done = model.trigger(step, data=data)  # type: ignore[attr-defined]
        except (MachineError, AttributeError) as exc:
            raise StepNotAllowed(state, step) from exc
        if not done:
            raise StepNotAllowed(state, step)
        return model.state
    finally:
        m.remove_model(model)


@dataclass(frozen=True)
class Arc:
    conditions: tuple[str, ...]
    dest: str | None


def _parents(state: str) -> list[str]:
    parts = state.split(SEPARATOR)
    return [SEPARATOR.join(parts[:i]) for i in range(len(parts), 0, -1)]


@cache
def table() -> dict[str, dict[str, tuple[Arc, ...]]]:
    """state -> step -> arcs in the order the nested machine tries them (leaf first)."""
    by_source: dict[str, dict[str, list[Arc]]] = {}
    for t in all_transitions():
        by_source.setdefault(t.source, {}).setdefault(t.trigger, []).append(
            Arc(t.conditions, t.dest))
    compiled: dict[str, dict[str, tuple[Arc, ...]]] = {}
    for leaf in leaf_states():
        steps: dict[str, list[Arc]] = {}
        for scope in _parents(leaf):
            for step, arcs in by_source.get(scope, {}).items():
                steps.setdefault(step, []).extend(arcs)
        compiled[leaf] = {step: tuple(arcs) for step, arcs in steps.items()}
    return compiled


def _resolve(dest: str) -> str:
    for stage in STAGES:
        if dest == stage.STAGE and stage.SUBSTATES:
            return f"{dest}{SEPARATOR}{stage.INITIAL}"
    return dest


Condition = Callable[[Mapping[str, Any]], bool]
Compiled = dict[str, dict[str, tuple[tuple[tuple[Condition, ...], str | None], ...]]]


@cache
def compiled() -> Compiled:
    """`table()` ready to run: each arc's conditions as functions and its destination resolved
    to the leaf the machine enters (None: an internal transition, the state stays)."""
    return {state: {step_id: tuple((tuple(CONDITIONS[c] for c in arc.conditions),
                                    None if arc.dest is None else _resolve(arc.dest))
                                   for arc in arcs)
                    for step_id, arcs in steps.items()}
            for state, steps in table().items()}


_NOWHERE: dict[str, Any] = {}


def step(state: str, step_id: str, data: Mapping[str, Any]) -> str:
    """Table form of `fire`: the same answer without the machine's per-trigger overhead."""
    for conditions, dest in compiled().get(state, _NOWHERE).get(step_id, ()):
        for condition in conditions:
            if not condition(data):
                break
        else:
            return state if dest is None else dest
    raise StepNotAllowed(state, step_id)


@cache
def allowed_steps(state: str) -> tuple[str, ...]:
    """Step ids the machine accepts in this state (before any rule is consulted)."""
    return tuple(table().get(state, {}))


# steps that never open the way to another step: leaving the pipeline, moving, correcting
_DETOURS = frozenset({"case_closed", "case_transferred", "step_corrected"})


def missing_step(state: str, step_id: str) -> str | None:
    """The first step still to record before `step_id` is allowed from `state`: the head of the
    shortest path of state-changing steps (conditions taken as met) to a state that accepts
    it. None when no path leads there (the stage is already past)."""
    from collections import deque
    seen = {state}
    queue: deque[tuple[str, str | None]] = deque([(state, None)])
    while queue:
        here, first = queue.popleft()
        for step, arcs in table().get(here, {}).items():
            if step in _DETOURS:
                continue
            for arc in arcs:
                if arc.dest is None:
                    continue
                there = _resolve(arc.dest)
                if there in seen:
                    continue
                seen.add(there)
                head = first or step
                if step_id in table().get(there, {}):
                    return head
                queue.append((there, head))
    return None
