"""The signaling hub without media: Janus down means a mesh room, the Janus client's errors."""

from __future__ import annotations

import uuid

import pytest

from telebridge.calls import janus as jn
from telebridge.calls.models import LiveSession
from telebridge.calls.signaling import MESH_MAX, CallHub
from tests.conftest import need


def _closed_port_url() -> str:
    return f"ws://127.0.0.1:{jn.free_port()}/"  # nothing listens there


async def test_janus_down_falls_back_to_mesh_for_large_rooms() -> None:
    hub = CallHub(_closed_port_url(), "secret", "key")
    ls = LiveSession(id=uuid.uuid4())
    room = await hub.room_for(ls, sites=6)
    assert room.mode == "mesh" and room.degraded and room.control is None
    assert hub.rooms[ls.id] is room
    await hub.drop_if_empty(room)
    assert ls.id not in hub.rooms
    await hub.close()


async def test_small_rooms_are_mesh_and_no_janus_means_mesh() -> None:
    for hub in (CallHub(None, None, None), CallHub(_closed_port_url(), "s", "k")):
        room = await hub.room_for(LiveSession(id=uuid.uuid4()), sites=MESH_MAX)
        assert room.mode == "mesh" and not room.degraded
        await hub.close()
    hub = CallHub(None, None, None)
    room = await hub.room_for(LiveSession(id=uuid.uuid4()), sites=6)
    assert room.mode == "mesh" and not room.degraded


async def test_janus_client_reports_unreachable_server() -> None:
    client = jn.JanusClient(_closed_port_url(), "s", "k")
    with pytest.raises(jn.JanusError, match="cannot reach Janus"):
        await client.create_session()
    with pytest.raises(jn.JanusError):
        await client.request({"janus": "info"})


def test_private_config_loads_only_videoroom_and_websockets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    need(jn.janus_available(), "the Janus tests need Debian's janus (make system-deps)")
    cfg = jn.new_config(tmp_path, api_secret="api-s3cret", admin_key="adm1n")
    conf = jn.write_config(cfg).read_text()
    assert 'api_secret = "api-s3cret"' in conf and "stun_server" not in conf
    assert sorted(p.name for p in (tmp_path / "plugins").iterdir()) == ["libjanus_videoroom.so"]
    assert sorted(p.name for p in (tmp_path / "transports").iterdir()) == ["libjanus_websockets.so"]
    ws = (tmp_path / "janus.transport.websockets.jcfg").read_text()
    assert 'ws_ip = "127.0.0.1"' in ws and f"ws_port = {cfg.ws_port}" in ws and "admin_ws = false" in ws
    assert 'admin_key = "adm1n"' in (tmp_path / "janus.plugin.videoroom.jcfg").read_text()
    assert (tmp_path / "janus.jcfg").stat().st_mode & 0o077 == 0
