"""Where a case stands in the pipeline, drawn from the stage definitions in the page's language:
the five stages in order (the current one marked, the ones behind it done), and the current
stage's sub-states with the case's own marked. The whole pipeline has a page of its own
(/pipeline): every stage with its sub-states and steps. Plain HTML, so it reads on a phone;
the full transition graph (a 5,000-point SVG) was shrunk to nothing on a page."""
from __future__ import annotations

from typing import Any

from flask_babel import gettext

from workflow import machine
from workflow.states import STAGES
from workflow.steps import STEPS

PIPELINE = ("applicant", "activist", "candidate", "probationary", "full_member")


def _sub_label(stage: Any, sub: str, lang: str) -> str:
    """A sub-state in words: the catalogue holds every Chinese label's English (the case's
    header shows the same words), never the state's id."""
    label = stage.SUBSTATES[sub]
    return label if lang == "zh" else gettext(label)


def position(state: str, lang: str = "zh") -> dict[str, Any]:
    """The stages with `current`/`done` flags and the current stage's sub-states."""
    stage_id, _, sub = state.partition(machine.SEPARATOR)
    by_id = {m.STAGE: m for m in STAGES}
    reached = PIPELINE.index(stage_id) if stage_id in PIPELINE else -1
    stages = [{"id": s, "label": by_id[s].ZH if lang == "zh" else by_id[s].EN,
               "current": s == stage_id, "done": i < reached}
              for i, s in enumerate(PIPELINE)]
    current = by_id.get(stage_id)
    subs = [{"id": k, "label": _sub_label(current, k, lang), "current": k == sub}
            for k in current.SUBSTATES] if current is not None else []
    closed = stage_id == "closed"
    return {"stages": stages, "substates": subs, "closed": closed,
            "closed_label": (by_id["closed"].ZH if lang == "zh" else by_id["closed"].EN)}


def pipeline(lang: str = "zh") -> list[dict[str, Any]]:
    """Every stage with its sub-states and the steps recorded in it, in pipeline order."""
    out = []
    for stage in STAGES:
        steps = [s for s in stage.STEPS if s in STEPS]
        out.append({"id": stage.STAGE, "label": stage.ZH if lang == "zh" else stage.EN,
                    "articles": stage.ARTICLES,
                    "substates": [_sub_label(stage, k, lang) for k in stage.SUBSTATES],
                    "steps": [STEPS[s].zh if lang == "zh" else STEPS[s].en for s in steps]})
    return out
