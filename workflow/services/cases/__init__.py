"""A case and its history: everything a branch does to one person's case.

`recording`: open a case, record or correct a step (replayed against the rules before it is
written), read and list cases, re-derive the cached stage; `documents`: papers and files of a
step; `decisions`: committee decisions name the person who decided; `exemptions`: named
exemptions from separation-of-duties rules; `history_chain`: the tamper-evident links of a
case's records and their verification; `checkpoints`: signed files of every case's chain head
and length, kept outside the database, that `verify` compares with; `views`: the dictionaries
pages and the API show.
"""
from __future__ import annotations

from workflow.services.cases.documents import mark_on_file, upload
from workflow.services.cases.recording import (
    Loaded,
    get_case,
    list_cases,
    load,
    mask_id,
    open_case,
    record_step,
    rederive,
)

__all__ = ["Loaded", "get_case", "list_cases", "load", "mark_on_file", "mask_id", "open_case",
           "record_step", "rederive", "upload"]
