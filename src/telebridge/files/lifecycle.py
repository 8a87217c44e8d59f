"""Start and stop the files domain's resources with the app: the job queue (in-process, or a
Redis worker loop in every app instance) and the runtime (store, keyring, scanner, upload
transfers: their Redis leases use the app's event bus)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from telebridge.files import (
    runtime,
    tasks,  # noqa: F401  (registers the jobs)
)
from telebridge.kit.jobs import JobContext, RedisJobs, make_jobs


async def start(app: Any, settings: Any) -> None:
    queue = make_jobs(settings.redis_url, JobContext(app.state.sessionmaker, settings))
    app.state.jobs = queue
    app.state.files_runtime = runtime.build(settings, queue, bus=app.state.bus)
    runtime.configure(app.state.files_runtime)
    if isinstance(queue, RedisJobs):
        app.state.jobs_stop = asyncio.Event()
        app.state.jobs_worker = asyncio.create_task(queue.work(stop=app.state.jobs_stop))


async def stop(app: Any) -> None:
    if getattr(app.state, "jobs_worker", None) is not None:
        app.state.jobs_stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(app.state.jobs_worker, 10)
    if getattr(app.state, "jobs", None) is not None:
        await app.state.jobs.close()
    if getattr(app.state, "files_runtime", None) is not None:
        await app.state.files_runtime.close()
    runtime.configure(None)  # also stops the sandbox workers of the previews
