"""Read models shared by the API and the pages: work lists, timeline, minutes, thread."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.consultations import policy, service
from telebridge.consultations import repository as repo
from telebridge.consultations.models import Consultation
from telebridge.consultations.schemas import MessageIn, QueueItem
from telebridge.kit import audit, clock
from telebridge.kit.errors import Conflict
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Subject
from telebridge.messaging import service as messaging
from telebridge.messaging.models import Message
from telebridge.patients.service import mask_name

PAGE = 50


async def worklist(db: AsyncSession, subject: Subject, *, view: str, statuses: list[str] | None, urgency: str | None,
                   q: str | None, page: int = 1) -> list[QueueItem]:
    now = clock.now()
    rows = await repo.worklist(db, subject, view=view, statuses=statuses, urgency=urgency, q=q, now=now,
                               offset=(page - 1) * PAGE, limit=PAGE)
    return await queue_items(db, subject, rows)


async def queue_items(db: AsyncSession, subject: Subject, rows: list[Consultation]) -> list[QueueItem]:
    now = clock.now()
    names = await repo.facility_names(db, {c.requesting_facility_id for c in rows} | {c.hub_facility_id for c in rows if c.hub_facility_id})
    patients = await repo.patient_names(db, {c.patient_id for c in rows})
    unread = await messaging.unread_counts(db, subject, [c.id for c in rows])
    items = []
    for c in rows:
        p = patients.get(c.patient_id)
        items.append(QueueItem(
            id=c.id, reference=c.reference, status=c.status, urgency=c.urgency, specialty_code=c.specialty_code,
            requesting_facility=names.get(c.requesting_facility_id, ""),
            hub_facility=names.get(c.hub_facility_id) if c.hub_facility_id else None,
            patient_label=mask_name(p.full_name) if p else "",
            submitted_at=c.submitted_at, ack_due_at=c.ack_due_at, answer_due_at=c.answer_due_at,
            breached=bool(c.ack_breached_at or c.answer_breached_at
                          or (c.status == "submitted" and c.ack_due_at and c.ack_due_at <= now)),
            assigned_to_me=c.assigned_user_id == subject.user_id, unread=unread.get(c.id, 0)))
    if rows:
        audit.record(db, subject, action="list", object_type="consultation", detail={"count": len(rows)})
    return items


async def timeline(db: AsyncSession, subject: Subject, consultation_id: uuid.UUID) -> list[dict[str, Any]]:
    """The case's steps and the live-session joins and leaves, in time order."""
    c = await service.readable(db, subject, consultation_id)
    rows = await repo.events(db, c.id)
    attendance = await repo.attendance(db, c.id)
    names = await repo.facility_names(db, {e.hub_facility_id for e in rows if e.hub_facility_id}
                                      | {a.facility_id for a, _ in attendance if a.facility_id})
    items = [{"at": e.at, "kind": e.kind, "actor": e.actor_name, "from": e.from_status, "to": e.to_status,
              "hub": names.get(e.hub_facility_id) if e.hub_facility_id else None, "note": e.note} for e in rows]
    for a, who in attendance:
        site = names.get(a.facility_id) if a.facility_id else None
        items.append({"at": a.joined_at, "kind": "session_joined", "actor": who, "from": None, "to": None,
                      "hub": site, "note": None})
        if a.left_at:
            items.append({"at": a.left_at, "kind": "session_left", "actor": who, "from": None, "to": None,
                          "hub": site, "note": None})
    return sorted(items, key=lambda i: i["at"])


async def session_record(db: AsyncSession, c: Consultation) -> list[dict[str, Any]]:
    """Who joined the case's live sessions from which site, for how long, with what link quality."""
    attendance = await repo.attendance(db, c.id)
    names = await repo.facility_names(db, {a.facility_id for a, _ in attendance if a.facility_id})
    people: dict[tuple[uuid.UUID, uuid.UUID], dict[str, Any]] = {}
    for a, who in attendance:
        row = people.setdefault((a.live_session_id, a.user_id), {
            "session_id": a.live_session_id, "user_id": a.user_id, "name": who,
            "site": names.get(a.facility_id, "") if a.facility_id else "", "first_join": a.joined_at,
            "seconds": 0, "quality": None})
        end = a.left_at or clock.now()
        row["seconds"] += max(0, int((end - a.joined_at).total_seconds()))
        if a.quality:
            row["quality"] = a.quality
    return list(people.values())


async def minutes(db: AsyncSession, subject: Subject, consultation_id: uuid.UUID) -> dict[str, Any]:
    c = await service.readable(db, subject, consultation_id, action="read_minutes")
    m = await repo.minutes_of(db, c.id)
    audit.record(db, subject, action="read", object_type="minutes", object_id=m.id if m else None, patient_id=c.patient_id)
    if m is None:
        return {"status": "none", "version": 0, "content": {}, "signatures": [], "addenda": []}
    sigs = await repo.signatures(db, m.id)
    adds = await repo.addenda(db, m.id)
    return {
        "status": m.status, "version": m.draft_version, "content": m.content, "content_hash": m.content_hash,
        "chair_user_id": str(m.chair_user_id) if m.chair_user_id else None,
        "signatures": [{"user_id": str(s.user_id), "name": s.signer_name, "role": s.role, "signed_at": s.signed_at,
                        "content_hash": s.content_hash, "addendum_id": str(s.addendum_id) if s.addendum_id else None}
                       for s in sigs],
        "addenda": [{"id": str(a.id), "text": a.text, "author": a.author_name, "signed_at": a.signed_at,
                     "content_hash": a.content_hash} for a in adds],
    }


async def post_message(db: AsyncSession, subject: Subject, consultation_id: uuid.UUID, body: MessageIn) -> tuple[Message, bool]:
    c = await service.readable(db, subject, consultation_id, action="message")
    if c.status in ("draft", "cancelled"):
        raise Conflict(N_("Messages can be sent once the request is sent, and not after it is cancelled."),
                       code="thread_closed")
    settings = service._settings(db)
    site = c.hub_facility_id if policy.is_hub_side(subject, c) else c.requesting_facility_id
    msg, created = await messaging.post_message(db, subject, consultation_id=c.id, body=body.body,
                                                client_key=body.client_key, facility_id=site,
                                                mentions=body.mentions, max_chars=settings.max_message_chars)
    if created:
        audit.record(db, subject, action="message", object_type="message", object_id=msg.id, patient_id=c.patient_id)
        others = [u for u in body.mentions if u != subject.user_id]
        if others:
            await messaging.notify(db, user_ids=others, kind="mention", title=_MENTION,
                                   params={"reference": c.reference, "name": subject.display_name},
                                   link=f"/consultations/{c.id}#thread")
    return msg, created


async def minutes_pdf(db: AsyncSession, subject: Subject, consultation_id: uuid.UUID) -> tuple[bytes, str]:
    from telebridge.consultations import documents

    c = await service.readable(db, subject, consultation_id, action="export_minutes")
    data = await documents.minutes_pdf(db, c)
    audit.record(db, subject, action="export", object_type="minutes", object_id=c.id, patient_id=c.patient_id)
    return data, f"bien-ban-hoi-chan-{c.reference}.pdf"


_MENTION = N_("{name} mentioned you in {reference}")
