"""Decoding of untrusted content (previews) in sandboxed worker processes.

A native decoder (Pillow, pdfium, libsndfile, FFmpeg) fed a hostile or broken file may crash
(segfault), hang or allocate gigabytes. :class:`Sandbox` runs such a renderer,
``render(data: bytes) -> bytes``, in a worker process instead of the app process:

- workers are started with "spawn" (a fresh interpreter: no copy of the app's threads, sockets
  or secrets in memory) and, before they receive any data, confine themselves: the app's
  secrets leave their environment, they may not gain privileges, they get a network namespace of
  their own with no interface (no database, Redis or internet to reach), and limits on address
  space (RLIMIT_AS), CPU seconds (RLIMIT_CPU, counted afresh for every render) and core dumps.
  (They still run as the app's user: files it may read stay readable. A separate user or a
  container is the deployment's step further.)
- the parent enforces a wall-clock timeout and kills the worker when it passes;
- each worker is a one-process ``ProcessPoolExecutor`` of its own, so that a crash or a kill
  affects only the render it was doing, never another one running at the same time; a worker is
  retired after ``tasks_per_worker`` renders (decoders keep no state from file to file), and a
  new one is started when needed. (Counted here rather than with ``max_tasks_per_child``, which
  can deadlock on Python 3.11: CPython gh-115634.)

The renderer and its data travel by pickling: the renderer must be a module-level function.
An exception raised by the renderer comes back as itself (or as :class:`RenderError` when it
cannot be pickled); a crash raises :class:`WorkerCrashed`, the timeout :class:`TimedOut`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import multiprocessing
import os
import pickle
import resource
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

log = logging.getLogger("telebridge.files.sandbox")

_SPAWN = multiprocessing.get_context("spawn")
# Numerical libraries start a thread (and reserve memory) per core unless told otherwise.
_THREADS_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class SandboxFailure(Exception):
    """The render did not finish in its worker."""


class WorkerCrashed(SandboxFailure):
    """The worker died during the render (a signal such as SIGSEGV or SIGXCPU, or an abort)."""


class TimedOut(SandboxFailure):
    """The render ran past the wall-clock timeout; its worker was killed."""


class SandboxClosed(SandboxFailure):
    """The sandbox was closed (the app is stopping) while the render ran: the content is not to blame."""


class RenderError(Exception):
    """An exception of the renderer that could not travel back as itself."""


# What a worker must not hold: the app's secrets and addresses (settings come from TELEBRIDGE_*
# variables, and "spawn" hands the parent's environment to the child).
_SECRET_PREFIXES = ("TELEBRIDGE_", "PG", "REDIS", "AWS_", "DATABASE_URL")
_CLONE_NEWUSER, _CLONE_NEWNET = 0x10000000, 0x40000000
_PR_SET_NO_NEW_PRIVS = 38


def _confine() -> bool:
    """Drop the app's secrets from the environment, forbid gaining privileges (setuid programs),
    and move to a network namespace of its own with no interface up, so that a decoder exploited
    by a crafted file cannot reach the database, Redis or the internet. Returns whether the
    network could be cut (it needs user namespaces when not root; a kernel without them keeps
    the rest of the confinement)."""
    import ctypes

    for name in list(os.environ):
        if name.startswith(_SECRET_PREFIXES):
            del os.environ[name]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    flags = _CLONE_NEWNET if os.geteuid() == 0 else _CLONE_NEWUSER | _CLONE_NEWNET
    return libc.unshare(flags) == 0


def _limit(memory_bytes: int, cpu_lifetime: int) -> None:
    """Initializer of every worker: runs before the worker receives any data."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C of a terminal reaches the whole group: the app stops us
    _confine()
    for name, value in _THREADS_ENV.items():
        os.environ.setdefault(name, value)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_lifetime, cpu_lifetime))


def _call(render: Callable[[bytes], bytes], data: bytes, cpu_seconds: int) -> bytes:
    """In the worker: allow this render ``cpu_seconds`` more CPU time (SIGXCPU kills it past that)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (min(hard, math.ceil(usage.ru_utime + usage.ru_stime) + cpu_seconds), hard))
    try:
        return render(data)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # noqa: BLE001 - e.g. a library exception with a custom constructor
            raise RenderError(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}") from None
        raise


class _Worker:
    def __init__(self, sandbox: Sandbox) -> None:
        self.pool = ProcessPoolExecutor(
            1, mp_context=_SPAWN, initializer=_limit,
            initargs=(sandbox.memory_bytes, sandbox.cpu_seconds * (sandbox.tasks_per_worker + 1) + 10))
        self.renders = 0
        self._stopping = threading.Lock()

    def processes(self) -> list[multiprocessing.process.BaseProcess]:
        return list((getattr(self.pool, "_processes", None) or {}).values())

    def stop(self, *, kill: bool) -> None:
        """Kill the worker's process (a render still running) or let it finish; then reap it."""
        with self._stopping:  # close() and the render's own clean-up may both stop a busy worker
            if kill:
                for process in self.processes():
                    with contextlib.suppress(Exception):
                        process.kill()
            self.pool.shutdown(wait=True, cancel_futures=True)


class Sandbox:
    """Worker processes for untrusted decoding (see the module docstring). Workers start on first
    use; :meth:`close` stops them all (a later :meth:`run` starts new ones)."""

    def __init__(self, *, memory_mb: int = 1024, cpu_seconds: int = 20, timeout_seconds: float = 30.0,
                 idle_workers: int = 2, tasks_per_worker: int = 50) -> None:
        self.memory_bytes = memory_mb * 1024 * 1024
        self.cpu_seconds = cpu_seconds
        self.timeout_seconds = timeout_seconds
        self.idle_workers = idle_workers
        self.tasks_per_worker = tasks_per_worker
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._closed = 0  # how many times close() ran: a render started before a close is not the content's fault

    @classmethod
    def from_settings(cls, settings: Any) -> Sandbox:
        return cls(memory_mb=settings.files_preview_memory_mb, cpu_seconds=settings.files_preview_cpu_seconds,
                   timeout_seconds=settings.files_preview_timeout_seconds,
                   idle_workers=settings.files_preview_workers)

    async def run(self, render: Callable[[bytes], bytes], data: bytes) -> bytes:
        """``render(data)`` in a worker process; raises what it raised, or a :class:`SandboxFailure`."""
        closed = self._closed
        while True:
            worker = self._idle.pop() if self._idle else _Worker(self)
            try:
                future = worker.pool.submit(_call, render, data, self.cpu_seconds)
                break
            except BrokenProcessPool:  # an idle worker that died meanwhile (e.g. the system's OOM killer)
                await asyncio.to_thread(worker.stop, kill=True)
        self._busy.add(worker)
        finished = False  # the worker returned (a result or an exception) and can take another render
        try:
            processes = worker.processes()
            try:
                result = await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_seconds)
            except TimeoutError:
                log.warning("render timed out: worker killed", extra={"fields": {
                    "render": render.__qualname__, "seconds": self.timeout_seconds}})
                raise TimedOut(f"no result within {self.timeout_seconds:g} s") from None
            except BrokenProcessPool:
                if self._closed != closed:
                    raise SandboxClosed("the sandbox was closed during the render") from None
                await asyncio.shield(asyncio.to_thread(worker.stop, kill=True))  # reaped: its exit code is known
                codes = [p.exitcode for p in processes]
                signals = [signal.Signals(-c).name if c is not None and c < 0 and -c in signal.valid_signals()
                           else c for c in codes]
                log.warning("render crashed its worker", extra={"fields": {
                    "render": render.__qualname__, "exit": signals}})
                raise WorkerCrashed(f"the worker process died ({', '.join(map(str, signals))})") from None
            except MemoryError:
                raise  # the memory limit: a worker that ran out of memory is not reused
            except Exception:
                finished = True
                raise
            finished = True
            return result
        finally:
            self._busy.discard(worker)
            worker.renders += 1
            if finished and worker.renders < self.tasks_per_worker and len(self._idle) < self.idle_workers \
                    and self._closed == closed:
                self._idle.append(worker)
            else:
                # Killed if still running (timeout, cancellation); reaped in a thread, the app keeps serving.
                await asyncio.shield(asyncio.to_thread(worker.stop, kill=not finished))

    def close(self) -> None:
        """Stop every worker now: idle ones finish, busy ones are killed. Blocks until they are reaped."""
        self._closed += 1
        idle, busy = self._idle, list(self._busy)
        self._idle = []
        for worker in busy:
            worker.stop(kill=True)
        for worker in idle:
            worker.stop(kill=False)

    def pids(self) -> list[int]:
        """The worker processes alive now (for tests and diagnostics)."""
        return [p.pid for w in [*self._idle, *self._busy] for p in w.processes() if p.pid is not None and p.is_alive()]
