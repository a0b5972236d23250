"""Score pages: a branch's rubric with every deduction explained and a link to its step."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from workflow.services import access, reports
from workflow.services.clock import today
from workflow.services.errors import BadRequest, Invalid, NotFound

bp = Blueprint("reports", __name__, url_prefix="/reports")
bp.before_request(login_required(lambda: None))


@bp.get("/rubric")
def rubric() -> Any:
    as_of = today()
    year = request.args.get("year", str(as_of.year))
    scope = access.subtree_ids(current_user.org_id)
    from workflow.services.admin import organisations
    branches = [o for o in organisations() if o.id in scope and o.kind == "branch"]
    code = request.args.get("org") or (branches[0].code if branches else "")
    try:
        result = reports.branch_rubric(current_user, code, year, as_of) if code else None
    except NotFound:
        abort(404)
    except (BadRequest, Invalid):
        abort(404)
    return render_template("reports/rubric.html", result=result, branches=branches, code=code,
                           year=year)
