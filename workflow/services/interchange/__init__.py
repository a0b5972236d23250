"""Files in and out of the system.

`sheet_columns`: the import workbook's layout, read by both directions; `excel_export`: the
import format, case lists and the 全程纪实表 to Excel; `import_sheet` and `excel_import`: a
branch's archive read from that workbook, previewed, then written all or nothing; `printables`:
printed forms (notice, pre-review request, tally) as .docx and PDF; `xes`: the event log for
process mining; `ical`: the deadline feed for phone calendars; `backup`: online backup and
restore.
"""
