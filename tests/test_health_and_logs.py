"""/healthz, /readyz, production settings, and logs that never hold secrets or clinical content."""

from __future__ import annotations

import logging

import httpx
import pytest

from telebridge.app import create_app
from telebridge.config import Settings
from telebridge.kit.logs import JsonFormatter
from tests.factories import World


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json()["database"] == "ok"


async def test_not_ready_when_database_is_unreachable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get("/readyz")
    assert r.status_code == 503 and r.json()["database"] == "unreachable"


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValueError, match="MASTER_KEY"):  # nor the embedded key for files at rest
        Settings(environment="production", secret_key="x" * 40)
    from telebridge.kit.crypto import new_master_key

    ok = Settings(environment="production", secret_key="x" * 40, master_key=new_master_key())
    assert ok.cookie_secure


async def test_logs_hold_no_secrets_or_patient_content(client: httpx.AsyncClient, world: World, as_user) -> None:  # type: ignore[no-untyped-def]
    records: list[str] = []
    formatter = JsonFormatter()

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if not record.name.startswith(("httpx", "httpcore")):  # the test's own client, not the app
                records.append(formatter.format(record))

    handler = Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        u = world.hub_specialist
        await client.post("/api/v1/auth/token", json={"username": u.username, "password": u.password, "totp": u.totp_now()})
        await client.post("/api/v1/auth/token?password=leaky", json={"username": u.username, "password": "wrong secret 123"})
        c = await as_user(world.spoke_clinician)
        assert world.patient_a
        await c.get(f"/api/v1/patients/{world.patient_a.id}")
        await c.get("/api/v1/patients", params={"q": world.patient_a.full_name})
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    text = "\n".join(records)
    assert '"msg": "request"' in text  # request lines were logged
    for secret in (u.password, "wrong secret 123", "leaky", c.headers["authorization"][7:], world.patient_a.full_name):
        assert secret not in text
