"""End to end in Debian's Chromium: a bridge point uploads a real recording of a child with a murmur
(CirCor), the exam appears flagged in the hub's worklist, the cardiologist plays it (per-beat loop,
slower speed) and records a verdict, and the bridge point sees the verdict. Screenshots go to
test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import sign_in_page

from .server import Server
from .workflow import DATA_DIR, PRESENT

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("circor_dir")]


async def _sign_in(page, server: Server, role: str) -> None:  # type: ignore[no-untyped-def]
    await sign_in_page(page, server.url, getattr(server.world, role))  # one user per context: a TOTP code works once


def _watch(page, errors: list[str]) -> None:  # type: ignore[no-untyped-def]
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))


async def test_upload_flag_relisten_verdict(browser, ausc_server: Server, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    w = ausc_server.world
    errors: list[str] = []
    # --- the bridge point, on a phone
    spoke_ctx = await browser.new_context(viewport={"width": 375, "height": 740}, locale="vi-VN")
    spoke = await spoke_ctx.new_page()
    _watch(spoke, errors)
    await _sign_in(spoke, ausc_server, "spoke_clinician")
    await spoke.goto(ausc_server.url + f"/auscultation/new?q={w.tag}")
    async with spoke.expect_navigation(url="**/auscultation/new?patient_id=**"):
        await spoke.get_by_role("link", name="Chọn").first.click()
    await spoke.select_option("select[name=urgency]", "urgent")
    async with spoke.expect_navigation(url="**/auscultation/exams/**"):
        await spoke.click("#new-exam button[type=submit]")
    exam_url = spoke.url.split("#")[0].split("?")[0]
    exam_id = exam_url.rsplit("/", 1)[1]
    assert await spoke.locator("h1").inner_text() == f"Sàng lọc tiếng tim · {w.patient_a.full_name}"
    await spoke.select_option("#upload-form select[name=site]", "AV")
    await spoke.set_input_files("#upload-form input[name=file]", str(DATA_DIR / f"{PRESENT}_AV.flac"))
    async with spoke.expect_navigation(url="**/auscultation/exams/**?added=**", timeout=60_000):
        await spoke.click("#upload-form button[type=submit]")
        await spoke.locator("#upload-progress").wait_for(state="visible")  # progress is shown while it works
    assert "Có tiếng thổi" in await spoke.locator("#algorithm-result").inner_text()
    assert "Cần nghe lại" in await spoke.locator("#exam-status").inner_text()
    await spoke.locator(".ausc-recording[data-ready='1']").wait_for(timeout=20_000)
    width = await spoke.evaluate("document.documentElement.scrollWidth")
    assert width <= 376, "the exam page scrolls sideways on a phone"
    await spoke.screenshot(path=str(artifacts / "auscultation-spoke-uploaded-phone.png"), full_page=True)

    # --- the hub cardiologist, on a desktop
    hub_ctx = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    hub = await hub_ctx.new_page()
    _watch(hub, errors)
    await _sign_in(hub, ausc_server, "hub_specialist")
    await hub.goto(ausc_server.url + "/auscultation/worklist")
    row = hub.locator(f"tr[data-exam='{exam_id}']")
    await row.wait_for()
    assert "Có tiếng thổi" in await row.inner_text() and "Khẩn" in await row.inner_text()
    await hub.screenshot(path=str(artifacts / "auscultation-worklist.png"), full_page=True)
    async with hub.expect_navigation(url=f"**/auscultation/exams/{exam_id}"):
        await row.get_by_role("link", name=w.patient_a.full_name).click()
    section = hub.locator(".ausc-recording").first
    await hub.locator(".ausc-recording[data-ready='1']").wait_for(timeout=20_000)
    await section.locator(".ausc-spec").scroll_into_view_if_needed()
    await hub.wait_for_function(  # the spectrogram image (server-side PNG) is shown
        "() => { const i = document.querySelector('.ausc-spec'); return i.complete && i.naturalWidth === 1200; }",
        timeout=20_000)
    # Loop one beat at half speed.
    await section.locator(".ausc-speed").select_option("0.5")
    box = await section.locator("canvas").bounding_box()
    assert box
    await hub.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] / 2)
    beat = int(await section.get_attribute("data-beat") or "-1")
    assert beat >= 0
    await hub.wait_for_function(  # it plays (Chromium decodes the listening copy)
        "() => { const a = document.querySelector('.ausc-recording audio'); return !a.paused && a.currentTime > 0; }",
        timeout=15_000)
    state = await hub.evaluate("""() => { const s = document.querySelector('.ausc-recording');
        const a = s.querySelector('audio'); const b = s.player.data.beats[s.player.beat];
        return {rate: a.playbackRate, t: a.currentTime, start: b[0], end: b[1], pitch: a.preservesPitch}; }""")
    assert state["rate"] == 0.5 and state["pitch"] is True
    assert state["start"] - 0.1 <= state["t"] <= state["end"] + 0.3
    assert "Đang lặp nhịp" in await section.locator(".ausc-loop").inner_text()
    await hub.screenshot(path=str(artifacts / "auscultation-relisten.png"), full_page=True)
    # The verdict.
    await hub.check("#verdict-form input[name=murmur][value=Present]")
    await hub.select_option("#verdict-form select[name=grade]", "2")
    await hub.select_option("#verdict-form select[name=timing]", "systolic")
    await hub.fill("#verdict-form textarea[name=advice]", "Tiếng thổi tâm thu độ 2/6. Đề nghị siêu âm tim tại tuyến tỉnh.")
    async with hub.expect_navigation(url=f"**/auscultation/exams/{exam_id}**"):
        await hub.click("#verdict-form button[type=submit]")
    assert "Nhận định của bác sĩ tim mạch" in await hub.locator("#verdict").inner_text()

    # --- the bridge point sees the verdict, which overrides the algorithm.
    await spoke.goto(exam_url)
    verdict = await spoke.locator("#verdict").inner_text()
    assert "Mức độ 2/6" in verdict and "Đề nghị siêu âm tim tại tuyến tỉnh." in verdict
    assert "đã được thay bằng nhận định" in await spoke.locator("#algorithm").inner_text()
    await spoke.screenshot(path=str(artifacts / "auscultation-spoke-verdict-phone.png"), full_page=True)
    await spoke.goto(ausc_server.url + "/auscultation")
    assert "Bác sĩ tim mạch đã nhận định" in await spoke.locator("main").inner_text()
    assert not [e for e in errors if "Content Security Policy" in e or "Uncaught" in e], errors
    await spoke_ctx.close()
    await hub_ctx.close()


async def test_live_recording_from_the_microphone(ausc_server: Server, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    """Chromium's fake microphone streams through the page's AudioWorklet and WebSocket: results
    appear while recording, and stopping stores the recording on the exam."""
    from playwright.async_api import async_playwright

    from telebridge.kit.db import make_engine, make_sessionmaker
    from telebridge.kit.subject import Role
    from tests import factories
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.conftest import need

    need(Path(CHROMIUM).exists(), "browser tests need Debian's chromium (make test installs it as root)")
    w = ausc_server.world
    engine = make_engine(ausc_server.database_url)
    try:
        async with make_sessionmaker(engine)() as db:  # a second clinician of the bridge point
            nurse = await factories.add_user(db, f"nurse-{w.tag}", [(Role.SPOKE_CLINICIAN, w.spoke_a.id, None)])
            await db.commit()
    finally:
        await engine.dispose()
    w.users["nurse"] = nurse
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=[
            *CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            "--autoplay-policy=no-user-gesture-required"])
        try:
            context = await chromium.new_context(viewport={"width": 1024, "height": 900}, locale="vi-VN")
            await context.grant_permissions(["microphone"], origin=ausc_server.url)
            page = await context.new_page()
            errors: list[str] = []
            _watch(page, errors)
            await _sign_in(page, ausc_server, "nurse")
            await page.goto(ausc_server.url + f"/auscultation/new?patient_id={w.patient_a.id}")
            async with page.expect_navigation(url="**/auscultation/exams/**"):
                await page.click("#new-exam button[type=submit]")
            await page.click("#live summary")
            await page.select_option("#live-site", "TV")
            await page.click("#live-start")
            await page.wait_for_function("() => document.getElementById('live-result').textContent.length > 0",
                                         timeout=30_000)  # a result arrived while still recording
            assert await page.locator("#live-stop").is_enabled()
            async with page.expect_navigation(timeout=30_000):
                await page.click("#live-stop")
            await page.locator(".ausc-recording").first.wait_for()
            text = await page.locator(".ausc-recording").first.inner_text()
            assert "Ổ van ba lá (TV)" in text and "ống nghe trực tiếp" in text
            await page.screenshot(path=str(artifacts / "auscultation-live.png"), full_page=True)
            assert not [e for e in errors if "Content Security Policy" in e or "Uncaught" in e], errors
            await context.close()
        finally:
            await chromium.close()
