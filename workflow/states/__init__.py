"""The pipeline's stages as data, one module per stage, in pipeline order.

Each module declares STAGE, ZH/EN labels, SUBSTATES (name -> Chinese label), INITIAL, STEPS
(the step ids that belong to the stage) and TRANSITIONS. The machine, the bulk-replay table and
the state diagram are all compiled from these declarations, so they cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Transition:
    """A named transition: `trigger` is a step id; `dest` None keeps the state (internal).

    `conditions` name predicates on the step's data (see workflow.machine.CONDITIONS); the
    first transition of a source whose conditions all hold is taken.
    """

    trigger: str
    source: str
    dest: str | None
    conditions: tuple[str, ...] = ()


def internal(steps: tuple[str, ...], source: str) -> list[Transition]:
    return [Transition(step, source, None) for step in steps]


from workflow.states import (  # noqa: E402  (Transition must exist before the stage modules)
    activist,
    applicant,
    candidate,
    closed,
    full_member,
    probationary,
)

STAGES: tuple[ModuleType, ...] = (applicant, activist, candidate, probationary, full_member, closed)
STAGE_IDS: tuple[str, ...] = tuple(m.STAGE for m in STAGES)
OPEN_STAGES: tuple[str, ...] = ("applicant", "activist", "candidate", "probationary")
