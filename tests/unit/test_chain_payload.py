"""The fast chain payloads hash to exactly the bytes the original canonical form gave.

Every link already in a database was hashed by the original code, kept here verbatim as the
reference: a payload dict with date and time objects, `json.dumps` with a `default=` hook,
`hmac.new`. The fast path (dates as text in the payload, one C encoder, HMAC from copied
pads) must agree with it byte for byte, or existing chains would stop verifying.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow import chain
from workflow.persistence import json_text
from workflow.services.cases import history_chain


def _old_default(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"not canonical: {type(value).__name__}")


def old_canonical(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=_old_default).encode("utf-8")


def old_link(key: bytes, prev: str, payload: Any) -> str:
    return hmac.new(key, prev.encode("ascii") + b"\n" + old_canonical(payload),
                    hashlib.sha256).hexdigest()


def old_payload(kind: str, row: Any) -> dict[str, Any]:
    common = {"kind": kind, "case_id": row.case_id, "id": row.id}
    if kind == "step":
        found = {"decided_by_member_id": row.decided_by_member_id, "session_ref": row.session_ref}
        return {**common, "case_version": row.case_version, "step": row.step,
                "occurred_on": row.occurred_on, "data": row.data, "note": row.note,
                "recorded_by_id": row.recorded_by_id, "recorded_by_role": row.recorded_by_role,
                "acknowledged_reason": row.acknowledged_reason, "recorded_at": row.recorded_at,
                **{k: v for k, v in found.items() if v is not None}}
    if kind == "document":
        return {**common, "step_record_id": row.step_record_id, "doc_type": row.doc_type,
                "on_file": row.on_file, "reference": row.reference, "filename": row.filename,
                "sha256": row.sha256, "size": row.size, "attached_on": row.attached_on,
                "attached_by_id": row.attached_by_id}
    return {**common, "step_record_id": row.step_record_id, "rule": row.rule,
            "responsible": row.responsible, "detail": row.detail,
            "acknowledged_by_id": row.acknowledged_by_id, "reason": row.reason}


TRICKY_DATA = {
    "vote": {"yes": 9, "no": 0, "ratio": 0.1, "tiny": 1e-7, "big": 1e300, "neg": -0.0,
             "half": 2.5, "method": "secret_ballot"},
    "人员": [{"姓名": "张伟", "引号": "说\"好\"", "反斜杠": "a\\b", "换行": "一\n二\t三"}],
    "emoji": "党员 ✅ 🚩", "control": "\x00\x1f\x7f\u2028\u2029", "none": None, "ok": True,
    "no": False, "empty": {}, "list": [], "z": 1, "A": 2, "a": 3, "Ω": 4, "é": 5,
    "nested": {"b": {"d": [1, {"y": None, "x": "é"}], "c": "中文"}, "a": 0},
}
WHEN = datetime(2026, 12, 3, 7, 46, 33, 120_000)

ROWS = {
    "step": [
        SimpleNamespace(case_id=7, id=101, case_version=3, step="applicant_interviewed",
                        occurred_on=date(2024, 2, 29), data=TRICKY_DATA, note="备注：谈话",
                        recorded_by_id=None, recorded_by_role="branch",
                        acknowledged_reason=None, recorded_at=WHEN,
                        decided_by_member_id=None, session_ref=None),
        SimpleNamespace(case_id=7, id=102, case_version=4, step="admission_approved",
                        occurred_on=date(1999, 12, 31), data={"on": date(2024, 1, 2)},
                        note=None, recorded_by_id=5, recorded_by_role="committee",
                        acknowledged_reason="补录", decided_by_member_id=12,
                        session_ref="党委会 2024-03",
                        recorded_at=WHEN.replace(tzinfo=timezone(timedelta(hours=8)))),
        SimpleNamespace(case_id=8, id=103, case_version=1, step="application_submitted",
                        occurred_on=date(2024, 1, 1), data={}, note="", recorded_by_id=1,
                        recorded_by_role="branch", acknowledged_reason=None,
                        recorded_at=WHEN.replace(microsecond=0), decided_by_member_id=None,
                        session_ref="s1"),
    ],
    "document": [
        SimpleNamespace(case_id=7, id=5, step_record_id=101, doc_type="interview_record",
                        on_file=True, reference="档案 #3", filename="谈话记录.pdf",
                        sha256="ab" * 32, size=12345, attached_on=date(2024, 3, 1),
                        attached_by_id=None),
        SimpleNamespace(case_id=7, id=6, step_record_id=102, doc_type="x", on_file=False,
                        reference=None, filename=None, sha256=None, size=None,
                        attached_on=WHEN, attached_by_id=3),
    ],
    "acknowledgement": [
        SimpleNamespace(case_id=7, id=9, step_record_id=102, rule="notice_period",
                        responsible="branch", detail="公示期不足 5 个工作日", acknowledged_by_id=4,
                        reason="已补公示"),
    ],
}
KEYS = [b"test-key", b"", b"k" * 64, b"k" * 65, "长的密钥".encode() * 20]  # around the block


@pytest.mark.parametrize("kind", list(ROWS))
def test_fast_payload_encodes_to_the_old_canonical_bytes(kind):
    for row in ROWS[kind]:
        fast = history_chain.payload(kind, row)
        assert chain.canonical(fast) == old_canonical(old_payload(kind, row))
        assert not any(isinstance(v, date) for v in fast.values())  # no callback needed
        for key in KEYS:
            assert chain.link(key, chain.GENESIS, fast) == old_link(
                key, chain.GENESIS, old_payload(kind, row))


@pytest.mark.parametrize("kind", list(ROWS))
def test_rows_read_by_position_give_the_same_entries(kind):
    """`verify` reads each row's values by position (the columns of `_chained`)."""
    for row in ROWS[kind]:
        row.chain_index, row.prev_hash, row.chain_hash = 2, "0" * 64, "f" * 64
        # a step's data comes as its JSON text, as the column type stored it
        by_position = tuple(_stored(row, c) for c in history_chain.CHAINED[kind]) + (
            2, "0" * 64, "f" * 64)
        (entry,) = history_chain._entries_of(kind, [by_position])
        expected = history_chain._entry(kind, row)
        assert entry.plain and not expected.plain  # an ORM row's entry is never taken as plain
        assert entry._replace(payload=None) == expected._replace(payload=None, plain=True)
        assert chain.canonical(entry.payload) == chain.canonical(expected.payload)
    columns = [c.name for c in history_chain._chained(kind).selected_columns]
    assert columns == [*history_chain.CHAINED[kind], "chain_index", "prev_hash", "chain_hash"]


def _stored(row: Any, column: str) -> Any:
    value = getattr(row, column)
    return json.dumps(value, default=_old_default) if column == "data" else value


def test_stored_data_decodes_as_json_loads_does():
    for text in ['{"a": 1}', "{}", "null", "[1, 2]", '"文"', " {\"a\": 1}", '{"a": 1} ',
                 "\n[]\n", "1.5", "true"]:
        assert json_text.decoded(text) == json.loads(text)
    assert json_text.decoded(None) is None  # SQL NULL
    for bad in ["", "{", '{"a": 1} x', "[1,]", "{'a': 1}", "NaNx"]:
        with pytest.raises(json.JSONDecodeError):
            json_text.decoded(bad)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=5),
    max_leaves=20)


@given(st.dictionaries(st.text(max_size=8), JSON | st.dates() | st.datetimes(), max_size=8),
       st.binary(max_size=100))
def test_any_payload_links_as_before(payload, key):
    assert chain.canonical(payload) == old_canonical(payload)
    assert chain.link(key, chain.GENESIS, payload) == old_link(key, chain.GENESIS, payload)


@given(JSON, st.sampled_from(["", " ", "\n", "\t "]), st.booleans())
def test_any_stored_data_decodes_as_json_loads_does(value, space, indent):
    text = space + json.dumps(value, ensure_ascii=indent, indent=2 if indent else None) + space
    # compared as the chain hashes them: 1, 1.0 and True are equal, but not the same bytes
    assert chain.canonical({"v": json_text.decoded(text)}) == chain.canonical(
        {"v": json.loads(text)})


def test_what_the_old_form_refused_is_still_refused():
    with pytest.raises(TypeError):
        chain.canonical({"x": {1, 2}})


def _read(kind: str, row: Any, **changed: Any) -> chain.Entry:
    """The entry `verify` reads for the row as stored, linked as the row was before `changed`
    was written into the database behind the chain's back (values as the driver returns them;
    `data` as its stored text)."""
    linked = chain.link(KEYS[0], chain.GENESIS, history_chain.payload(kind, row))
    stored = {c: _stored(row, c) for c in history_chain.CHAINED[kind]} | changed
    (entry,) = history_chain._entries_of(kind, [(*stored.values(), 1, chain.GENESIS, linked)])
    return entry


def _first_break(entries: list[chain.Entry]) -> chain.Break | None:
    return chain.first_break(KEYS[0], entries, None, history_chain.holds)


def _step_with(data: Any) -> SimpleNamespace:
    return SimpleNamespace(**{**vars(ROWS["step"][0]), "data": data})


# A null written over with what decodes to NaN or an infinity: orjson writes those as `null`,
# the very bytes the link was made of, so only the `plain` check stands between them and a
# verified chain.
NOT_FINITE = [
    ("step", _step_with({"comment": None, "n": 1}), {"data": '{"comment": 1e400, "n": 1}'}),
    ("step", _step_with({"comment": None, "n": 1}), {"data": '{"comment": NaN, "n": 1}'}),
    ("step", _step_with({"comment": None}), {"data": '{"comment": -Infinity}'}),
    ("step", _step_with(None), {"data": "1e999"}),
    ("step", _step_with({"n": 1}), {"recorded_by_id": float("inf")}),  # SQLite keeps a REAL there
    ("document", ROWS["document"][1], {"size": float("-inf")}),
    ("document", ROWS["document"][1], {"size": float("nan")}),
]


@pytest.mark.parametrize(("kind", "row", "changed"), NOT_FINITE)
def test_a_null_overwritten_with_nan_or_infinity_breaks_the_chain(kind, row, changed):
    intact = _read(kind, row)
    assert intact.plain and _first_break([intact]) is None
    tampered = _read(kind, row, **changed)
    # the hazard is real: the fast encoding of what was written equals the canonical original
    assert orjson.dumps(tampered.payload, option=orjson.OPT_SORT_KEYS) == chain.canonical(
        history_chain.payload(kind, row))
    assert not tampered.plain
    found = _first_break([tampered])
    assert found is not None and found.entry == tampered


def test_a_lone_surrogate_written_into_the_data_breaks_the_chain():
    """It has no UTF-8 form, so the canonical check cannot encode it: reported as a broken
    link of its case, not an error that stops the whole check."""
    tampered = _read("step", _step_with({"n": "a"}), data='{"n": "\\ud800"}')
    assert tampered.payload["data"] == {"n": "\ud800"}
    for entry in (tampered, tampered._replace(plain=False)):
        assert _first_break([entry]).entry == entry
        assert chain.first_break(KEYS[0], [entry]).entry == entry


@pytest.mark.parametrize("data", [{"tiny": 1e-7}, {"big": 2 ** 64}, {"huge": -(10 ** 30)},
                                  TRICKY_DATA, {"list": [1e-5, 1e22, 5e-324]}])
def test_payloads_the_fast_encoding_writes_otherwise_still_verify(data):
    """Where orjson writes other bytes (`1e-07`) or refuses (beyond 64 bits) the canonical
    form decides: an intact record holds, a changed one does not."""
    entry = _read("step", _step_with(data))
    assert entry.plain and _first_break([entry]) is None
    changed = _read("step", _step_with(data), data=json.dumps({**data, "extra": 1}))
    assert _first_break([changed]).entry == changed


def test_an_ordinary_record_is_proved_by_the_fast_encoding_alone():
    for kind, row in [("step", ROWS["step"][2]), ("step", _step_with({"n": 1, "人": "张伟"})),
                      *[("document", r) for r in ROWS["document"]],
                      ("acknowledgement", ROWS["acknowledgement"][0])]:
        entry = _read(kind, row)
        fast = orjson.dumps(entry.payload, option=orjson.OPT_SORT_KEYS)
        assert chain.link_of(KEYS[0], chain.GENESIS, fast) == entry.hash


def test_holds_tries_the_fast_encoding_of_a_plain_entry_only():
    """Shown with a link made of orjson's bytes where they differ from the canonical ones
    (`1e-7`): `holds` accepts it only by the fast path, and only for a plain entry."""
    entry = _read("step", _step_with({"tiny": 1e-7}))
    fast = orjson.dumps(entry.payload, option=orjson.OPT_SORT_KEYS)
    assert fast != chain.canonical(entry.payload)
    forged = entry._replace(hash=chain.link_of(KEYS[0], chain.GENESIS, fast))
    assert history_chain.holds(KEYS[0], chain.GENESIS, forged)
    assert not history_chain.holds(KEYS[0], chain.GENESIS, forged._replace(plain=False))
    assert not chain.holds(KEYS[0], chain.GENESIS, forged)  # the canonical check alone


@pytest.mark.parametrize("kind", list(ROWS))
def test_each_stored_record_verifies_by_the_fast_path_or_the_canonical_one(kind):
    for row in ROWS[kind]:
        entry = _read(kind, row)
        assert entry.plain and _first_break([entry]) is None
        for column, value in list(vars(row).items())[2:]:  # every chained column but the ids
            if column not in history_chain.CHAINED[kind]:
                continue
            others = (['{"x": 1}'] if column == "data" else [0, ""] if value is None else
                      ["x", None] if not isinstance(value, str) else [value + "x", None])
            for other in others:  # a value changed, a NULL filled in, a value made NULL
                assert _first_break([_read(kind, row, **{column: other})]) is not None


FINITE_OR_NOT = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=5),
    max_leaves=20)


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, list):
        return all(map(_finite, value))
    if isinstance(value, dict):
        return all(map(_finite, value.values()))
    return True


@given(FINITE_OR_NOT, st.sampled_from(["", " ", "\n"]))
def test_decoding_says_whether_the_value_is_finite(value, space):
    text = space + json.dumps(value) + space
    decoded, plain = json_text.decoded_finite(text)
    assert chain.canonical({"v": decoded}) == chain.canonical({"v": json.loads(text)})
    assert plain == _finite(value)


def test_numbers_too_large_for_a_float_are_not_finite():
    assert json_text.decoded_finite("[1e400]") == ([float("inf")], False)
    assert json_text.decoded_finite("[1" + "0" * 400 + "]") == ([10 ** 400], True)  # an int
    for bad in ["", "{", "[NaN", "{} x"]:
        with pytest.raises(json.JSONDecodeError):
            json_text.decoded_finite(bad)


@given(JSON | st.floats() | st.integers(min_value=-2**200, max_value=2**200))
def test_the_bulk_reads_decode_step_data_as_json_loads_does(value):
    """services/bulk reads step data by orjson, falling back to the standard library for what
    orjson refuses (NaN and infinities, integers beyond 64 bits): the same values either way."""
    text = json.dumps(value)
    assert json.dumps(json_text.decoded_fast(text)) == json.dumps(json.loads(text))


def test_the_bulk_reads_decode_what_only_the_standard_library_takes():
    for text in ['"\\ud800"', '"\ud800"', "[1e400]", "[NaN, -Infinity]", " [1] ", "1" * 30,
                 str(2**63), str(-2**63 - 1), str(2**63 - 1)]:
        assert json.dumps(json_text.decoded_fast(text)) == json.dumps(json.loads(text)), text
    assert json_text.decoded_fast(None) is None
    for bad in ["", "{", '{"a": 1} x', "[1,]", "NaNx"]:
        with pytest.raises(json.JSONDecodeError):
            json_text.decoded_fast(bad)
