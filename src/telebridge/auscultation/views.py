"""Auscultation pages: my facility's screenings, a new exam, the exam (upload, waveform, spectrogram,
playback, verdict), the hub's re-listening worklist; audio and display data; and the live-stream
WebSocket of a stethoscope.

Streaming protocol (``/auscultation/exams/{exam_id}/stream``, session cookie as for pages, same origin):
1. client → text ``{"site": "MV", "rate": 4000, "channels": 1, "format": "s16le"}``
2. server → ``{"type": "ready"}``
3. client → binary frames of interleaved little-endian 16-bit PCM (whole frames, ≤ 256 KiB each)
4. server → ``{"type": "progress", "seconds": s}`` per frame and, every ~2 s of new audio once 5 s
   are in, ``{"type": "result", "seconds": s, "result": {...}}`` (analysed in a worker thread)
5. client → text ``{"type": "end"}`` (or just closes): the recording is stored like an upload and
   the server answers ``{"type": "saved", "recording_id": ..., "exam": {...}}`` then closes (1000).
Errors: ``{"type": "error", "code": ..., "message": <translated>}`` then close 4400 (bad input),
4401 (not signed in), 4403 (not allowed), 4404 (no such exam).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    File,
    Form,
    Query,
    Request,
    UploadFile,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.auscultation import policy, service
from telebridge.auscultation import repository as repo
from telebridge.auscultation.api import read_upload
from telebridge.auscultation.dsp import AudioError
from telebridge.auscultation.models import MURMURS, SITES, STATUSES, TIMINGS, URGENCIES
from telebridge.auscultation.schemas import ExamIn, VerdictIn
from telebridge.auscultation.tasks import (
    Analysed,
    LiveAnalysis,
    beats,
    pcm_to_wav,
    playable,
    run_cpu,
    spectrogram_png,
    unpack_segments,
    waveform,
)
from telebridge.identity.deps import Db, PageSubject, session_subject
from telebridge.kit import audit, events, i18n
from telebridge.kit.errors import BadInput, Conflict, DomainError
from telebridge.kit.i18n import N_, gettext
from telebridge.kit.subject import Subject
from telebridge.kit.web import LOCALE_COOKIE, RangeNotSatisfiable, byte_range, render
from telebridge.patients import service as patients

router = APIRouter(include_in_schema=False)
PER_PAGE = 20
LABELS = {
    "analysing": N_("Awaiting recordings"), "flagged": N_("Flagged for re-listening"), "cleared": N_("No murmur found"),
    "reviewed": N_("Reviewed by a cardiologist"), "rejected_quality": N_("Re-record: quality too poor"),
    "Present": N_("Murmur present"), "Unknown": N_("Uncertain"), "Absent": N_("No murmur"),
    "emergency": N_("Emergency"), "urgent": N_("Urgent"), "routine": N_("Routine"),
    "systolic": N_("systolic"), "diastolic": N_("diastolic"), "continuous": N_("continuous"),
    "AV": N_("Aortic (AV)"), "PV": N_("Pulmonic (PV)"), "TV": N_("Tricuspid (TV)"), "MV": N_("Mitral (MV)"),
    "other": N_("Other site"), "upload": N_("uploaded"), "stream": N_("live stethoscope"),
}


def show(request: Request, template: str, ctx: dict[str, Any], status: int = 200) -> Response:
    return render(request, template, {"labels": LABELS, "sites": SITES, "urgencies": URGENCIES,
                                      "murmurs": MURMURS, "timings": TIMINGS, "statuses": STATUSES, **ctx}, status)


def see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


# --------------------------------------------------------------------------- lists

@router.get("/auscultation")
async def my_exams(request: Request, subject: PageSubject, db: Db, status: str | None = None,
                   page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    f = repo.ListFilter(status=_choice(status, STATUSES))
    items, total = await service.requested(db, subject, f=f, offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
    return show(request, "auscultation/list.html", {
        "items": items, "total": total, "page": page, "pages": max(1, -(-total // PER_PAGE)), "status": f.status or "",
        "is_hub": policy.can_see_worklist(subject)})


@router.get("/auscultation/worklist")
async def worklist_page(request: Request, subject: PageSubject, db: Db, status: str | None = None,
                        murmur: str | None = None, urgency: str | None = None,
                        page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    f = repo.ListFilter(status=_choice(status, STATUSES), murmur=_choice(murmur, MURMURS),
                        urgency=_choice(urgency, URGENCIES))
    items, total = await service.worklist(db, subject, f=f, offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
    return show(request, "auscultation/worklist.html", {
        "items": items, "total": total, "page": page, "pages": max(1, -(-total // PER_PAGE)),
        "filters": {"status": f.status or "", "murmur": f.murmur or "", "urgency": f.urgency or ""}})


# --------------------------------------------------------------------------- new exam

@router.get("/auscultation/new")
async def new_exam(request: Request, subject: PageSubject, db: Db,
                   q: Annotated[str | None, Query(max_length=200)] = None, patient_id: uuid.UUID | None = None) -> Response:
    ctx: dict[str, Any] = {"q": q or "", "patient": None, "rows": []}
    if patient_id is not None:
        access, _basis = await patients.readable(db, subject, patient_id)
        ctx["patient"] = patients.summary(access.patient, None)
    elif q:
        found = await patients.search(db, subject, q=q, date_of_birth=None, province_code=None, offset=0, limit=20)
        ctx["rows"] = [patients.summary(p, name) for p, name in found.rows]
    return show(request, "auscultation/new.html", ctx)


@router.post("/auscultation/exams")
async def create_exam(request: Request, subject: PageSubject, db: Db) -> Response:
    form = await request.form()
    try:
        data = ExamIn.model_validate({k: form.get(k) for k in ("patient_id", "urgency")})
    except ValidationError:
        raise BadInput(N_("Choose a patient and an urgency.")) from None
    exam = await service.create_exam(db, subject, data=data)
    return see(f"/auscultation/exams/{exam.id}")


# --------------------------------------------------------------------------- the exam

async def _exam_page(request: Request, db: AsyncSession, subject: Subject, exam_id: uuid.UUID, *,
                     error: str | None = None, status: int = 200) -> Response:
    exam = await service.detail(db, subject, exam_id=exam_id)
    return show(request, "auscultation/exam.html", {"exam": exam, "error": error,
                                                    "verdict": exam.verdicts[0] if exam.verdicts else None}, status)


@router.get("/auscultation/exams/{exam_id}")
async def exam_page(request: Request, exam_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    return await _exam_page(request, db, subject, exam_id)


@router.post("/auscultation/exams/{exam_id}/recordings")
async def upload_page(request: Request, exam_id: uuid.UUID, subject: PageSubject, db: Db,
                      site: Annotated[str, Form()], file: Annotated[UploadFile, File()]) -> Response:
    """The form without JavaScript (the page's script posts to the API and shows progress)."""
    try:
        await service.add_upload(db, subject, exam_id=exam_id, site=site, data=await read_upload(file),
                                 filename=file.filename)
    except (BadInput, Conflict, service.AudioRejected, DomainError) as exc:
        if exc.status == 403 or exc.status == 404:
            raise
        await db.rollback()
        return await _exam_page(request, db, subject, exam_id, error=exc.translated(), status=exc.status)
    return see(f"/auscultation/exams/{exam_id}#recordings")


@router.post("/auscultation/exams/{exam_id}/verdict")
async def verdict_page(request: Request, exam_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    form = await request.form()
    values = {k: (form.get(k) or None) for k in ("murmur", "grade", "timing", "advice")}
    try:
        data = VerdictIn.model_validate({**values, "advice": values["advice"] or ""})
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e.get("loc"))
        await db.rollback()
        message = gettext(N_("Some fields are missing or malformed: {fields}.")).format(fields=fields)
        return await _exam_page(request, db, subject, exam_id, error=message, status=400)
    try:
        await service.give_verdict(db, subject, exam_id=exam_id, data=data)
    except (BadInput, Conflict) as exc:
        await db.rollback()
        return await _exam_page(request, db, subject, exam_id, error=exc.translated(), status=exc.status)
    return see(f"/auscultation/exams/{exam_id}#verdict")


# --------------------------------------------------------------------------- audio and display data

@router.get("/auscultation/recordings/{recording_id}/audio")
async def audio(request: Request, recording_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    """The recording for listening (the original, or a copy browsers can play when its rate is too low);
    byte ranges are served so the player can seek. Each read of the original is audited."""
    _rec, media_type, original = await service.audio(db, subject, recording_id=recording_id)
    data, media_type = await run_cpu(playable, original, media_type)
    headers = {"accept-ranges": "bytes", "cache-control": "private, no-store"}
    try:
        wanted = byte_range(request.headers.get("range"), len(data))
    except RangeNotSatisfiable:
        return Response(status_code=416, headers={"content-range": f"bytes */{len(data)}"})
    if wanted is not None:
        start, end = wanted
        headers["content-range"] = f"bytes {start}-{end}/{len(data)}"
        return Response(data[start:end + 1], status_code=206, media_type=media_type, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


@router.get("/auscultation/recordings/{recording_id}/waveform.json")
async def waveform_json(recording_id: uuid.UUID, subject: PageSubject, db: Db) -> JSONResponse:
    rec, _media, data = await service.audio(db, subject, recording_id=recording_id)
    wave = await run_cpu(waveform, data)
    segments = unpack_segments(rec.segments)
    return JSONResponse({**wave, "segments": segments, "beats": beats(segments)},
                        headers={"cache-control": "private, no-store"})


@router.get("/auscultation/recordings/{recording_id}/spectrogram.png")
async def spectrogram(recording_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    _rec, _media, data = await service.audio(db, subject, recording_id=recording_id)
    png = await run_cpu(spectrogram_png, data)
    return Response(png, media_type="image/png", headers={"cache-control": "private, no-store"})


# --------------------------------------------------------------------------- live stream

MAX_FRAME = 256 * 1024
HEADER_TIMEOUT_S = 30.0


class StreamClosed(Exception):
    def __init__(self, code: int, error: str, message: str) -> None:
        self.code, self.error, self.message = code, error, message


async def _ws_subject(ws: WebSocket, db: AsyncSession) -> Subject:
    """The signed-in user behind the session cookie (second factor passed), as for pages."""
    subject = await session_subject(ws, db)
    if subject is None:
        raise StreamClosed(4401, "unauthenticated", gettext(N_("Sign in first.")))
    return subject


def _same_origin(ws: WebSocket) -> bool:
    """Browsers send Origin on WebSocket handshakes; refuse other sites (cross-site WebSocket hijacking)."""
    origin, host = ws.headers.get("origin"), ws.headers.get("host")
    if origin is None:
        return True  # not a browser (a stethoscope gateway); the session cookie still decides
    return origin.split("://", 1)[-1] == host


def _header(text: str) -> tuple[str, int, int]:
    try:
        h = json.loads(text)
        site, rate, channels, fmt = h["site"], h["rate"], h.get("channels", 1), h.get("format", "s16le")
    except (ValueError, KeyError, TypeError):
        raise StreamClosed(4400, "bad_header", gettext(N_(
            'Start the stream with a JSON header: {"site": ..., "rate": ..., "channels": 1, "format": "s16le"}.'))) from None
    if site not in SITES:
        raise StreamClosed(4400, "bad_site", gettext(N_("Choose the auscultation site: AV, PV, TV, MV or other.")))
    if not isinstance(rate, int) or not 1000 <= rate <= 192000 or channels not in (1, 2) or fmt != "s16le":
        raise StreamClosed(4400, "bad_format", gettext(N_(
            "Unsupported stream format: send 16-bit little-endian PCM (s16le), 1 or 2 channels, 1000 to 192000 Hz.")))
    return site, rate, channels


def _summary(result: Any) -> dict[str, Any]:
    return {"site": result.site, "usable": result.usable, "quality_code": result.quality["code"],
            "quality_message": service.quality_message(str(result.quality["code"])),
            "heart_rate_bpm": result.heart_rate_bpm, "murmur": result.murmur,
            "probability_present": result.probability_present, "timing": result.timing}


@router.websocket("/auscultation/exams/{exam_id}/stream")
async def stream(ws: WebSocket, exam_id: uuid.UUID) -> None:
    i18n.set_locale(i18n.normalize(ws.cookies.get(LOCALE_COOKIE)) or ws.app.state.settings.default_locale)
    await ws.accept()
    maker = ws.app.state.sessionmaker
    try:
        if not _same_origin(ws):
            raise StreamClosed(4403, "forbidden", gettext(N_("You do not have access to this.")))
        async with maker() as db:
            subject = await _ws_subject(ws, db)
            try:
                await service.writable(db, subject, exam_id)
            except DomainError as exc:
                await db.rollback()
                if getattr(exc, "audit", None):
                    await audit.record_in_own_transaction(maker, subject, outcome="denied", **exc.audit)  # type: ignore[attr-defined]
                raise StreamClosed(4000 + exc.status, exc.code, exc.translated()) from None
            await db.commit()
        site, rate, channels = _header(await asyncio.wait_for(ws.receive_text(), HEADER_TIMEOUT_S))
        live = LiveAnalysis(site, rate, channels)
        await ws.send_json({"type": "ready"})
        last: Analysed | None = await _receive(ws, live)
        if live.seconds < 5.0:
            raise StreamClosed(4400, "too_short", service.quality_message("too_short"))
        await _save(ws, subject, exam_id, live, last)
    except StreamClosed as closed:
        with contextlib.suppress(Exception):
            await ws.send_json({"type": "error", "code": closed.error, "message": closed.message})
            await ws.close(closed.code)
    except (TimeoutError, WebSocketDisconnect):
        pass


class _Live:
    """The analysis side of one stream: re-analyses while enough new audio has arrived and pushes
    each result as soon as it is ready (sends are serialised with the reception's own)."""

    def __init__(self, ws: WebSocket, live: LiveAnalysis) -> None:
        self.ws, self.live = ws, live
        self.lock = asyncio.Lock()
        self.task: asyncio.Task[None] | None = None
        self.latest: Analysed | None = None
        self.latest_frames = -1

    async def send(self, payload: dict[str, Any]) -> None:
        async with self.lock:
            await self.ws.send_json(payload)

    def kick(self) -> None:
        if (self.task is None or self.task.done()) and self.live.due():
            self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self.live.due():
            pcm, frames = self.live.snapshot()
            result = await run_cpu(self.live.analyse, pcm)
            self.latest, self.latest_frames = _analysed(self.live, result, frames), frames
            await self.send({"type": "result", "seconds": round(frames / self.live.rate, 3), "result": _summary(result)})

    async def finish(self) -> Analysed | None:
        """The analysis of the complete signal (every chunk), once the client has ended."""
        if self.task is not None:
            with contextlib.suppress(Exception):
                await self.task
        if self.live.seconds >= 5.0 and self.latest_frames != self.live.frames:
            pcm, frames = self.live.snapshot()
            self.latest = _analysed(self.live, await run_cpu(self.live.analyse, pcm), frames)
        return self.latest


async def _receive(ws: WebSocket, live: LiveAnalysis) -> Analysed | None:
    """Take chunks until the client ends (or leaves), analysing every ~2 s of new audio in a worker
    thread without holding up the reception. Returns the analysis of the complete signal, if any."""
    state = _Live(ws, live)
    try:
        while True:
            try:
                message = await ws.receive()
            except WebSocketDisconnect:
                break
            if message["type"] == "websocket.disconnect":
                break
            if message.get("text") is not None:
                if _is_end(message["text"]):
                    break
                raise StreamClosed(4400, "bad_message", gettext(N_('Send audio as binary frames, then {"type": "end"}.')))
            chunk = message.get("bytes") or b""
            if len(chunk) > MAX_FRAME:
                raise StreamClosed(4400, "frame_too_large", gettext(N_("An audio frame is too large: at most 256 KiB.")))
            try:
                live.add(chunk)
            except AudioError as exc:
                raise StreamClosed(4400, exc.code, service.audio_error(exc).translated()) from None
            await state.send({"type": "progress", "seconds": round(live.seconds, 3)})
            state.kick()
        return await state.finish()
    finally:
        if state.task is not None and not state.task.done():
            state.task.cancel()


def _is_end(text: str) -> bool:
    try:
        return json.loads(text).get("type") in ("end", "stop")
    except (ValueError, AttributeError):
        return False


def _analysed(live: LiveAnalysis, result: Any, frames: int) -> Analysed:
    return Analysed(result, live.rate, live.channels, round(frames / live.rate, 3))


async def _save(ws: WebSocket, subject: Subject, exam_id: uuid.UUID, live: LiveAnalysis, analysed: Analysed | None) -> None:
    assert analysed is not None
    wav = await run_cpu(pcm_to_wav, live.pcm, live.rate, live.channels)
    started = time.perf_counter()
    async with ws.app.state.sessionmaker() as db:
        events.bind(db, ws.app.state)
        try:
            rec, exam = await service.add_streamed(db, subject, exam_id=exam_id, site=live.site, wav=wav,
                                                   analysed=analysed)
            row = await repo.exam_row(db, exam.id)
            await db.commit()
        except DomainError as exc:
            await db.rollback()
            raise StreamClosed(4000 + exc.status if exc.status < 1000 else 4400, exc.code, exc.translated()) from None
    assert row is not None
    with contextlib.suppress(Exception):
        await ws.send_json({"type": "saved", "recording_id": str(rec.id), "result": _summary(analysed.result),
                            "exam": json.loads(service.exam_out(row).model_dump_json()),
                            "store_ms": round((time.perf_counter() - started) * 1000, 1)})
        await ws.close(1000)
