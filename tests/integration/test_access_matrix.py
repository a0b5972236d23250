"""Every route × every actor: outsiders never see the case, and nobody out of scope or in the
wrong role changes anything through any write route, while the very same request succeeds for
an actor in scope.

Both matrices come from the app's route table, so a new route is covered the day it is added:
a new write route fails `test_every_write_route_has_an_entry` until WRITES says which request
would succeed for whom (or why the route is exempt), and a new kind of URL parameter fails the
read matrix until it is given a value.

"Changes nothing" is checked on the committed contents of every table (not only their row
counts: a flag or a password hash can change in place) and on the files under UPLOAD_DIR, read
over a connection of its own after each refused request.

The API refuses with 401 (no token), 403 or 404. A page refuses with 403 or 404, a redirect to
the login page for nobody logged in, or, where it treats a refusal like any mistaken form
(`refusal="message"`), by showing the form again or redirecting with an error message; each
such outcome is printed per actor (`-s`, lines "MATRIX").
"""
from __future__ import annotations

import io
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.conftest import PASSWORD
from tests.integration.helpers import drive, open_case
from tests.integration.test_import_export import book, happy_row
from tests.unit.builders import HAPPY
from tests.web.test_pages import _csrf
from workflow.persistence.db import db

pytestmark = pytest.mark.db

SECRET_NAME = "保密测试人"
OUTSIDERS = ["sec2", "sec3", "org2"]  # another branch, a branch and a committee elsewhere
PUBLIC = {"/api/v1/health", "/api/v1/openapi.json", "/login", "/lang/<code>",
          "/static/<path:filename>"}
ANON = "anon"  # no token, no login
ACTORS = (ANON, "sec1", "sec2", "sec3", "org", "org2", "aud", "admin")  # the `world` fixture's
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

# Left out of "changes nothing", and why. personal_data_access is the log of who was shown
# personal data: a refused write may re-render a page the actor is entitled to read, and the
# log then rightly says so; it holds no state any decision is taken on. (reference_stamps,
# the reference-data cache's stamp, is not a model table; its triggers change it only with the
# four reference tables, which are compared in full here.)
TECHNICAL_TABLES = {"personal_data_access"}
# (table, column) pairs any request may touch without writing anything: the "last used" time
# authentication itself stamps on the token or login session the request presents (at most
# once a minute), refused or not; nothing is decided on them but expiry.
VOLATILE_COLUMNS: set[tuple[str, str]] = {("api_tokens", "last_used_at"),
                                          ("login_sessions", "last_seen_at")}


@pytest.fixture(autouse=True)
def _login_limit_off(monkeypatch):
    """test_security turns the shared login limiter on for its own app, and the limiter is one
    object per process; these tests log in some hundred times a minute."""
    from workflow.web.security import limiter
    monkeypatch.setattr(limiter, "enabled", False)


# ---------------------------------------------------------------- state: rows and files

def _state(app) -> dict[str, tuple[str, ...]]:
    """The committed contents of every table but the technical ones, and the upload folder."""
    out: dict[str, tuple[str, ...]] = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if table.name in TECHNICAL_TABLES:
                continue
            cols = [c for c in table.columns if (table.name, c.name) not in VOLATILE_COLUMNS]
            rows = conn.execute(sa.select(*cols)).all()
            out[table.name] = tuple(sorted(repr(tuple(r)) for r in rows))
    folder = Path(app.config["UPLOAD_DIR"])
    out["files:UPLOAD_DIR"] = tuple(sorted(
        f"{p.relative_to(folder)} {p.stat().st_size}" for p in folder.rglob("*") if p.is_file()
    )) if folder.exists() else ()
    return out


def _diff(before: dict[str, tuple[str, ...]], after: dict[str, tuple[str, ...]]) -> str:
    lines = []
    for name in sorted(set(before) | set(after)):
        old, new = set(before.get(name, ())), set(after.get(name, ()))
        if old != new:
            lines.append(f"{name}: +{sorted(new - old)[:3]} -{sorted(old - new)[:3]}")
    return "; ".join(lines)


# ---------------------------------------------------------------- the scene and the actors

class Scene:
    """One world (tests/integration/conftest.py) and the cases, records and course a route's
    request names, built on first use, before anyone's attempt is measured."""

    def __init__(self, app, world) -> None:
        self.app, self.world = app, world
        self._built: dict[str, Any] = {}
        self._clients: dict[str, tuple[Any, str]] = {}

    def _once(self, name: str, build: Callable[[], Any]) -> Any:
        if name not in self._built:
            self._built[name] = build()
            db.session.remove()
        return self._built[name]

    @property
    def activist(self) -> int:
        """A B1 case at `activist`, assessed once (next: the 2024H1 assessment)."""
        def build() -> int:
            case = open_case(self.world, person={"name": SECRET_NAME, "gender": "male",
                                                 "birth_date": "1990-01-01"})
            drive(self.world, case["id"], until="activist_assessed")
            return int(case["id"])
        return self._once("activist", build)

    @property
    def application_record(self) -> int:
        """The activist case's `application_submitted` record (needs an application letter)."""
        return self._once("application_record", lambda: self.world.get(
            "sec1", f"/api/v1/cases/{self.activist}").json["steps"][0]["id"])

    @property
    def interview_record(self) -> int:
        """The activist case's `applicant_interviewed` record (interviewer 张伟)."""
        return self._once("interview_record", lambda: self.world.get(
            "sec1", f"/api/v1/cases/{self.activist}").json["steps"][1]["id"])

    @property
    def reviewed(self) -> int:
        """A B1 case whose branch committee review passed: awaiting the committee's pre-review."""
        def build() -> int:
            case = open_case(self.world, person={"name": "待预审人", "gender": "female",
                                                 "birth_date": "1992-02-02"})
            drive(self.world, case["id"], until="branch_committee_reviewed")
            return int(case["id"])
        return self._once("reviewed", build)

    @property
    def training(self) -> int:
        """A course of committee C that invited the activist."""
        def build() -> int:
            r = self.world.post("org", "/api/v1/trainings", {
                "title": "积极分子培训班", "start_on": "2023-10-09", "end_on": "2023-10-11",
                "hours": 24, "invitees": [self.activist]})
            assert r.status_code == 201, r.json
            return int(r.json["id"])
        return self._once("training", build)

    @property
    def attended(self) -> int:
        """Committee C's course with the activist's attendance recorded (present)."""
        def build() -> int:
            r = self.world.post("org", f"/api/v1/trainings/{self.training}/attendance",
                                {"case_id": self.activist, "attended": True})
            assert r.status_code == 201, r.json
            return self.training
        return self._once("attended", build)

    @property
    def plan(self) -> int:
        """Committee C's 2024 plan for B1 (quota 2)."""
        def build() -> int:
            r = self.world.post("org", "/api/v1/plans", {"org": "B1", "year": 2024, "quota": 2})
            assert r.status_code == 201, r.json
            return int(r.json["id"])
        return self._once("plan", build)

    def user_id(self, who: str) -> int:
        from workflow.persistence.models import User
        return int(db.session.execute(db.select(User.id).filter_by(username=who)).scalar_one())

    def token_id(self, who: str) -> int:
        from workflow.persistence.models import ApiToken
        return int(db.session.execute(db.select(ApiToken.id).filter_by(
            user_id=self.user_id(who))).scalars().first())

    def browser(self, who: str) -> tuple[Any, str]:
        """A test client logged in as `who` (anonymous: only the login page seen) and the CSRF
        token of its session, so that what refuses a request is never the missing token."""
        if who not in self._clients:
            client = self.app.test_client()
            token = _csrf(request(self.app, client, "GET", "/login").text)
            if who != ANON:
                r = request(self.app, client, "POST", "/login", data={
                    "username": who, "password": PASSWORD, "csrf_token": token})
                assert r.status_code == 302, (who, r.status_code)
                token = _csrf(request(self.app, client, "GET", "/password").text)
            self._clients[who] = (client, token)
        return self._clients[who]


def request(app, client, method: str, url: str, **kw: Any) -> Any:
    """One request in an application context of its own, as in production. The test's context
    (the `ctx` fixture) would otherwise be reused by the request, and with it `g`, where
    Flask-Login keeps the loaded user and Flask-WTF the CSRF token: a second client's request
    would run as the first client's user. Its teardown also ends the request's database
    session, discarding anything it left uncommitted."""
    with app.app_context():
        r = client.open(url, method=method, **kw)
        r.get_data()  # read the body while the context lives
    return r


@dataclass(frozen=True)
class Call:
    """One request: JSON to the API (`json`), or a form to a page (`form`, files as tuples)."""
    url: str
    json: Any = None
    form: dict[str, Any] | None = None
    method: str = "POST"


@dataclass(frozen=True)
class Scenario:
    """A request that succeeds for `ok`; `also` may make it too (their own branch, or the
    committee over it), every other actor of ACTORS must be refused and change nothing.
    `refusal`: "status" = the answer is 403 or 404; "message" = a page that answers a refused
    form as it answers a mistaken one, re-rendering it or redirecting with an error message
    (403/404 accepted too). `writes`: the table (or "files") the successful request changes."""
    name: str
    ok: str
    request: Callable[[Scene, str], Call]
    writes: str
    also: tuple[str, ...] = ()
    refusal: str = "status"

    @property
    def refused(self) -> list[str]:
        return [a for a in ACTORS if a != self.ok and a not in self.also]


@dataclass(frozen=True)
class Exempt:
    """A write route outside the matrix, and where it is tested instead."""
    reason: str


def _stash(scene: Scene, who: str) -> Call:
    """Confirming an import reads the file its preview kept (`<user id>-<token>.xlsx`, see
    workflow/web/transfer.py); put one there for `who`, as if a preview had let them through,
    so that the confirmation's own checks are what is tested."""
    token = secrets.token_hex(16)
    if who != ANON:
        folder = Path(scene.app.config["UPLOAD_DIR"]) / "imports"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{scene.user_id(who)}-{token}.xlsx").write_bytes(
            book([happy_row(HAPPY[:3], person={"name": "导入人", "gender": "female",
                                                "birth_date": "1996-06-06"})]))
    return Call("/transfer/import/confirm", form={"token": token, "branch": "B1"})


def _robot_url(path: str) -> str:
    """A group robot that accepts every message (tests/integration/robot_server.py)."""
    from tests.integration.robot_server import shared
    return f"{shared().base}{path}?key=matrix"


def _webhook(scene: Scene) -> int:
    """A WeCom robot of B1, configured by the admin."""
    def build() -> int:
        from workflow.persistence.models import User
        from workflow.services.directory import webhooks
        admin = db.session.execute(db.select(User).filter_by(username="admin")).scalar_one()
        return webhooks.create(admin, {"org": "B1", "kind": "wecom",
                                       "url": _robot_url("/b1")}).id
    return int(scene._once("webhook", build))


PERSON = {"name": "新申请人", "gender": "male", "birth_date": "1998-08-08"}
BRANCH_STEP = {"step": "activist_assessed", "occurred_on": "2024-03-30",
               "data": {"period": "2024H1", "conclusion": "表现良好"}}
SECRETARIES = ("sec2", "sec3")  # in scope of their own branch where the route names none

WRITES: dict[tuple[str, str], list[Scenario] | Exempt] = {
    # ------------------------------------------------------------------ JSON API
    ("POST", "/api/v1/cases"): [Scenario(
        "open a case in B1", "sec1", writes="cases",
        request=lambda s, w: Call("/api/v1/cases", json={
            "branch": "B1", "person": PERSON, "application_date": "2024-03-01"}))],
    ("POST", "/api/v1/cases/<int:case_id>/steps"): [
        Scenario("a branch step", "sec1", writes="step_records",
                 request=lambda s, w: Call(f"/api/v1/cases/{s.activist}/steps", json=BRANCH_STEP)),
        Scenario("a committee decision", "org", writes="step_records",
                 request=lambda s, w: Call(f"/api/v1/cases/{s.reviewed}/steps", json={
                     "step": "pre_review_decided", "occurred_on": "2024-05-27",
                     "data": {"decision": "approved", "comments": "同意"},
                     "decided_by": s.world.roster["刘洋"]}))],
    ("POST", "/api/v1/cases/<int:case_id>/documents"): [
        Scenario("a paper original on file", "sec1", also=("org",), writes="documents",
                 request=lambda s, w: Call(f"/api/v1/cases/{s.activist}/documents", json={
                     "doc_type": "application_letter", "step_record_id": s.application_record,
                     "on_file": True, "reference": "档案柜 A-3"})),
        Scenario("an uploaded file", "sec1", also=("org",), writes="documents",
                 request=lambda s, w: Call(f"/api/v1/cases/{s.activist}/documents", form={
                     "doc_type": "application_letter",
                     "step_record_id": str(s.application_record),
                     "file": (io.BytesIO(b"%PDF-1.4 letter"), "letter.pdf")}))],
    ("POST", "/api/v1/orgs/<code>/roster"): [Scenario(
        "a roster member of B1", "sec1", also=("org",), writes="roster_members",
        request=lambda s, w: Call("/api/v1/orgs/B1/roster", json={
            "name": "孙丽", "status": "full", "since": "2015-07-01"}))],
    ("POST", "/api/v1/trainings"): [Scenario(
        "a course inviting a B1 activist", "org", writes="trainings",
        request=lambda s, w: Call("/api/v1/trainings", json={
            "title": "2023年秋季培训班", "start_on": "2023-10-09", "end_on": "2023-10-11",
            "hours": 24, "invitees": [s.activist]}))],
    ("POST", "/api/v1/trainings/<int:training_id>/attendance"): [Scenario(
        "attendance at committee C's course", "org", writes="step_records",
        request=lambda s, w: Call(f"/api/v1/trainings/{s.training}/attendance",
                                  json={"case_id": s.activist, "attended": True}))],
    ("POST", "/api/v1/trainings/<int:training_id>/attendance/corrections"): [Scenario(
        "change a recorded attendance with a reason", "org", writes="step_records",
        request=lambda s, w: Call(f"/api/v1/trainings/{s.attended}/attendance/corrections",
                                  json={"case_id": s.activist, "attended": False,
                                        "reason": "签到表核对有误"}))],
    ("POST", "/api/v1/plans"): [Scenario(
        "B1's plan for 2025", "org", writes="development_plans",
        request=lambda s, w: Call("/api/v1/plans", json={"org": "B1", "year": 2025,
                                                         "quota": 3}))],
    ("POST", "/api/v1/plans/<int:plan_id>/adjustments"): [Scenario(
        "a new version of B1's plan", "org", writes="plan_versions",
        request=lambda s, w: Call(f"/api/v1/plans/{s.plan}/adjustments",
                                  json={"quota": 3, "reason": "上级党委追加名额"}))],
    ("POST", "/api/v1/plans/<int:plan_id>/measures"): [Scenario(
        "a measure of B1's own plan", "sec1", writes="plan_measures",
        request=lambda s, w: Call(f"/api/v1/plans/{s.plan}/measures",
                                  json={"text": "每季度召开积极分子座谈会", "owner": "王芳"}))],
    # ------------------------------------------------------------------ pages
    ("POST", "/cases/new"): [Scenario(
        "open a case in one's own branch", "sec1", also=SECRETARIES, writes="cases",
        refusal="message", request=lambda s, w: Call("/cases/new", form={
            "name": "新申请人", "gender": "male", "birth_date": "1998-08-08",
            "application_date": "2024-03-01"}))],
    ("POST", "/cases/<int:case_id>/steps/<step>"): [
        Scenario("a branch step form", "sec1", writes="step_records", refusal="message",
                 request=lambda s, w: Call(f"/cases/{s.activist}/steps/activist_assessed", form={
                     "occurred_on": "2024-03-30", "data_period": "2024H1",
                     "data_conclusion": "表现良好"})),
        Scenario("a committee decision form", "org", writes="step_records", refusal="message",
                 request=lambda s, w: Call(f"/cases/{s.reviewed}/steps/pre_review_decided", form={
                     "occurred_on": "2024-05-27", "data_decision": "approved",
                     "data_comments": "同意", "doc_pre_review_form_ref": "P-1"}))],
    ("POST", "/cases/<int:case_id>/records/<int:record_id>/correct"): [Scenario(
        "correct a branch record", "sec1", also=("org",), writes="step_records",
        request=lambda s, w: Call(
            f"/cases/{s.activist}/records/{s.interview_record}/correct", form={
                "occurred_on": "2023-03-15", "data_interviewer": "王芳",
                "correction_reason": "谈话人记错"}))],
    ("POST", "/cases/<int:case_id>/documents"): [Scenario(
        "a paper original on file", "sec1", also=("org",), writes="documents",
        refusal="message", request=lambda s, w: Call(f"/cases/{s.activist}/documents", form={
            "doc_type": "application_letter", "step_record_id": str(s.application_record),
            "reference": "档案柜 A-3"}))],
    ("POST", "/committee/pre-reviews"): [Scenario(
        "sign off a pending pre-review", "org", writes="step_records", refusal="message",
        request=lambda s, w: Call("/committee/pre-reviews", form={
            "case_id": str(s.reviewed), "decision": "approved", "occurred_on": "2024-05-27",
            "comments": "同意"}))],
    ("POST", "/trainings/new"): [Scenario(
        "a course inviting a B1 activist", "org", writes="trainings",
        request=lambda s, w: Call("/trainings/new", form={
            "title": "2023年秋季培训班", "start_on": "2023-10-09", "end_on": "2023-10-11",
            "hours": "24", "invitee": [str(s.activist)]}))],
    ("POST", "/trainings/<int:training_id>/attendance"): [Scenario(
        "attendance at committee C's course", "org", writes="step_records",
        request=lambda s, w: Call(f"/trainings/{s.training}/attendance",
                                  form={"case_id": str(s.activist), "attended": "y"}))],
    ("POST", "/plans/new"): [Scenario(
        "set B1's plan for 2025 from the plan table", "org", writes="development_plans",
        request=lambda s, w: Call("/plans/new", form={"org": "B1", "year": "2025",
                                                      "quota": "3", "target_women": "1"}))],
    ("POST", "/plans/<int:plan_id>/adjust"): [Scenario(
        "adjust B1's plan with a reason", "org", writes="plan_versions",
        request=lambda s, w: Call(f"/plans/{s.plan}/adjust", form={
            "quota": "3", "reason": "上级党委追加名额"}))],
    ("POST", "/plans/<int:plan_id>/measures"): [Scenario(
        "a measure of B1's own plan", "sec1", writes="plan_measures",
        request=lambda s, w: Call(f"/plans/{s.plan}/measures", form={
            "text": "每季度召开积极分子座谈会", "owner": "王芳"}))],
    ("POST", "/trainings/<int:training_id>/attendance/change"): [Scenario(
        "change a recorded attendance on the course page", "org", writes="step_records",
        refusal="message", request=lambda s, w: Call(
            f"/trainings/{s.attended}/attendance/change",
            form={"case_id": str(s.activist), "attended": "n", "reason": "签到表核对有误"}))],
    ("POST", "/admin/roster/<code>"): [Scenario(
        "a roster member of B1", "sec1", also=("org",), writes="roster_members",
        refusal="message", request=lambda s, w: Call("/admin/roster/B1", form={
            "name": "孙丽", "status": "full", "since": "2015-07-01"}))],
    ("POST", "/admin/users"): [Scenario(
        "create an account", "admin", writes="users",
        request=lambda s, w: Call("/admin/users", form={
            "username": "newsec", "password": PASSWORD, "role": "branch_secretary",
            "org": "B1", "display_name": "新书记"}))],
    ("POST", "/admin/users/logout-everywhere"): [Scenario(
        "end an account's sessions and tokens", "admin", writes="api_tokens",
        request=lambda s, w: Call("/admin/users/logout-everywhere",
                                  form={"username": "sec2"}))],
    ("POST", "/admin/users/tokens/revoke"): [Scenario(
        "revoke one API token", "admin", writes="api_tokens",
        request=lambda s, w: Call("/admin/users/tokens/revoke", form={
            "username": "sec2", "token_id": str(s.token_id("sec2"))}))],
    ("POST", "/admin/users/shared"): [Scenario(
        "mark an account shared", "admin", writes="users",
        request=lambda s, w: Call("/admin/users/shared", form={"username": "org",
                                                               "shared": "y"}))],
    ("POST", "/admin/settings"): [Scenario(
        "a rule setting", "admin", writes="rule_settings",
        request=lambda s, w: Call("/admin/settings", form={
            "org": "C", "key": "notice_working_days", "value": "7",
            "effective_from": "2024-01-01"}))],
    ("POST", "/admin/holidays"): [Scenario(
        "a holiday override", "admin", writes="holiday_overrides",
        request=lambda s, w: Call("/admin/holidays", form={
            "day": "2024-10-12", "is_workday": "y", "note": "调休"}))],
    ("POST", "/admin/webhooks"): [Scenario(
        "add a group robot", "admin", writes="webhooks",
        request=lambda s, w: Call("/admin/webhooks", form={
            "org": "B1", "kind": "wecom", "name": "支部群", "url": _robot_url("/new")}))],
    ("POST", "/admin/webhooks/<int:id>"): [Scenario(
        "edit a group robot", "admin", writes="webhooks",
        request=lambda s, w: Call(f"/admin/webhooks/{_webhook(s)}", form={
            "org": "B1", "kind": "wecom", "name": "改名", "url": ""}))],
    ("POST", "/admin/webhooks/<int:id>/enabled"): [Scenario(
        "disable a group robot", "admin", writes="webhooks",
        request=lambda s, w: Call(f"/admin/webhooks/{_webhook(s)}/enabled",
                                  form={"enabled": "n"}))],
    ("POST", "/admin/webhooks/<int:id>/delete"): [Scenario(
        "delete a group robot", "admin", writes="webhooks",
        request=lambda s, w: Call(f"/admin/webhooks/{_webhook(s)}/delete", form={}))],
    ("POST", "/admin/webhooks/<int:id>/test"): [Scenario(
        "send a test message (the answer is kept on the robot)", "admin", writes="webhooks",
        request=lambda s, w: Call(f"/admin/webhooks/{_webhook(s)}/test", form={}))],
    # B1's archive: its secretary, or the committee's organiser for it (another branch's
    # secretary naming B1, or another committee's organiser: not found)
    ("POST", "/transfer/import"): [Scenario(
        "preview a workbook (keeps the file for the confirmation, writes no row)", "sec1",
        also=("org",), writes="files:UPLOAD_DIR",
        request=lambda s, w: Call("/transfer/import", form={
            "branch": "B1",
            "file": (io.BytesIO(book([happy_row(HAPPY[:3])])), "records.xlsx")}))],
    ("POST", "/transfer/import/confirm"): [Scenario(
        "confirm a previewed import", "sec1", also=("org",), writes="cases",
        request=_stash)],
    ("POST", "/password"): [Scenario(
        "change one's own password", "sec1", also=tuple(a for a in ACTORS[1:] if a != "sec1"),
        writes="users", request=lambda s, w: Call("/password", form={
            "old_password": PASSWORD, "new_password": "Harbour2027meadow"}))],
    ("POST", "/login"): Exempt("authentication itself: tests/web/test_pages.py and "
                               "tests/web/test_security.py (CSRF, rate limit, wrong password)"),
    ("POST", "/logout"): Exempt("ends the caller's own session only; tests/web/test_pages.py"),
    ("POST", "/inbox/read"): Exempt("marks only the caller's own reads, of alerts in the "
                                    "caller's inbox; other ids are ignored: "
                                    "tests/web/test_inbox.py"),
}


def _write_routes(app) -> set[tuple[str, str]]:
    return {(m, rule.rule) for rule in app.url_map.iter_rules()
            for m in rule.methods & WRITE_METHODS}


def test_every_write_route_has_an_entry(app):
    routes = _write_routes(app)
    missing = sorted(routes - set(WRITES))
    assert not missing, (
        "write routes without an entry in WRITES (tests/integration/test_access_matrix.py): "
        f"{missing}; give each a Scenario (a request that succeeds for an actor in scope) or an "
        "Exempt(reason)")
    stale = sorted(set(WRITES) - routes)
    assert not stale, f"WRITES names routes the app no longer has: {stale}"


SCENARIOS = [pytest.param(key, s, id=f"{key[0]} {key[1]} [{s.name}]")
             for key, entry in WRITES.items() if isinstance(entry, list) for s in entry]


def _send(scene: Scene, who: str, call: Call, *, csrf: bool = True) -> Any:
    api = call.url.startswith("/api/")
    if api:
        client = scene.world.client
        headers = scene.world.headers(who) if who != ANON else {}
        kw: dict[str, Any] = {"json": call.json} if call.json is not None else {"data": call.form}
    else:
        client, token = scene.browser(who)
        headers = {}
        kw = {"data": {**({"csrf_token": token} if csrf else {}), **(call.form or {})}}
    return request(scene.app, client, call.method, call.url, headers=headers, **kw)


def _flashes(scene: Scene, who: str) -> list[tuple[str, str]]:
    """The messages waiting in `who`'s session, taken (a page would show them once)."""
    client, _ = scene.browser(who)
    with client.session_transaction() as s:
        return list(s.pop("_flashes", []))


def _error_shown(scene: Scene, who: str, r: Any) -> bool:
    """A refusal the page states: the re-rendered form's error, or the redirect's error flash."""
    if r.status_code in (200, 422):
        return 'class="flash error"' in r.get_data(as_text=True)
    return r.status_code == 302 and any(c == "error" for c, _ in _flashes(scene, who))


def _assert_refused(scene: Scene, scenario: Scenario, who: str, call: Call, r: Any) -> str:
    where = (scenario.name, who, call.url, r.status_code)
    if who in OUTSIDERS or who == ANON:  # the committee, auditor and admin may read the case
        assert SECRET_NAME not in r.get_data(as_text=True), where
    if call.url.startswith("/api/"):
        expected = {ANON: {401}}.get(who, {403, 404})
        assert r.status_code in expected, (*where, r.get_data(as_text=True)[:300])
        assert r.json["error"]["code"] in ("unauthenticated", "forbidden", "not_found"), where
        return str(r.status_code)
    if who == ANON:
        assert r.status_code == 302 and "/login" in r.headers["Location"], where
        return "login"
    if r.status_code in (403, 404):
        return str(r.status_code)
    assert scenario.refusal == "message", (*where, "expected 403 or 404")
    assert _error_shown(scene, who, r), (*where, "refused without saying so",
                                         r.get_data(as_text=True)[:300])
    return f"{r.status_code}+error"


@pytest.mark.parametrize("key,scenario", SCENARIOS)
def test_write_route_refuses_out_of_scope_and_succeeds_in_scope(ctx, world, key, scenario):
    scene = Scene(ctx, world)
    outcomes = {}
    for who in scenario.refused:
        call = scenario.request(scene, who)  # builds what it names before measuring
        if not call.url.startswith("/api/"):
            _flashes(scene, who)  # logs in; forgets earlier messages
        before = _state(ctx)
        r = _send(scene, who, call)
        outcomes[who] = _assert_refused(scene, scenario, who, call, r)
        after = _state(ctx)
        assert after == before, (scenario.name, who, call.url, r.status_code,
                                 _diff(before, after))
    assert set(outcomes) == set(scenario.refused)
    print(f"MATRIX {key[0]} {key[1]} [{scenario.name}] refused: {outcomes}")  # docs figures
    ok = scenario.ok
    call = scenario.request(scene, ok)
    api = call.url.startswith("/api/")
    if not api:
        # a page's form without its CSRF token is refused and writes nothing, even in scope
        _flashes(scene, ok)  # logs in first
        before = _state(ctx)
        r = _send(scene, ok, call, csrf=False)
        assert r.status_code == 400 and _state(ctx) == before, (scenario.name, r.status_code)
        call = scenario.request(scene, ok)  # afresh: an upload's file is read once
        _flashes(scene, ok)
    before = _state(ctx)
    r = _send(scene, ok, call)
    after = _state(ctx)
    if api:
        assert 200 <= r.status_code < 300, (scenario.name, ok, r.status_code, r.json)
    else:
        assert r.status_code in (200, 302), (scenario.name, ok, r.status_code)
        assert not _error_shown(scene, ok, r), (scenario.name, ok, r.get_data(as_text=True)[:500])
    assert after[scenario.writes] != before[scenario.writes], (
        scenario.name, ok, "succeeded without writing", scenario.writes, _diff(before, after))


# ---------------------------------------------------------------- reads: nothing leaks

def _url(rule, values):
    def sub(m):
        name = m.group(2)
        if name not in values:
            raise AssertionError(f"route {rule.rule}: give the matrix a value for <{name}>")
        return str(values[name])
    return re.sub(r"<(?:(\w+):)?(\w+)>", sub, rule.rule)


def _text(r) -> str:
    """What a person could read in the answer, whatever its format."""
    if r.mimetype.endswith("spreadsheetml.sheet"):
        import openpyxl
        book = openpyxl.load_workbook(io.BytesIO(r.data), read_only=True)
        return " ".join(str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True)
                        for c in row if c is not None)
    if r.mimetype == "application/pdf":
        import subprocess
        return subprocess.run(["pdftotext", "-", "-"], input=r.data, capture_output=True,
                              check=True).stdout.decode("utf-8")
    return r.get_data(as_text=True)


@pytest.fixture
def target(world):
    case = open_case(world, person={"name": SECRET_NAME, "gender": "male",
                                    "birth_date": "1990-01-01"})
    drive(world, case["id"], until="activist_assessed")
    return case["id"]


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule in PUBLIC:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_outsiders_never_see_or_change_the_case(ctx, world, target):
    """Every route, read or write, with a catch-all body: no outsider's answer names the
    person, none is a server error, and nothing is written."""
    letter = world.get("sec1", f"/api/v1/cases/{target}").json["steps"][0]["id"]
    upload = world.client.post(f"/api/v1/cases/{target}/documents", headers=world.headers(
        "sec1"), data={"doc_type": "application_letter", "step_record_id": str(letter),
                       "file": (io.BytesIO(b"%PDF-1.4\n" + SECRET_NAME.encode()),
                                "letter.pdf")})
    assert upload.status_code == 201, upload.json
    plan = world.post("org", "/api/v1/plans", {"org": "B1", "year": 2024, "quota": 2})
    assert plan.status_code == 201, plan.json
    values = {"case_id": target, "id": target, "training_id": 1, "code": "B1",
              "step": "activist_filed", "filename": "app.css", "fmt": "xlsx",
              "record_id": letter, "document_id": upload.json["id"],
              "plan_id": plan.json["id"]}
    scene = Scene(ctx, world)
    for who in OUTSIDERS:
        scene.browser(who)  # log in first: a login is a write of its own
    before = _state(ctx)
    checked = 0
    for who in OUTSIDERS:
        client, token = scene.browser(who)
        for rule, method in _routes(ctx):
            url = _url(rule, values)
            if url.endswith("/logout"):
                continue
            if url.startswith("/api/"):
                r = request(ctx, client, method, url, headers=world.headers(who), json={
                    "step": "activist_filed", "occurred_on": "2023-05-01", "data": {},
                    "doc_type": "filing_record", "on_file": True, "reference": "x",
                    "case_id": target, "attended": True})
            else:
                r = request(ctx, client, method, url, data={
                    "csrf_token": token, "reference": "x", "doc_type": "filing_record",
                    "case_id": str(target), "decision": "approved",
                    "occurred_on": "2023-05-01"})
            body = _text(r)
            assert SECRET_NAME not in body, (who, method, url, r.status_code)
            assert r.status_code < 500, (who, method, url, r.status_code)
            checked += 1
    after = _state(ctx)
    assert after == before, _diff(before, after)
    assert checked > 50


@pytest.mark.parametrize("who,status", [("sec1", 200), ("org", 200), ("aud", 200),
                                        ("admin", 200), ("sec2", 404), ("sec3", 404),
                                        ("org2", 404)])
def test_case_read_matrix(world, target, who, status):
    assert world.get(who, f"/api/v1/cases/{target}").status_code == status
