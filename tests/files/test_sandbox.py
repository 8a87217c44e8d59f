"""Previews are decoded in sandboxed worker processes: a decoder that crashes, hangs, spins or
allocates without bound (tests/files/hostile.py, registered in place of the PNG renderer) gives
the file a "failed" preview, the file stays stored and downloadable, the app process keeps serving,
no worker is left behind and the next preview is made by a new worker."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from telebridge.files import sandbox, service, tasks
from telebridge.identity.models import User
from telebridge.identity.service import subject_for
from tests.files import hostile, samples

LIMITS = {"memory_mb": 768, "cpu_seconds": 2, "timeout_seconds": 2.0}


def spawned_workers() -> list[int]:
    """Worker processes of this (the app's) process, alive or not reaped (zombies)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(ppid) == os.getpid() and (b"multiprocessing.spawn" in cmdline or state == "Z"):
            pids.append(int(stat.parent.name))
    return pids


@pytest.fixture
def previews(files_rt):  # type: ignore[no-untyped-def]
    """The files runtime with short limits; its workers are stopped when the test ends (files_rt)."""
    files_rt.previews = sandbox.Sandbox(**LIMITS)
    return files_rt.previews


async def _preview(db, world, files_rt, name: str = "anh.png"):  # type: ignore[no-untyped-def]
    me = await subject_for(db, await db.get(User, world.spoke_clinician.id), "198.51.100.1")
    stored = await service.store_bytes(db, me, patient_id=world.patient_a.id, data=samples.png(), filename=name)
    await db.commit()
    await files_rt.jobs.drain()
    assert files_rt.jobs.failed == []  # recorded as a failed preview, not a job failing (and retried)
    await db.refresh(stored)
    return me, stored


@pytest.mark.parametrize("render", [hostile.segfault, hostile.abort, hostile.hang, hostile.spin, hostile.hog_memory],
                         ids=lambda f: f.__name__)
async def test_a_hostile_file_fails_its_preview_without_harm(db, world, files_rt, previews, signed_in, monkeypatch,
                                                            render) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(tasks.RENDERERS, "png", render)
    client = await signed_in(world.spoke_clinician)
    started = time.monotonic()
    job = asyncio.ensure_future(_preview(db, world, files_rt, "doc-hai.png"))
    while not previews.pids() and not job.done():
        await asyncio.sleep(0.05)
    assert (await client.get("/healthz")).status_code == 200  # served while the preview runs (or crashes)
    me, stored = await job
    elapsed = time.monotonic() - started
    assert stored.preview_status == "failed" and stored.preview_blob_id is None
    assert elapsed < hostile.OUTLAST / 2  # killed at the timeout / CPU limit, not run to its end
    assert previews.pids() == [] and spawned_workers() == []  # the worker was killed and reaped
    assert (await service.read_bytes(db, me, file_id=stored.id))[1]  # the file itself is intact
    await db.commit()
    page = await client.get(f"/patients/{world.patient_a.id}/files")
    assert page.status_code == 200 and "doc-hai.png" in page.text

    monkeypatch.setitem(tasks.RENDERERS, "png", tasks.image_thumbnail)
    _me, normal = await _preview(db, world, files_rt)
    assert normal.preview_status == "ready" and normal.preview_blob_id is not None
    assert len(previews.pids()) == 1  # a new worker, kept for the next preview


@pytest.fixture
def workers():  # type: ignore[no-untyped-def]
    """A sandbox of its own (no database needed); its workers are stopped when the test ends."""
    sb = sandbox.Sandbox(**LIMITS)
    yield sb
    sb.close()
    assert spawned_workers() == []


async def test_timeout_and_cpu_limit_kill_the_worker_in_time(workers) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    with pytest.raises(sandbox.TimedOut):
        await workers.run(hostile.hang, b"")
    assert LIMITS["timeout_seconds"] <= time.monotonic() - started < LIMITS["timeout_seconds"] + 5
    assert spawned_workers() == []
    workers.timeout_seconds = 60.0  # the CPU limit ends a busy loop long before
    started = time.monotonic()
    with pytest.raises(sandbox.WorkerCrashed, match="SIGXCPU"):
        await workers.run(hostile.spin, b"")
    # counted from the render's start (a new worker spends about half a CPU second on its imports)
    assert LIMITS["cpu_seconds"] <= time.monotonic() - started < LIMITS["cpu_seconds"] + 10  # a loaded machine gives less CPU per second
    assert spawned_workers() == []


async def test_memory_limit(workers) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MemoryError):
        await workers.run(hostile.hog_memory, b"")
    assert spawned_workers() == []  # a worker that ran out of memory is not reused


async def test_workers_are_reused_then_retired(workers) -> None:  # type: ignore[no-untyped-def]
    workers.tasks_per_worker = 3
    pids = [int(await workers.run(hostile.worker_pid, b"")) for _ in range(4)]
    assert os.getpid() not in pids
    assert pids[0] == pids[1] == pids[2] != pids[3]
    assert spawned_workers() == workers.pids() == [pids[3]]
    # a renderer's exceptions come back (as themselves when they can); the worker stays in use
    with pytest.raises(tasks.NoPicture):
        await workers.run(tasks.video_poster, samples.wav())  # a WAV file is no video
    assert int(await workers.run(hostile.worker_pid, b"")) == pids[3]
    assert spawned_workers() == []  # its third render: retired
    with pytest.raises(sandbox.RenderError, match="hostile.Unpicklable: 7: broken stream"):
        await workers.run(hostile.raise_unpicklable, b"")


async def test_close_kills_a_running_render_and_stops_every_worker(workers) -> None:  # type: ignore[no-untyped-def]
    running = asyncio.ensure_future(workers.run(hostile.hang, b""))
    idle = await workers.run(hostile.worker_pid, b"")  # a second worker, idle after this
    assert len(workers.pids()) == len(spawned_workers()) == 2
    workers.close()  # as runtime.configure() does it when the app stops
    with pytest.raises(sandbox.SandboxClosed):  # not the content's fault: the preview job runs again
        await running
    assert workers.pids() == [] and spawned_workers() == []
    assert await workers.run(hostile.worker_pid, b"") != idle  # usable again after a close


async def test_the_app_stops_its_preview_workers(tmp_path: Path) -> None:
    from telebridge.app import create_app
    from telebridge.config import Settings
    from telebridge.files import runtime

    app = create_app(Settings(environment="test", database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db",
                              files_dir=tmp_path / "files", sla_sweep_seconds=0, log_level="WARNING"))
    async with app.router.lifespan_context(app):
        png = await runtime.get_runtime().previews.run(tasks.image_thumbnail, samples.jpeg())
        assert png.startswith(b"\x89PNG") and len(spawned_workers()) == 1
    assert spawned_workers() == []


async def test_a_worker_holds_no_secrets_and_reaches_no_network(workers, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """What an exploited decoder could see: not the app's settings (secret key, database URL),
    and no connection to a service listening on the machine's loopback."""
    import json
    import socket

    monkeypatch.setenv("TELEBRIDGE_SECRET_KEY", "not-for-decoders")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        seen = json.loads(await workers.run(hostile.look_around, str(port).encode()))
    assert seen == {"secrets": [], "reached": False}
