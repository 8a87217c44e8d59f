"""The pages: a refused or incomplete action is shown in Vietnamese and loses nothing typed;
work lists are scoped; the signed minutes cannot be edited through the form either."""

from __future__ import annotations

import re

from tests.conftest import csrf_of
from tests.consultations.conftest import create


async def test_incomplete_request_keeps_what_was_typed(cw, signed_in) -> None:
    spoke = await signed_in(cw.w.spoke_clinician)
    page = await spoke.get(f"/patients/{cw.w.patient_a.id}")
    assert 'data-action="ask"' in page.text
    r = await spoke.post(f"/patients/{cw.w.patient_a.id}/consultations", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"].endswith("/edit")
    edit = r.headers["location"]
    form = await spoke.get(edit)
    cid = edit.split("/")[2]
    r = await spoke.post(f"/consultations/{cid}/draft", data={"csrf_token": csrf_of(form.text), "specialty_code": "cardiology",
                                                              "question": "Câu hỏi đang gõ dở"})
    assert "Đã lưu nháp" in r.text and "Bệnh viện Trung ương A" in r.text  # hub choices follow the specialty
    r = await spoke.post(f"/consultations/{cid}/submit", data={"csrf_token": csrf_of(form.text), "specialty_code": "cardiology",
                                                               "urgency": "urgent", "question": "Câu hỏi đang gõ dở",
                                                               "history": "Bệnh sử <b>đậm</b>"})
    assert r.status_code == 400
    assert "Vui lòng điền" in r.text and "hình thức hội chẩn" in r.text and "khám lâm sàng" in r.text
    assert "Câu hỏi đang gõ dở" in r.text and "Bệnh sử &lt;b&gt;đậm&lt;/b&gt;" in r.text  # kept, escaped
    again = await spoke.get(edit)
    assert "Câu hỏi đang gõ dở" in again.text  # and saved


async def test_worklists_are_scoped(cw, as_user, signed_in) -> None:
    spoke_api = await as_user(cw.w.spoke_clinician)
    c = await create(spoke_api, cw)
    hub = await signed_in(cw.w.hub_specialist)
    assert c["reference"] in (await hub.get("/consultations")).text
    other = await signed_in(cw.w.other_clinician)
    assert c["reference"] not in (await other.get("/consultations")).text
    assert (await other.get(f"/consultations/{c['id']}")).status_code == 403
    admin = await signed_in(cw.w.sysadmin)
    assert c["reference"] not in (await admin.get("/consultations?view=open")).text


async def test_page_refusals_are_explained(cw, as_user, signed_in) -> None:
    spoke_api = await as_user(cw.w.spoke_clinician)
    c = await create(spoke_api, cw)
    spoke = await signed_in(cw.w.spoke_clinician)
    page = await spoke.get(f"/consultations/{c['id']}")
    assert 'data-action="accept"' not in page.text  # the asking side has no accept button
    r = await spoke.post(f"/consultations/{c['id']}/act/close", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 409 and "biên bản đã ký" in r.text
    r = await spoke.post(f"/consultations/{c['id']}/act/cancel", data={"csrf_token": csrf_of(page.text), "reason": ""})
    assert r.status_code == 400 and "Vui lòng nêu lý do" in r.text
    hub = await signed_in(cw.w.hub_specialist)
    page = await hub.get(f"/consultations/{c['id']}")
    assert re.search(r'data-action="accept"', page.text)
    r = await hub.post(f"/consultations/{c['id']}/act/accept", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303
    page = await hub.get(f"/consultations/{c['id']}")
    assert 'id="minutes-form"' in page.text and "Đã tiếp nhận" in page.text


async def test_mentions_and_read_receipts(cw, as_user, signed_in, sessionmaker) -> None:
    from sqlalchemy import select

    from telebridge.messaging.models import Notification

    spoke_api = await as_user(cw.w.spoke_clinician)
    c = await create(spoke_api, cw)
    await (await as_user(cw.w.hub_specialist)).post(f"/api/v1/consultations/{c['id']}/accept")
    spoke = await signed_in(cw.w.spoke_clinician)
    page = await spoke.get(f"/consultations/{c['id']}")
    assert f'<option value="{cw.w.hub_specialist.id}">' in page.text  # the assigned specialist can be mentioned
    r = await spoke.post(f"/consultations/{c['id']}/messages", data={
        "csrf_token": csrf_of(page.text), "body": "Xin xem giúp ảnh X-quang", "client_key": "m1",
        "mentions": str(cw.w.hub_specialist.id)})
    assert r.status_code == 303
    async with sessionmaker() as db:
        kinds = (await db.scalars(select(Notification.kind).where(Notification.user_id == cw.w.hub_specialist.id))).all()
    assert "mention" in kinds
    hub = await signed_in(cw.w.hub_specialist)
    await hub.get(f"/consultations/{c['id']}")  # opening the case reads the thread
    page = await spoke.get(f"/consultations/{c['id']}")
    assert "đã đọc đến" in page.text


async def test_session_record_on_the_case_and_in_the_minutes(cw, as_user, signed_in, sessionmaker) -> None:
    """Who joined the live session, from where, how long and how well: on the case page and
    timeline, and offered to the minutes' participants with title and licence number."""
    import uuid
    from datetime import timedelta

    from telebridge.calls.models import LiveSession, LiveSessionAttendance
    from telebridge.kit.db import utcnow

    spoke_api = await as_user(cw.w.spoke_clinician)
    c = await create(spoke_api, cw)
    hub_api = await as_user(cw.w.hub_specialist)
    await hub_api.post(f"/api/v1/consultations/{c['id']}/accept")
    now = utcnow()
    async with sessionmaker() as db:
        ls = LiveSession(consultation_id=uuid.UUID(c["id"]), host_facility_id=cw.w.hub_a.id, title="Hội chẩn trực tuyến",
                         starts_at=now - timedelta(minutes=30), duration_minutes=30, status="ended",
                         created_by=cw.w.hub_specialist.id)
        db.add(ls)
        await db.flush()
        db.add_all([
            LiveSessionAttendance(live_session_id=ls.id, user_id=cw.w.hub_specialist.id, facility_id=cw.w.hub_a.id,
                                  joined_at=now - timedelta(minutes=25), left_at=now - timedelta(minutes=5),
                                  quality={"bitrate_kbps": 850, "packet_loss_pct": 1.5, "rtt_ms": 120}),
            LiveSessionAttendance(live_session_id=ls.id, user_id=cw.w.spoke_clinician.id, facility_id=cw.w.spoke_a.id,
                                  joined_at=now - timedelta(minutes=24), left_at=now - timedelta(minutes=5)),
        ])
        await db.commit()
    hub = await signed_in(cw.w.hub_specialist)
    page = (await hub.get(f"/consultations/{c['id']}")).text
    assert "850 kbit/s" in page and "20 phút" in page
    licence = cw.w.practitioners["hub"].licence_number
    assert f'name="p0_licence" value="{licence}"' in page  # offered to the minutes, chair first
    kinds = [e["kind"] for e in (await hub_api.get(f"/api/v1/consultations/{c['id']}/timeline")).json()]
    assert kinds.count("session_joined") == 2 and kinds.count("session_left") == 2
