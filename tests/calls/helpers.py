"""Arrangements shared by the call tests: a consultation between the world's hub and spoke,
and extra bridge-point sites each with a clinician."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telebridge.consultations.models import Consultation
from telebridge.kit.db import utcnow
from telebridge.kit.subject import Role
from telebridge.network.models import Facility
from tests import factories

HANOI = 1


@dataclass
class Site:
    facility: Facility
    user: factories.UserRef


async def consultation(maker: async_sessionmaker[AsyncSession], world: factories.World,
                       status: str = "accepted") -> Consultation:
    async with maker() as db:
        assert world.patient_a is not None
        c = Consultation(reference=f"HC-TEST-{secrets.token_hex(4)}", patient_id=world.patient_a.id,
                         requesting_facility_id=world.spoke_a.id, requested_by=world.users["spoke_clinician"].id,
                         hub_facility_id=world.hub_a.id, specialty_code="cardiology", urgency="urgent",
                         status=status, summary={}, declined_hub_ids=[], submitted_at=utcnow())
        db.add(c)
        await db.commit()
        return c


async def extra_sites(maker: async_sessionmaker[AsyncSession], world: factories.World, n: int) -> list[Site]:
    out: list[Site] = []
    async with maker() as db:
        for i in range(n):
            tag = secrets.token_hex(3)
            f = factories.facility(f"Trạm Y tế điểm cầu {i} {tag}", HANOI, level="primary", kind="health_station",
                                   tier="commune")
            db.add(f)
            await db.flush()
            u = await factories.add_user(db, f"site{i}-{tag}", [(Role.SPOKE_CLINICIAN, f.id, None)],
                                         display_name=f"BS Điểm cầu {i}")
            out.append(Site(f, u))
        await db.commit()
    return out


def ids(*things: object) -> list[str]:
    return [str(getattr(t, "id", t)) for t in things if isinstance(getattr(t, "id", t), uuid.UUID)]
