"""终止: the terminal stage, plus the steps that apply in every stage (close, transfer, correct).

Closing is possible from every development stage; transfer keeps the state (time continues,
art. 12); a correction never moves the machine by itself: replay re-applies the corrected
history instead.
"""
from __future__ import annotations

from workflow.states.transition import Transition

STAGE = "closed"
ZH, EN = "终止", "Closed"
ARTICLES = ""  # not a stage of the rules: a case leaves the pipeline
SUBSTATES: dict[str, str] = {}
INITIAL = None
STEPS = ("case_closed", "case_transferred", "step_corrected")
DEVELOPMENT = ("applicant", "activist", "candidate", "probationary")

TRANSITIONS = [
    *(Transition("case_closed", stage, "closed") for stage in DEVELOPMENT),
    *(Transition("case_transferred", stage, None) for stage in DEVELOPMENT),
    *(Transition("step_corrected", stage, None) for stage in (*DEVELOPMENT, "full_member", "closed")),
]
