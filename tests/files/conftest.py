"""Files tests: a runtime of their own (object store in a temporary directory, in-process jobs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telebridge.config import Settings
from telebridge.files import runtime
from telebridge.kit.jobs import InProcessJobs, JobContext


@pytest.fixture
async def files_rt(tmp_path: Path, sessionmaker, settings: Settings) -> AsyncIterator[runtime.Runtime]:  # type: ignore[no-untyped-def]
    s = settings.model_copy(update={"files_dir": tmp_path / "files"})
    queue = InProcessJobs(JobContext(sessionmaker, s))
    rt = runtime.build(s, queue)
    runtime.configure(rt)
    yield rt
    await queue.drain()  # no job of this test may run into the next one
    runtime.configure(None)
