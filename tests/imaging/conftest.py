"""Fixtures of the imaging tests: a private Orthanc with its DICOMweb plugin on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import need
from tests.imaging import orthanc as orthanc_server


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[orthanc_server.Orthanc]:
    need(orthanc_server.available(), "PACS tests need Debian's orthanc and orthanc-dicomweb (make system-deps)")
    with orthanc_server.running(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


@pytest.fixture
def imaging_rt(tmp_path_factory, backend, sessionmaker, settings):  # type: ignore[no-untyped-def]
    """The files runtime and a cold render cache. The encrypted object store lives as long as the
    test database (one per backend): the files domain stores each content once, across tests."""
    from telebridge.files import runtime
    from telebridge.imaging.service import clear_caches
    from telebridge.kit.jobs import InProcessJobs, JobContext

    s = settings.model_copy(update={"files_dir": tmp_path_factory.getbasetemp() / f"imaging-files-{backend}"})
    rt = runtime.build(s, InProcessJobs(JobContext(sessionmaker, s)))
    runtime.configure(rt)
    clear_caches()
    yield rt
    runtime.configure(None)
    clear_caches()


async def subject_of(db, ref):  # type: ignore[no-untyped-def]
    from telebridge.identity.models import User
    from telebridge.identity.service import subject_for

    return await subject_for(db, await db.get(User, ref.id), "198.51.100.1")


async def add_consultation(db, world, patient=None):  # type: ignore[no-untyped-def]
    """A submitted consultation from spoke A to hub A about ``patient`` (patient A by default)."""
    import secrets

    from telebridge.consultations.models import Consultation

    c = Consultation(reference="HC-T-" + secrets.token_hex(4), patient_id=(patient or world.patient_a).id,
                     requesting_facility_id=world.spoke_a.id, requested_by=world.spoke_clinician.id,
                     hub_facility_id=world.hub_a.id, status="submitted")
    db.add(c)
    await db.flush()
    return c
