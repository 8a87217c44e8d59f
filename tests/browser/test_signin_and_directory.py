"""In a real browser: sign in with password and TOTP, browse the facility directory in
Vietnamese, switch to English. Screenshots go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser


async def _sign_in(page, server: LiveServer, role: str) -> None:  # type: ignore[no-untyped-def]
    user = getattr(server.world, role)  # one user per test: a TOTP code is accepted once
    await page.goto(server.url + "/")
    await page.fill("input[name=username]", user.username)
    await page.fill("input[name=password]", user.password)
    async with page.expect_navigation(url="**/login/totp**"):
        await page.click("form[action='/login'] button[type=submit]")
    await page.fill("input[name=code]", user.totp_now())
    async with page.expect_navigation(url=server.url + "/"):
        await page.click("form[action='/login/totp'] button[type=submit]")


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 375, "height": 740}], ids=["desktop", "phone"])
async def test_sign_in_browse_directory_switch_language(browser, live_server: LiveServer, artifacts: Path, viewport) -> None:  # type: ignore[no-untyped-def]
    context = await browser.new_context(viewport=viewport, locale="vi-VN")
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    name = "desktop" if viewport["width"] > 600 else "phone"

    await page.goto(live_server.url + "/login")
    assert await page.locator("h1").inner_text() == "Đăng nhập"
    await page.screenshot(path=str(artifacts / f"login-vi-{name}.png"), full_page=True)
    await _sign_in(page, live_server, "spoke_clinician" if name == "desktop" else "hub_coordinator")

    async with page.expect_navigation(url="**/facilities"):
        await page.click("a[href='/facilities']")
    heading = await page.locator("h1").inner_text()
    assert "cơ sở" in heading.lower()
    # Search as you type, diacritics optional: "dong anh" finds "Trạm Y tế xã Đông Anh <tag>".
    await page.fill("input[name=q]", f"dong anh {live_server.world.tag}")
    target = page.get_by_text(f"Trạm Y tế xã Đông Anh {live_server.world.tag}")
    other = page.get_by_text(f"Trung tâm Y tế Cần Giờ {live_server.world.tag}")
    await other.wait_for(state="detached", timeout=10_000)  # the list was filtered in place
    await target.first.wait_for(timeout=10_000)
    assert page.url.endswith("q=dong+anh+" + live_server.world.tag) or "q=dong" in page.url
    await page.screenshot(path=str(artifacts / f"directory-vi-{name}.png"), full_page=True)

    async with page.expect_navigation(url="**/facilities/**"):
        await target.first.click()
    assert live_server.world.hub_a.name in await page.content()  # its hub is shown
    await page.screenshot(path=str(artifacts / f"facility-vi-{name}.png"), full_page=True)

    async with page.expect_navigation():
        await page.click("a.lang[hreflang=en]")
    assert await page.locator("html").get_attribute("lang") == "en"
    assert "Sign out" in await page.content()
    await page.screenshot(path=str(artifacts / f"facility-en-{name}.png"), full_page=True)
    if viewport["width"] < 600:
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"] + 1, "the page scrolls sideways on a phone"
    assert not [e for e in errors if "Content Security Policy" in e], errors
    await context.close()
