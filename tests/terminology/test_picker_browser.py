"""The ICD-10 picker in a real browser (Debian's Chromium): search as you type without
diacritics, choose with the mouse and with the keyboard, remove, submit. No CSP violations."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.browser.test_signin_and_directory as signin_flow
from tests.browser.conftest import LiveServer, browser, live_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser


async def test_pick_diagnoses_by_typing(browser, live_server: LiveServer, artifacts: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await signin_flow._sign_in(page, live_server, "hub_specialist")
    await page.goto(live_server.url + "/terminology/icd10")
    assert await page.locator("h1").inner_text() == "Tra cứu ICD-10"
    box = page.locator("#icd10-q")

    # Mouse: "viem phoi" without diacritics lists "Viêm phổi …"; click J18.
    await box.fill("viem phoi")
    option = page.locator('.icd10-suggestions li[data-code="J18"]')
    await option.wait_for(timeout=10_000)
    assert "Viêm phổi, tác nhân không xác định" in await option.inner_text()
    assert await box.get_attribute("aria-expanded") == "true"
    await page.screenshot(path=str(artifacts / "icd10-picker-suggestions.png"), full_page=True)
    await option.click()
    chosen = page.locator('[data-chosen] li[data-code="J18"] input[type=hidden][name=code]')
    assert await chosen.get_attribute("value") == "J18"
    assert await box.input_value() == ""

    # Keyboard: a code prefix, arrow down to the first option, Enter chooses it (no submit).
    await box.fill("I10")
    await page.locator('.icd10-suggestions li[data-code="I10"]').wait_for(timeout=10_000)
    await box.press("ArrowDown")
    await page.keyboard.press("Enter")
    await page.locator('[data-chosen] li[data-code="I10"]').wait_for(timeout=5_000)
    assert page.url.endswith("/terminology/icd10")  # Enter in the picker did not submit the form

    # Remove J18, then submit: only I10 is shown, allowed for remote treatment.
    await page.locator('[data-chosen] li[data-code="J18"] [data-remove]').click()
    assert await page.locator('[data-chosen] li[data-code="J18"]').count() == 0
    async with page.expect_navigation():
        await page.click("#icd10-form button[type=submit]")
    table = page.locator("#icd10-chosen-table")
    text = await table.inner_text()
    assert "I10" in text and "được phép" in text and "J18" not in text
    await page.screenshot(path=str(artifacts / "icd10-picker-chosen.png"), full_page=True)
    assert not errors, errors
    await context.close()
