"""The teleconsultation lifecycle through the API: ask, route, accept, talk, minutes,
sign, close, outcome; and the refusals along the way."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from telebridge.consultations.models import Consultation
from telebridge.kit.audit import AuditEvent
from telebridge.messaging.models import Notification
from telebridge.patients.models import CareRelationship
from tests.consultations.conftest import create, request_body


async def test_full_lifecycle(cw, as_user, sessionmaker) -> None:
    w = cw.w
    spoke, hub = await as_user(w.spoke_clinician), await as_user(w.hub_specialist)
    c = await create(spoke, cw)
    assert c["status"] == "submitted" and c["hub_facility_id"] == str(w.hub_a.id)  # least load, then priority
    assert c["ack_due_at"] and c["answer_due_at"]

    queue = (await hub.get("/api/v1/consultations", params={"view": "queue"})).json()
    assert [i["reference"] for i in queue] == [c["reference"]]
    assert w.patient_a.full_name not in str(queue)  # masked in lists
    async with sessionmaker() as db:  # the hub was told, and may now read the patient
        n = await db.scalar(select(func.count()).select_from(Notification).where(Notification.user_id == w.hub_specialist.id))
        care = await db.scalar(select(CareRelationship).where(CareRelationship.facility_id == w.hub_a.id,
                                                              CareRelationship.basis_ref == c["id"]))
    assert n == 1 and care is not None and care.ended_at is None
    assert (await hub.get(f"/api/v1/patients/{w.patient_a.id}")).status_code == 200

    r = await hub.post(f"/api/v1/consultations/{c['id']}/accept")
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    for i in range(3):
        r = await (hub if i % 2 else spoke).post(f"/api/v1/consultations/{c['id']}/messages",
                                                 json={"body": f"tin nhắn {i} <script>alert(1)</script>", "client_key": f"k{i}"})
        assert r.status_code == 201, r.text
    msgs = (await spoke.get(f"/api/v1/consultations/{c['id']}/messages")).json()
    assert len(msgs) == 3 and msgs[0]["body"].endswith("<script>alert(1)</script>")

    r = await spoke.post(f"/api/v1/consultations/{c['id']}/close")
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_signed_minutes"

    minutes = {
        "participants": [{"user_id": str(w.hub_specialist.id), "name": "BS Trần Thị Tim", "role": "chair", "site": "BV A"},
                         {"user_id": str(w.spoke_clinician.id), "name": "BS Nguyễn Văn Xã", "role": "participant"}],
        "discussion": "Thảo luận", "conclusions": [{"issue": "Chẩn đoán", "conclusion": "Nghi còn ống động mạch"}],
        "diagnoses": ["Q25.0"], "recommendation": "transfer", "recommendation_text": "Chuyển tuyến có hồi sức.",
    }
    spoke_chair = {**minutes, "participants": [{"user_id": str(w.spoke_clinician.id), "name": "BS Xã", "role": "chair"}]}
    r = await spoke.put(f"/api/v1/consultations/{c['id']}/minutes", json=spoke_chair)
    assert r.status_code == 400  # the chair is a specialist of the consulting hub
    outsider = {**minutes, "participants": [*minutes["participants"],
                                            {"user_id": str(w.other_clinician.id), "name": "Người ngoài"}]}
    r = await hub.put(f"/api/v1/consultations/{c['id']}/minutes", json=outsider)
    assert r.status_code == 400  # accounts named in the minutes belong to the two sites
    r = await hub.put(f"/api/v1/consultations/{c['id']}/minutes", json=minutes)
    assert r.status_code == 200, r.text
    r = await hub.put(f"/api/v1/consultations/{c['id']}/minutes", json={**minutes, "version": 0})
    assert r.status_code == 409  # edited meanwhile: a stale version is refused
    r = await spoke.post(f"/api/v1/consultations/{c['id']}/minutes/sign", json={"password": "wrong"})
    assert r.status_code == 403
    r = await spoke.post(f"/api/v1/consultations/{c['id']}/minutes/sign", json={"password": w.spoke_clinician.password})
    assert r.status_code == 200 and r.json()["status"] == "signing"
    r = await hub.put(f"/api/v1/consultations/{c['id']}/minutes", json=minutes)
    assert r.status_code == 409 and r.json()["error"]["code"] == "minutes_signed"
    r = await spoke.post(f"/api/v1/consultations/{c['id']}/minutes/sign", json={"password": w.spoke_clinician.password})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_signed"
    r = await hub.post(f"/api/v1/consultations/{c['id']}/minutes/sign", json={"password": w.hub_specialist.password})
    assert r.status_code == 200 and r.json()["status"] == "signed"
    m = (await spoke.get(f"/api/v1/consultations/{c['id']}/minutes")).json()
    assert len({s["content_hash"] for s in m["signatures"]}) == 1 == len({m["content_hash"]})
    assert m["content"]["patient"]["name"] == w.patient_a.full_name

    pdf = await spoke.get(f"/api/v1/consultations/{c['id']}/minutes.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    r = await spoke.post(f"/api/v1/consultations/{c['id']}/close")
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = await spoke.post(f"/api/v1/consultations/{c['id']}/outcomes",
                         json={"checkpoint": 7, "action_taken": "Đã chuyển tuyến", "outcome": "transferred"})
    assert r.status_code == 201
    r = await spoke.post(f"/api/v1/consultations/{c['id']}/outcomes",
                         json={"checkpoint": 7, "action_taken": "Lần nữa", "outcome": "transferred"})
    assert r.status_code == 409
    kinds = [e["kind"] for e in (await hub.get(f"/api/v1/consultations/{c['id']}/timeline")).json()]
    assert kinds[:3] == ["created", "submit", "accept"] and "conclude" in kinds and kinds[-1] == "outcome_7"
    async with sessionmaker() as db:
        actions = set((await db.scalars(select(AuditEvent.action).where(AuditEvent.object_id == c["id"]))).all())
    assert {"create", "submit", "accept", "close", "outcome", "read"} <= actions


async def test_idempotent_create(cw, as_user, sessionmaker) -> None:
    spoke = await as_user(cw.w.spoke_clinician)
    results = await asyncio.gather(*(spoke.post("/api/v1/consultations", json=request_body(cw),
                                                headers={"idempotency-key": "same-click"}) for _ in range(3)))
    assert {r.status_code for r in results} <= {200, 201}
    assert len({r.json()["id"] for r in results}) == 1
    async with sessionmaker() as db:
        n = await db.scalar(select(func.count()).select_from(Consultation).where(Consultation.patient_id == cw.w.patient_a.id))
    assert n == 1


async def test_concurrent_accept_one_wins(cw, as_user) -> None:
    spoke = await as_user(cw.w.spoke_clinician)
    c = await create(spoke, cw)
    a, b = await as_user(cw.w.hub_specialist), await as_user(cw.hub_specialist_2)
    r1, r2 = await asyncio.gather(a.post(f"/api/v1/consultations/{c['id']}/accept"),
                                  b.post(f"/api/v1/consultations/{c['id']}/accept"))
    assert sorted([r1.status_code, r2.status_code]) == [200, 409]
    loser = r1 if r1.status_code == 409 else r2
    assert loser.json()["error"]["message"]  # told, in their language


async def test_decline_moves_to_next_hub_then_unrouted(cw, as_user, sessionmaker) -> None:
    spoke = await as_user(cw.w.spoke_clinician)
    c = await create(spoke, cw)
    hub = await as_user(cw.w.hub_specialist)
    r = await hub.post(f"/api/v1/consultations/{c['id']}/decline", json={"reason": "Hết giường hồi sức"})
    assert r.status_code == 200 and r.json()["hub_facility_id"] == str(cw.hub_c.id) and r.json()["status"] == "submitted"
    assert (await hub.get(f"/api/v1/consultations/{c['id']}")).status_code == 403  # no longer theirs
    assert (await hub.get(f"/api/v1/patients/{cw.w.patient_a.id}")).status_code == 403
    hub_c = await as_user(cw.hub_c_specialist)
    r = await hub_c.post(f"/api/v1/consultations/{c['id']}/decline", json={"reason": "Không có bác sĩ"})
    assert r.status_code == 200 and r.json()["status"] == "unrouted"
    r = await spoke.post(f"/api/v1/consultations/{c['id']}/submit", json={})  # asked again later
    assert r.status_code == 200 and r.json()["status"] == "submitted" and r.json()["hub_facility_id"] == str(cw.w.hub_a.id)


async def test_bad_input(cw, as_user) -> None:
    w = cw.w
    spoke = await as_user(w.spoke_clinician)
    r = await spoke.post("/api/v1/consultations", json=request_body(cw, question=None, history=""))
    assert r.status_code == 400 and r.json()["error"]["code"] == "incomplete"
    r = await spoke.post("/api/v1/consultations", json=request_body(cw, consent=None))
    assert r.status_code == 400 and r.json()["error"]["code"] == "no_consent"
    r = await spoke.post("/api/v1/consultations", json=request_body(cw, hub_facility_id=str(w.hub_b.id)))
    assert r.status_code == 400 and r.json()["error"]["code"] == "hub_not_linked"
    r = await spoke.post("/api/v1/consultations", json=request_body(cw, specialty_code="dermatology"))
    assert r.status_code == 400 and r.json()["error"]["code"] == "no_hub"
    c = await create(spoke, cw)
    r = await spoke.post(f"/api/v1/consultations/{c['id']}/messages", json={"body": "x" * 5000})
    assert r.status_code == 413
    r = await spoke.post(f"/api/v1/consultations/{c['id']}/messages", json={"body": "   "})
    assert r.status_code == 400
    r = await spoke.post(f"/api/v1/consultations/{c['id']}/accept")
    assert r.status_code == 403  # the asking side cannot accept
    other = await as_user(w.other_clinician)
    assert (await other.get(f"/api/v1/consultations/{c['id']}")).status_code == 403
    hub = await as_user(w.hub_specialist)
    await hub.post(f"/api/v1/consultations/{c['id']}/accept")
    r = await hub.post(f"/api/v1/consultations/{c['id']}/accept")
    assert r.status_code == 409 and r.json()["error"]["code"] == "illegal_transition"
    r = await spoke.post(f"/api/v1/consultations/{c['id']}/minutes/sign", json={"password": w.spoke_clinician.password})
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_minutes"


async def test_messages_in_vietnamese(cw, as_user) -> None:
    spoke = await as_user(cw.w.spoke_clinician)
    r = await spoke.post("/api/v1/consultations", json=request_body(cw, consent=None),
                         headers={"accept-language": "vi"})
    assert "đồng ý" in r.json()["error"]["message"]


async def test_notification_titles_are_in_the_readers_language(cw, as_user, sessionmaker) -> None:
    from telebridge.messaging.service import render_title

    spoke = await as_user(cw.w.spoke_clinician)
    await create(spoke, cw)
    async with sessionmaker() as db:
        n = await db.scalar(select(Notification).where(Notification.user_id == cw.w.hub_specialist.id))
    vi, en = render_title(n, "vi"), render_title(n, "en")
    assert vi.startswith("Yêu cầu Cấp cứu mới") and cw.w.spoke_a.name in vi  # the urgency label translated too
    assert en.startswith("New Emergency request")


async def test_new_request_alerts_the_on_call_specialist_and_the_coordinators(cw, as_user, sessionmaker) -> None:
    """Nobody rostered: every specialist of the hub hears of a new request. A specialist on call:
    only they do. The hub's coordinators always do."""
    from datetime import timedelta

    from telebridge.identity.models import User
    from telebridge.kit.db import utcnow
    from telebridge.network.models import OnCallShift

    w = cw.w
    spoke = await as_user(w.spoke_clinician)

    async def alerted(cid: str) -> set:
        async with sessionmaker() as db:
            return set((await db.scalars(select(Notification.user_id).where(
                Notification.link == f"/consultations/{cid}", Notification.kind == "request_emergency"))).all())

    c = await create(spoke, cw, hub_facility_id=str(w.hub_a.id))
    assert await alerted(c["id"]) == {w.hub_specialist.id, cw.hub_specialist_2.id, w.hub_coordinator.id}

    async with sessionmaker() as db:
        on_call = await db.scalar(select(User.practitioner_id).where(User.id == cw.hub_specialist_2.id))
        now = utcnow()
        db.add(OnCallShift(hub_id=w.hub_a.id, specialty_code="cardiology", practitioner_id=on_call,
                           starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1)))
        await db.commit()
    c = await create(spoke, cw, hub_facility_id=str(w.hub_a.id))
    assert await alerted(c["id"]) == {cw.hub_specialist_2.id, w.hub_coordinator.id}


async def test_retried_message_returns_the_first_and_read_marks_never_move_back(cw, as_user, sessionmaker) -> None:
    import uuid
    from datetime import timedelta

    from telebridge.messaging import repository as messages_repo

    spoke, hub = await as_user(cw.w.spoke_clinician), await as_user(cw.w.hub_specialist)
    c = await create(spoke, cw)
    first = await spoke.post(f"/api/v1/consultations/{c['id']}/messages", json={"body": "Lần đầu", "client_key": "r1"})
    again = await spoke.post(f"/api/v1/consultations/{c['id']}/messages", json={"body": "Lần hai", "client_key": "r1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["body"] == "Lần đầu"
    other = await hub.post(f"/api/v1/consultations/{c['id']}/messages", json={"body": "Khác", "client_key": "r1"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]  # the key is per author
    assert len((await spoke.get(f"/api/v1/consultations/{c['id']}/messages")).json()) == 2

    cid, user = uuid.UUID(c["id"]), cw.w.spoke_clinician.id
    async with sessionmaker() as db:
        marks = await messages_repo.read_marks(db, cid)
        later = marks[user] + timedelta(minutes=5)
        await messages_repo.move_read_mark(db, cid, user, later)
        await messages_repo.move_read_mark(db, cid, user, later - timedelta(minutes=1))
        await db.commit()
        assert (await messages_repo.read_marks(db, cid))[user] == later
