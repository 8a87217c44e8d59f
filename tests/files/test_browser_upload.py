"""In Chromium: upload a multi-part file through the widget with visible progress; the stored
bytes match. Screenshots go to test-artifacts/."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeout

from telebridge.kit.db import make_engine, make_sessionmaker
from telebridge.kit.subject import Role
from tests import factories
from tests.browser.conftest import browser, serving, sign_in_page  # noqa: F401  (the Chromium fixture)
from tests.conftest import fresh_database
from tests.files import samples

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def files_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("files-live")
    url = await fresh_database(tmp, "sqlite", "_files_live")
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    world = await factories.build_world(maker)
    async with maker() as db:  # a second clinician at spoke_a: one sign-in (TOTP code) per test
        world.users["spoke_clinician2"] = await factories.add_user(
            db, f"spoke2-{world.tag}", [(Role.SPOKE_CLINICIAN, world.spoke_a.id, None)])
        await db.commit()
    await engine.dispose()
    async with serving(url, TELEBRIDGE_FILES_DIR=str(tmp / "files")) as base:
        yield base, world, tmp


async def test_upload_with_visible_progress(browser, files_server, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    base, world, tmp = files_server
    user = world.spoke_clinician
    context = await browser.new_context(viewport={"width": 375, "height": 740}, locale="vi-VN")
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await sign_in_page(page, base, user)

    await page.goto(f"{base}/patients/{world.patient_a.id}/files")
    assert "Thêm tệp" in await page.locator("h2").first.inner_text()
    # Record every percentage the widget shows.
    await page.evaluate("""() => {
      window.__seen = [];
      new MutationObserver(() => document.querySelectorAll('[data-percent]').forEach(
        e => window.__seen.push(e.textContent))).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")
    data = samples.wav(seconds=660, rate=8000)  # ~10.6 MB: parts sent side by side, then joined
    path = tmp / "tieng-tim.wav"
    path.write_bytes(data)
    await page.set_input_files("[data-input]", str(path))
    item = page.locator(".upload-item")
    try:
        await item.locator("[data-status]", has_text="Đã lưu").wait_for(timeout=60_000)
    except PlaywrightTimeout:
        await page.screenshot(path=str(artifacts / "files-upload-failed.png"), full_page=True)
        raise AssertionError(f"status: {await item.locator('[data-status]').inner_text()}; console: {errors}") from None
    assert await item.locator("[data-progress]").get_attribute("value") == "100" or \
        await item.locator("[data-progress]").evaluate("e => e.value") == 100
    seen = await page.evaluate("window.__seen")
    middle = {s for s in seen if s not in ("0%", "100%")}
    assert middle, f"no intermediate progress was shown: {seen}"
    link = item.locator("[data-link]")
    await link.wait_for(state="visible")
    await page.screenshot(path=str(artifacts / "files-upload-phone.png"), full_page=True)
    href = await link.get_attribute("href")
    cookies = {c["name"]: c["value"] for c in await context.cookies()}
    async with httpx.AsyncClient(base_url=base, cookies=cookies) as http:
        got = await http.get(href)
    assert got.status_code == 200 and hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    assert await page.evaluate("localStorage.getItem('telebridge.uploads')") in (None, "{}")
    assert not errors, errors
    await context.close()


async def test_pause_then_resume_after_a_reload(browser, files_server, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    """A slow link (Chromium's network throttling): pause, reload the page, choose the file again:
    the same upload continues from the server's offset and the stored bytes match."""
    base, world, tmp = files_server
    user = world.users["spoke_clinician2"]
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page = await context.new_page()
    await sign_in_page(page, base, user)
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 20,
                                                        "downloadThroughput": 4_000_000, "uploadThroughput": 1_500_000})
    await page.goto(f"{base}/patients/{world.patient_a.id}/files")
    data = samples.wav(seconds=700, rate=8000)
    path = tmp / "nghe-tim-dai.wav"
    path.write_bytes(data)
    await page.set_input_files("[data-input]", str(path))
    item = page.locator(".upload-item")
    # The file goes up as parts, four streams at a time, 1 MiB checksummed PATCHes; pause at 40 %.
    await page.wait_for_function("() => Object.values(JSON.parse(localStorage.getItem('telebridge.uploads') || '{}')).length === 1"
                                 " && parseInt(document.querySelector('[data-percent]').textContent) >= 40", timeout=60_000)
    await item.locator("[data-pause]").click()
    await item.locator("[data-status]", has_text="Đã tạm dừng").wait_for()
    stored = await page.evaluate("JSON.parse(localStorage.getItem('telebridge.uploads'))")
    part_urls = [url for url in next(iter(stored.values()))["urls"] if url]
    cookies = {c["name"]: c["value"] for c in await context.cookies()}
    async with httpx.AsyncClient(base_url=base, cookies=cookies) as http:
        parts = [(await http.get(url)).json() for url in part_urls]
    offset = sum(part["offset"] for part in parts)
    assert len(parts) >= 2 and 1024 * 1024 <= offset < len(data)
    assert all(part["status"] == "open" for part in parts)
    await page.reload()
    hint = page.locator("[data-resume-names]")
    assert "nghe-tim-dai.wav" in await hint.inner_text()
    await cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                        "uploadThroughput": -1})
    await page.set_input_files("[data-input]", str(path))
    await page.locator(".upload-item [data-status]", has_text="Đã lưu").wait_for(timeout=60_000)
    await page.screenshot(path=str(artifacts / "files-upload-resumed.png"), full_page=True)
    async with httpx.AsyncClient(base_url=base, cookies=cookies) as http:
        statuses = [(await http.get(url)).json() for url in part_urls]
        # the same parts finished and were joined: the upload resumed, it did not start over
        assert {s["status"] for s in statuses} == {"done"} and len({s["file_id"] for s in statuses}) == 1
        info = (await http.get(f"/api/v1/files/{statuses[0]['file_id']}")).json()
        got = await http.get(info["download_url"])
    assert info["sha256"] == hashlib.sha256(data).hexdigest() and got.content == data
    await context.close()
