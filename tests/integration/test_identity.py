"""Identity checks: the ID number agrees with the birth date and gender (GB 11643), one person
has one open case (409 duplicate_person naming it), and names are trimmed."""
from __future__ import annotations

import pytest

from tests.integration.helpers import open_case, post_step
from tests.unit.builders import PERSON
from workflow.steps import id_number_disagrees

ID_CHEN = "110105199505010022"  # born 1995-05-01, digit 17 even: a woman, as PERSON


def _open(world, person, who="sec1", branch="B1"):
    return world.post(who, "/api/v1/cases", {"branch": branch, "person": person,
                                             "application_date": "2023-03-01"})


@pytest.mark.parametrize("change,why", [
    ({"birth_date": "1995-05-02"}, "出生日期"),
    ({"gender": "male"}, "第 17 位"),
])
def test_an_id_number_that_disagrees_is_refused_with_the_field_named(world, change, why):
    r = _open(world, {**PERSON, "id_number": ID_CHEN, **change})
    assert r.status_code == 422, r.json
    assert why in r.json["error"]["fields"]["person.id_number"]


def test_the_agreement_rule_itself():
    assert id_number_disagrees(ID_CHEN, "1995-05-01", "female") is None
    assert id_number_disagrees("11010519491231002X", "1949-12-31", "female") is None
    assert "1949-12-31" in id_number_disagrees("11010519491231002X", "1995-05-01", None)
    assert id_number_disagrees("110105199001010037", "1990-01-01", "male") is None  # 3: odd


def test_one_person_one_open_case(world):
    first = open_case(world, person={**PERSON, "id_number": ID_CHEN})
    again = _open(world, {**PERSON, "id_number": ID_CHEN}, who="sec2", branch="B2")
    assert again.status_code == 409
    assert again.json["error"]["code"] == "duplicate_person"
    assert again.json["error"]["case_id"] == first["id"]
    # a closed case may be followed by a new application
    r = post_step(world, first["id"], "case_closed", "2023-04-01", {"reason": "withdrawn"})
    assert r.status_code == 201, r.json
    assert _open(world, {**PERSON, "id_number": ID_CHEN}, who="sec2", branch="B2"
                 ).status_code == 201


def test_names_are_trimmed(world):
    case = open_case(world, person={**PERSON, "name": "  陈晓\u3000 "})  # ideographic space
    assert case["person"]["name"] == "陈晓"
    for blank in ("   ", "\u200b\u200b"):
        r = _open(world, {**PERSON, "name": blank})
        assert r.status_code == 422 and "person.name" in r.json["error"]["fields"]


def _first_record(world, case_id):
    return world.get("sec1", f"/api/v1/cases/{case_id}").json["steps"][0]


def _correct_person(world, case_id, person, reason="身份证复印件核对"):
    return post_step(world, case_id, "step_corrected", "2023-03-05",
                     {"corrects": _first_record(world, case_id)["id"], "reason": reason,
                      "fields": {"person": person}})


def test_personal_details_are_corrected_with_a_reason_and_history(world):
    case = open_case(world)
    r = _correct_person(world, case["id"], {"name": "陈小", "id_number": ID_CHEN,
                                            "unit": "区财政局"})
    assert r.status_code == 201, r.json
    view = world.get("sec1", f"/api/v1/cases/{case['id']}").json
    assert view["person"]["name"] == "陈小" and view["person"]["unit"] == "区财政局"
    assert view["person"]["id_number_masked"] == "1101**********0022"
    assert ID_CHEN not in str(view)  # the clear number is never stored or shown
    first = view["steps"][0]
    assert first["corrected"] and first["original"]["data"]["person"]["name"] == "陈晓"
    assert view["steps"][-1]["data"]["reason"] == "身份证复印件核对"
    found = world.get("sec1", "/api/v1/cases?q=陈小").json["items"]
    assert [c["id"] for c in found] == [case["id"]]  # the list follows the correction
    # the corrected number now has this open case: no second one
    assert _open(world, {**PERSON, "id_number": ID_CHEN}).status_code == 409


def test_a_person_correction_is_checked_like_an_application(world):
    case = open_case(world)
    other = open_case(world, person={**PERSON, "name": "林青", "id_number": ID_CHEN})
    r = _correct_person(world, case["id"], {"birth_date": "1996-01-01", "id_number": ID_CHEN})
    assert r.status_code == 422 and "出生日期" in r.json["error"]["fields"][
        "fields.person.id_number"]
    r = _correct_person(world, case["id"], {"id_number": ID_CHEN})
    assert r.status_code == 409 and r.json["error"]["case_id"] == other["id"]
    r = _correct_person(world, case["id"], {"id_number_masked": "1101**********0022"})
    assert r.status_code == 422
    view = world.get("sec1", f"/api/v1/cases/{case['id']}").json
    assert view["person"]["name"] == "陈晓" and len(view["steps"]) == 1  # nothing written
