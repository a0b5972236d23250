"""The committee's own work: the pre-review queue (`pre_reviews`), the approval queue of cases
whose admission or conversion vote passed (`approvals`), and the training courses for
activists whose attendance item 14 scores (`trainings`)."""
from __future__ import annotations

from workflow.services.committee.approvals import approvals
from workflow.services.committee.pre_reviews import pre_reviews
from workflow.services.committee.trainings import (
    access_code,
    activist_choices,
    change_attendance,
    create_training,
    record_attendance,
    training_detail,
    training_list,
    trainings_for_rubric,
)

__all__ = [
    "access_code",
    "activist_choices",
    "approvals",
    "change_attendance",
    "create_training",
    "pre_reviews",
    "record_attendance",
    "training_detail",
    "training_list",
    "trainings_for_rubric",
]
