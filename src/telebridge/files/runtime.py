"""The files domain's runtime resources: object store, keyring, scanner, job queue, the sandbox
where previews are decoded.

Built lazily from settings (embedded default), or set by the app's lifespan and by tests
with :func:`configure`, which stops the sandbox's worker processes of the runtime it replaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.config import get_settings
from telebridge.files.sandbox import Sandbox
from telebridge.files.sniff import Scanner, scanner_from
from telebridge.files.transfers import Transfers, make_transfers
from telebridge.kit import crypto, jobs, storage
from telebridge.kit.db import make_sessionmaker


@dataclass
class Runtime:
    settings: Any
    store: storage.ObstoreStore
    keyring: crypto.Keyring
    scanner: Scanner
    jobs: jobs.InProcessJobs | jobs.RedisJobs | None = None
    previews: Sandbox = field(default_factory=Sandbox)
    bus: Any = None  # the app's event bus: the takeover of an upload held by another process
    _transfers: Transfers | None = field(default=None, repr=False)

    def jobs_for(self, db: AsyncSession) -> jobs.InProcessJobs | jobs.RedisJobs:
        """The configured queue; without one, in-process jobs on the session's engine."""
        if self.jobs is None:
            assert db.bind is not None
            self.jobs = jobs.InProcessJobs(jobs.JobContext(make_sessionmaker(db.bind), self.settings))  # type: ignore[arg-type]
        return self.jobs

    def transfers(self) -> Transfers:
        """Who holds which upload: this process's locks, or leases in Redis when it is configured."""
        if self._transfers is None:
            self._transfers = make_transfers(getattr(self.settings, "redis_url", None), self.bus)
        return self._transfers

    async def close(self) -> None:
        if self._transfers is not None:
            await self._transfers.close()
            self._transfers = None


_runtime: Runtime | None = None


def build(settings: Any, job_queue: jobs.InProcessJobs | jobs.RedisJobs | None = None, bus: Any = None) -> Runtime:
    return Runtime(settings=settings, store=storage.make_store(settings), keyring=crypto.keyring_from_settings(settings),
                   scanner=scanner_from(getattr(settings, "files_scanner", None)), jobs=job_queue,
                   previews=Sandbox.from_settings(settings), bus=bus)


def configure(runtime: Runtime | None) -> None:
    global _runtime
    if _runtime is not None and _runtime is not runtime and (runtime is None or runtime.previews is not _runtime.previews):
        _runtime.previews.close()
    _runtime = runtime


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = build(get_settings())
    return _runtime
