"""The pipeline's stages as data, one module per stage, in pipeline order.

Each module declares STAGE, ZH/EN labels, SUBSTATES (name -> Chinese label), INITIAL, STEPS
(the step ids that belong to the stage) and TRANSITIONS. The machine, the bulk-replay table and
the state diagram are all compiled from these declarations, so they cannot drift apart.
"""
from __future__ import annotations

from types import ModuleType

from workflow.states import (
    activist,
    applicant,
    candidate,
    closed,
    full_member,
    probationary,
)
from workflow.states.transition import Transition, internal  # re-exported: the stages' vocabulary

STAGES: tuple[ModuleType, ...] = (applicant, activist, candidate, probationary, full_member, closed)
STAGE_IDS: tuple[str, ...] = tuple(m.STAGE for m in STAGES)
OPEN_STAGES: tuple[str, ...] = ("applicant", "activist", "candidate", "probationary")

__all__ = ["OPEN_STAGES", "STAGES", "STAGE_IDS", "Transition", "internal"]
