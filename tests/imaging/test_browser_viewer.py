"""In Chromium: open a study in the viewer and play the multi-frame ultrasound (frames advance);
zoom, window/level and a measurement work. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telebridge.imaging import dicom
from tests.browser.conftest import browser, sign_in_page  # noqa: F401  (the Chromium fixture)
from tests.imaging.live import Live, slices, telebridge_with_study
from tests.imaging.samples import ULTRASOUND, data

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def viewer_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    stack = slices(data("MR_small.dcm"), 3, dicom.parse(data(ULTRASOUND)).study_uid)
    async with telebridge_with_study(tmp_path_factory.mktemp("imaging-live"), data(ULTRASOUND), more=stack) as live:
        yield live


async def _sign_in(page, live: Live, role: str) -> None:  # type: ignore[no-untyped-def]
    await sign_in_page(page, live.url, live.world.users[role])


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 375, "height": 740}],
                         ids=["desktop", "phone"])
async def test_play_multiframe_ultrasound(browser, viewer_server: Live, artifacts: Path, viewport) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    context = await browser.new_context(viewport=viewport, locale="vi-VN")
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    name = "desktop" if viewport["width"] > 600 else "phone"
    await _sign_in(page, viewer_server, "spoke_clinician" if name == "desktop" else "spoke_clinician_2")

    await page.goto(f"{viewer_server.url}/patients/{viewer_server.world.patient_a.id}/imaging")
    async with page.expect_navigation(url="**/imaging/studies/**"):
        await page.click(f"a[href='/imaging/studies/{viewer_server.study_id}']")
    assert await page.locator("h1").inner_text() == "Xem hình ảnh"
    canvas = page.locator("#viewer-canvas")
    await page.click("button.viewer-pick:has-text('US')")
    # Every frame loaded before playing, so the loop shows all 30.
    await page.wait_for_function("() => document.getElementById('viewer-status').textContent === 'Khung 1/30'",
                                 timeout=60_000)
    assert await canvas.get_attribute("data-frame") == "1"
    assert "Khung 1/30" in await page.locator("#viewer-status").inner_text()
    await page.screenshot(path=str(artifacts / f"viewer-first-frame-{name}.png"), full_page=True)

    await page.click("[data-action=play]")
    seen: set[str] = set()
    for _ in range(3):  # the frame shown moves on, whatever the machine's speed
        previous = await canvas.get_attribute("data-frame")
        await page.wait_for_function(
            "(prev) => document.getElementById('viewer-canvas').dataset.frame !== prev", arg=previous, timeout=20_000)
        seen.add(await canvas.get_attribute("data-frame") or "")
    assert len(seen) >= 2, seen  # at least two different frames after the first one
    await page.screenshot(path=str(artifacts / f"viewer-playing-{name}.png"), full_page=True)
    await page.click("[data-action=play]")  # pause
    await page.wait_for_function(
        "() => document.querySelector('[data-action=play]').getAttribute('aria-pressed') === 'false'")

    # Window/level re-rendered by the server: the frame images are fetched again with ?window=.
    async with page.expect_request(lambda r: "window=40%2C200" in r.url or "window=40,200" in r.url):
        await page.fill("input[name=wc]", "40")
        await page.fill("input[name=ww]", "200")
        await page.click("[data-action=apply-window]")

    # A measurement shows a length.
    await page.click("[data-tool=measure]")
    box = await canvas.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.3)
    await page.mouse.down()
    await page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.6, steps=5)
    await page.mouse.up()
    length = await page.locator("#viewer-measure").inner_text()
    # The ultrasound's calibrated region (PhysicalDeltaX/Y, cm) gives millimetres.
    assert length.endswith(" mm") and float(length.split()[0]) > 0, length
    await page.screenshot(path=str(artifacts / f"viewer-measure-{name}.png"), full_page=True)

    # A series of single-frame images (CT/MR-like) is one stack: the slider moves through its images.
    await page.click("button.viewer-pick:has-text('stack')")
    await page.wait_for_function("() => document.getElementById('viewer-status').textContent.includes('1/3')")
    first = await canvas.get_attribute("data-frame")
    await page.locator("input[name=frame]").fill("3")
    await page.wait_for_function("() => document.getElementById('viewer-canvas').dataset.frame === '3'")
    assert first == "1" and "3/3" in await page.locator("#viewer-status").inner_text()
    await page.screenshot(path=str(artifacts / f"viewer-stack-{name}.png"), full_page=True)
    assert not errors, errors
    await context.close()
