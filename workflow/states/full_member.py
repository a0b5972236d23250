"""正式党员: converted; what remains is archiving the file (step 25)."""
from __future__ import annotations

from workflow.states.transition import Transition

STAGE = "full_member"
ZH, EN = "正式党员", "Full member"
ARTICLES = ""  # archiving: no article of the 2014 rules cited here
SUBSTATES = {"admitted": "已转为正式党员", "archived": "材料已归档"}
INITIAL = "admitted"
STEPS = ("file_archived",)

TRANSITIONS = [Transition("file_archived", "full_member.admitted", "full_member.archived")]
