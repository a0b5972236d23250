"""What a stage module declares its transitions with (kept apart from the package so that the
stage modules never import the package that imports them)."""
from __future__ import annotations

from dataclasses import dataclass


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
