"""Retention batches (the only way files are deleted) and master-key rotation.

A retention batch destroys the files whose retention date has passed: each file is marked
destroyed with the batch reference, and every blob no longer used by a live file is
crypto-shredded (its wrapped data key is erased, then the ciphertext is deleted). The batch
writes one audit record per file and returns the minutes as a dict. Early deletion does
not exist: nothing else in the code removes a file.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.files import blobs
from telebridge.files import repository as repo
from telebridge.files.runtime import Runtime
from telebridge.kit import audit
from telebridge.kit.db import utcnow


async def run_batch(db: AsyncSession, rt: Runtime, *, today: date, approved_by: str, reference: str,
                    dry_run: bool = False) -> dict[str, Any]:
    if not approved_by.strip() or not reference.strip():
        raise ValueError("a retention batch needs the approver and the reference of its minutes")
    actor = audit.SystemActor(display_name=f"retention batch {reference} approved by {approved_by}"[:200])
    files = await repo.expired(db, today)
    minutes: dict[str, Any] = {"reference": reference, "approved_by": approved_by, "date": today.isoformat(),
                               "dry_run": dry_run, "files": [], "blobs_shredded": 0}
    if dry_run:
        minutes["files"] = [{"id": str(f.id), "patient_id": str(f.patient_id), "retention_until": f.retention_until.isoformat()}
                            for f in files]
        return minutes
    now = utcnow()
    candidates: set[uuid.UUID] = set()
    for f in files:
        f.destroyed_at, f.destroyed_batch = now, reference[:64]
        candidates.add(f.blob_id)
        if f.preview_blob_id:
            candidates.add(f.preview_blob_id)
        minutes["files"].append({"id": str(f.id), "patient_id": str(f.patient_id),
                                 "retention_until": f.retention_until.isoformat()})
        audit.record(db, actor, action="destroy", object_type="clinical_file", object_id=f.id, patient_id=f.patient_id,
                     detail={"batch": reference[:64], "retention_until": f.retention_until.isoformat()})
    await db.flush()
    for blob_id in candidates:
        if await repo.live_references(db, blob_id):
            continue
        blob = await repo.get_blob(db, blob_id)
        if blob is not None and blob.wrapped_key is not None:
            await blobs.shred(db, rt, blob, now)
            minutes["blobs_shredded"] += 1
    return minutes


async def rotate_keys(db: AsyncSession, rt: Runtime) -> dict[str, int]:
    """Re-wrap every data key (blobs, open upload spools) under the current master key."""
    current = rt.keyring.current_id
    counts = {"blobs": 0, "uploads": 0}
    while batch := await repo.blobs_not_under(db, current):
        for blob in batch:
            assert blob.wrapped_key is not None
            blob.key_id, blob.wrapped_key = rt.keyring.rewrap(blob.key_id, blob.wrapped_key)
            counts["blobs"] += 1
        await db.flush()
    while uploads := await repo.uploads_not_under(db, current):
        for upload in uploads:
            upload.key_id, upload.spool_key = rt.keyring.rewrap(upload.key_id, upload.spool_key)
            counts["uploads"] += 1
        await db.flush()
    audit.record(db, audit.SystemActor(display_name="key rotation"), action="rotate_key", object_type="master_key",
                 object_id=current, detail=counts)
    return counts


def sweep_request_spools(rt: Runtime, *, now=None) -> int:  # type: ignore[no-untyped-def]
    """Request spools left by a process that stopped mid-request (their keys died with it: they
    are unreadable), once older than the upload expiry. Returns how many were deleted."""
    from telebridge.files.uploads import request_spool_dir

    cutoff = (now or utcnow()).timestamp() - rt.settings.upload_expiry_hours * 3600
    count = 0
    directory = request_spool_dir(rt)
    for path in directory.glob("*.part") if directory.is_dir() else ():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                count += 1
        except FileNotFoundError:  # its request ended meanwhile
            continue
    return count


async def expire_uploads(db: AsyncSession, rt: Runtime, *, now=None) -> int:  # type: ignore[no-untyped-def]
    """Abandoned uploads past their expiry: mark them failed and delete their spool files."""
    from telebridge.files.uploads import spool_path

    now = now or utcnow()
    count = 0
    for upload in await repo.expired_uploads(db, now):
        upload.status, upload.error_code = "failed", "expired"
        spool_path(rt, upload).unlink(missing_ok=True)
        count += 1
    await db.flush()
    return count
