"""The network pages, signed in through the browser flow: Vietnamese by default, htmx
fragments, forms with CSRF."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from telebridge.network import service
from telebridge.network.models import Facility, OnCallShift, Practitioner
from tests.factories import HANOI, World, next_gln, next_insurance_code, next_licence
from tests.network.conftest import audit_rows, csrf_of


async def test_directory_page_and_htmx_fragment(signed_in, world: World) -> None:
    c = await signed_in(world.spoke_clinician)
    r = await c.get("/facilities", params={"q": f"dong anh {world.tag}"})
    assert r.status_code == 200
    assert "Danh bạ cơ sở y tế" in r.text and "Tìm kiếm" in r.text
    assert world.spoke_a.name in r.text and world.hub_a.name not in r.text
    assert 'hx-trigger="input changed delay:300ms' in r.text
    frag = await c.get("/facilities", params={"q": world.tag, "role": "hub"}, headers={"HX-Request": "true"})
    assert frag.status_code == 200 and "<html" not in frag.text
    assert world.hub_a.name in frag.text and world.spoke_a.name not in frag.text
    r = await c.get("/lang/en?next=/facilities", follow_redirects=True)
    assert "Facility directory" in r.text


async def test_facility_page_and_patient_refusal(signed_in, world: World) -> None:
    c = await signed_in(world.analyst_national)
    r = await c.get(f"/facilities/{world.hub_a.id}")
    assert r.status_code == 200
    assert world.spoke_a.name in r.text and "Trạm tiếp nhận được hỗ trợ" in r.text
    assert world.practitioners["hub"].full_name in r.text and "Còn hiệu lực" in r.text
    assert "Sửa" not in r.text  # analysts do not edit
    patient = await signed_in(world.patient_user)
    r = await patient.get(f"/facilities/{world.hub_a.id}")
    assert r.status_code == 403 and "quyền" in r.text


async def test_create_and_edit_facility_through_forms(signed_in, world: World, sessionmaker) -> None:
    c = await signed_in(world.sysadmin)
    form = await c.get("/facilities/new")
    assert form.status_code == 200 and "Thêm cơ sở" in form.text
    token = csrf_of(form.text)
    communes = await c.get("/facilities/communes", params={"province_code": HANOI})
    assert communes.text.count("<option") > 50
    data = {"name": f"Phòng khám Ba Vì {world.tag}", "kind": "clinic", "technical_level": "basic",
            "insurance_code": next_insurance_code(HANOI), "gln_code": next_gln(), "province_code": str(HANOI),
            "commune_code": "", "beds": "", "csrf_token": token}
    assert (await c.post("/facilities", data={k: v for k, v in data.items() if k != "csrf_token"})).status_code == 403
    r = await c.post("/facilities", data=data)
    assert r.status_code == 303, r.text
    async with sessionmaker() as db:
        created = await db.scalar(select(Facility).where(Facility.name == data["name"]))
    assert r.headers["location"] == f"/facilities/{created.id}"
    # A duplicate code re-shows the form with the message, in Vietnamese.
    r = await c.post(f"/facilities/{created.id}", data={**data, "insurance_code": world.hub_a.insurance_code})
    assert r.status_code == 409 and world.hub_a.insurance_code in r.text and "Phòng khám Ba Vì" in r.text
    r = await c.post(f"/facilities/{created.id}", data={**data, "phone": "0243 555 6666"})
    assert r.status_code == 303


async def test_link_form(signed_in, world: World) -> None:
    c = await signed_in(world.sysadmin)
    form = await c.get(f"/facilities/{world.hub_b.id}/links/new")
    assert form.status_code == 200
    r = await c.post(f"/facilities/{world.hub_b.id}/links", data={
        "spoke": world.spoke_a.insurance_code, "specialties": ["cardiology", "ent"], "priority": "2",
        "csrf_token": csrf_of(form.text)})
    assert r.status_code == 303, r.text
    page = await c.get(f"/facilities/{world.spoke_a.id}")
    assert world.hub_b.name in page.text and "Tai mũi họng" in page.text
    r = await c.post(f"/facilities/{world.hub_b.id}/links", data={
        "spoke": world.spoke_a.insurance_code, "specialties": "cardiology", "csrf_token": csrf_of(form.text)})
    assert r.status_code == 409


async def test_practitioner_pages(signed_in, world: World, hub_admin, sessionmaker) -> None:
    c = await signed_in(hub_admin)
    r = await c.get("/practitioners", params={"q": f"tran thi tim {world.tag}"})
    assert r.status_code == 200 and "Người hành nghề" in r.text and world.practitioners["hub"].full_name in r.text
    form = await c.get("/practitioners/new")
    assert form.status_code == 200
    licence = next_licence()
    data = {"full_name": f"Bùi Minh Tâm {world.tag}", "profession": "doctor", "licence_number": licence,
            "licence_issuer": "Bộ Y tế", "licence_issued_on": "2022-01-10", "scope_of_practice": "Tim mạch",
            "specialties": "cardiology", "reg_facility": [world.hub_a.insurance_code, ""],
            "reg_hours": ["T2-T6 07:00-16:30", ""], "reg_from": ["2024-01-01", ""], "reg_to": ["", ""],
            "csrf_token": csrf_of(form.text)}
    r = await c.post("/practitioners", data={**data, "licence_number": "12345"})
    assert r.status_code == 400 and "001234/BYT-CCHN" in r.text
    r = await c.post("/practitioners", data=data)
    assert r.status_code == 303, r.text
    page = await c.get(r.headers["location"])
    assert page.status_code == 200 and licence in page.text and world.hub_a.name in page.text
    async with sessionmaker() as db:
        p = await db.scalar(select(Practitioner).where(Practitioner.licence_number == licence))
    edit = await c.get(f"/practitioners/{p.id}/edit")
    assert edit.status_code == 200 and "Bùi Minh Tâm" in edit.text
    # Registering them at a facility this admin does not run is refused through the form too,
    # audited as a denial, and nothing of the edit is kept.
    grab = {**data, "full_name": f"Đổi Tên {world.tag}", "csrf_token": csrf_of(edit.text),
            "reg_facility": [world.hub_a.insurance_code, world.spoke_b.insurance_code],
            "reg_hours": ["T2-T6 07:00-16:30", "T7 07:00-11:00"], "reg_from": ["2024-01-01", "2024-01-01"],
            "reg_to": ["", ""]}
    r = await c.post(f"/practitioners/{p.id}", data=grab)
    assert r.status_code == 403
    denied = await audit_rows(sessionmaker, object_type="practitioner_registration", outcome="denied", actor=hub_admin.id)
    assert denied
    async with sessionmaker() as db:
        again = await db.get(Practitioner, p.id)
        assert again is not None and again.full_name == f"Bùi Minh Tâm {world.tag}"


async def test_roster_page_and_declaration_form(signed_in, world: World, sessionmaker) -> None:
    c = await signed_in(world.hub_coordinator)
    page = await c.get(f"/facilities/{world.hub_a.id}/roster")
    assert page.status_code == 200 and "Lịch trực" in page.text
    day = (service.today() + timedelta(days=2)).isoformat()
    r = await c.post(f"/facilities/{world.hub_a.id}/roster", data={
        "specialty_code": "cardiology", "practitioner_id": str(world.practitioners["hub"].id),
        "starts_at": f"{day}T07:00", "ends_at": f"{day}T19:00", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303, r.text
    page = await c.get(f"/facilities/{world.hub_a.id}/roster")
    assert world.practitioners["hub"].full_name in page.text and "07:00" in page.text
    async with sessionmaker() as db:
        shift = await db.scalar(select(OnCallShift).where(OnCallShift.hub_id == world.hub_a.id))
    assert shift.starts_at.hour == 0  # 07:00 in Hà Nội is 00:00 UTC
    admin = await signed_in(world.facility_admin)
    fpage = await admin.get(f"/facilities/{world.spoke_a.id}")
    r = await admin.post(f"/facilities/{world.spoke_a.id}/declarations", data={
        "specialties": ["paediatrics"], "modes": ["remote_consultation"], "csrf_token": csrf_of(fpage.text)})
    assert r.status_code == 303
    fpage = await admin.get(f"/facilities/{world.spoke_a.id}")
    assert "Đã nộp" in fpage.text
