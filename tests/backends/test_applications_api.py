"""办件进度: applications by number, with a timeline that unfolds with time."""

import pytest

pytestmark = pytest.mark.integration

# Seeded at FIXED_NOW (2025-06-03 09:00): days_ago 12 → accepted 2025-05-22, the only one that
# day; days_ago 1 → 2025-06-02; days_ago 0 → today, before any stage of later days.
GAOLING = "SQ202505220001"
JUZHUZHENG = "SQ202506020001"
TODAY = "SQ202506030001"


async def test_an_application_shows_state_and_timeline(api):
    reply = await api.get(f"/applications/v1/applications/{GAOLING}")
    assert reply.status == 200
    application = reply.body
    assert application["matter"] == "高龄津贴申请"
    assert application["applicant_masked"] == "张*兰"
    assert (application["state_code"], application["closed"]) == ("approved", True)
    assert [e["state_code"] for e in application["timeline"]] == [
        "accepted", "reviewing", "approved"]
    assert application["promised_by"] == "2025-06-01"


async def test_later_stages_appear_when_their_time_comes(api):
    residence = (await api.get(f"/applications/v1/applications/{JUZHUZHENG}")).body
    assert residence["matter"] == "居住证申领" and residence["state_code"] == "accepted"
    path = f"/applications/v1/applications/{TODAY}"
    disability = (await api.get(path)).body
    assert disability["matter"] == "残疾人证办理"
    assert [e["state_code"] for e in disability["timeline"]] == ["accepted"]
    api.clock.advance(days=2)
    later = (await api.get(path)).body
    assert [e["state_code"] for e in later["timeline"]] == ["accepted", "reviewing"]
    assert later["state"] == "审查中" and later["closed"] is False


async def test_numbers_are_forgiving_and_unknown_ones_are_404(api):
    assert (await api.get("/applications/v1/applications/sq 2025-0522 0001")).status == 200
    assert (await api.get("/applications/v1/applications/SQ209901010001")).status == 404
    reply = await api.get("/applications/v1/applications/12345")
    assert (reply.status, reply.body["fields"]["number"]["code"]) == (422, "invalid_format")
