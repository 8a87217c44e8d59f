"""Auscultation screening rules: exams, recordings (upload or stream), the hub worklist and the
cardiologist's verdict. Never commits; every read and write of patient data is audited.

The algorithm's result is decision support; a verdict overrides it wherever it is shown.
"""

from __future__ import annotations

import json
import uuid

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.auscultation import policy
from telebridge.auscultation import repository as repo
from telebridge.auscultation.dsp import AudioError
from telebridge.auscultation.model import DISCLAIMER, RecordingResult, default_model
from telebridge.auscultation.models import SITES, AuscultationExam, AuscultationRecording, AuscultationVerdict
from telebridge.auscultation.schemas import ExamDetail, ExamIn, ExamOut, RecordingOut, VerdictIn, VerdictOut
from telebridge.auscultation.tasks import Analysed, decode_and_analyse, pack_segments, run_cpu
from telebridge.kit import audit
from telebridge.kit.access import authorize
from telebridge.kit.db import utcnow
from telebridge.kit.errors import BadInput, Conflict, DomainError, Forbidden, NotFound, TooLarge
from telebridge.kit.i18n import N_, gettext
from telebridge.kit.subject import Role, Subject
from telebridge.kit.validators import clean_text
from telebridge.network import service as network
from telebridge.patients import service as patients
from telebridge.patients.models import CareRelationship

OBJECT = "auscultation_exam"
CONTEXT = "auscultation"  # files.service.CONTEXT_TYPES
AUDIO_KINDS = frozenset({"wav", "flac", "mp3"})
HUB_SPECIALTIES = ("paediatric_cardiology", "cardiology")
MAX_AUDIO_BYTES = 50 * 1024 * 1024
MAX_FILENAME = 200
CARE_BASIS = "auscultation_screening"
DISCLAIMER_MSG = N_(
    "Decision support only, not a diagnosis. A clinician must interpret this result; "
    "an 'Absent' result does not exclude heart disease."
)
assert DISCLAIMER_MSG == DISCLAIMER  # the model's own wording, translated for display

QUALITY_MESSAGES = {
    "ok": N_("Recording quality is sufficient."),
    "too_short": N_("Recording is too short; record at least 5 seconds at each site."),
    "silence": N_("No sound was captured; check the stethoscope connection and re-record."),
    "clipping": N_("The signal is clipped (too loud); lower the gain or press more gently and re-record."),
    "noisy": N_("Too much background noise; re-record in a quiet room and keep the chest piece still."),
    "no_heartbeat": N_("No regular heartbeat was found; reposition the stethoscope and re-record."),
}


class AudioRejected(DomainError):
    """An upload that cannot be analysed: nothing is stored."""

    status = 422
    code = "bad_audio"


_AUDIO_ERRORS: dict[str, tuple[int, str]] = {
    "not_audio": (415, N_("This file is not audio in a supported format. Upload a WAV, FLAC or MP3 recording.")),
    "broken_file": (422, N_("The audio file is damaged or truncated. Export the recording again from the "
                            "stethoscope and upload it again.")),
    "broken_mp3": (422, N_("The MP3 file has a damaged frame. Export the recording again from the stethoscope "
                           "(WAV or FLAC if possible) and upload it again.")),
    "empty": (422, N_("The audio file contains no sound samples.")),
    "too_short": (422, N_("The recording is too short: at least 5 seconds of heart sounds are needed at each "
                          "site. Please re-record.")),
    "too_long": (413, N_("The recording is too long: at most 10 minutes per site.")),
    "bad_rate": (422, N_("The audio file declares an invalid sample rate.")),
    "bad_chunk": (422, N_("The streamed audio is malformed: send whole 16-bit samples.")),
}


def audio_error(exc: AudioError) -> AudioRejected:
    status, message = _AUDIO_ERRORS.get(exc.code, _AUDIO_ERRORS["broken_file"])
    err = AudioRejected(message, code=exc.code, field="file")
    err.status = status
    return err


def quality_message(code: str) -> str:
    return gettext(QUALITY_MESSAGES.get(code, QUALITY_MESSAGES["no_heartbeat"]))


# --------------------------------------------------------------------------- exams

async def create_exam(db: AsyncSession, subject: Subject, *, data: ExamIn) -> AuscultationExam:
    """A clinician of a facility caring for the patient asks that facility's cardiology hub."""
    access, _basis = await patients.readable(db, subject, data.patient_id)
    mine = [f for f in subject.clinical_facility_ids if f in access.care_facility_ids and policy.can_create(subject, f)]
    authorize(bool(mine), action="create", object_type=OBJECT, patient_id=data.patient_id,
              message=N_("Only clinicians of a facility caring for this patient may request a screening."))
    facility_id = min(mine)
    hub = await _hub_for(db, facility_id)
    now = utcnow()
    exam = AuscultationExam(patient_id=access.patient.id, requesting_facility_id=facility_id, hub_facility_id=hub,
                            urgency=data.urgency, status="analysing", created_by=subject.user_id,
                            created_at=now, updated_at=now)
    db.add(exam)
    await db.flush()
    if not await repo.has_care(db, exam.patient_id, hub):
        # The request is the legal basis for the hub to see this patient's record.
        db.add(CareRelationship(patient_id=exam.patient_id, facility_id=hub, basis=CARE_BASIS,
                                basis_ref=str(exam.id), created_at=now))
        await db.flush()
    audit.record(db, subject, action="create", object_type=OBJECT, object_id=exam.id, patient_id=exam.patient_id,
                 detail={"hub_facility_id": str(hub), "urgency": exam.urgency})
    return exam


async def _hub_for(db: AsyncSession, spoke_id: uuid.UUID) -> uuid.UUID:
    on = network.today()
    for specialty in HUB_SPECIALTIES:
        hubs = await network.hubs_for(db, spoke_id=spoke_id, specialty_code=specialty, on=on)
        if hubs:
            return hubs[0].id
    raise Conflict(N_("Your facility has no cardiology hub to send screenings to (no current link with a hub that "
                      "declared cardiology). Ask your facility administrator."))


async def _exam(db: AsyncSession, exam_id: uuid.UUID, *, for_update: bool = False) -> AuscultationExam:
    exam = await repo.get_exam(db, exam_id, for_update=for_update)
    if exam is None:
        raise NotFound(N_("No such auscultation exam."))
    return exam


async def readable(db: AsyncSession, subject: Subject, exam_id: uuid.UUID) -> AuscultationExam:
    """The exam if the subject may read it; a refusal is audited (403)."""
    exam = await _exam(db, exam_id)
    authorize(policy.can_read(subject, exam), action="read", object_type=OBJECT, object_id=exam_id,
              patient_id=exam.patient_id)
    return exam


def _sites(exam: AuscultationExam) -> list[str]:
    return [s for s in (exam.sites or "").split(",") if s]


def exam_out(row: repo.ExamRow) -> ExamOut:
    e = row.exam
    return ExamOut(
        id=e.id, patient_id=e.patient_id, patient_name=row.patient_name, requesting_facility_id=e.requesting_facility_id,
        requesting_facility_name=row.requesting_name, hub_facility_id=e.hub_facility_id, hub_facility_name=row.hub_name,
        urgency=e.urgency, status=e.status, murmur=e.murmur, probability_present=e.probability_present, timing=e.timing,
        sites=_sites(e), model_version=e.model_version, recordings=row.recordings, created_at=e.created_at,
        analysed_at=e.analysed_at, disclaimer=gettext(DISCLAIMER_MSG),
    )


def recording_out(r: AuscultationRecording) -> RecordingOut:
    out = RecordingOut.model_validate(r)
    out.quality_message = quality_message(r.quality_code)
    return out


def verdict_out(v: AuscultationVerdict, name: str, title: str | None, licence: str | None) -> VerdictOut:
    out = VerdictOut.model_validate(v)
    out.cardiologist_name, out.cardiologist_title, out.licence_number = name, title, licence
    return out


async def detail(db: AsyncSession, subject: Subject, *, exam_id: uuid.UUID) -> ExamDetail:
    exam = await readable(db, subject, exam_id)
    row = await repo.exam_row(db, exam.id)
    assert row is not None
    recs = await repo.recordings(db, exam.id)
    verdicts = [verdict_out(*v) for v in await repo.verdicts(db, exam.id)]
    audit.record(db, subject, action="read", object_type=OBJECT, object_id=exam.id, patient_id=exam.patient_id)
    return ExamDetail(
        **exam_out(row).model_dump(), final_murmur=verdicts[0].murmur if verdicts else exam.murmur,
        recording_results=[recording_out(r) for r in recs], verdicts=verdicts,
        may_add_recordings=policy.can_add_recording(subject, exam) and exam.status != "reviewed",
        may_give_verdict=policy.can_give_verdict(subject, exam) and bool(recs),
    )


# --------------------------------------------------------------------------- lists

async def worklist(db: AsyncSession, subject: Subject, *, f: repo.ListFilter, offset: int, limit: int
                   ) -> tuple[list[ExamOut], int]:
    authorize(policy.can_see_worklist(subject), action="read", object_type="auscultation_worklist",
              message=N_("The re-listening worklist is for hub specialists and coordinators."))
    rows, total = await repo.worklist(db, subject, f, offset=offset, limit=limit)
    audit.record(db, subject, action="search", object_type="auscultation_worklist", detail={"results": total})
    return [exam_out(r) for r in rows], total


async def requested(db: AsyncSession, subject: Subject, *, f: repo.ListFilter, offset: int, limit: int
                    ) -> tuple[list[ExamOut], int]:
    authorize(policy.can_list_requested(subject), action="read", object_type=OBJECT,
              message=N_("Only clinicians see their facility's screenings."))
    rows, total = await repo.requested(db, subject, f, offset=offset, limit=limit)
    audit.record(db, subject, action="search", object_type=OBJECT, detail={"results": total})
    return [exam_out(r) for r in rows], total


# --------------------------------------------------------------------------- recordings

def _site(value: str | None) -> str:
    if value not in SITES:
        raise BadInput(N_("Choose the auscultation site: AV, PV, TV, MV or other."), field="site")
    return value


async def writable(db: AsyncSession, subject: Subject, exam_id: uuid.UUID) -> AuscultationExam:
    """The exam, locked, if the subject may add recordings to it now."""
    exam = await _exam(db, exam_id, for_update=True)
    authorize(policy.can_add_recording(subject, exam), action="update", object_type=OBJECT, object_id=exam_id,
              patient_id=exam.patient_id, message=N_("Only clinicians of the requesting facility add recordings."))
    if exam.status == "reviewed":
        raise Conflict(N_("A cardiologist has already reviewed this exam; start a new exam to record again."))
    return exam


async def add_upload(db: AsyncSession, subject: Subject, *, exam_id: uuid.UUID, site: str | None, data: bytes,
                     filename: str | None) -> tuple[AuscultationRecording, AuscultationExam]:
    """Decode, analyse (quality gate first), store the original and the results: all or nothing."""
    site = _site(site)
    exam = await writable(db, subject, exam_id)
    if len(data) > MAX_AUDIO_BYTES:
        raise TooLarge(N_("The audio file is too large: at most {mb} MB."), field="file", mb=MAX_AUDIO_BYTES // 2**20)
    if not data:
        raise audio_error(AudioError("empty", ""))
    try:
        analysed = await run_cpu(decode_and_analyse, data, site)
    except AudioError as exc:
        raise audio_error(exc) from None
    name = clean_text(filename, field="file", max_len=MAX_FILENAME) or f"{site}.wav"
    return await _store(db, subject, exam, analysed, data, name, source="upload")


async def add_streamed(db: AsyncSession, subject: Subject, *, exam_id: uuid.UUID, site: str, wav: bytes,
                       analysed: Analysed) -> tuple[AuscultationRecording, AuscultationExam]:
    exam = await writable(db, subject, exam_id)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return await _store(db, subject, exam, analysed, wav, f"{site}-{stamp}.wav", source="stream")


async def _store(db: AsyncSession, subject: Subject, exam: AuscultationExam, analysed: Analysed, data: bytes,
                 filename: str, *, source: str) -> tuple[AuscultationRecording, AuscultationExam]:
    from telebridge.files import service as files

    r = analysed.result
    stored = await files.store_bytes(db, subject, patient_id=exam.patient_id, data=data, filename=filename,
                                     context_type=CONTEXT, context_id=exam.id, allowed_kinds=AUDIO_KINDS)
    rec = AuscultationRecording(
        exam_id=exam.id, site=r.site, file_id=stored.id, source=source, duration_s=analysed.duration_s,
        sample_rate=analysed.source_rate, channels=analysed.channels, quality_ok=r.usable,
        quality_code=str(r.quality["code"]), periodicity=float(r.quality["periodicity"]),
        heart_rate_bpm=r.heart_rate_bpm, murmur=r.murmur, probability_present=r.probability_present, timing=r.timing,
        segments=pack_segments(r.segments), features=json.dumps([None if not np.isfinite(v) else float(v)
                                                                  for v in r.features]),
        model_version=default_model().version, created_by=subject.user_id, created_at=utcnow(),
    )
    db.add(rec)
    await db.flush()
    audit.record(db, subject, action="create", object_type="auscultation_recording", object_id=rec.id,
                 patient_id=exam.patient_id, detail={"exam_id": str(exam.id), "site": rec.site, "source": source,
                                                     "quality": rec.quality_code, "file_id": str(stored.id)})
    await _recombine(db, exam)
    return rec, exam


def _as_result(r: AuscultationRecording) -> RecordingResult:
    feats = np.array([np.nan if v is None else v for v in json.loads(r.features)], dtype=np.float64)
    quality = {"code": r.quality_code, "periodicity": r.periodicity, "message": r.quality_code}
    return RecordingResult(site=r.site, quality=quality, usable=r.quality_ok, heart_rate_bpm=r.heart_rate_bpm,
                           segments=[], probability_present=r.probability_present, murmur=r.murmur, timing=r.timing,
                           features=feats)


async def _recombine(db: AsyncSession, exam: AuscultationExam) -> None:
    """The patient-level result over all recordings; flags the exam for the hub when needed."""
    recs = await repo.recordings(db, exam.id)
    model = default_model()
    result = model.combine([_as_result(r) for r in recs])
    exam.murmur, exam.probability_present, exam.timing = result.murmur, result.probability_present, result.timing
    exam.sites = ",".join(result.sites) or None
    exam.model_version, exam.analysed_at = result.model_version, utcnow()
    if not any(r.quality_ok for r in recs):
        exam.status = "rejected_quality"
    elif result.murmur in ("Present", "Unknown"):
        exam.status = "flagged"
    else:
        exam.status = "cleared"
    newly_flagged = exam.status == "flagged" and exam.flagged_at is None
    if newly_flagged:
        exam.flagged_at = utcnow()
    await db.flush()
    if newly_flagged:
        await _notify_hub(db, exam)


# --------------------------------------------------------------------------- verdict

async def give_verdict(db: AsyncSession, subject: Subject, *, exam_id: uuid.UUID, data: VerdictIn) -> AuscultationVerdict:
    exam = await _exam(db, exam_id, for_update=True)
    authorize(policy.can_give_verdict(subject, exam), action="review", object_type=OBJECT, object_id=exam_id,
              patient_id=exam.patient_id, message=N_("Only cardiologists of the hub asked record a verdict."))
    assert subject.practitioner_id is not None
    now = utcnow()
    if not await network.practitioner_may_act(db, practitioner_id=subject.practitioner_id,
                                              facility_id=exam.hub_facility_id, at=now):
        raise Forbidden(N_("Your practising licence is not valid or you are not registered at this hub today."))
    if not set(HUB_SPECIALTIES) & await repo.practitioner_specialties(db, subject.practitioner_id):
        raise Forbidden(N_("Only cardiologists record a verdict on heart sounds."))
    if not await repo.recordings(db, exam.id):
        raise Conflict(N_("This exam has no recording yet."))
    advice = clean_text(data.advice, field="advice", max_len=4000, required=True)
    if data.murmur == "Present" and data.grade is None:
        raise BadInput(N_("Give the murmur grade (1 to 6) when a murmur is heard."), field="grade")
    if data.murmur != "Present" and (data.grade is not None or data.timing is not None):
        raise BadInput(N_("A grade and timing are given only when a murmur is heard."), field="grade")
    verdict = AuscultationVerdict(
        exam_id=exam.id, user_id=subject.user_id, practitioner_id=subject.practitioner_id, murmur=data.murmur,
        agrees=data.murmur == exam.murmur, algorithm_murmur=exam.murmur, grade=data.grade, timing=data.timing,
        advice=advice or "", created_at=now,
    )
    db.add(verdict)
    exam.status = "reviewed"
    await db.flush()
    audit.record(db, subject, action="review", object_type=OBJECT, object_id=exam.id, patient_id=exam.patient_id,
                 detail={"verdict_id": str(verdict.id), "agrees": verdict.agrees})
    await _notify_spoke(db, exam)
    return verdict


# --------------------------------------------------------------------------- notifications

FLAGGED_TITLES = {
    "emergency": N_("EMERGENCY: heart sounds from {facility} need re-listening"),
    "urgent": N_("Urgent: heart sounds from {facility} need re-listening"),
    "routine": N_("Heart sounds from {facility} need re-listening"),
}


async def _notify_hub(db: AsyncSession, exam: AuscultationExam) -> None:
    from telebridge.messaging import service as messaging

    users = await repo.users_with_role(db, Role.HUB_SPECIALIST, exam.hub_facility_id)
    await messaging.notify(
        db, user_ids=users, kind="auscultation_flagged",
        title=FLAGGED_TITLES[exam.urgency],
        params={"facility": await repo.facility_name(db, exam.requesting_facility_id)},
        link=f"/auscultation/exams/{exam.id}", urgent=exam.urgency == "emergency",
    )


async def _notify_spoke(db: AsyncSession, exam: AuscultationExam) -> None:
    from telebridge.messaging import service as messaging

    users = {exam.created_by, *await repo.users_with_role(db, Role.SPOKE_CLINICIAN, exam.requesting_facility_id)}
    await messaging.notify(
        db, user_ids=sorted(users), kind="auscultation_reviewed",
        title=N_("A cardiologist at {facility} reviewed a heart-sound screening"),
        params={"facility": await repo.facility_name(db, exam.hub_facility_id)},
        link=f"/auscultation/exams/{exam.id}", urgent=exam.urgency == "emergency",
    )


# --------------------------------------------------------------------------- audio and display

async def recording_for_read(db: AsyncSession, subject: Subject, *, recording_id: uuid.UUID
                             ) -> tuple[AuscultationRecording, AuscultationExam]:
    rec = await repo.get_recording(db, recording_id)
    if rec is None:
        raise NotFound(N_("No such recording."))
    exam = await readable(db, subject, rec.exam_id)
    return rec, exam


async def audio(db: AsyncSession, subject: Subject, *, recording_id: uuid.UUID
                ) -> tuple[AuscultationRecording, str, bytes]:
    """The original audio (read through the files domain: access checked, integrity verified, audited)."""
    from telebridge.files import service as files

    rec, _exam = await recording_for_read(db, subject, recording_id=recording_id)
    stored, data = await files.read_bytes(db, subject, file_id=rec.file_id)
    return rec, stored.media_type, data


# --------------------------------------------------------------------------- labels for retraining

LABEL_COLUMNS = ("exam_id", "recording_id", "file_id", "site", "quality_ok", "algorithm_murmur",
                 "algorithm_probability", "model_version", "verdict_murmur", "agrees", "grade", "timing", "verdict_at")


async def export_labels(db: AsyncSession, actor: audit.Actor) -> list[tuple[str, ...]]:
    """One row per recording of every reviewed exam, labelled with the latest verdict. No names."""
    out: list[tuple[str, ...]] = []
    for verdict, exam, rec in await repo.labelled(db):
        out.append((str(exam.id), str(rec.id), str(rec.file_id), rec.site, str(rec.quality_ok).lower(),
                    exam.murmur or "", "" if exam.probability_present is None else f"{exam.probability_present:.4f}",
                    rec.model_version, verdict.murmur, str(verdict.agrees).lower(),
                    "" if verdict.grade is None else str(verdict.grade), verdict.timing or "",
                    verdict.created_at.isoformat(timespec="seconds")))
    audit.record(db, actor, action="export", object_type="auscultation_labels", detail={"rows": len(out)})
    return out
