"""Patient pages in a signed-in browser session: Vietnamese by default, CSRF on every form, htmx fragments."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.patients.models import BreakGlassGrant, Patient
from tests.factories import HANOI, World, add_patient
from tests.conftest import SignIn, csrf_of
from tests.patients.conftest import AuditRows, citizen_id


async def test_search_page_and_htmx_fragment(signed_in: SignIn, world: World, audit_rows: AuditRows) -> None:
    assert world.patient_a is not None
    c = await signed_in(world.spoke_clinician)
    r = await c.get("/patients", params={"q": f"pham thi hong {world.tag}"})
    assert r.status_code == 200
    assert "Bệnh nhân" in r.text and "Đăng ký bệnh nhân" in r.text and 'hx-get="/patients"' in r.text
    assert world.patient_a.full_name in r.text and "định danh tạm thời" in r.text
    frag = await c.get("/patients", params={"q": world.tag}, headers={"HX-Request": "true"})
    assert frag.status_code == 200 and "<html" not in frag.text and world.patient_a.full_name in frag.text
    assert world.patient_b.full_name not in frag.text  # type: ignore[union-attr]
    assert len(await audit_rows(actor=world.spoke_clinician.id, action="search")) == 2


async def test_register_through_the_form(signed_in: SignIn, world: World, db: AsyncSession) -> None:
    c = await signed_in(world.spoke_clinician)
    form = await c.get("/patients/new")
    assert form.status_code == 200 and "Họ và tên" in form.text
    token = csrf_of(form.text)
    cid = citizen_id(date(1985, 7, 1), "male")
    fields = {"full_name": f"Trần Văn Bình {world.tag}", "citizen_id": cid, "date_of_birth": "1985-07-01",
              "sex": "male", "province_code": str(HANOI), "commune_code": "", "phone": "0987654321"}
    # Without the CSRF token the form is refused and nothing is written.
    r = await c.post("/patients/new", data=fields)
    assert r.status_code == 403
    assert await db.scalar(select(Patient).where(Patient.citizen_id == cid)) is None
    r = await c.post("/patients/new", data={**fields, "csrf_token": token})
    assert r.status_code == 303, r.text
    page = await c.get(r.headers["location"])
    assert page.status_code == 200 and f"Trần Văn Bình {world.tag}" in page.text and "Nam" in page.text
    # The same citizen ID again: the form comes back with the Vietnamese explanation.
    again = await c.post("/patients/new", data={**fields, "csrf_token": token})
    assert again.status_code == 409 and "đã được đăng ký" in again.text


async def test_form_errors_are_shown_in_vietnamese(signed_in: SignIn, world: World) -> None:
    c = await signed_in(world.spoke_clinician)
    token = csrf_of((await c.get("/patients/new")).text)
    r = await c.post("/patients/new", data={"csrf_token": token, "full_name": "Bé A", "citizen_id": "12345", "sex": "male"})
    assert r.status_code == 400 and "12 chữ số" in r.text and 'value="Bé A"' in r.text
    r = await c.post("/patients/new", data={"csrf_token": token, "full_name": "Bé A", "date_of_birth": "hôm qua"})
    assert r.status_code == 400 and "date_of_birth" in r.text


async def test_communes_fragment(signed_in: SignIn, world: World) -> None:
    c = await signed_in(world.spoke_clinician)
    r = await c.get("/patients/communes", params={"province_code": str(HANOI)}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and r.text.count("<option") > 50


async def test_record_page_consent_and_edit(signed_in: SignIn, world: World) -> None:
    assert world.patient_a is not None
    pid = world.patient_a.id
    c = await signed_in(world.spoke_clinician)
    page = await c.get(f"/patients/{pid}")
    assert page.status_code == 200
    assert "Quan hệ chăm sóc" in page.text and world.spoke_a.name in page.text and "định danh tạm thời" in page.text
    token = csrf_of(page.text)
    consent = {"purpose": "teleconsultation", "granted": "true", "method": "written",
               "text_version": "TB-CONSENT-2025.1", "given_by": "Phạm Văn Bố"}
    assert (await c.post(f"/patients/{pid}/consents", data=consent)).status_code == 403
    r = await c.post(f"/patients/{pid}/consents", data={**consent, "csrf_token": token})
    assert r.status_code == 303
    page = await c.get(f"/patients/{pid}")
    assert "Hội chẩn từ xa" in page.text and "đồng ý" in page.text
    edit = await c.get(f"/patients/{pid}/edit")
    assert edit.status_code == 200 and world.patient_a.full_name in edit.text
    r = await c.post(f"/patients/{pid}/edit", data={"csrf_token": token, "full_name": world.patient_a.full_name,
                                                    "sex": "female", "date_of_birth": "2019-05-04",
                                                    "province_code": str(HANOI), "guardian_name": "Phạm Văn Bố"})
    assert r.status_code == 303
    assert "Phạm Văn Bố" in (await c.get(f"/patients/{pid}")).text


async def test_unrelated_record_page_is_403_in_vietnamese(signed_in: SignIn, world: World) -> None:
    assert world.patient_a is not None
    c = await signed_in(world.other_clinician)
    r = await c.get(f"/patients/{world.patient_a.id}")
    assert r.status_code == 403 and "không có quyền" in r.text and world.patient_a.full_name not in r.text


async def test_merged_record_page_redirects(signed_in: SignIn, world: World, db: AsyncSession) -> None:
    assert world.patient_a is not None
    real = await add_patient(db, f"Phạm Thị Hồng {world.tag} thật", world.spoke_a.id, HANOI,
                             citizen_id=citizen_id(date(2019, 5, 4)))
    await db.commit()
    c = await signed_in(world.spoke_clinician)
    token = csrf_of((await c.get(f"/patients/{world.patient_a.id}")).text)
    r = await c.post(f"/patients/{world.patient_a.id}/merge",
                     data={"csrf_token": token, "target_citizen_id": real.citizen_id, "reason": "Đã có giấy khai sinh"})
    assert r.status_code == 303 and r.headers["location"] == f"/patients/{real.id}"
    r = await c.get(f"/patients/{world.patient_a.id}")
    assert r.status_code == 303 and r.headers["location"].startswith(f"/patients/{real.id}")


async def test_break_glass_pages_and_review(signed_in: SignIn, world: World, db: AsyncSession) -> None:
    assert world.patient_a is not None
    pid = world.patient_a.id
    c = await signed_in(world.other_clinician)
    form = await c.get(f"/patients/{pid}/break-glass")
    assert form.status_code == 200 and "Truy cập khẩn cấp" in form.text
    token = csrf_of(form.text)
    short = await c.post(f"/patients/{pid}/break-glass", data={"csrf_token": token, "reason": "gấp"})
    assert short.status_code == 400 and "20" in short.text
    r = await c.post(f"/patients/{pid}/break-glass",
                     data={"csrf_token": token, "reason": "Cấp cứu ngừng tim, cần tiền sử bệnh"})
    assert r.status_code == 303
    page = await c.get(r.headers["location"])
    assert page.status_code == 200 and "truy cập khẩn cấp" in page.text
    admin = await signed_in(world.sysadmin)
    review = await admin.get("/patients/break-glass/review")
    assert review.status_code == 200 and "Cấp cứu ngừng tim" in review.text
    grant = await db.scalar(select(BreakGlassGrant).where(BreakGlassGrant.user_id == world.other_clinician.id))
    assert grant is not None
    r = await admin.post(f"/patients/break-glass/{grant.id}/review",
                         data={"csrf_token": csrf_of(review.text), "outcome": "justified"})
    assert r.status_code == 303
    await db.refresh(grant)
    assert grant.review_outcome == "justified" and grant.reviewed_by == world.sysadmin.id
    assert (await c.get("/patients/break-glass/review")).status_code == 403


async def test_registration_form_is_for_clinicians_only(signed_in: SignIn, world: World) -> None:
    c = await signed_in(world.sysadmin)
    r = await c.get("/patients/new")
    assert r.status_code == 403
    page = await c.get("/patients")
    assert page.status_code == 200 and "/patients/new" not in page.text
