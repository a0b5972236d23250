"""The event log as XES (IEEE 1849): one trace per case, one event per effective step."""
from __future__ import annotations

from xml.etree import ElementTree as ET

from workflow.machine import stage_of
from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import Case, User
from workflow.services import access
from workflow.steps import STEPS


def _attr(parent: ET.Element, kind: str, key: str, value: str) -> None:
    ET.SubElement(parent, kind, key=key, value=value)


def events_xes(actor: User, org: str | None = None) -> bytes:
    scope = access.subtree_ids(actor.org_id)
    if org:
        scope &= access.subtree_ids(access.visible_org(actor, org).id)
    log = ET.Element("log", {"xes.version": "1.0", "xes.features": "nested-attributes"})
    for name, prefix in (("Concept", "concept"), ("Time", "time"), ("Lifecycle", "lifecycle"),
                         ("Organizational", "org")):
        ET.SubElement(log, "extension", name=name, prefix=prefix, uri=f"http://www.xes-standard.org/{prefix}.xesext")
    rows = db.session.execute(db.select(Case).where(Case.branch_id.in_(scope)).order_by(Case.id))
    for case in rows.scalars():
        trace = ET.SubElement(log, "trace")
        _attr(trace, "string", "concept:name", str(case.id))
        _attr(trace, "string", "org:group", case.branch.code)
        for row in repo.step_rows(case.id):
            event = ET.SubElement(trace, "event")
            _attr(event, "string", "concept:name", row.step)
            _attr(event, "string", "label", STEPS[row.step].zh)
            _attr(event, "date", "time:timestamp", f"{row.occurred_on.isoformat()}T00:00:00+08:00")
            _attr(event, "string", "lifecycle:transition", "complete")
            _attr(event, "string", "stage", STEPS[row.step].stage)
            _attr(event, "string", "org:group", case.branch.code)
            _attr(event, "string", "org:role", row.recorded_by_role)
            _attr(event, "string", "org:resource", row.recorded_by.username if row.recorded_by else "")
        _attr(trace, "string", "stage", stage_of(case.state))
    return ET.tostring(log, encoding="utf-8", xml_declaration=True)
