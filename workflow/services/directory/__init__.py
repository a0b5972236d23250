"""The people and units the workflow refers to, and who may do what where.

`organisations`: the organisation tree and branch rosters; `users`: logins, passwords, login
sessions and API tokens; `access`: roles, organisation scope and which steps a role records
(every use case checks it); `admin`: rule-set settings per organisation and the holiday
table; `webhooks`: the group robots (WeCom, DingTalk) alerts are also sent to; `audit`: the
append-only log of who read or exported personal data.
"""
from __future__ import annotations

from workflow.services.directory.organisations import (
    ORG_KINDS,
    add_roster_member,
    create_org,
    list_roster,
    roster_view,
)
from workflow.services.directory.users import (
    MIN_PASSWORD,
    authenticate,
    change_password,
    check_password_policy,
    create_token,
    create_user,
    end_session,
    link_member,
    list_tokens,
    log_out_everywhere,
    open_sessions,
    revoke_tokens,
    session_user,
    set_shared,
    start_session,
    token_for,
    token_state,
    tokens_by_user,
    user_by_name,
    user_for_token,
)

__all__ = ["MIN_PASSWORD", "ORG_KINDS", "add_roster_member", "authenticate", "change_password",
           "check_password_policy", "create_org", "create_token", "create_user", "end_session",
           "link_member", "list_roster", "list_tokens", "log_out_everywhere", "open_sessions",
           "revoke_tokens", "roster_view", "session_user", "set_shared", "start_session",
           "token_for", "token_state", "tokens_by_user", "user_by_name", "user_for_token"]
