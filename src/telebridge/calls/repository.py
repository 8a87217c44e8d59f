"""Queries of the calls domain's recordings. (The scheduling queries still live in ``service.py``,
from before this module; new queries go here.)"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.calls.models import LiveSessionRecording


async def recordings_of(db: AsyncSession, live_session_id: uuid.UUID) -> list[LiveSessionRecording]:
    return list((await db.scalars(select(LiveSessionRecording).where(
        LiveSessionRecording.live_session_id == live_session_id).order_by(LiveSessionRecording.started_at))).all())


async def recordings_running(db: AsyncSession) -> list[LiveSessionRecording]:
    return list((await db.scalars(select(LiveSessionRecording).where(
        LiveSessionRecording.status == "recording"))).all())


async def claim_for_conversion(db: AsyncSession, recording_id: uuid.UUID) -> bool:
    """Move a stopped recording to ``converting``; False when another delivery of the job has it."""
    claimed = await db.execute(update(LiveSessionRecording).where(
        LiveSessionRecording.id == recording_id, LiveSessionRecording.status == "processing").values(
        status="converting"))
    return claimed.rowcount == 1  # type: ignore[attr-defined]
