"""入党积极分子: cultivation and assessment for at least a year (art. 9–13)."""
from __future__ import annotations

from workflow.states.transition import Transition, internal

STAGE = "activist"
ZH, EN = "入党积极分子", "Activist"
ARTICLES = "art. 9–13"  # the articles of the 2014 rules this stage follows
SUBSTATES = {"designated": "已确定为积极分子", "cultivating": "培养教育考察中"}
INITIAL = "designated"
STEPS = ("activist_filed", "cultivators_assigned", "activist_assessed", "training_attended",
         "candidate_designated")

TRANSITIONS = [
    *(Transition(step, "activist.designated", "activist.cultivating") for step in STEPS[:4]),
    *internal(STEPS[:4], "activist.cultivating"),
    Transition("candidate_designated", "activist", "candidate.preparing"),
]
