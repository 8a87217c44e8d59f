"""Helpers for the auscultation workflow tests: a world whose hub has declared cardiology, an
isolated file store, real CirCor recordings and re-encoded variants of them."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telebridge.config import Settings
from telebridge.files import runtime as files_runtime
from telebridge.network.models import DeclaredService, RemoteCareDeclaration
from tests import factories

DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "circor-dev"
PRESENT = "40840"  # murmur Present (CirCor label), flagged by the model at AV and PV
ABSENT = "14998"  # murmur Absent, cleared by the model


_STORES: dict[str, Path] = {}


def use_file_store(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """The files domain writes into one store for the whole session (the databases are shared by the
    session and deduplicate content across tests), never into the developer's var/."""
    if "dir" not in _STORES:
        _STORES["dir"] = tmp_path_factory.mktemp("ausc-files")
    files_runtime.configure(files_runtime.build(Settings(environment="test", files_dir=_STORES["dir"])))


async def declare_cardiology(maker: async_sessionmaker[AsyncSession], world: factories.World) -> None:
    """hub_a and hub_b have published their remote cardiology service (needed to be asked)."""
    async with maker() as db:
        for hub in (world.hub_a, world.hub_b):
            d = RemoteCareDeclaration(facility_id=hub.id, declared_on=date(2025, 1, 1), published_on=date(2025, 1, 5),
                                      status="published", authority="Sở Y tế", modes="remote_consultation")
            db.add(d)
            await db.flush()
            db.add(DeclaredService(declaration_id=d.id, specialty_code="cardiology"))
        await db.commit()


def recording(patient: str, site: str) -> bytes:
    return (DATA_DIR / f"{patient}_{site}.flac").read_bytes()


def reencoded(patient: str, site: str, *, rate: int = 2000, channels: int = 1, fmt: str = "WAV",
              subtype: str | None = "PCM_16", seconds: float | None = None, gain: float = 1.0) -> bytes:
    """The recording resampled/re-encoded like a phone or another stethoscope would deliver it."""
    x, fs = sf.read(io.BytesIO(recording(patient, site)), dtype="float64")
    if seconds is not None:
        x = x[: int(seconds * fs)]
    if rate != fs:
        g = np.gcd(rate, fs)
        x = signal.resample_poly(x, rate // g, fs // g)
    x = np.clip(x * gain, -1, 1)
    if channels > 1:
        x = np.stack([x] * channels, axis=1)
    out = io.BytesIO()
    sf.write(out, x, rate, format=fmt, subtype=subtype)
    return out.getvalue()
