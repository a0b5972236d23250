"""Users, their passwords, login sessions and API tokens, and the link from a login to a roster
member.

A page login is a `LoginSession` row; the cookie carries its random key (Flask-Login keeps
`User.get_id()`, which is that key), so logout, a password change or an admin's "log out
everywhere" end it on the server, and a copy of the cookie dies with it. API tokens expire
(`API_TOKEN_DAYS`), can be revoked, and record when they were last used. Both "last seen"
stamps are written at most once a minute per session or token, never on every request.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import secrets
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NoReturn

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from workflow.persistence import reference
from workflow.persistence.db import db
from workflow.persistence.models import ApiToken, LoginSession, RosterMember, User, utcnow
from workflow.services.directory import access
from workflow.services.directory.access import Role
from workflow.services.errors import Invalid, NotFound
from workflow.messages import Message
from workflow.steps import optional_text_problem, text_problem

MIN_PASSWORD = 10
MAX_PASSWORD = 128
STRONG_ENOUGH = 3  # zxcvbn score: 3 = "safely unguessable", more than ~10^10 guesses
TOUCH_EVERY = timedelta(minutes=1)  # how stale a session's or token's "last seen" may get
PRUNE_AFTER = timedelta(days=90)  # ended or idle sessions kept this long, then deleted
DEFAULT_TOKEN_DAYS = 180
log = logging.getLogger(__name__)

# zxcvbn's feedback, in Chinese (its own text is English and it ships no translations)
FEEDBACK_ZH = {
    "Use a few words, avoid common phrases.": "用几个词组成密码，避免常见短语。",
    "No need for symbols, digits, or uppercase letters.": "不必非用符号、数字或大写字母。",
    "Add another word or two. Uncommon words are better.": "再加一两个词，不常见的词更好。",
    "Straight rows of keys are easy to guess.": "键盘上连成一排的按键很容易被猜到。",
    "Short keyboard patterns are easy to guess.": "简短的键盘图案很容易被猜到。",
    "Use a longer keyboard pattern with more turns.": "使用更长、转折更多的键盘图案。",
    'Repeats like "aaa" are easy to guess.': "“aaa”这样的重复很容易被猜到。",
    'Repeats like "abcabcabc" are only slightly harder to guess than "abc".':
        "“abcabcabc”这样的重复只比“abc”难猜一点点。",
    "Avoid repeated words and characters.": "避免重复的词和字符。",
    'Sequences like "abc" or "6543" are easy to guess.': "“abc”或“6543”这样的序列很容易被猜到。",
    "Avoid sequences.": "避免使用序列。",
    "Recent years are easy to guess.": "近些年的年份很容易被猜到。",
    "Avoid recent years.": "避免使用近些年的年份。",
    "Avoid years that are associated with you.": "避免使用与您相关的年份。",
    "Dates are often easy to guess.": "日期通常很容易被猜到。",
    "Avoid dates and years that are associated with you.": "避免使用与您相关的日期和年份。",
    "This is a top-10 common password.": "这是最常见的 10 个密码之一。",
    "This is a top-100 common password.": "这是最常见的 100 个密码之一。",
    "This is a very common password.": "这是非常常见的密码。",
    "This is similar to a commonly used password.": "这与常用密码相似。",
    "A word by itself is easy to guess.": "单个词很容易被猜到。",
    "Names and surnames by themselves are easy to guess.": "单独的姓名很容易被猜到。",
    "Common names and surnames are easy to guess.": "常见的姓名很容易被猜到。",
    "Capitalization doesn't help very much.": "大写字母帮助不大。",
    "All-uppercase is almost as easy to guess as all-lowercase.":
        "全部大写和全部小写几乎一样容易被猜到。",
    "Reversed words aren't much harder to guess.": "把词倒过来写并不会更难猜。",
    "Predictable substitutions like '@' instead of 'a' don't help very much.":
        "用“@”代替“a”这类可预料的替换帮助不大。",
}
LONGER = "用几个不常见的词组成更长的密码。"  # the advice when zxcvbn gives none we know
_zxcvbn_lock = threading.Lock()  # zxcvbn keeps the user inputs in a module-level dictionary


def check_password_policy(password: str, username: str = "", *, current: str | None = None,
                          hints: Sequence[str] = (), field: str = "password") -> None:
    """Refuse, with the reason in Chinese under `field`, a password shorter than 10 or longer
    than 128 characters, equal to the `current` one, containing the username (3 characters or
    more), or that zxcvbn (common-password, name and word lists, keyboard patterns, dates,
    sequences; the username and `hints` count as known words) scores below 3."""
    def refuse(why: str) -> NoReturn:
        raise Invalid("密码不符合要求", {field: why})

    if len(password) < MIN_PASSWORD:
        refuse(Message("至少 %(n)d 位", n=MIN_PASSWORD))
    if len(password) > MAX_PASSWORD:
        refuse(Message("不能超过 %(n)d 位", n=MAX_PASSWORD))
    if current is not None and password == current:
        refuse(Message("不能与当前密码相同"))
    name = username.strip().lower()
    if len(name) >= 3 and name in password.lower():
        refuse(Message("不能包含用户名"))
    from zxcvbn import zxcvbn  # its word lists load on first use, not with every command
    with _zxcvbn_lock:
        result = zxcvbn(password[:72], user_inputs=[username, *hints])  # 72: its own limit
    if result["score"] < STRONG_ENOUGH:
        feedback = result["feedback"]
        warning = FEEDBACK_ZH.get(feedback.get("warning") or "", "").rstrip("。")
        advice = tuple(FEEDBACK_ZH[s] for s in feedback.get("suggestions", [])
                       if s in FEEDBACK_ZH) or (LONGER,)
        refuse(Message("太容易被猜到（%(warning)s）。建议：%(advice)s", warning=warning,
                       advice=advice) if warning
               else Message("太容易被猜到。建议：%(advice)s", advice=advice))


USERNAME_MAX, DISPLAY_NAME_MAX = 80, 100  # the columns' lengths


def create_user(username: str, password: str, role: str, org: str,
                display_name: str = "", shared: bool = False) -> User:
    problems: dict[str, str] = {}
    problem = text_problem(username, USERNAME_MAX)
    if problem is None and any(c.isspace() for c in username):
        problem = Message("不能包含空格")
    if problem:
        problems["username"] = problem
    problem = optional_text_problem(display_name, DISPLAY_NAME_MAX)
    if problem:
        problems["display_name"] = problem
    if problems:
        raise Invalid(Message("用户信息不正确"), problems)
    if role not in tuple(Role):
        raise Invalid("角色不正确",
                      {"role": Message("必须是 %(choices)s", choices=" / ".join(Role))})
    if db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none():
        raise Invalid(Message("用户名 %(username)s 已存在", username=username),
                      {"username": Message("已存在")})
    check_password_policy(password, username, hints=[display_name] if display_name else [])
    user = User(username=username, password_hash=generate_password_hash(password), role=role,
                org=access.org_by_code(org), display_name=display_name or username,
                shared=bool(shared))
    db.session.add(user)
    db.session.commit()
    return user


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, made with the same method as users' hashes."""
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(username: str, password: str) -> User | None:
    """The active user with this username and password, or None. An unknown username costs one
    password-hash check too (against a dummy hash of the same method), and so does an inactive
    user: the answer's timing does not tell which usernames exist."""
    user = db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none()
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def change_password(user: User, old: str, new: str, keep_session: str | None = None) -> None:
    """Set a new password (policy: `check_password_policy`). Every login session of the user
    ends except `keep_session` (the key of the session that changed it), and every API token
    of the user is revoked: whoever had the old password may have made either."""
    if not check_password_hash(user.password_hash, old):
        raise Invalid("原密码不正确", {"old_password": "不正确"})
    check_password_policy(new, user.username, current=old, hints=[user.display_name],
                          field="new_password")
    user.password_hash = generate_password_hash(new)
    _end_sessions(user.id, keep=keep_session)
    _revoke_tokens(user.id)
    db.session.commit()


# -- login sessions ------------------------------------------------------------------------

def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _bind(user: User, key: str) -> User:
    """What `User.get_id()` answers for this object: the key of its login session."""
    user.__dict__["session_key"] = key
    return user


def start_session(user: User) -> str:
    """Record a new login of `user` and return its key, which the session cookie carries
    (`login_user(user)` right after stores `user.get_id()`, which is this key). The user's
    sessions that ended or went idle more than 90 days ago are deleted on the way."""
    key = "s_" + secrets.token_urlsafe(32)
    now = utcnow()
    old = now - PRUNE_AFTER
    db.session.execute(sa.delete(LoginSession).where(
        LoginSession.user_id == user.id,
        sa.or_(LoginSession.ended_at < old, LoginSession.last_seen_at < old)))
    db.session.add(LoginSession(key_hash=_key_hash(key), user_id=user.id, created_at=now,
                                last_seen_at=now))
    db.session.commit()
    _bind(user, key)
    return key


def _idle_cutoff(now: datetime) -> datetime:
    """Sessions last seen before this are over: the cookie's lifetime (refreshed on every
    request), plus the minute by which `last_seen_at` may lag."""
    return now - current_app.permanent_session_lifetime - TOUCH_EVERY


@functools.cache
def _session_query() -> Any:
    """Every page asks, first: built once; reads the reference stamp along with the user."""
    return (db.select(User, LoginSession.id, LoginSession.last_seen_at, reference.query())
            .join(LoginSession, LoginSession.user_id == User.id)
            .where(LoginSession.key_hash == sa.bindparam("hash"),
                   LoginSession.ended_at.is_(None),
                   LoginSession.last_seen_at >= sa.bindparam("cutoff", type_=sa.DateTime()),
                   User.active == sa.true()))


def session_user(key: str) -> User | None:
    """The user of the login session with this key, if it has not ended, was seen within the
    session lifetime and its user is active; else None (Flask-Login's user loader)."""
    if not key or len(key) > 100:
        return None
    now = utcnow()
    found = db.session.execute(_session_query(), {"hash": _key_hash(key),
                                                  "cutoff": _idle_cutoff(now)}).one_or_none()
    if found is None:
        return None
    user, session_id, last_seen, stamp = found
    reference.noted(stamp)  # read along: the request's first use of reference data is free
    if now - last_seen >= TOUCH_EVERY:
        _touch(LoginSession.__table__, "last_seen_at", session_id, now)
    return _bind(user, key)


def end_session(key: str) -> None:
    """Logout: the session with this key ends (its cookie and every copy of it stop working)."""
    db.session.execute(sa.update(LoginSession)
                       .where(LoginSession.key_hash == _key_hash(key),
                              LoginSession.ended_at.is_(None))
                       .values(ended_at=utcnow()))
    db.session.commit()


def _end_sessions(user_id: int, keep: str | None = None) -> int:
    query = sa.update(LoginSession).where(LoginSession.user_id == user_id,
                                          LoginSession.ended_at.is_(None))
    if keep:
        query = query.where(LoginSession.key_hash != _key_hash(keep))
    done: Any = db.session.execute(query.values(ended_at=utcnow()))
    return int(done.rowcount or 0)


def log_out_everywhere(actor: User, username: str) -> tuple[int, int]:
    """An admin ends every login session of `username` and revokes all of its API tokens;
    answers (sessions ended, tokens revoked)."""
    access.require_admin(actor)
    user = user_by_name(username)
    counts = _end_sessions(user.id), _revoke_tokens(user.id)
    db.session.commit()
    return counts


def open_sessions(actor: User) -> dict[int, int]:
    """For the admin's user list: user id → number of login sessions still valid."""
    access.require_admin(actor)
    rows = db.session.execute(
        db.select(LoginSession.user_id, sa.func.count())
        .where(LoginSession.ended_at.is_(None),
               LoginSession.last_seen_at >= _idle_cutoff(utcnow()))
        .group_by(LoginSession.user_id))
    return {user_id: count for user_id, count in rows}


def _touch(table: sa.Table, column: str, row_id: int, now: datetime) -> None:
    """Write a "last seen" stamp in a transaction of its own, not the request's: a read-only
    request stays read-only, and a failure (SQLite busy) only loses the stamp."""
    try:
        with db.engine.begin() as connection:
            connection.execute(sa.update(table).where(table.c.id == row_id)
                               .values({column: now}))
    except sa.exc.OperationalError:
        log.warning("could not record the last use of %s %s", table.name, row_id, exc_info=True)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(username: str, days: int | None = None) -> str:
    """A new API token for `username`, valid `days` (default `API_TOKEN_DAYS`, 180); only its
    SHA-256 is stored, so the token itself is shown once."""
    user = db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none()
    if user is None:
        raise NotFound(Message("用户 %(username)s 不存在", username=username))
    days = days or int(current_app.config.get("API_TOKEN_DAYS") or DEFAULT_TOKEN_DAYS)
    token = "dy_" + secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(ApiToken(user=user, token_hash=_token_hash(token), created_at=now,
                            expires_at=now + timedelta(days=days)))
    db.session.commit()
    return token


def token_for(token: str) -> ApiToken | None:
    """The row of a token that is neither revoked nor expired and whose user is active (its id
    names the API session), or None."""
    if not token or len(token) > 200:
        return None
    found = db.session.execute(_token_query(), {"hash": _token_hash(token)}).one_or_none()
    if found is None:
        return None
    row, stamp = found
    reference.noted(stamp)  # read along: the request's first use of reference data is free
    now = utcnow()
    if token_state(row, now) != "valid" or not row.user.active:
        return None
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        _touch(ApiToken.__table__, "last_used_at", row.id, now)
    return row


@functools.cache
def _token_query() -> Any:
    """Every API request asks, first: built once, and reads the reference stamp along."""
    return (db.select(ApiToken, reference.query()).options(joinedload(ApiToken.user))
            .where(ApiToken.token_hash == sa.bindparam("hash")))


def user_for_token(token: str) -> User | None:
    row = token_for(token)
    return row.user if row else None


def token_state(row: ApiToken, now: datetime | None = None) -> str:
    """`revoked`, `expired` or `valid`."""
    if row.revoked_at is not None:
        return "revoked"
    return "expired" if row.expires_at <= (now or utcnow()) else "valid"


def list_tokens(username: str) -> list[ApiToken]:
    """All of the user's tokens, oldest first, revoked and expired ones included."""
    user = user_by_name(username)
    return list(db.session.execute(db.select(ApiToken).where(ApiToken.user_id == user.id)
                                   .order_by(ApiToken.id)).scalars())


def _revoke_tokens(user_id: int, token_id: int | None = None) -> int:
    query = sa.update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    done: Any = db.session.execute(query.values(revoked_at=utcnow()))
    return int(done.rowcount or 0)


def revoke_tokens(username: str, token_id: int | None = None) -> int:
    """Revoke one of the user's tokens (`token_id`) or all of them; answers how many were
    still valid. A revoked token gets 401 from then on."""
    user = user_by_name(username)
    if token_id is not None and db.session.execute(
            db.select(ApiToken.id).where(ApiToken.id == token_id,
                                         ApiToken.user_id == user.id)).first() is None:
        raise NotFound(Message("用户 %(username)s 没有编号为 %(token)s 的令牌", username=username,
                               token=token_id))
    count = _revoke_tokens(user.id, token_id)
    db.session.commit()
    return count


def tokens_by_user(actor: User) -> dict[int, list[ApiToken]]:
    """For the admin's user list: user id → that user's tokens, oldest first."""
    access.require_admin(actor)
    found: dict[int, list[ApiToken]] = {}
    for row in db.session.execute(db.select(ApiToken).order_by(ApiToken.id)).scalars():
        found.setdefault(row.user_id, []).append(row)
    return found


def user_by_name(username: str) -> User:
    user = db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none()
    if user is None:
        raise NotFound(Message("用户 %(username)s 不存在", username=username))
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
