"""发展对象: preparation, pre-review, public notice, the admission vote and approval (art. 13–25).

Sub-states follow the two hand-overs between branch and committee (branch review → committee
pre-review; branch vote → committee approval); the other steps keep the state and are ordered
by the rules, so that a step taken out of order is recorded with its violation, not lost.
"""
from __future__ import annotations

from workflow.states.transition import Transition, internal

STAGE = "candidate"
ZH, EN = "发展对象", "Development candidate"
ARTICLES = "art. 13–25"  # the articles of the 2014 rules this stage follows
SUBSTATES = {
    "preparing": "准备材料",
    "awaiting_pre_review": "待党委预审",
    "pre_reviewed": "预审通过",
    "voted": "支部大会已通过",
}
INITIAL = "preparing"
PREPARATION = ("candidate_filed", "introducers_assigned", "political_review_concluded",
               "candidate_trained", "public_notice_held", "application_form_completed",
               "committee_interviewed")
STEPS = (*PREPARATION, "branch_committee_reviewed", "pre_review_decided", "admission_voted",
         "admission_approved")

TRANSITIONS = [
    *internal(PREPARATION, "candidate"),
    Transition("branch_committee_reviewed", "candidate.preparing",
               "candidate.awaiting_pre_review", ("result_pass",)),
    Transition("branch_committee_reviewed", "candidate.preparing", None),
    Transition("pre_review_decided", "candidate.awaiting_pre_review", "candidate.pre_reviewed",
               ("decision_approved",)),
    Transition("pre_review_decided", "candidate.awaiting_pre_review", "candidate.preparing",
               ("decision_returned",)),
    # A vote may happen without pre-review under the 1990 rules or by mistake; a failed vote
    # is recorded and leaves the state as it was.
    *(Transition("admission_voted", f"candidate.{sub}", "candidate.voted", ("vote_passed",))
      for sub in ("preparing", "awaiting_pre_review", "pre_reviewed")),
    *(Transition("admission_voted", f"candidate.{sub}", None)
      for sub in ("preparing", "awaiting_pre_review", "pre_reviewed")),
    Transition("admission_approved", "candidate.voted", "probationary.on_probation",
               ("decision_approved",)),
    Transition("admission_approved", "candidate.voted", "candidate.preparing",
               ("decision_rejected",)),
]
