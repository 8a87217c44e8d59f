"""Emergency ("break-glass") access: a reason, a time limit, flagged reads, an administrator's review."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.kit.db import utcnow
from telebridge.patients.models import BreakGlassGrant
from tests.factories import World
from tests.patients.conftest import AuditRows

REASON = "Bệnh nhân ngừng tuần hoàn, cần tiền sử dị ứng thuốc"


async def request(c: httpx.AsyncClient, pid: uuid.UUID, reason: str = REASON) -> httpx.Response:
    return await c.post(f"/api/v1/patients/{pid}/break-glass", json={"reason": reason})


async def test_break_glass_grants_flagged_reads_until_it_expires(as_user, world: World, db: AsyncSession,
                                                                 audit_rows: AuditRows) -> None:
    assert world.patient_a is not None
    pid = world.patient_a.id
    c = await as_user(world.other_clinician)
    assert (await c.get(f"/api/v1/patients/{pid}")).status_code == 403
    r = await request(c, pid)
    assert r.status_code == 201, r.text
    grant = r.json()
    assert grant["review_outcome"] is None and grant["patient_id"] == str(pid)
    r = await c.get(f"/api/v1/patients/{pid}")
    assert r.status_code == 200 and r.json()["access_basis"] == "break_glass"
    reads = await audit_rows(actor=world.other_clinician.id, action="read", patient_id=pid)
    assert [(e.outcome, e.break_glass) for e in reads] == [("denied", False), ("ok", True)]
    [event] = await audit_rows(actor=world.other_clinician.id, action="break_glass")
    assert event.break_glass and event.patient_id == pid and REASON not in (event.detail or "")
    # The patient now shows up in the clinician's own searches, while the grant lasts.
    found = (await c.get("/api/v1/patients", params={"q": world.tag})).json()["items"]
    assert {p["id"] for p in found} == {str(pid), str(world.patient_b.id)}  # type: ignore[union-attr]
    await db.execute(update(BreakGlassGrant).where(BreakGlassGrant.id == uuid.UUID(grant["id"]))
                     .values(expires_at=utcnow() - timedelta(minutes=1)))
    await db.commit()
    assert (await c.get(f"/api/v1/patients/{pid}")).status_code == 403


async def test_break_glass_needs_a_real_reason(as_user, world: World) -> None:
    assert world.patient_a is not None
    c = await as_user(world.other_clinician)
    r = await request(c, world.patient_a.id, "cấp cứu")
    assert r.status_code == 400 and r.json()["error"]["field"] == "reason"
    assert "20" in r.json()["error"]["message"]
    assert (await request(c, world.patient_a.id, "a" * 19 + "\x07")).status_code == 400
    assert (await c.get(f"/api/v1/patients/{world.patient_a.id}")).status_code == 403


async def test_only_clinicians_without_access_break_glass(as_user, world: World) -> None:
    assert world.patient_a is not None
    for who in ("sysadmin", "facility_admin", "analyst_national", "patient_user"):
        assert (await request(await as_user(getattr(world, who)), world.patient_a.id)).status_code == 403
    assert (await request(await as_user(world.spoke_clinician), world.patient_a.id)).status_code == 409
    assert (await request(await as_user(world.other_clinician), uuid.uuid4())).status_code == 404


async def test_review_flow(as_user, world: World, audit_rows: AuditRows) -> None:
    assert world.patient_a is not None and world.patient_b is not None
    # other_clinician (spoke_b) opens patient_a; hub_specialist (hub_a) opens patient_b.
    g_other = (await request(await as_user(world.other_clinician), world.patient_a.id)).json()
    g_hub = (await request(await as_user(world.hub_specialist), world.patient_b.id)).json()
    admin = await as_user(world.sysadmin)
    page = (await admin.get("/api/v1/patients/break-glass/grants", params={"per_page": 100})).json()
    ids = [g["id"] for g in page["items"]]
    assert g_other["id"] in ids and g_hub["id"] in ids
    # A facility administrator of spoke_a sees neither: both grantees work elsewhere.
    fadmin = await as_user(world.facility_admin)
    mine = (await fadmin.get("/api/v1/patients/break-glass/grants")).json()
    assert not {g_other["id"], g_hub["id"]} & {g["id"] for g in mine["items"]}
    r = await fadmin.post(f"/api/v1/patients/break-glass/grants/{g_other['id']}/review", json={"outcome": "justified"})
    assert r.status_code == 403
    # Clinicians do not review.
    r = await (await as_user(world.spoke_clinician)).get("/api/v1/patients/break-glass/grants")
    assert r.status_code == 403
    # Unjustified needs a note; the review is recorded once.
    url = f"/api/v1/patients/break-glass/grants/{g_other['id']}/review"
    assert (await admin.post(url, json={"outcome": "unjustified"})).status_code == 400
    r = await admin.post(url, json={"outcome": "unjustified", "note": "Không có ca cấp cứu nào được ghi nhận"})
    assert r.status_code == 200 and r.json()["review_outcome"] == "unjustified"
    assert r.json()["reviewed_by"] == str(world.sysadmin.id)
    assert (await admin.post(url, json={"outcome": "justified"})).status_code == 409
    page = (await admin.get("/api/v1/patients/break-glass/grants", params={"per_page": 100})).json()
    order = [g["id"] for g in page["items"]]
    assert order.index(g_hub["id"]) < order.index(g_other["id"])  # unreviewed first
    [event] = await audit_rows(actor=world.sysadmin.id, action="review", outcome="ok")
    assert event.patient_id == world.patient_a.id and event.object_id == g_other["id"]


async def test_facility_admin_reviews_own_staff(as_user, world: World) -> None:
    assert world.patient_b is not None
    g = (await request(await as_user(world.spoke_clinician), world.patient_b.id)).json()
    fadmin = await as_user(world.facility_admin)
    assert g["id"] in {x["id"] for x in (await fadmin.get("/api/v1/patients/break-glass/grants")).json()["items"]}
    r = await fadmin.post(f"/api/v1/patients/break-glass/grants/{g['id']}/review", json={"outcome": "justified"})
    assert r.status_code == 200
