"""E-mail and console texts, by template name. Plain text: alerts are short and must read the
same in any mail client. Kept as data here (not under templates/) so the worker needs no
template folder and a missing variable fails loudly (StrictUndefined) instead of sending a gap.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, StrictUndefined

TEMPLATES: dict[str, tuple[str, str]] = {
    "alert": (
        "【发展党员提醒】{{ person }}：{{ rule_label }}（{{ level_label }}）",
        ("{{ org_name }}：\n\n"
         "{{ person }} 的“{{ rule_label }}”{{ level_label }}，到期日 {{ due_on }}。\n"
         "{% if escalated %}该事项已逾期，按规定同时提示上级党委。\n{% endif %}"
         "责任方：{{ responsible_label }}；案件编号 {{ case_id }}。\n\n"
         "{% if case_url %}案件链接：{{ case_url }}\n{% endif %}"
         "请登录发展党员全程纪实系统处理。本邮件由系统自动发送。\n"),
    ),
    # group robots (notifications.webhooks): markdown both WeCom and DingTalk render
    "alert_robot": (
        "发展党员提醒：{{ person }} {{ kind_label }}",
        ("### 发展党员提醒\n"
         "**{{ person }}**：{{ kind_label }}，**{{ level_label }}**\n\n"
         "> 到期日：{{ due_on }}\n\n"
         "> 责任方：{{ org_name }}（{{ responsible_label }}）\n\n"
         "{% if escalated %}> 该事项已逾期，按规定同时提示上级党委\n\n{% endif %}"
         "{% if case_url %}[打开案件 {{ case_id }}]({{ case_url }})"
         "{% else %}案件编号 {{ case_id }}，请登录发展党员全程纪实系统处理{% endif %}\n"),
    ),
}

_env = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def render(name: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, body) for template `name`."""
    subject, body = TEMPLATES[name]
    return (_env.from_string(subject).render(context).strip(),
            _env.from_string(body).render(context))


def level_label(level: str) -> str:
    """before_30 → 还有 30 天到期; due → 今天到期; overdue_2 → 已逾期 2 周."""
    if level == "due":
        return "今天到期"
    kind, _, n = level.partition("_")
    if kind == "before":
        return f"还有 {n} 天到期"
    return "已逾期" if n == "0" else f"已逾期 {n} 周"
