"""Tables. Step records, documents and violations are append-only: rows are inserted, never
updated or deleted; the case row's stage/state are a cache of the replay, `version` guards
concurrent writers.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflow.persistence.db import db


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Organisation(db.Model):  # type: ignore[name-defined]
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(20))  # committee | general_branch | branch
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    parent: Mapped[Organisation | None] = relationship(remote_side=[id])


class RosterMember(db.Model):  # type: ignore[name-defined]
    __tablename__ = "roster_members"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    status: Mapped[str] = mapped_column(sa.String(20))  # full | probationary
    since: Mapped[date] = mapped_column(sa.Date)
    person_case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"))  # admitted via
    org: Mapped[Organisation] = relationship()


class User(UserMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(80), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    role: Mapped[str] = mapped_column(sa.String(30))
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    email: Mapped[str | None] = mapped_column(sa.String(254))  # alert e-mail; none = in-app only
    # the roster entry of the person behind the account: separation of duties is judged on it
    roster_member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("roster_members.id"))
    # used by several people (an office account): committee decisions must name who decided
    shared: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    org: Mapped[Organisation] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:
        """Flask-Login keeps this in the session cookie (and would in a remember-me cookie): the
        key of this login's `LoginSession`, never the user id, so that ending the session on the
        server (logout, password change, "log out everywhere") ends every copy of the cookie.
        Set by services.directory.users when a login starts or a session is loaded."""
        key = self.__dict__.get("session_key")
        if not key:
            raise LookupError("this user object belongs to no login session")
        return str(key)


class LoginSession(db.Model):  # type: ignore[name-defined]
    """One login on the pages. The cookie carries a random key; only its SHA-256 is kept here.
    A session is valid while `ended_at` is empty and it was seen within the session lifetime."""
    __tablename__ = "login_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)  # updated at most once a minute
    ended_at: Mapped[datetime | None] = mapped_column()
    user: Mapped[User] = relationship()


class ApiToken(db.Model):  # type: ignore[name-defined]
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()  # API_TOKEN_DAYS after creation
    last_used_at: Mapped[datetime | None] = mapped_column()  # updated at most once a minute
    revoked_at: Mapped[datetime | None] = mapped_column()
    user: Mapped[User] = relationship()


def _initials_default(context: Any) -> str | None:
    from workflow.initials import name_initials
    return name_initials(context.get_current_parameters().get("person_name"))


class Case(db.Model):  # type: ignore[name-defined]
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    person_name: Mapped[str] = mapped_column(sa.String(100), index=True)
    # the name's pinyin initials (workflow/initials.py), for the search: filled on insert (the
    # ORM's and Core's alike) and set again when the name is corrected
    name_initials: Mapped[str | None] = mapped_column(sa.String(500), default=_initials_default)
    person: Mapped[dict[str, Any]] = mapped_column(sa.JSON)  # without the clear ID number
    id_number_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    application_date: Mapped[date] = mapped_column(sa.Date)
    stage: Mapped[str] = mapped_column(sa.String(20), index=True)
    state: Mapped[str] = mapped_column(sa.String(60))
    version: Mapped[int] = mapped_column(default=1)
    chain_head: Mapped[str | None] = mapped_column(sa.String(64))
    chain_length: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    branch: Mapped[Organisation] = relationship()

    __table_args__ = (sa.Index("ix_cases_branch_stage", "branch_id", "stage"),)


class StepRecordRow(db.Model):  # type: ignore[name-defined]
    __tablename__ = "step_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    case_version: Mapped[int] = mapped_column()  # the case version this record created
    step: Mapped[str] = mapped_column(sa.String(40))
    occurred_on: Mapped[date] = mapped_column(sa.Date)
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    note: Mapped[str | None] = mapped_column(sa.Text)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_by_role: Mapped[str] = mapped_column(sa.String(20))  # branch | committee
    acknowledged_reason: Mapped[str | None] = mapped_column(sa.Text)
    recorded_by_member_id: Mapped[int | None] = mapped_column()  # roster member at recording
    exemptions: Mapped[list[str] | None] = mapped_column(sa.JSON)  # separation rules waived
    # a committee decision: the roster member who decided, and the session it came from
    # (`web:<session id>`, `api:token:<token id>`, `cli`, `import`)
    decided_by_member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("roster_members.id"))
    session_ref: Mapped[str | None] = mapped_column(sa.String(80))
    chain_index: Mapped[int | None] = mapped_column()
    prev_hash: Mapped[str | None] = mapped_column(sa.String(64))
    chain_hash: Mapped[str | None] = mapped_column(sa.String(64))
    recorded_by: Mapped[User | None] = relationship()
    decided_by_member: Mapped[RosterMember | None] = relationship()

    __table_args__ = (
        # one step record per case version: two writers of one version cannot both land
        sa.UniqueConstraint("case_id", "case_version", name="uq_step_records_case_version"),
        sa.Index("ix_step_records_case_id_id", "case_id", "id"),
        # the cases with a given step (transferred, voted): found by the index, not by
        # reading every step record (at 1,000,000 cases a full scan took seconds)
        sa.Index("ix_step_records_step_case", "step", "case_id"),
    )


class ViolationRow(db.Model):  # type: ignore[name-defined]
    """A violation acknowledged when its step was recorded (who, why): the evidence trail."""

    __tablename__ = "violations"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    step_record_id: Mapped[int] = mapped_column(sa.ForeignKey("step_records.id"), index=True)
    rule: Mapped[str] = mapped_column(sa.String(60))
    responsible: Mapped[str] = mapped_column(sa.String(20))
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    acknowledged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    chain_index: Mapped[int | None] = mapped_column()
    prev_hash: Mapped[str | None] = mapped_column(sa.String(64))
    chain_hash: Mapped[str | None] = mapped_column(sa.String(64))


class Document(db.Model):  # type: ignore[name-defined]
    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    step_record_id: Mapped[int] = mapped_column(sa.ForeignKey("step_records.id"), index=True)
    doc_type: Mapped[str] = mapped_column(sa.String(60))
    on_file: Mapped[bool] = mapped_column(default=False)
    reference: Mapped[str | None] = mapped_column(sa.String(300))
    filename: Mapped[str | None] = mapped_column(sa.String(300))
    stored_name: Mapped[str | None] = mapped_column(sa.String(100))
    content_type: Mapped[str | None] = mapped_column(sa.String(100))
    size: Mapped[int | None] = mapped_column()
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    attached_on: Mapped[date] = mapped_column(sa.Date)
    attached_at: Mapped[datetime] = mapped_column(default=utcnow)
    attached_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    chain_index: Mapped[int | None] = mapped_column()
    prev_hash: Mapped[str | None] = mapped_column(sa.String(64))
    chain_hash: Mapped[str | None] = mapped_column(sa.String(64))


class RuleSetting(db.Model):  # type: ignore[name-defined]
    __tablename__ = "rule_settings"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    key: Mapped[str] = mapped_column(sa.String(60))
    value: Mapped[Any] = mapped_column(sa.JSON)
    effective_from: Mapped[date] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HolidayOverride(db.Model):  # type: ignore[name-defined]
    __tablename__ = "holiday_overrides"
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column()
    note: Mapped[str] = mapped_column(sa.String(200), default="")


class Training(db.Model):  # type: ignore[name-defined]
    __tablename__ = "trainings"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    # the committee's own course number, free text such as "2026-第3期" (not our id)
    number: Mapped[str] = mapped_column(sa.String(50), default="", server_default="")
    start_on: Mapped[date] = mapped_column(sa.Date)
    end_on: Mapped[date] = mapped_column(sa.Date)
    hours: Mapped[float] = mapped_column(sa.Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrainingInvitee(db.Model):  # type: ignore[name-defined]
    __tablename__ = "training_invitees"
    training_id: Mapped[int] = mapped_column(sa.ForeignKey("trainings.id"), primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), primary_key=True)


class Notification(db.Model):  # type: ignore[name-defined]
    """The alert outbox: one row per (case, rule, kind, due date, level), never a second."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    rule: Mapped[str] = mapped_column(sa.String(60))
    kind: Mapped[str] = mapped_column(sa.String(40))
    due_on: Mapped[date] = mapped_column(sa.Date)
    level: Mapped[str] = mapped_column(sa.String(20))
    responsible: Mapped[str] = mapped_column(sa.String(20))
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    escalated_to_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"))
    message: Mapped[str] = mapped_column(sa.Text, default="")
    created_on: Mapped[date] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Delivery beyond the in-app row (e-mail, console): set only once a channel accepted it.
    delivered_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    # A delivering worker's lease: a second copy of the task skips the row until it expires.
    claimed_until: Mapped[datetime | None] = mapped_column()

    __table_args__ = (sa.UniqueConstraint("case_id", "rule", "kind", "due_on", "level",
                                          name="uq_notifications_once"),
                      sa.Index("ix_notifications_escalated_to_id", "escalated_to_id"),
                      sa.Index("ix_notifications_delivered_at", "delivered_at"))


class NotificationRead(db.Model):  # type: ignore[name-defined]
    """Who has read which alert: one outbox row is shown to many users, so reads are per user."""

    __tablename__ = "notification_reads"
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    notification_id: Mapped[int] = mapped_column(sa.ForeignKey("notifications.id"),
                                                 primary_key=True)
    read_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeadlineRow(db.Model):  # type: ignore[name-defined]
    """A case's deadline as a row, rewritten whenever the case changes, so the daily sweep reads
    only the rows whose due date falls inside an alert window instead of replaying every case.
    A cache of the replay, like the case's stage: `alerting.refresh_deadlines` rebuilds it."""

    __tablename__ = "deadlines"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    rule: Mapped[str] = mapped_column(sa.String(60))
    kind: Mapped[str] = mapped_column(sa.String(40))
    due_on: Mapped[date] = mapped_column(sa.Date)
    responsible: Mapped[str] = mapped_column(sa.String(20))  # branch | committee
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))  # who must act
    met: Mapped[bool] = mapped_column(default=False)
    met_on: Mapped[date | None] = mapped_column(sa.Date)

    # met first, then due_on: the sweep's two range scans are "unmet and due before the end of
    # the widest window" (overdue ones included) and "met, due inside the window"; with due_on
    # first the former would walk every past (mostly met) deadline of every open case.
    __table_args__ = (sa.Index("ix_deadlines_met_due_on", "met", "due_on"),)


class DeadlineSet(db.Model):  # type: ignore[name-defined]
    """Which history a case's deadline rows were built from, and until when they are complete.

    Recurring windows (half-yearly, quarterly assessments) are derived up to a horizon, so rows
    built on one day are complete for sweeps up to `complete_until`; the sweep rebuilds the few
    sets that expire. `known_on` is the last step date in the history: a sweep for an earlier
    day (a backfill) replays that case as it stood then instead of trusting the rows."""

    __tablename__ = "deadline_sets"
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), primary_key=True)
    case_version: Mapped[int] = mapped_column()
    known_on: Mapped[date | None] = mapped_column(sa.Date, index=True)
    complete_until: Mapped[date] = mapped_column(sa.Date, index=True)
    refreshed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the rubric reads of the case (workflow/findings.kept, as compact JSON:
    # services/alerts/findings_store.py), so the committee table need not replay every history. It
    # answers for days from `findings_from` to `complete_until` while the case's chain is as
    # long as when it was made: every step and every document lengthens the chain, so a write
    # that did not refresh it is noticed and the case is replayed instead.
    findings: Mapped[Any | None] = mapped_column(sa.JSON(none_as_null=True))
    findings_from: Mapped[date | None] = mapped_column(sa.Date)
    chain_length: Mapped[int | None] = mapped_column()
    # the rule code and holiday data that made them (findings_store.derivation): a deploy
    # that changes either makes every older value untrusted until the catch-up rebuilds it
    findings_version: Mapped[str | None] = mapped_column(sa.String(16), index=True)


class DeadlineBackfill(db.Model):  # type: ignore[name-defined]
    """A completed rebuild of every open case's deadline rows (after the upgrade that added
    them, or after rule settings changed); the sweep runs one when none is recorded yet."""

    __tablename__ = "deadline_backfills"
    id: Mapped[int] = mapped_column(primary_key=True)
    cases: Mapped[int] = mapped_column()
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)


class Exemption(db.Model):  # type: ignore[name-defined]
    """An organisation's named exemption from one separation-of-duties rule."""

    __tablename__ = "exemptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    rule: Mapped[str] = mapped_column(sa.String(60))
    reason: Mapped[str] = mapped_column(sa.Text)
    granted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    org: Mapped[Organisation] = relationship()
    granted_by: Mapped[User | None] = relationship()


class PersonalDataAccess(db.Model):  # type: ignore[name-defined]
    """Who read or exported personal data: one row per request that disclosed some (a case
    page, a list naming people, an export, a backup). Append-only: `services.directory.audit` only
    inserts; the mapper refuses updates and deletes. `org_id` is the actor's organisation at
    the time, so the log's scope does not move when an account moves; `detail` never holds an
    ID number in clear (the service masks anything that looks like one)."""

    __tablename__ = "personal_data_access"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # UTC
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))  # none: the CLI
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"))
    action: Mapped[str] = mapped_column(sa.String(40))
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    subjects: Mapped[int] = mapped_column(default=1)  # how many persons' data it covered
    channel: Mapped[str] = mapped_column(sa.String(10))  # web | api | cli
    remote: Mapped[str | None] = mapped_column(sa.String(64))
    detail: Mapped[str | None] = mapped_column(sa.String(200))

    __table_args__ = (sa.Index("ix_personal_data_access_user_id_at", "user_id", "at"),
                      sa.Index("ix_personal_data_access_org_id_at", "org_id", "at"))


@sa.event.listens_for(PersonalDataAccess, "before_update")
@sa.event.listens_for(PersonalDataAccess, "before_delete")
def _append_only(*_: Any) -> None:
    raise PermissionError("personal_data_access is append-only")


class Webhook(db.Model):  # type: ignore[name-defined]
    """A group robot (WeCom or DingTalk) that receives an organisation's alerts in its chat.

    The URL carries the robot's key (WeCom `key=`, DingTalk `access_token=`) and `secret` is
    DingTalk's signing secret: both are credentials, shown back on no page and in no log
    (services.directory.webhooks masks them)."""

    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # wecom | dingtalk
    name: Mapped[str] = mapped_column(sa.String(100), default="")  # e.g. 第一党支部工作群
    url: Mapped[str] = mapped_column(sa.String(500))
    secret: Mapped[str | None] = mapped_column(sa.String(200))
    enabled: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the admin's last "send a test message" and the robot's answer to it
    last_test_at: Mapped[datetime | None] = mapped_column()
    last_test_result: Mapped[str | None] = mapped_column(sa.String(300))
    org: Mapped[Organisation] = relationship()


class WebhookDelivery(db.Model):  # type: ignore[name-defined]
    """An outbox row one robot has accepted. A row goes to several robots (the branch's, the
    committee's when escalated); when one of them fails the row is retried, and this keeps the
    retry from posting the same alert again into the chats that already have it."""

    __tablename__ = "webhook_deliveries"
    notification_id: Mapped[int] = mapped_column(sa.ForeignKey("notifications.id"),
                                                 primary_key=True)
    webhook_id: Mapped[int] = mapped_column(sa.ForeignKey("webhooks.id"), primary_key=True,
                                            index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class DevelopmentPlan(db.Model):  # type: ignore[name-defined]
    """A branch's yearly development plan (年度发展计划). Its quota and targets live in
    versions: an adjustment adds one, nothing is edited."""

    __tablename__ = "development_plans"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    year: Mapped[int] = mapped_column()
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    org: Mapped[Organisation] = relationship()
    versions: Mapped[list[PlanVersionRow]] = relationship(order_by="PlanVersionRow.version")
    measures: Mapped[list[PlanMeasure]] = relationship(order_by="PlanMeasure.id")

    # one plan per branch and year: a second committee user setting it meanwhile gets 409
    __table_args__ = (sa.UniqueConstraint("org_id", "year", name="uq_development_plans_org_year"),)


class PlanVersionRow(db.Model):  # type: ignore[name-defined]
    __tablename__ = "plan_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("development_plans.id"))
    version: Mapped[int] = mapped_column()
    quota: Mapped[int] = mapped_column()
    targets: Mapped[dict[str, int]] = mapped_column(sa.JSON)
    effective_on: Mapped[date] = mapped_column(sa.Date)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[User | None] = relationship()

    # two adjustments of the same version: one lands, the other is a conflict
    __table_args__ = (sa.UniqueConstraint("plan_id", "version", name="uq_plan_versions_plan_version"),)


class PlanMeasure(db.Model):  # type: ignore[name-defined]
    """A branch's measure (措施) for its plan: what, who, by when. Appended, never edited."""

    __tablename__ = "plan_measures"
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("development_plans.id"), index=True)
    text: Mapped[str] = mapped_column(sa.Text)
    owner: Mapped[str] = mapped_column(sa.String(100))
    due_on: Mapped[date | None] = mapped_column(sa.Date)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[User | None] = relationship()


class BulkRun(db.Model):  # type: ignore[name-defined]
    """One run of bulk work over every case, split into chunks by case-id range
    (services/bulk_runs.py): `rebuild` (deadline rows and findings) or `verify` (hash chains)."""

    __tablename__ = "bulk_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    chunks: Mapped[int] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column()


class BulkChunk(db.Model):  # type: ignore[name-defined]
    """One chunk of a run: the cases with ids in [first_id, last_id]. `done_at` is written in
    the transaction that writes the chunk's results, so a chunk is done once or not at all."""

    __tablename__ = "bulk_chunks"
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("bulk_runs.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    first_id: Mapped[int] = mapped_column()
    last_id: Mapped[int] = mapped_column()
    params: Mapped[Any | None] = mapped_column(sa.JSON(none_as_null=True))
    dispatched_at: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)
    done_at: Mapped[datetime | None] = mapped_column()
    cases: Mapped[int | None] = mapped_column()  # how many cases the chunk did
    result: Mapped[Any | None] = mapped_column(sa.JSON(none_as_null=True))
    failed_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(sa.String(500))
