"""In Chromium: open a study in the dwv viewer and play the multi-frame ultrasound (the pixels on the
canvas change from frame to frame); window/level changes the pixels; a measurement gives
millimetres; a de-identified copy carries the burnt-in text warning; JPEG 2000, RLE and JPEG-LS
images (pydicom's bundled files) are drawn. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telebridge.imaging import dicom
from tests.browser.conftest import browser, sign_in_page  # noqa: F401  (the Chromium fixture)
from tests.imaging.live import Live, into_study, slices, telebridge_with_study
from tests.imaging.samples import ULTRASOUND, data

pytestmark = pytest.mark.browser
COMPRESSED = {"j2k": "JPEG2000.dcm", "rle": "SC_rgb_rle.dcm", "jpegls": "MR_small_jpeg_ls_lossless.dcm",
              "ybr": "SC_rgb_jpeg_dcmtk.dcm"}
COLOUR_BARS = {"rle", "ybr"}  # RGB (RLE) and YBR_FULL (JPEG): a red band on top of the test pattern

# The pixels dwv drew on its view canvas: a checksum, the spread of their brightness, and the colour
# in the middle of the top twentieth.
PIXELS = """() => {
  const c = document.querySelector('#viewer-stage canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let sum = 0, lo = 255, hi = 0;
  for (let i = 0; i < d.length; i += 4) {
    const y = (d[i] + d[i + 1] + d[i + 2]) / 3;
    sum = (sum * 31 + d[i] + 3 * d[i + 1] + 7 * d[i + 2]) % 1000000007;
    if (y < lo) lo = y;
    if (y > hi) hi = y;
  }
  const top = 4 * (Math.floor(c.height / 20) * c.width + Math.floor(c.width / 2));
  return {sum: sum, spread: hi - lo, width: c.width, top: [d[top], d[top + 1], d[top + 2]]};
}"""


@pytest.fixture(scope="module")
async def viewer_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    study_uid = dicom.parse(data(ULTRASOUND)).study_uid
    more = slices(data("MR_small.dcm"), 3, study_uid)
    more += [into_study(data(name), study_uid, label) for label, name in COMPRESSED.items()]
    teaching = dicom.deidentify(data("CT_small.dcm"), salt="browser-test").data  # re-imported teaching copy
    more.append(into_study(teaching, study_uid, "teaching"))
    async with telebridge_with_study(tmp_path_factory.mktemp("imaging-live"), data(ULTRASOUND), more=more) as live:
        yield live


async def _pick(page, label: str) -> None:  # type: ignore[no-untyped-def]
    await page.click(f"button.viewer-pick:has-text('{label}')")
    await page.wait_for_function(
        "(label) => document.querySelector('.viewer-pick[aria-current=true]').textContent.includes(label)"
        " && document.getElementById('viewer-stage').dataset.ready === 'true'", arg=label, timeout=60_000)


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 375, "height": 740}],
                         ids=["desktop", "phone"])
async def test_play_multiframe_ultrasound(browser, viewer_server: Live, artifacts: Path, viewport) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    context = await browser.new_context(viewport=viewport, locale="vi-VN")
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    name = "desktop" if viewport["width"] > 600 else "phone"
    await sign_in_page(page, viewer_server.url, viewer_server.world.users[
        "spoke_clinician" if name == "desktop" else "spoke_clinician_2"])

    await page.goto(f"{viewer_server.url}/patients/{viewer_server.world.patient_a.id}/imaging")
    async with page.expect_navigation(url="**/imaging/studies/**"):
        await page.click(f"a[href='/imaging/studies/{viewer_server.study_id}']")
    assert await page.locator("h1").inner_text() == "Xem hình ảnh"
    # The first series opens by itself; the originals come through short-lived signed links.
    await page.wait_for_function("() => document.getElementById('viewer-stage').dataset.ready === 'true'",
                                 timeout=60_000)
    await page.evaluate("""() => {
        const bar = document.getElementById('viewer-progress');
        window.progressSeen = false;
        new MutationObserver(() => { if (!bar.hidden) window.progressSeen = true; }).observe(bar, {attributes: true});
    }""")
    async with page.expect_response(lambda r: "/files/" in r.url and "sig=" in r.url and r.status == 200):
        await _pick(page, "US")
    assert await page.evaluate("window.progressSeen"), "no progress shown while loading"
    assert await page.locator("#viewer-status").inner_text() == "Khung 1/30"
    first = await page.evaluate(PIXELS)
    assert first["spread"] > 50, first  # a picture, not a blank canvas
    await page.screenshot(path=str(artifacts / f"viewer-first-frame-{name}.png"), full_page=True)

    # Cine: the frame number moves on and the canvas shows other pixels.
    await page.fill("input[name=fps]", "20")
    await page.click("[data-action=play]")
    seen_frames, seen_pixels = set(), {first["sum"]}
    for _ in range(3):  # whatever the machine's speed
        previous = await page.get_attribute("#viewer-stage", "data-frame")
        await page.wait_for_function("(prev) => document.getElementById('viewer-stage').dataset.frame !== prev",
                                     arg=previous, timeout=20_000)
        seen_frames.add(await page.get_attribute("#viewer-stage", "data-frame"))
        seen_pixels.add((await page.evaluate(PIXELS))["sum"])
    assert len(seen_frames) >= 2 and len(seen_pixels) >= 3, (seen_frames, seen_pixels)
    await page.screenshot(path=str(artifacts / f"viewer-playing-{name}.png"), full_page=True)
    await page.click("[data-action=play]")  # pause
    assert await page.get_attribute("[data-action=play]", "aria-pressed") == "false"
    paused = await page.get_attribute("#viewer-stage", "data-frame")
    await page.wait_for_timeout(300)
    assert await page.get_attribute("#viewer-stage", "data-frame") == paused

    # A length on the ultrasound, calibrated by its region (PhysicalDeltaX/Y in cm): millimetres.
    await page.click("[data-tool=Draw]")
    box = await page.locator("#viewer-stage").bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    await page.mouse.down()
    await page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.6, steps=5)
    await page.mouse.up()
    await page.wait_for_function("() => document.getElementById('viewer-measure').textContent.endsWith(' mm')")
    length = await page.locator("#viewer-measure").inner_text()
    assert float(length.split()[0]) > 0, length
    await page.screenshot(path=str(artifacts / f"viewer-measure-{name}.png"), full_page=True)
    # Zoom changes what the canvas shows; reset clears the measurement and the zoom.
    unzoomed = await page.evaluate(PIXELS)
    await page.click("[data-action=zoom-in]")
    await page.wait_for_function(f"() => ({PIXELS})().sum !== {unzoomed['sum']}")
    await page.click("[data-action=reset]")
    await page.wait_for_function(f"() => ({PIXELS})().sum === {unzoomed['sum']}")
    assert await page.locator("#viewer-measure").inner_text() == ""

    # A series of single-frame MR images is one stack; typed window/level changes the pixels.
    await _pick(page, "stack")
    assert "1/3" in await page.locator("#viewer-status").inner_text()
    before = await page.evaluate(PIXELS)
    await page.fill("input[name=wc]", "300")
    await page.fill("input[name=ww]", "100")
    await page.click("[data-action=apply-window]")
    await page.wait_for_function(f"() => ({PIXELS})().sum !== {before['sum']}")
    assert await page.evaluate(PIXELS) != before
    await page.locator("input[name=frame]").fill("3")
    await page.wait_for_function("() => document.getElementById('viewer-stage').dataset.frame === '3'")
    assert "3/3" in await page.locator("#viewer-status").inner_text()
    await page.screenshot(path=str(artifacts / f"viewer-stack-{name}.png"), full_page=True)

    # A de-identified teaching copy: the viewer warns that text may be burnt into the pixels.
    assert await page.locator("#viewer-burnt-in").is_hidden()
    await _pick(page, "teaching")
    assert await page.locator("#viewer-burnt-in").is_visible()
    await page.screenshot(path=str(artifacts / f"viewer-teaching-{name}.png"), full_page=True)

    # Compressed originals: JPEG 2000, RLE and JPEG decoded by dwv's workers, JPEG-LS sent decompressed.
    for label in COMPRESSED:
        await _pick(page, label)
        drawn = await page.evaluate(PIXELS)
        assert drawn["spread"] > 50, (label, drawn)
        if label in COLOUR_BARS:  # colour decoded as colour: red is red, not grey or blue
            red, green, blue = drawn["top"]
            assert red > 200 and green < 60 and blue < 60, (label, drawn["top"])
        assert await page.locator("#viewer-burnt-in").is_hidden()
        await page.screenshot(path=str(artifacts / f"viewer-{label}-{name}.png"), full_page=True)
    assert not errors, errors
    await context.close()
