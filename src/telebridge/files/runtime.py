"""The files domain's runtime resources: object store, keyring, scanner, job queue.

Built lazily from settings (embedded default), or set by the app's lifespan and by tests
with :func:`configure`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.config import get_settings
from telebridge.files.sniff import Scanner, scanner_from
from telebridge.kit import crypto, jobs, storage
from telebridge.kit.db import make_sessionmaker


@dataclass
class Runtime:
    settings: Any
    store: storage.ObstoreStore
    keyring: crypto.Keyring
    scanner: Scanner
    jobs: jobs.InProcessJobs | jobs.RedisJobs | None = None

    def jobs_for(self, db: AsyncSession) -> jobs.InProcessJobs | jobs.RedisJobs:
        """The configured queue; without one, in-process jobs on the session's engine."""
        if self.jobs is None:
            assert db.bind is not None
            self.jobs = jobs.InProcessJobs(jobs.JobContext(make_sessionmaker(db.bind), self.settings))  # type: ignore[arg-type]
        return self.jobs


_runtime: Runtime | None = None


def build(settings: Any, job_queue: jobs.InProcessJobs | jobs.RedisJobs | None = None) -> Runtime:
    return Runtime(settings=settings, store=storage.make_store(settings), keyring=crypto.keyring_from_settings(settings),
                   scanner=scanner_from(getattr(settings, "files_scanner", None)), jobs=job_queue)


def configure(runtime: Runtime | None) -> None:
    global _runtime
    _runtime = runtime


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = build(get_settings())
    return _runtime
