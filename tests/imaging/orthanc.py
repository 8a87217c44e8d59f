"""A private Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) on loopback, for tests and bench/."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
PLUGIN_DIRS = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc"))


def dicomweb_plugin() -> Path | None:
    for folder in PLUGIN_DIRS:
        for candidate in sorted(folder.glob("libOrthancDicomWeb.so*")) if folder.is_dir() else ():
            return candidate
    return None


def available() -> bool:
    return Path(ORTHANC).exists() and dicomweb_plugin() is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Orthanc:
    url: str  # REST root
    dicomweb: str  # DICOMweb root
    process: subprocess.Popen[bytes]


@contextmanager
def running(workdir: Path) -> Iterator[Orthanc]:
    """Start Orthanc with a generated config (random HTTP port, no DICOM listener, storage in
    ``workdir``), wait until it answers, stop it afterwards."""
    plugin = dicomweb_plugin()
    assert plugin is not None, "orthanc-dicomweb is not installed"
    port = free_port()
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "telebridge-test", "StorageDirectory": str(storage), "IndexDirectory": str(storage),
        "HttpServerEnabled": True, "HttpPort": port, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "DicomServerEnabled": False, "OrthancExplorerEnabled": False, "HttpCompressionEnabled": False,
        "Plugins": [str(plugin)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "StudiesMetadata": "Full"},
        "ConcurrentJobs": 1, "HttpThreadsCount": 8,
    }
    path = workdir / "orthanc.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    log = open(workdir / "orthanc.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([ORTHANC, str(path)], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "LANG": "C"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/dicom-web/studies", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Orthanc did not start: " + (workdir / "orthanc.log").read_text(errors="replace")[-2000:])
            time.sleep(0.1)
        yield Orthanc(base, base + "/dicom-web", proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
