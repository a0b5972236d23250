"""预备党员: a year's probation from the admission vote, then the conversion (art. 26–35).

The adopted resolution is a sub-state of its own so that the committee's decision on it needs
no look-back into the history: approving `resolved_extend` restarts probation, approving
`resolved_disqualify` closes the case.
"""
from __future__ import annotations

from workflow.states.transition import Transition, internal

STAGE = "probationary"
ZH, EN = "预备党员", "Probationary member"
ARTICLES = "art. 26–35"  # the articles of the 2014 rules this stage follows
SUBSTATES = {
    "on_probation": "预备期考察中",
    "conversion_requested": "已提出转正申请",
    "resolved_convert": "支部大会决议转正",
    "resolved_extend": "支部大会决议延长预备期",
    "resolved_disqualify": "支部大会决议取消预备党员资格",
}
INITIAL = "on_probation"
ONGOING = ("admission_filed", "group_assigned", "oath_taken", "probation_assessed",
           "conversion_notice_held")
STEPS = (*ONGOING, "conversion_requested", "conversion_voted", "conversion_approved")
VOTING = ("on_probation", "conversion_requested")
RESOLUTIONS = ("convert", "extend", "disqualify")

TRANSITIONS = [
    *internal(ONGOING, "probationary"),
    Transition("conversion_requested", "probationary.on_probation",
               "probationary.conversion_requested"),
    *(Transition("conversion_voted", f"probationary.{sub}", f"probationary.resolved_{outcome}",
                 ("vote_passed", f"outcome_{outcome}"))
      for sub in VOTING for outcome in RESOLUTIONS),
    # A failed conversion vote adopts no resolution: probation deadlines keep running.
    *(Transition("conversion_voted", f"probationary.{sub}", None) for sub in VOTING),
    Transition("conversion_approved", "probationary.resolved_convert", "full_member.admitted",
               ("decision_approved",)),
    Transition("conversion_approved", "probationary.resolved_extend", "probationary.on_probation",
               ("decision_approved",)),
    Transition("conversion_approved", "probationary.resolved_disqualify", "closed",
               ("decision_approved",)),
    *(Transition("conversion_approved", f"probationary.resolved_{outcome}",
                 "probationary.on_probation", ("decision_rejected",)) for outcome in RESOLUTIONS),
]
