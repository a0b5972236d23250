"""Group robots (WeCom, DingTalk) as an alert channel, end to end against a real local HTTP
robot (tests/integration/robot_server.py): swept alerts reach the robots of the row's
organisation (and of the committee it was escalated to) exactly once, DingTalk's signature
verifies, a refusing or failing robot leaves the row undelivered with the failure on it until
it recovers, and the admin pages add, test, disable, edit and delete robots without ever
showing the URL's key or the signing secret.

The expected recipients come from the outbox rows' organisations; the robot's recorded
requests are what was sent.
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.conftest import PASSWORD
from tests.integration.robot_server import Robot
from tests.integration.test_alerts_worker import AS_OF, cases  # noqa: F401 - a fixture
from tests.web.test_pages import _csrf
from workflow import deadlines
from workflow.notifications import delivery
from workflow.notifications.base import DeliveryError
from workflow.notifications.templates import level_label
from workflow.persistence.db import db
from workflow.persistence.models import Case, Notification, Organisation, User, Webhook
from workflow.services import alerts as alerting
from workflow.services.directory import webhooks
from workflow.services.errors import Forbidden, Invalid

pytestmark = pytest.mark.db

SECRET = "SECd1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3"
KEY = "k3y-0f-the-r0bot-7731"


@pytest.fixture
def robot():
    r = Robot().start()
    yield r
    r.stop()


def _admin() -> User:
    return db.session.execute(sa.select(User).filter_by(username="admin")).scalar_one()


def _org(code: str) -> int:
    return db.session.execute(sa.select(Organisation.id).filter_by(code=code)).scalar_one()


def _add(robot: Robot, org: str, kind: str = "wecom", secret: str = "") -> Webhook:
    path = f"/{org.lower()}-{kind}"
    if secret:
        robot.secrets[path] = secret
    return webhooks.create(_admin(), {"org": org, "kind": kind, "name": f"{org} 工作群",
                                      "url": f"{robot.base}{path}?key={KEY}", "secret": secret})


def _rows() -> list[Notification]:
    db.session.commit()
    return list(db.session.execute(sa.select(Notification).order_by(Notification.id)).scalars())


def _deliver_all() -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for row_id in delivery.undelivered():
        try:
            outcomes[delivery.deliver(row_id)] += 1
        except DeliveryError:
            outcomes["failed"] += 1
    return outcomes


def _text(body: dict[str, Any]) -> str:
    markdown = body["markdown"]
    return markdown.get("content") or markdown["text"]


def _case_ids(received: list[Any]) -> Counter[int]:
    return Counter(int(m) for r in received for m in re.findall(r"/cases/(\d+)\)", _text(r.body)))


def _for(rows: list[Notification], org_id: int) -> Counter[int]:
    return Counter(n.case_id for n in rows if org_id in (n.org_id, n.escalated_to_id))


def _person(case_id: int) -> str:
    return db.session.get(Case, case_id).person_name


# --------------------------------------------------------------------------- delivery

@pytest.mark.usefixtures("cases")
def test_swept_alerts_reach_each_organisations_robots_exactly_once(ctx, world, robot,
                                                                   monkeypatch):
    monkeypatch.setitem(ctx.config, "PUBLIC_BASE_URL", "https://dangyuan.example.org/")
    _add(robot, "B1")
    _add(robot, "B2", "dingtalk", SECRET)
    _add(robot, "C")
    _add(robot, "C2")
    alerting.scan(date.fromisoformat(AS_OF))
    rows = _rows()
    assert any(n.escalated_to_id for n in rows), "the scenario needs an escalated row"
    assert _deliver_all()["delivered"] == len(rows)
    assert _deliver_all() == Counter()  # nothing left: a second round sends nothing
    for row in rows:  # and delivering a delivered row again is skipped, no request
        assert delivery.deliver(row.id) == "skipped"
    assert all(n.delivered_at is not None and n.last_error is None for n in _rows())

    # scope: each robot got the rows of its organisation (and, for a committee, those
    # escalated to it), each once; a branch never sees another branch's
    for code, path in (("B1", "/b1-wecom"), ("B2", "/b2-dingtalk"), ("C", "/c-wecom"),
                       ("C2", "/c2-wecom")):
        assert _case_ids(robot.at(path)) == _for(rows, _org(code)), code
        assert len(robot.at(path)) == sum(_for(rows, _org(code)).values()), code
    assert robot.at("/b1-wecom") and robot.at("/b2-dingtalk") and robot.at("/c-wecom")
    assert len(robot.received) == sum(1 + bool(n.escalated_to_id) for n in rows
                                      if n.org_id in {_org(c) for c in ("B1", "B2", "C", "C2")})

    # WeCom's markdown names the person, what is due, the due date, how soon, the link
    b1 = next(n for n in rows if n.org_id == _org("B1"))
    body = next(r.body for r in robot.at("/b1-wecom")
                if f"/cases/{b1.case_id})" in _text(r.body) and b1.due_on.isoformat() in
                _text(r.body) and deadlines.label(b1.kind) in _text(r.body))
    assert body["msgtype"] == "markdown" and set(body["markdown"]) == {"content"}
    text = body["markdown"]["content"]
    for part in (_person(b1.case_id), deadlines.label(b1.kind), b1.due_on.isoformat(),
                 level_label(b1.level), f"https://dangyuan.example.org/cases/{b1.case_id}"):
        assert part in text, (part, text)
    assert all(r.query["key"] == [KEY] for r in robot.received)

    # DingTalk: markdown with title and text, signed; the robot's own check of the signature
    ding = robot.at("/b2-dingtalk")
    assert all(set(r.body["markdown"]) == {"title", "text"} and r.body["msgtype"] == "markdown"
               for r in ding)
    assert all(r.signature_ok is True for r in ding)
    assert "发展党员提醒" in ding[0].body["markdown"]["title"]


@pytest.mark.usefixtures("cases")
def test_a_refusing_robot_leaves_the_row_undelivered_until_it_recovers(ctx, world, robot,
                                                                       caplog):
    _add(robot, "B2", "dingtalk", SECRET)
    committee = _add(robot, "C")
    alerting.scan(date.fromisoformat(AS_OF))
    row = next(n for n in _rows() if n.escalated_to_id == _org("C") and n.org_id == _org("B2"))
    caplog.set_level(logging.DEBUG)

    robot.answer = {"errcode": 310000, "errmsg": "sign not match"}
    with pytest.raises(DeliveryError):
        delivery.deliver(row.id)
    failed = db.session.get(Notification, row.id)
    db.session.refresh(failed)
    assert failed.delivered_at is None and failed.attempts == 1
    assert "errcode 310000" in failed.last_error and "#" in failed.last_error
    assert row.id in delivery.undelivered()

    robot.status, robot.answer = 500, {"error": "internal"}
    with pytest.raises(DeliveryError):
        delivery.deliver(row.id)
    db.session.refresh(failed)
    assert (failed.delivered_at, failed.attempts) == (None, 2) and "HTTP 500" in failed.last_error

    # the admin sees it among the failed deliveries
    listed = {f["id"]: f for f in webhooks.failed_deliveries(_admin())}
    assert listed[row.id]["attempts"] == 2 and "HTTP 500" in listed[row.id]["last_error"]

    # the robots recover but the committee's address is dead: the branch chat gets the row,
    # the row stays undelivered for the committee's robot
    robot.status, robot.answer = 200, {"errcode": 0, "errmsg": "ok"}
    closed = Robot()  # bound, then closed: nobody answers on its port
    dead = f"{closed.base}/gone?key={KEY}"
    closed.server.server_close()
    webhooks.update(_admin(), committee.id, {"org": "C", "kind": "wecom", "url": dead})
    before = len(robot.at("/b2-dingtalk"))
    with pytest.raises(DeliveryError):
        delivery.deliver(row.id)
    assert len(robot.at("/b2-dingtalk")) == before + 1
    db.session.refresh(failed)
    assert failed.delivered_at is None and failed.attempts == 3

    # the committee's robot is fixed: the next attempt delivers there only, the branch chat
    # is not posted the same alert again
    webhooks.update(_admin(), committee.id, {"org": "C", "kind": "wecom",
                                             "url": f"{robot.base}/c-wecom?key={KEY}"})
    committee_before = len(robot.at("/c-wecom"))
    assert delivery.deliver(row.id) == "delivered"
    db.session.refresh(failed)
    assert failed.delivered_at is not None and failed.last_error is None
    assert failed.attempts == 4
    assert len(robot.at("/b2-dingtalk")) == before + 1
    assert len(robot.at("/c-wecom")) == committee_before + 1
    total = len(robot.received)
    assert delivery.deliver(row.id) == "skipped" and len(robot.received) == total
    assert row.id not in {f["id"] for f in webhooks.failed_deliveries(_admin())}

    # nothing logged or recorded carries the key or the secret
    logged = caplog.text + (failed.last_error or "")
    assert KEY not in logged and SECRET not in logged


@pytest.mark.usefixtures("cases")
def test_a_disabled_robot_receives_nothing(ctx, world, robot):
    hook = _add(robot, "B1")
    webhooks.set_enabled(_admin(), hook.id, False)
    alerting.scan(date.fromisoformat(AS_OF))
    assert _deliver_all()["delivered"] == len(_rows())
    assert robot.received == []


# --------------------------------------------------------------------------- configuration

def test_production_accepts_only_the_robot_services_own_hosts(ctx, world, robot, monkeypatch):
    monkeypatch.setitem(ctx.config, "WEBHOOK_ALLOW_ANY_HOST", False)
    admin = _admin()
    ok = webhooks.create(admin, {"org": "B1", "kind": "wecom",
                                 "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=a"})
    assert ok.enabled
    webhooks.create(admin, {"org": "B1", "kind": "dingtalk", "secret": SECRET,
                            "url": "https://oapi.dingtalk.com/robot/send?access_token=b"})
    for kind, url in (("wecom", f"{robot.base}/x"),
                      ("wecom", "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=a"),
                      ("wecom", "https://qyapi.weixin.qq.com.evil.example/send"),
                      ("wecom", "https://qyapi.weixin.qq.com:8443/send"),
                      ("dingtalk", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"),
                      ("wecom", "https://user:pw@qyapi.weixin.qq.com/send"),
                      ("wecom", "https://qyapi.weixin.qq.com/send?key=a b"),
                      ("wecom", "x" * 501), ("slack", "https://hooks.slack.com/x")):
        with pytest.raises(Invalid):
            webhooks.create(admin, {"org": "B1", "kind": kind, "url": url})
    with pytest.raises(Invalid):  # WeCom robots have no signing secret
        webhooks.create(admin, {"org": "B1", "kind": "wecom", "secret": "SECx",
                                "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=a"})
    with pytest.raises(Invalid):
        webhooks.create(admin, {"org": "NOPE", "kind": "wecom",
                                "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=a"})
    with pytest.raises(Forbidden):
        sec1 = db.session.execute(sa.select(User).filter_by(username="sec1")).scalar_one()
        webhooks.create(sec1, {"org": "B1", "kind": "wecom",
                               "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=a"})


@pytest.mark.usefixtures("cases")
def test_a_stored_local_url_is_not_posted_to_under_production_rules(ctx, world, robot,
                                                                    monkeypatch):
    _add(robot, "B1")
    alerting.scan(date.fromisoformat(AS_OF))
    monkeypatch.setitem(ctx.config, "WEBHOOK_ALLOW_ANY_HOST", False)
    row = next(n for n in _rows() if n.org_id == _org("B1"))
    with pytest.raises(DeliveryError, match="地址不被允许"):
        delivery.deliver(row.id)
    assert robot.received == []


# --------------------------------------------------------------------------- the admin pages

def _call(app, client, method: str, url: str, **kw: Any) -> Any:
    """A request in an application context of its own (Flask-Login keeps the user in `g`)."""
    with app.app_context():
        r = client.open(url, method=method, **kw)
        r.get_data()
    return r


def _browser(app, who: str) -> tuple[Any, str]:
    client = app.test_client()
    token = _csrf(_call(app, client, "GET", "/login").text)
    r = _call(app, client, "POST", "/login", data={"username": who, "password": PASSWORD,
                                                   "csrf_token": token})
    assert r.status_code == 302
    return client, _csrf(_call(app, client, "GET", "/admin/webhooks" if who == "admin"
                               else "/password").text)


def test_admin_adds_tests_disables_edits_and_deletes_a_robot(ctx, world, robot):
    client, token = _browser(ctx, "admin")
    url = f"{robot.base}/b2-dingtalk?access_token={KEY}"
    robot.secrets["/b2-dingtalk"] = SECRET
    r = _call(ctx, client, "POST", "/admin/webhooks", data={
        "csrf_token": token, "org": "B2", "kind": "dingtalk", "name": "第二支部群", "url": url,
        "secret": SECRET}, follow_redirects=True)
    page = r.text
    assert r.status_code == 200 and "已添加群机器人" in page and "第二支部群" in page
    assert "已设置" in page  # the secret is set, and shown only as that
    hook = db.session.execute(sa.select(Webhook)).scalar_one()
    assert (hook.url, hook.secret, hook.enabled) == (url, SECRET, True)

    # a test message goes out now, signed, and the robot's answer is shown
    r = _call(ctx, client, "POST", f"/admin/webhooks/{hook.id}/test",
              data={"csrf_token": token}, follow_redirects=True)
    assert "测试消息成功" in r.text
    [sent] = robot.received
    assert sent.signature_ok is True and "测试消息" in sent.body["markdown"]["title"]
    robot.answer = {"errcode": 310000, "errmsg": "keywords not in content"}
    r = _call(ctx, client, "POST", f"/admin/webhooks/{hook.id}/test",
              data={"csrf_token": token}, follow_redirects=True)
    assert 'class="flash error"' in r.text and "errcode 310000" in r.text
    robot.answer = {"errcode": 0, "errmsg": "ok"}

    # disable, then edit the name keeping URL and secret (left blank), enable, delete
    r = _call(ctx, client, "POST", f"/admin/webhooks/{hook.id}/enabled",
              data={"csrf_token": token, "enabled": "n"}, follow_redirects=True)
    assert "已停用" in r.text
    db.session.refresh(hook)
    assert hook.enabled is False
    edit = _call(ctx, client, "GET", f"/admin/webhooks/{hook.id}").text
    r = _call(ctx, client, "POST", f"/admin/webhooks/{hook.id}", data={
        "csrf_token": token, "org": "B2", "kind": "dingtalk", "name": "支部委员会群", "url": "",
        "secret": ""}, follow_redirects=True)
    assert "已保存群机器人设置" in r.text and "支部委员会群" in r.text
    db.session.refresh(hook)
    assert (hook.url, hook.secret, hook.name) == (url, SECRET, "支部委员会群")
    r = _call(ctx, client, "POST", f"/admin/webhooks/{hook.id}", data={
        "csrf_token": token, "org": "B2", "kind": "dingtalk", "url": "ftp://x"},
        follow_redirects=True)
    assert 'class="flash error"' in r.text
    r = _call(ctx, client, "POST", f"/admin/webhooks/{hook.id}/enabled",
              data={"csrf_token": token, "enabled": "y"}, follow_redirects=True)
    db.session.refresh(hook)
    assert hook.enabled is True

    # neither the URL's key nor the secret is on any page
    for page in (edit, r.text, _call(ctx, client, "GET", "/admin/webhooks").text):
        assert KEY not in page and SECRET not in page

    r = _call(ctx, client, "POST", f"/admin/webhooks/{hook.id}/delete",
              data={"csrf_token": token}, follow_redirects=True)
    assert "已删除群机器人" in r.text
    db.session.commit()
    assert db.session.execute(sa.select(sa.func.count()).select_from(Webhook)).scalar_one() == 0


@pytest.mark.usefixtures("cases")
def test_the_admin_page_lists_failed_deliveries(ctx, world, robot):
    _add(robot, "B1")
    alerting.scan(date.fromisoformat(AS_OF))
    robot.answer = {"errcode": 93000, "errmsg": "invalid webhook url"}
    assert _deliver_all()["failed"] > 0
    client, _ = _browser(ctx, "admin")
    page = _call(ctx, client, "GET", "/admin/webhooks").text
    failed = [n for n in _rows() if n.last_error]
    assert failed and all(n.delivered_at is None and n.attempts == 1 for n in failed)
    assert "errcode 93000" in page and re.search(rf"<td[^>]*>{failed[0].id}</td>", page)
    assert KEY not in page


def test_only_the_admin_sees_the_robot_page(ctx, world):
    for who in ("sec1", "org", "aud"):
        client, _ = _browser(ctx, who)
        assert _call(ctx, client, "GET", "/admin/webhooks").status_code == 403
