"""Users, their passwords and API tokens, and the link from a login to a roster member.
"""
from __future__ import annotations

import functools
import hashlib
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from workflow.persistence import reference
from workflow.persistence.db import db
from workflow.persistence.models import ApiToken, RosterMember, User
from workflow.services.directory import access
from workflow.services.directory.access import Role
from workflow.services.errors import Invalid, NotFound

MIN_PASSWORD = 8


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD or password.isdigit() or password.isalpha():
        raise Invalid("密码至少 8 位，且须同时包含字母和数字",
                      {"password": "至少 8 位，须同时包含字母和数字"})


def create_user(username: str, password: str, role: str, org: str,
                display_name: str = "", shared: bool = False) -> User:
    if role not in tuple(Role):
        raise Invalid("角色不正确", {"role": "必须是 " + " / ".join(Role)})
    if db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none():
        raise Invalid(f"用户名 {username} 已存在", {"username": "已存在"})
    check_password_policy(password)
    user = User(username=username, password_hash=generate_password_hash(password), role=role,
                org=access.org_by_code(org), display_name=display_name or username,
                shared=bool(shared))
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(username: str, password: str) -> User | None:
    user = db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none()
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        return None
    return user


def change_password(user: User, old: str, new: str) -> None:
    if not check_password_hash(user.password_hash, old):
        raise Invalid("原密码不正确", {"old_password": "不正确"})
    check_password_policy(new)
    user.password_hash = generate_password_hash(new)
    db.session.commit()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(username: str) -> str:
    user = db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"用户 {username} 不存在")
    token = "dy_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_hash=_token_hash(token)))
    db.session.commit()
    return token


def token_for(token: str) -> ApiToken | None:
    """The token row of an active user's token (its id names the API session), or None."""
    found = db.session.execute(_token_query(), {"hash": _token_hash(token)}).one_or_none()
    if found is None:
        return None
    row, stamp = found
    reference.noted(stamp)  # read along: the request's first use of reference data is free
    return row if row.user.active else None


@functools.cache
def _token_query() -> Any:
    """Every API request asks, first: built once, and reads the reference stamp along."""
    return (db.select(ApiToken, reference.query()).options(joinedload(ApiToken.user))
            .where(ApiToken.token_hash == sa.bindparam("hash")))


def user_for_token(token: str) -> User | None:
    row = token_for(token)
    return row.user if row else None


def user_by_name(username: str) -> User:
    user = db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"用户 {username} 不存在")
    return user


def set_shared(username: str, shared: bool) -> User:
    """Mark an account as used by several people (an office account) or as personal: a shared
    account must name who decided whenever it records a committee decision."""
    user = user_by_name(username)
    user.shared = bool(shared)
    db.session.commit()
    return user


def link_member(username: str, member_id: int) -> User:
    user = user_by_name(username)
    member = db.session.get(RosterMember, member_id)
    if member is None or member.org_id not in access.subtree_ids(user.org_id):
        raise Invalid("花名册成员不存在或不属于该用户的党组织", {"member": "不存在"})
    user.roster_member_id = member.id
    db.session.commit()
    return user
