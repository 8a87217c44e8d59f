"""``telebridge files rotate-key`` and ``telebridge files retention`` as an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from telebridge.config import Settings
from telebridge.files import runtime, service
from telebridge.identity.models import User
from telebridge.identity.service import subject_for
from telebridge.kit import crypto
from telebridge.kit.db import make_engine, make_sessionmaker
from tests import factories
from tests.conftest import fresh_database
from tests.files import samples


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "telebridge.cli", "files", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120, check=False)


async def test_rotate_key_and_retention_commands(tmp_path: Path) -> None:
    url = await fresh_database(tmp_path, "sqlite", "_cli")
    old, new = crypto.new_master_key(), crypto.new_master_key()
    settings = Settings(database_url=url, files_dir=tmp_path / "files", master_key=old)
    runtime.configure(runtime.build(settings))
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    try:
        world = await factories.build_world(maker)
        async with maker() as db:
            me = await subject_for(db, await db.get(User, world.spoke_clinician.id), None)
            png = samples.png()
            f = await service.store_bytes(db, me, patient_id=world.patient_a.id, data=png, filename="a.png")
            await db.commit()
        env = {"TELEBRIDGE_DATABASE_URL": url, "TELEBRIDGE_FILES_DIR": str(tmp_path / "files"),
               "TELEBRIDGE_MASTER_KEY": new}
        refused = cli(env, "rotate-key")  # the old key is not configured: nothing can be unwrapped
        assert refused.returncode == 1 and "not configured" in refused.stderr
        done = cli({**env, "TELEBRIDGE_PREVIOUS_MASTER_KEYS": old}, "rotate-key")
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        assert out["blobs"] >= 1 and out["key_id"] == crypto.key_id(crypto.parse_master_key(new))
        runtime.configure(runtime.build(settings.model_copy(update={"master_key": new})))
        async with maker() as db:
            assert (await service.read_bytes(db, me, file_id=f.id))[1] == png
            await db.commit()
        dry = cli(env, "retention", "--approved-by", "Giám đốc", "--reference", "BB-01", "--on", "2099-01-01", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert str(f.id) in dry.stdout and json.loads(dry.stdout)["dry_run"] is True
    finally:
        runtime.configure(None)
        await engine.dispose()
