"""Use cases: one function per action, one transaction each, permission and scope checked here.

Adapters (API, pages, CLI, tasks) parse input, call one of these and map `errors` to their own
answer; they never touch models or rules directly. The use cases are grouped by what they are
for; each package's docstring says what it owns:

- `cases/`: open a case, record and correct its steps, documents, committee decisions named
  by person, exemptions, the tamper-evident history chain, and the views of a case.
- `committee/`: the committee's own work: the pre-review and approval queues and training
  courses.
- `plans/`: yearly development plans: set and adjusted by the committee (versions), the
  branch's measures, plan against actual, the over-plan verdict on a vote being recorded and
  item 13's plan deductions.
- `alerts/`: deadline rows and kept findings per case, and the daily sweep into the outbox.
- `reports/`: what is derived over a scope: work queues, the alert list, rubric tables,
  annual statistics, their Excel and PDF files, and reports in several processes.
- `interchange/`: files in and out: the Excel import and export, printed forms, XES, the
  iCalendar feed, backups.
- `directory/`: organisations, rosters, users and tokens, who may act where (access), the
  administration of rule settings and holidays, and the personal-data access log (audit).

Shared infrastructure stays here: `errors` (what adapters map), `clock` (the organisation's
today), `bulk` (reading and replaying many cases at once), and `bulk_runs` with
`bulk_verify` (bulk work over every case in chunks by case-id range, on the Celery workers or
in the calling process: the rebuild of deadline rows and findings, and the chain check). Packages import downwards only
(directory → alerts; plans → directory; cases → directory, alerts, plans; committee → cases;
reports → committee, cases, plans; interchange → all): tests/unit/test_import_graph.py fails on any circle.
"""
