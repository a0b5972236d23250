"""The event log as XES (IEEE 1849): one trace per case, one event per recorded step.

Events carry the date the step happened (after corrections: what replay uses), in the order
replay puts them, so process-mining tools see the process as it ran, not as it was typed in.
The organisation is the branch that held the case on that date (a transfer moves the case, not
its past); the recorder is the user and the role that recorded it.
"""
from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from workflow.history import Replay
from workflow.machine import stage_of
from workflow.persistence import repository as repo
from workflow.persistence.db import db
from workflow.persistence.models import Case, User
from workflow.services.clock import today
from workflow.services.directory import access
from workflow.services.reports import replays_of
from workflow.steps import STEPS


def _attr(parent: ET.Element, kind: str, key: str, value: str) -> None:
    ET.SubElement(parent, kind, key=key, value=value)


def _log() -> ET.Element:
    log = ET.Element("log", {"xes.version": "1.0", "xes.features": "nested-attributes"})
    for name, prefix in (("Concept", "concept"), ("Time", "time"), ("Lifecycle", "lifecycle"),
                         ("Organizational", "org"), ("Identity", "identity")):
        ET.SubElement(log, "extension", name=name, prefix=prefix,
                      uri=f"http://www.xes-standard.org/{prefix}.xesext")
    ET.SubElement(log, "classifier", name="Activity", keys="concept:name")
    _attr(log, "string", "concept:name", "发展党员全程纪实")
    return log


def _trace(log: ET.Element, case: Case, replay: Replay) -> None:
    trace = ET.SubElement(log, "trace")
    _attr(trace, "string", "concept:name", str(case.id))
    _attr(trace, "string", "org:group", case.branch.code)
    _attr(trace, "string", "chain:head", case.chain_head or "")
    effective = {r.seq: r for r in replay.effective}
    rows = repo.step_rows(case.id)
    day = {r.id: effective[r.id].occurred_on if r.id in effective else r.occurred_on
           for r in rows}
    for row in sorted(rows, key=lambda r: (day[r.id], r.id)):
        event = ET.SubElement(trace, "event")
        _attr(event, "string", "concept:name", row.step)
        _attr(event, "string", "label", STEPS[row.step].zh)
        _attr(event, "date", "time:timestamp", f"{day[row.id].isoformat()}T00:00:00+08:00")
        _attr(event, "string", "lifecycle:transition", "complete")
        _attr(event, "string", "identity:id", str(row.id))
        _attr(event, "string", "stage", STEPS[row.step].stage)
        _attr(event, "string", "org:group", replay.org_on(day[row.id]))
        _attr(event, "string", "org:role", row.recorded_by_role)
        _attr(event, "string", "org:resource", row.recorded_by.username if row.recorded_by else "")
        eff = effective.get(row.id)
        if eff is not None and (eff.occurred_on != row.occurred_on or eff.data != row.data):
            # corrected: the event carries what the record says now, and as first written
            _attr(event, "boolean", "corrected", "true")
            _attr(event, "date", "original:timestamp",
                  f"{row.occurred_on.isoformat()}T00:00:00+08:00")
            _attr(event, "string", "original:data",
                  json.dumps(row.data, ensure_ascii=False, sort_keys=True))
    _attr(trace, "string", "stage", stage_of(case.state))


def events_xes(actor: User, org: str | None = None) -> bytes:
    scope = access.subtree_ids(actor.org_id)
    if org:
        scope &= access.subtree_ids(access.visible_org(actor, org).id)
    log = _log()
    cases = list(db.session.execute(
        db.select(Case).where(Case.branch_id.in_(scope)).order_by(Case.id)).scalars())
    replays = replays_of(cases, today())
    for case in cases:
        _trace(log, case, replays[case.id])
    return ET.tostring(log, encoding="utf-8", xml_declaration=True)
