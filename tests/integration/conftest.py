"""A small world for database tests: a committee with two branches, a second committee, users
of every role with API tokens, and rosters."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from workflow.persistence.db import db

pytestmark = pytest.mark.db


@dataclass
class World:
    tokens: dict[str, str]
    roster: dict[str, int]
    client: Any
    extra: dict[str, Any] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, who: str, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self.headers(who), **kw)

    def post(self, who: str, url: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post(url, headers=self.headers(who), json=json, **kw)


PASSWORD = "Lantern2026river"  # passes the password policy (users.check_password_policy)


@pytest.fixture
def world(ctx, client) -> World:
    from workflow.services import directory
    directory.create_org("C", "测试党委", "committee")
    directory.create_org("B1", "第一党支部", "branch", "C")
    directory.create_org("B2", "第二党支部", "branch", "C")
    directory.create_org("C2", "另一党委", "committee")
    directory.create_org("B3", "外单位党支部", "branch", "C2")
    people = {"sec1": ("branch_secretary", "B1"), "sec2": ("branch_secretary", "B2"),
              "org": ("committee_organizer", "C"), "aud": ("auditor", "C"),
              "admin": ("admin", "C"), "sec3": ("branch_secretary", "B3"),
              "org2": ("committee_organizer", "C2")}
    tokens = {}
    for name, (role, org) in people.items():
        directory.create_user(name, PASSWORD, role, org)
        tokens[name] = directory.create_token(name)
    w = World(tokens, {}, client)
    for name, status, since in (("张伟", "full", "2000-01-01"), ("王芳", "full", "2005-07-01"),
                                ("李强", "full", "2010-07-01"), ("赵敏", "probationary", "2024-01-01")):
        r = w.post("sec1", "/api/v1/orgs/B1/roster", {"name": name, "status": status, "since": since})
        assert r.status_code == 201, r.json
        w.roster[name] = r.json["id"]
    # committee members who take the committee's decisions; `org` is 刘洋's personal account
    for who, org, name in (("org", "C", "刘洋"), ("org2", "C2", "周红")):
        r = w.post(who, f"/api/v1/orgs/{org}/roster", {"name": name, "status": "full",
                                                       "since": "2003-07-01"})
        assert r.status_code == 201, r.json
        w.roster[name] = r.json["id"]
    directory.link_member("org", w.roster["刘洋"])
    return w
