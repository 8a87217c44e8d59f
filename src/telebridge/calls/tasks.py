"""Background job of the calls domain: turn a finished Janus recording into clinical files.

Janus writes one .mjr file per participant and medium (``videoroom-<room>-user-<feed>-<time>-
<audio|video>-<mindex>.mjr``). ``janus-pp-rec`` (Debian ``janus-tools``) turns each into a
playable file (VP8 → .webm, Opus → .opus); PyAV then muxes each participant's audio and
video, stream-copied and aligned on the wall clock Janus noted for their first packets,
into one WebM. Each WebM is stored through the files domain (checked, encrypted, retained
like the rest of the record) for the consultation's patient and linked to the consultation;
the raw files are removed once that is committed. A recording that cannot be converted is
marked failed and its raw files are kept for the operator (they never leave the recordings
directory, which only Janus and the app can read).
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from telebridge.calls import recording
from telebridge.calls import repository as repo
from telebridge.calls.models import LiveSession, LiveSessionRecording
from telebridge.consultations.models import Consultation
from telebridge.files import service as files
from telebridge.identity.models import User
from telebridge.identity.service import subject_for
from telebridge.kit import audit
from telebridge.kit.jobs import JobContext, job

log = logging.getLogger("telebridge.calls.recording")
PP_REC = "janus-pp-rec"
MJR = re.compile(r"-user-(?P<feed>.+)-(?P<time>\d+)-(?P<kind>audio|video)-(?P<mindex>\d+)\.mjr$")
CHUNK = 1024 * 1024
WEBM = frozenset({"webm"})
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class ConversionFailed(Exception):
    pass


def _header(mjr: Path) -> dict[str, Any]:
    """The .mjr header Janus wrote: t(ype), c(odec), s (created) and u (first packet written), in µs."""
    r = subprocess.run([PP_REC, "-j", "-d", "0", str(mjr)], capture_output=True, text=True, timeout=60, check=False)
    start = r.stdout.find("{")
    if r.returncode != 0 or start < 0:
        raise ConversionFailed(f"janus-pp-rec could not read {mjr.name}")
    return json.loads(r.stdout[start:r.stdout.rindex("}") + 1])


def _post_process(mjr: Path, kind: str) -> Path | None:
    out = mjr.with_suffix(".webm" if kind == "video" else ".opus")
    r = subprocess.run([PP_REC, "-d", "0", str(mjr), str(out)], capture_output=True, text=True, timeout=3600,
                       check=False)
    if r.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        log.warning("janus-pp-rec gave nothing for %s (rc=%s)", mjr.name, r.returncode)
        return None  # e.g. no packet was written for this medium
    return out


def _packets(container: Any, stream: Any, target: Any, offset: float) -> Iterator[tuple[float, int, Any, Any]]:
    shift = round(offset / stream.time_base)
    waiting = stream.type == "video"  # video starts at its first key frame (recording may begin mid-picture)
    for packet in container.demux(stream):
        if packet.dts is None:
            continue  # the demuxer's end-of-stream marker
        if waiting and not packet.is_keyframe:
            continue
        waiting = False
        packet.dts += shift
        if packet.pts is not None:
            packet.pts += shift
        yield float(packet.dts * stream.time_base), target.index, packet, target


def mux(parts: list[tuple[Path, float]], out: Path) -> None:
    """One WebM from single-stream files, stream-copied; ``float`` is each part's start offset in seconds."""
    import av

    inputs = [av.open(str(p)) for p, _ in parts]
    try:
        with av.open(str(out), "w", format="webm") as output:
            sources = []
            for container, (_path, offset) in zip(inputs, parts, strict=True):
                stream = next(s for s in container.streams if s.type in ("audio", "video"))
                sources.append(_packets(container, stream, output.add_stream_from_template(stream), offset))
            for _t, _i, packet, target in heapq.merge(*sources, key=lambda item: (item[0], item[1])):
                packet.stream = target
                output.mux(packet)
    finally:
        for container in inputs:
            container.close()


def convert(directory: Path) -> list[tuple[str, Path]]:
    """Each participant's (feed id, WebM) from the .mjr files in ``directory``, in order of appearance."""
    by_feed: dict[str, dict[str, tuple[Path, int]]] = {}
    for mjr in sorted(directory.glob("*.mjr")):
        m = MJR.search(mjr.name)
        if m is None:
            continue
        parts = by_feed.setdefault(m["feed"], {})
        if m["kind"] not in parts:  # the first stream of each kind (camera and microphone)
            parts[m["kind"]] = (mjr, int(m["time"]))
    out: list[tuple[int, str, Path]] = []
    for feed, parts in by_feed.items():
        pieces: list[tuple[Path, float]] = []  # (playable file, wall time of its first packet)
        for kind, (mjr, _time) in sorted(parts.items()):
            result = _post_process(mjr, kind)
            if result is not None:
                header = _header(mjr)
                pieces.append((result, float(header.get("u") or header.get("s") or 0) / 1e6))  # µs → s
        if not pieces:
            continue
        zero = min(t for _, t in pieces)
        target = directory / f"feed-{len(out)}.webm"
        mux([(p, t - zero) for p, t in pieces], target)
        out.append((min(t for _, t in parts.values()), feed, target))
    return [(feed, path) for _t, feed, path in sorted(out)]


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(files.HEAD)


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            yield chunk


def _filename(ls: LiveSession, row: LiveSessionRecording, who: dict[str, str] | None, n: int) -> str:
    when = row.started_at.astimezone(TZ).strftime("%Y-%m-%d %H.%M")
    label = f"{who['site']} - {who['name']}" if who else str(n)
    return f"{when} {ls.title[:80]} - {label}.webm".replace("/", "-")


@job(recording.JOB)
async def process_recording(ctx: JobContext, payload: dict[str, Any]) -> None:
    recording_id = uuid.UUID(payload["recording_id"])
    directory = recording.recordings_dir(ctx.settings) / recording_id.hex
    async with ctx.sessionmaker() as db:  # claim it: jobs are delivered at least once, and may be long
        claimed = await repo.claim_for_conversion(db, recording_id)
        await db.commit()
        if not claimed:
            return
    async with ctx.sessionmaker() as db:
        row = await db.get(LiveSessionRecording, recording_id)
        assert row is not None
        ls = await db.get(LiveSession, row.live_session_id)
        assert ls is not None
        c = await db.get(Consultation, ls.consultation_id)
        user = await db.get(User, row.started_by)
        assert c is not None and user is not None
        session_id, patient_id = ls.id, c.patient_id
        actor = audit.SystemActor(display_name="recording job")
        try:
            outputs = await asyncio.to_thread(convert, directory) if directory.is_dir() else []
            subject = await subject_for(db, user, None)  # stored as made by the host who recorded
            await files.writable_patient(db, subject, c.patient_id)
            stored = []
            for n, (feed, path) in enumerate(outputs, 1):
                head = await asyncio.to_thread(_head, path)
                f = await files.ingest(db, subject, patient_id=c.patient_id,
                                       filename=_filename(ls, row, (row.feeds or {}).get(feed), n),
                                       size=path.stat().st_size, head=head, source=lambda p=path: _chunks(p),
                                       context_type="consultation", context_id=c.id, allowed_kinds=WEBM)
                stored.append(str(f.id))
        except Exception as exc:  # noqa: BLE001 - recorded as failed, raw files kept for the operator
            await db.rollback()
            log.warning("recording %s could not be stored: %s", recording_id, exc)
            row = await db.get(LiveSessionRecording, recording_id)
            assert row is not None
            row.status, row.error = "failed", type(exc).__name__[:64]
            audit.record(db, actor, action="record_failed", object_type=recording.OBJECT, object_id=session_id,
                         patient_id=patient_id, outcome="error",
                         detail={"recording_id": str(recording_id), "error": row.error})
            await db.commit()
            return
        row.file_ids, row.status = stored, "ready" if stored else "empty"
        audit.record(db, actor, action="record_store", object_type=recording.OBJECT, object_id=ls.id,
                     patient_id=c.patient_id, detail={"recording_id": str(recording_id), "files": len(stored)})
        await db.commit()
    await asyncio.to_thread(shutil.rmtree, directory, True)
