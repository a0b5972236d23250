"""Find a person: by name or the last digits of the ID number, stage, branch, overdue duties and
what waits for the user; the same filters on the page and on GET /api/v1/cases."""
from __future__ import annotations

import pytest

from tests.integration.conftest import world  # noqa: F401  (fixture)
from tests.integration.helpers import drive, open_case
from tests.unit.builders import HAPPY, PERSON
from tests.web.test_pages import login

pytestmark = pytest.mark.db
ID_CHEN = "110105199505010022"  # female, born 1995-05-01, as PERSON


@pytest.fixture
def people(world, ctx, monkeypatch):
    monkeypatch.setitem(ctx.config, "TODAY", "2024-05-21")
    chen = open_case(world, date="2023-03-01", person={**PERSON, "id_number": ID_CHEN})
    lin = open_case(world, date="2023-03-01", person={**PERSON, "name": "林青"})
    drive(world, lin["id"], HAPPY, until="branch_committee_reviewed")  # waits for pre-review
    wu = open_case(world, who="sec2", branch="B2", date="2024-05-10",
                   person={**PERSON, "name": "吴晨"})
    return {"chen": chen["id"], "lin": lin["id"], "wu": wu["id"]}


def _ids(world, who, query):
    r = world.get(who, "/api/v1/cases?" + query)
    assert r.status_code == 200, r.json
    return sorted(i["id"] for i in r.json["items"])


def test_the_api_filters(world, people):
    assert _ids(world, "org", "q=陈") == [people["chen"]]
    assert _ids(world, "org", "q=晨") == [people["wu"]]  # 吴晨, in the other branch
    assert _ids(world, "org", "q=%") == [] and _ids(world, "org", "q=_") == []  # literal
    assert _ids(world, "org", "q=0022") == [people["chen"]]  # the ID number's last digits
    assert _ids(world, "org", "stage=candidate") == [people["lin"]]
    assert _ids(world, "org", "branch=B2") == [people["wu"]]
    # 陈晓 was never interviewed (due 2023-04-01): overdue; 吴晨's interview is not due yet
    assert _ids(world, "org", "overdue=true") == [people["chen"]]
    assert _ids(world, "org", "waiting=true") == [people["lin"]]  # the committee's pre-review
    assert _ids(world, "sec1", "waiting=true") == [people["chen"]]  # the branch's own duties
    assert _ids(world, "sec1", "q=吴晨") == []  # another branch: out of scope
    assert world.get("org", "/api/v1/cases?q=" + "x" * 51).status_code == 400
    assert world.get("org", "/api/v1/cases?overdue=maybe").status_code == 400
    assert world.get("org", "/api/v1/cases?stage=nonsense").status_code == 400


def test_the_search_page(world, people):
    login(world.client, "org")
    page = world.client.get("/cases/search?q=0022").text
    assert "查找结果（1）" in page and "陈晓" in page and "林青" not in page
    page = world.client.get("/cases/search?stage=candidate&mine=1").text
    assert "林青" in page and "陈晓" not in page
    page = world.client.get("/cases/search?branch=B2").text
    assert "吴晨" in page and "陈晓" not in page
    page = world.client.get("/cases/search?overdue=1").text
    assert "陈晓" in page and "吴晨" not in page
    page = world.client.get("/cases/search?branch=B3").text  # another committee's branch
    assert "不存在或不在您的管理范围内" in page and "查找结果（0）" in page
    login(world.client, "sec1")
    page = world.client.get("/cases/search?q=陈").text
    assert "陈晓" in page and "吴晨" not in page
    assert 'id="branch"' not in page  # one branch: no branch filter


def test_pinyin_initials_find_a_name(world, people):
    """"cx" finds 陈晓 (the stored initials, one SQL condition); a surname's other reading too
    (曾 is zeng in a name: "zgf" and "cgf" both find 曾国藩); letters start a variant, so "x"
    alone does not find 陈晓; a corrected name is found under its new initials."""
    from tests.integration.test_identity import _correct_person
    zeng = open_case(world, date="2023-03-01", person={**PERSON, "name": "曾国藩"})["id"]
    assert _ids(world, "org", "q=cx") == [people["chen"]]
    assert _ids(world, "org", "q=CX") == [people["chen"]]
    assert _ids(world, "org", "q=lq") == [people["lin"]]
    assert _ids(world, "org", "q=zgf") == [zeng] and _ids(world, "org", "q=cgf") == [zeng]
    assert _ids(world, "org", "q=x") == [] and _ids(world, "org", "q=cxz") == []
    assert _ids(world, "sec1", "q=wc") == []  # 吴晨 is in another branch: out of scope
    r = _correct_person(world, people["chen"], {"name": "张伟", "id_number": ID_CHEN})
    assert r.status_code == 201, r.json
    assert _ids(world, "org", "q=zw") == [people["chen"]] and _ids(world, "org", "q=cx") == []
    login(world.client, "org")
    page = world.client.get("/cases/search?q=zw").text
    assert "张伟" in page and "林青" not in page
