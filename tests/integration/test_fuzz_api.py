"""Schemathesis against our own OpenAPI description, with a valid token of every role:
no server error ever, and every error in the single error shape.

The generated requests conform to the description (schemathesis' positive mode), so an
answer 400 or 422 means the description promised more than the API accepts. Those refusals
are counted and reported per operation; what the description cannot say (the workflow's
order of steps, "not after today", a case of another stage) leaves a few, and each of those
must be on the list of known ones below. A negative run checks that requests breaking the
description are refused in the error shape, never with a server error.
"""
from __future__ import annotations

import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.integration.helpers import drive, open_case
from workflow.plans import TARGETS as PLAN_TARGETS

pytestmark = pytest.mark.db
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
# answers that say nothing about the description: no right, no such thing, a race, too big
NOT_A_SCHEMA_ANSWER = {401, 403, 404, 409, 413}
# Refusals of conforming requests that the description cannot prevent, by operation and the
# field the answer names: the value is right in form but wrong for this case, this roster or
# this day (each description says so in words).
EXPLAINED: dict[str, set[str]] = {
    # the workflow's order of steps, a repeat, a date after today or before the one it
    # follows, who decides (only decisions name a decider), what a correction corrects,
    # roster members of this branch, a vote's arithmetic, an end before its start
    "POST /api/v1/cases/{id}/steps": {
        "step", "occurred_on", "decided_by", "corrects", "fields", "to_branch", "cultivators",
        "introducers", "vote", "end_on", "extend_months", "training_id", "eligible",
        "present", "written", "yes", "no", "abstain"},
    # after today; a committee's code; an ID number's check digit
    "POST /api/v1/cases": {"application_date", "person.birth_date", "branch",
                           "person.id_number"},
    "POST /api/v1/orgs/{code}/roster": {"since"},  # after today
    # the step record and the document type must belong together, as the case has them
    "POST /api/v1/cases/{id}/documents": {"step_record_id", "doc_type", "file"},
    # an end before the start; invitees must be this committee's activists
    "POST /api/v1/trainings": {"end_on", "invitees"},
    "POST /api/v1/trainings/{id}/attendance": {"case_id"},  # must be invited
    # must be invited and have a recorded attendance to change
    "POST /api/v1/trainings/{id}/attendance/corrections": {"case_id"},
    "GET /api/v1/rubric": {"org"},  # an organisation that is not a branch
    # a plan goes to a branch; a structure target is at most the plan's quota
    "POST /api/v1/plans": {"org", *(f"targets.{t}" for t in PLAN_TARGETS)},
    # ... and a reason has four characters besides the spaces around it
    "POST /api/v1/plans/{id}/adjustments": {"reason", *(f"targets.{t}" for t in PLAN_TARGETS)},
}


def _field(body: dict) -> str:
    fields = body["error"].get("fields") or {}
    return next(iter(fields), "") if fields else ""


def _check(response, label: str, refused: Counter) -> None:
    assert response.status_code < 500, (response.request.method, response.request.url,
                                        response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
        if response.status_code not in NOT_A_SCHEMA_ANSWER:
            field = _field(body)
            refused[(label, response.status_code, field, body["error"]["message"][:60])] += 1


def _report(capsys, request, role: str, sent: int, refused: Counter) -> None:
    lines = [f"fuzz {role}: {sent} conforming requests, {sum(refused.values())} refused as "
             + "invalid (4xx other than 401/403/404/409/413)"]
    lines += [f"    {n:3d} × {label} → {status} {field or '-'}: {message}"
              for (label, status, field, message), n in refused.most_common()]
    with capsys.disabled():  # shown with -q too: the number to drive toward zero
        print("\n" + "\n".join(lines))
    request.node.user_properties.append(("refused_conforming", sum(refused.values())))


def _world_to_fuzz(world) -> dict[str, int]:
    """An activist's case and a course inviting it: the ids the operations' {id} take, so
    that the generated bodies reach the validation instead of a 404 for an unknown id."""
    case = open_case(world)
    drive(world, case["id"], until="activist_designated")
    r = world.post("org", "/api/v1/trainings", {"title": "党校培训", "start_on": "2023-06-01",
                                                "end_on": "2023-06-03", "hours": 24,
                                                "invitees": [case["id"]]})
    assert r.status_code == 201, r.json
    plan = world.post("org", "/api/v1/plans", {"org": "B1", "year": 2026, "quota": 3})
    assert plan.status_code == 201, plan.json
    return {"case": case["id"], "training": r.json["id"], "plan": plan.json["id"]}


def _strategy(operation, ids: dict[str, int], mode: GenerationMode):
    if "{id}" not in operation.path:
        return operation.as_strategy(mode)
    pinned = (ids["training"] if operation.path.startswith("/api/v1/trainings/") else
              ids["plan"] if operation.path.startswith("/api/v1/plans/") else ids["case"])
    return operation.as_strategy(mode, path_parameters={"id": pinned})


@pytest.mark.parametrize("role", ["sec1", "org", "aud", "admin"])
def test_fuzz_every_operation(ctx, world, role, request, capsys):
    ids = _world_to_fuzz(world)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", ctx)
    headers = world.headers(role)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14

    refused: Counter = Counter()
    sent = 0
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(generated=_strategy(operation, ids, GenerationMode.POSITIVE))
        def run(generated) -> None:
            nonlocal sent
            sent += 1
            _check(generated.call(headers=headers), label, refused)  # noqa: B023 (run now)

        run()
    _report(capsys, request, role, sent, refused)
    unexplained = {k: n for k, n in refused.items()
                   if k[1] != 422 or k[2] not in EXPLAINED.get(k[0], set())}
    assert not unexplained, unexplained


@pytest.mark.parametrize("role", ["sec1", "org"])
def test_fuzz_nonconforming_requests(ctx, world, role):
    """Requests that break the description: refused in the error shape, never a 5xx."""
    ids = _world_to_fuzz(world)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", ctx)
    headers = world.headers(role)
    ignored: Counter = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"

        @settings(max_examples=max(EXAMPLES // 2, 4), deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(generated=_strategy(operation, ids, GenerationMode.NEGATIVE))
        def run(generated) -> None:
            _check(generated.call(headers=headers), label, ignored)  # noqa: B023 (run now)

        try:
            run()
        except Unsatisfiable:  # nothing to break: no parameter, no body (/health)
            continue
