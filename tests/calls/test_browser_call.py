"""Two clinicians in Chromium (fake camera and microphone) see each other through the call room.

Chromium runs inside the sealed namespace (a wrapper execs it through ``ip netns exec``);
Playwright drives it over a pipe, so nothing listens outside the namespace.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import stat
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from telebridge.calls.models import LiveSessionAttendance
from telebridge.files.models import ClinicalFile
from telebridge.kit.subject import Role
from tests.calls import harness
from tests.calls.conftest import Live
from tests.conftest import need

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def _wrapper(ns: str, directory: Path) -> str:
    path = directory / "chromium-in-netns"
    path.write_text(f'#!/bin/sh\nexec ip netns exec {ns} {CHROMIUM} "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


async def _sign_in(page, base: str, user) -> None:  # type: ignore[no-untyped-def]
    await page.goto(base + "/login")
    await page.fill("input[name=username]", user.username)
    await page.fill("input[name=password]", user.password)
    async with page.expect_navigation(url="**/login/totp**"):
        await page.click("form[action='/login'] button[type=submit]")
    await page.fill("input[name=code]", user.totp_now())
    async with page.expect_navigation():
        await page.click("form[action='/login/totp'] button[type=submit]")


async def _until(page, predicate: str, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    """Poll a predicate with page.evaluate (wait_for_function would need 'unsafe-eval' under our CSP)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await page.evaluate(predicate):
        if loop.time() > deadline:
            state = await page.evaluate("() => window.__tbCall ? JSON.stringify({mode: window.__tbCall.mode,"
                                        " pcs: [...window.__tbCall.pcs.values()].map(e => [e.kind, e.pc.iceConnectionState,"
                                        " e.pc.connectionState]), stats: window.__tbCall.stats,"
                                        " status: document.getElementById('call-status').textContent}) : 'no call'")
            raise AssertionError(f"never true: {predicate}; {state}; console: {getattr(page, 'logs', [])[-30:]}")
        await asyncio.sleep(0.2)


async def _join(browser, live: Live, user, sid) -> object:  # type: ignore[no-untyped-def]
    ctx = await browser.new_context(locale="vi-VN", viewport={"width": 1100, "height": 800})
    page = await ctx.new_page()
    await _sign_in(page, live.base, user)
    return await _enter(page, live, sid)


async def _enter(page, live: Live, sid) -> object:  # type: ignore[no-untyped-def]
    """From the session page into the room (pre-call check, then Join)."""
    page.logs = []  # type: ignore[attr-defined]
    page.on("console", lambda m, p=page: p.logs.append(f"{m.type}: {m.text}"))
    await page.goto(f"{live.base}/calls/sessions/{sid}")
    assert await page.locator("h1").inner_text() == "Phiên hội chẩn"
    await page.click("#join-link")
    await page.wait_for_selector("#join:not([disabled])")
    await _until(page, "() => { const v = document.getElementById('preview');"
                       " return !!v.srcObject && v.srcObject.getTracks().length === 2; }")
    await page.click("#join")
    return page


@pytest.fixture
async def chromium(live: Live, tmp_path: Path):  # type: ignore[no-untyped-def]
    need(Path(CHROMIUM).exists() and shutil.which("chromium") is not None,
         "browser tests need Debian's chromium (make test installs it as root)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=_wrapper(live.ns, tmp_path), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def test_two_clinicians_see_each_other(live: Live, chromium, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    w = live.world
    sid = await live.session([w.hub_a.id, w.spoke_a.id])
    people = [await live.new_user(w.hub_a.id, Role.HUB_SPECIALIST), await live.new_user(w.spoke_a.id)]
    pages = [await _join(chromium, live, u, sid) for u in people]
    for page in pages:
        await _until(page, "() => !!window.__tbCall && window.__tbCall.stats.framesDecoded > 0", 60)
        assert len(await page.locator("#people li").all_inner_texts()) == 2
    names = await pages[0].locator("#people").inner_text()
    assert w.spoke_a.name in names and "(Bác sĩ điểm cầu)" in names  # name, title and site
    await pages[1].screenshot(path=str(artifacts / "call-two-participants.png"), full_page=True)
    assert await pages[0].locator("#call-status").inner_text() == "Đã kết nối"

    # a still of the remote video goes into the consultation's files (the spoke site registered the patient)
    await pages[1].locator(".tile-video:not(#tile-local)").first.click()
    await pages[1].click("#btn-still")
    await _until(pages[1], "() => !!window.__tbCall.lastStill")
    assert await pages[1].locator("#call-status").inner_text() == "Đã lưu ảnh vào hồ sơ tệp của ca hội chẩn."
    file_id = await pages[1].evaluate("() => window.__tbCall.lastStill")
    async with live.maker() as db:  # type: ignore[attr-defined]
        f = await db.get(ClinicalFile, uuid.UUID(file_id))
        assert f is not None and f.kind == "jpeg" and f.context_type == "consultation"
        assert f.context_id == live.consultation_id and f.uploaded_by == people[1].id and f.size > 1000

    # leaving records the attendance with the getStats quality summary
    await pages[0].click("#btn-leave")
    await pages[0].wait_for_url(f"**/calls/sessions/{sid}")
    async with live.maker() as db:  # type: ignore[attr-defined]
        rows = []
        for _ in range(100):
            rows = (await db.execute(select(LiveSessionAttendance).where(
                LiveSessionAttendance.live_session_id == sid,
                LiveSessionAttendance.user_id == people[0].id))).scalars().all()
            if rows and rows[0].left_at:
                break
            await asyncio.sleep(0.1)
            db.expire_all()
        assert rows and rows[0].left_at and rows[0].quality["frames_decoded"] > 0, rows and rows[0].quality
    assert "kbit/s" in await pages[0].locator("body").inner_text()


async def test_six_sites_through_janus_each_sees_the_five_others(live: Live, chromium) -> None:  # type: ignore[no-untyped-def]
    w = live.world
    sites = [w.hub_a.id, w.spoke_a.id, *(s.facility.id for s in live.extra)]
    people = [await live.new_user(f) for f in sites]
    sid = await live.session(sites)
    pages = [await _join(chromium, live, u, sid) for u in people]
    for page in pages:
        await _until(page, "() => !!window.__tbCall && window.__tbCall.mode === 'sfu' && !!window.__tbCall.framesByPeer"
                           " && Object.values(window.__tbCall.framesByPeer).filter((n) => n > 0).length === 5", 120)
        assert len(await page.locator("#people li").all_inner_texts()) == 6


async def test_a_second_tab_takes_over_and_the_first_says_so(  # type: ignore[no-untyped-def]
        live: Live, chromium) -> None:
    w = live.world
    sid = await live.session([w.hub_a.id, w.spoke_a.id])
    host, person = await live.new_user(w.hub_a.id, Role.HUB_SPECIALIST), await live.new_user(w.spoke_a.id)
    first = await _join(chromium, live, person, sid)
    watcher = await _join(chromium, live, host, sid)
    await _until(first, "() => !!window.__tbCall && window.__tbCall.stats.framesDecoded > 0", 60)
    old_peer = await first.evaluate("() => window.__tbCall.peerId")

    second = await _enter(await first.context.new_page(), live, sid)  # same browser, same sign-in
    await _until(first, "() => !document.getElementById('gone').hidden")
    assert await first.locator("#gone-message").inner_text() == "Bạn đã tham gia phiên này từ một cửa sổ khác."
    assert await first.locator("#incall").is_hidden() and await first.locator("#btn-here").is_visible()
    assert await first.evaluate("() => window.__tbCall.pcs.size === 0 && window.__tbCall.ws.readyState === 3")

    await _until(second, "() => !!window.__tbCall && window.__tbCall.stats.framesDecoded > 0", 60)
    new_peer = await second.evaluate("() => window.__tbCall.peerId")
    await _until(watcher, f"() => window.__tbCall.people.size === 1 && window.__tbCall.people.has('{new_peer}')"
                          f" && !window.__tbCall.people.has('{old_peer}')"
                          " && document.querySelectorAll('#people li').length === 2")
    await _until(watcher, f"() => (window.__tbCall.framesByPeer || {{}})['{new_peer}'] > 0", 60)


def _janus_publishers(live: Live, sid) -> list[dict]:  # type: ignore[no-untyped-def]
    """The room's publishers as Janus itself lists them (a probe joins the room inside the namespace)."""
    cfg = live.janus.config  # type: ignore[attr-defined]
    code = (
        "import asyncio, json\n"
        "from telebridge.calls import janus as jn\n"
        "async def main():\n"
        f"    c = jn.JanusClient({cfg.url!r}, {cfg.api_secret!r})\n"
        "    s = await c.create_session()\n"
        "    h = await s.attach()\n"
        f"    data, _ = await h.message({{'request': 'join', 'ptype': 'publisher', 'room': {sid.hex!r},"
        " 'display': 'probe'})\n"
        "    print(json.dumps(data.get('publishers', [])))\n"
        "    await s.destroy()\n"
        "    await c.close()\n"
        "asyncio.run(main())\n")
    out = harness._ns_python(live.ns, code, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


_SUB_VIDEO = "() => Object.entries(window.__tbCall.inbound).filter(([k]) => k.startsWith('sub:')).map(([, v]) => v)"


async def test_janus_publishers_send_simulcast_and_a_viewer_can_take_the_low_layer(  # type: ignore[no-untyped-def]
        live: Live, chromium) -> None:
    w = live.world
    sites = [w.hub_a.id, w.spoke_a.id, *(s.facility.id for s in live.extra[:2])]  # four sites: through Janus
    people = [await live.new_user(w.hub_a.id, Role.HUB_SPECIALIST), await live.new_user(w.spoke_a.id)]
    sid = await live.session(sites)
    pages = [await _join(chromium, live, u, sid) for u in people]
    for page in pages:
        await _until(page, "() => !!window.__tbCall && window.__tbCall.mode === 'sfu'"
                           " && window.__tbCall.stats.framesDecoded > 0", 90)

    publishers = _janus_publishers(live, sid)
    assert len(publishers) == 2, publishers
    for p in publishers:  # Janus receives each camera as VP8 simulcast
        video = [s for s in p["streams"] if s["type"] == "video"]
        assert video and video[0]["codec"] == "vp8" and video[0].get("simulcast") is True, p

    viewer = pages[1]
    assert await viewer.evaluate("() => [...window.__tbCall.pcs.values()].filter((e) => e.kind === 'sub')"
                                 ".every((e) => e.simulcast)")
    sizes = {}
    for layer in ("2", "0"):  # the user picks High, then Low (weak connection)
        await viewer.select_option("#quality", layer)
        if layer == "2":  # the full layer arrives once the publisher's bandwidth estimate allows it
            await _until(viewer, f"() => ({_SUB_VIDEO})().some((v) => v.width >= 640)", 90)
        else:
            # Janus relays the quarter-size substream from now on
            await _until(viewer, f"() => ({_SUB_VIDEO})().some((v) => v.width > 0"
                                 f" && v.width <= {sizes['2']['width'] // 2})", 60)
        now = (await viewer.evaluate(_SUB_VIDEO))[0]
        size = "v.width >= 640" if layer == "2" else f"v.width <= {sizes['2']['width'] // 2}"
        await _until(viewer, f"() => ({_SUB_VIDEO})().some((v) => v.frames > {now['frames']} + 20"
                             f" && {size})", 60)  # decoding goes on at that size
        sizes[layer] = now
    assert sizes["0"]["width"] * 2 <= sizes["2"]["width"] and sizes["0"]["height"] < sizes["2"]["height"], sizes
