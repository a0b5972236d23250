"""入党申请人: from the application letter to designation as an activist (art. 7–8)."""
from __future__ import annotations

from workflow.states.transition import Transition

STAGE = "applicant"
ZH, EN = "入党申请人", "Applicant"
ARTICLES = "art. 7–8"  # the articles of the 2014 rules this stage follows
SUBSTATES = {"applied": "已递交申请书", "interviewed": "已谈话"}
INITIAL = "applied"
STEPS = ("application_submitted", "applicant_interviewed", "activist_designated")

TRANSITIONS = [
    Transition("application_submitted", "new", "applicant.applied"),
    Transition("applicant_interviewed", "applicant.applied", "applicant.interviewed"),
    # Designation without an interview happened in reality: the rules flag it, the machine
    # lets it through so the record is not lost.
    Transition("activist_designated", "applicant", "activist.designated"),
]
