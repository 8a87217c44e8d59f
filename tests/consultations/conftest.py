"""A world whose hubs have published remote-care declarations, plus a second hub (hub_c)
linked to spoke_a for cardiology, so requests can be routed, declined and passed on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telebridge.kit.subject import Role
from telebridge.network.models import DeclaredService, HubLink, HubLinkSpecialty, RemoteCareDeclaration
from tests import factories

MODES = "direct_to_patient,patient_at_receiving_facility,inter_facility_support,remote_consultation"


@dataclass
class CaseWorld:
    w: factories.World
    hub_c: Any
    hub_c_specialist: factories.UserRef
    hub_c_coordinator: factories.UserRef
    hub_specialist_2: factories.UserRef


async def declare(db: AsyncSession, facility_id: uuid.UUID, specialties: list[str]) -> None:
    d = RemoteCareDeclaration(facility_id=facility_id, declared_on=date(2025, 1, 1), published_on=date(2025, 1, 5),
                              authority="Sở Y tế", status="published", modes=MODES)
    db.add(d)
    await db.flush()
    db.add_all(DeclaredService(declaration_id=d.id, specialty_code=s) for s in specialties)


async def build_case_world(maker: async_sessionmaker[AsyncSession]) -> CaseWorld:
    w = await factories.build_world(maker)
    async with maker() as db:
        await declare(db, w.hub_a.id, ["cardiology", "paediatrics"])
        await declare(db, w.hub_b.id, ["cardiology"])
        hub_c = factories.facility(f"Bệnh viện Tim C {w.tag}", factories.HANOI, level="specialised", tier="central")
        db.add(hub_c)
        await db.flush()
        await declare(db, hub_c.id, ["cardiology"])
        link = HubLink(hub_id=hub_c.id, spoke_id=w.spoke_a.id, valid_from=date(2025, 1, 1), priority=2)
        db.add(link)
        await db.flush()
        db.add(HubLinkSpecialty(link_id=link.id, specialty_code="cardiology"))
        pr_c = await factories.add_practitioner(db, f"Võ Văn Tim C {w.tag}", hub_c.id, ["cardiology"])
        pr_2 = await factories.add_practitioner(db, f"Đỗ Thị Tim Hai {w.tag}", w.hub_a.id, ["cardiology"])
        spec_c = await factories.add_user(db, f"hubc-{w.tag}", [(Role.HUB_SPECIALIST, hub_c.id, None)], practitioner_id=pr_c.id)
        coord_c = await factories.add_user(db, f"hubccoord-{w.tag}", [(Role.HUB_COORDINATOR, hub_c.id, None)])
        spec_2 = await factories.add_user(db, f"hubspec2-{w.tag}", [(Role.HUB_SPECIALIST, w.hub_a.id, None)], practitioner_id=pr_2.id)
        await db.commit()
    return CaseWorld(w, hub_c, spec_c, coord_c, spec_2)


@pytest.fixture
async def cw(sessionmaker: async_sessionmaker[AsyncSession]) -> CaseWorld:
    return await build_case_world(sessionmaker)


def request_body(cw: CaseWorld, **over: Any) -> dict[str, Any]:
    assert cw.w.patient_a is not None
    body: dict[str, Any] = {
        "patient_id": str(cw.w.patient_a.id), "specialty_code": "cardiology", "urgency": "emergency",
        "mode": "inter_facility_support", "question": "Trẻ sơ sinh tím, nghi tim bẩm sinh: xử trí thế nào?",
        "history": "Sinh đủ tháng, tím từ ngày thứ 2.", "examination": "SpO2 82%, thổi tâm thu 3/6.",
        "vitals": {"heart_rate": 168, "spo2": 82, "weight_kg": 3.1},
        "consent": {"given_by": "Mẹ bệnh nhi", "method": "verbal_witnessed"},
    }
    body.update(over)
    return body


async def create(client: httpx.AsyncClient, cw: CaseWorld, key: str | None = None, **over: Any) -> dict[str, Any]:
    headers = {"idempotency-key": key} if key else {}
    r = await client.post("/api/v1/consultations", json=request_body(cw, **over), headers=headers)
    assert r.status_code in (200, 201), r.text
    return r.json()
