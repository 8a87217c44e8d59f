"""End to end in two real browsers: a bridge-point clinician asks for help with an emergency;
the hub specialist sees it arrive without reloading, accepts, talks, drafts and signs the
minutes as chair; the bridge point sees the conclusion and records the outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telebridge.kit.db import make_engine, make_sessionmaker
from tests.browser.conftest import serving, sign_in_page
from tests.conftest import fresh_database
from tests.consultations.conftest import CaseWorld, build_case_world

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def case_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[str, CaseWorld]]:
    url = await fresh_database(tmp_path_factory.mktemp("case"), "sqlite", "_case")
    engine = make_engine(url)
    cw = await build_case_world(make_sessionmaker(engine))
    await engine.dispose()
    async with serving(url) as base:
        yield base, cw


async def _signed_in(browser, base: str, user, viewport=None):  # type: ignore[no-untyped-def]
    context = await browser.new_context(locale="vi-VN", viewport=viewport or {"width": 1280, "height": 900})
    page = await context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)  # type: ignore[attr-defined]
    await sign_in_page(page, base, user)
    return context, page


async def test_emergency_request_to_signed_minutes_and_outcome(browser, case_server, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    base, cw = case_server
    w = cw.w
    hub_ctx, hub = await _signed_in(browser, base, w.hub_specialist)
    await hub.goto(base + "/consultations")  # the triage queue, empty for now
    spoke_ctx, spoke = await _signed_in(browser, base, w.spoke_clinician, {"width": 390, "height": 844})

    await spoke.goto(f"{base}/patients/{w.patient_a.id}")
    async with spoke.expect_navigation(url="**/consultations/*/edit"):
        await spoke.click("button[data-action=ask]")
    await spoke.select_option("select[name=specialty_code]", "cardiology")
    await spoke.select_option("select[name=urgency]", "emergency")
    await spoke.select_option("select[name=mode]", "inter_facility_support")
    await spoke.fill("textarea[name=question]", "Trẻ sơ sinh tím tái, nghi tim bẩm sinh tím: xử trí và chuyển tuyến?")
    await spoke.fill("textarea[name=history]", "Sinh đủ tháng 3,1 kg; tím tăng dần từ ngày thứ hai.")
    await spoke.fill("textarea[name=examination]", "Tím trung ương, thổi tâm thu 3/6 liên sườn II trái.")
    await spoke.fill("input[name=vitals_spo2]", "78")
    await spoke.fill("input[name=consent_given_by]", "Mẹ bệnh nhi")
    await spoke.locator("[data-saved]").wait_for(timeout=10_000)  # the draft autosaved
    await spoke.screenshot(path=str(artifacts / "consultation-request-phone.png"), full_page=True)
    async with spoke.expect_navigation(url="**/consultations/*"):
        await spoke.click("button[data-submit]")
    reference = (await spoke.locator("h1").inner_text()).split()[0]
    assert reference.startswith("HC-")
    assert "Chờ bệnh viện hỗ trợ" in await spoke.locator("#case-status").inner_text()

    row = hub.locator(f"tr:has-text('{reference}')")
    await row.wait_for(timeout=15_000)  # arrived live, no reload
    await hub.screenshot(path=str(artifacts / "consultation-queue.png"), full_page=True)
    async with hub.expect_navigation(url="**/consultations/*"):
        await row.locator("a").first.click()
    async with hub.expect_navigation():
        await hub.click("button[data-action=accept]")
    assert "Đã tiếp nhận" in await hub.locator("#case-status").inner_text()

    await spoke.goto(spoke.url)  # the spoke's case page, now with the thread live
    await spoke.locator("[data-thread][data-live='1']").wait_for(timeout=10_000)
    await hub.locator("[data-thread][data-live='1']").wait_for(timeout=10_000)
    await hub.fill("#message-form textarea[name=body]", "Cho trẻ thở oxy, giữ ấm, đặt đường truyền <b>ngay</b>.")
    await hub.click("#message-form button[type=submit]")
    await spoke.locator("#messages li:has-text('đặt đường truyền <b>ngay</b>')").wait_for(timeout=10_000)
    await spoke.fill("#message-form textarea[name=body]", "Đã làm, SpO2 lên 85%.")
    await spoke.click("#message-form button[type=submit]")
    await hub.locator("#messages li:has-text('SpO2 lên 85%')").wait_for(timeout=10_000)
    assert await spoke.locator("#messages b").count() == 0  # shown as text, never as HTML

    await hub.fill("input[name=c0_issue]", "Chẩn đoán")
    await hub.fill("textarea[name=c0_conclusion]", "Theo dõi tim bẩm sinh tím, nghi chuyển vị đại động mạch.")
    await hub.select_option("select[name=recommendation]", "transfer")
    await hub.fill("textarea[name=recommendation_text]", "Chuyển Bệnh viện Nhi Trung ương, có nhân viên y tế đi kèm.")
    await hub.fill("textarea[name=discussion]", "Hai bên thống nhất cần siêu âm tim và can thiệp sớm.")
    async with hub.expect_navigation():
        await hub.click("button[data-action=save-minutes]")
    await hub.fill("form[action$='/minutes/sign'] input[name=password]", w.hub_specialist.password)
    async with hub.expect_navigation():
        await hub.click("button[data-action=sign]")
    assert "Biên bản đã ký" in await hub.locator("#case-status").inner_text()
    await hub.screenshot(path=str(artifacts / "consultation-signed-hub.png"), full_page=True)

    # The spoke's page updates itself (SSE) and shows the conclusion.
    await spoke.locator("#minutes:has-text('nghi chuyển vị đại động mạch')").wait_for(timeout=15_000)
    pdf = await spoke.request.get(spoke.url.split("#")[0] + "/minutes.pdf")
    assert pdf.ok and (await pdf.body()).startswith(b"%PDF")
    await spoke.select_option("select[name=outcome]", "transferred")
    await spoke.fill("textarea[name=action_taken]", "Đã chuyển tuyến lúc 15 giờ, trẻ ổn định khi đi.")
    async with spoke.expect_navigation():
        await spoke.click("form[action$='/outcome'] button[type=submit]")
    assert "Đã chuyển tuyến lúc 15 giờ" in await spoke.locator("#outcome").inner_text()
    assert await spoke.locator("#case-error").count() == 0
    await spoke.screenshot(path=str(artifacts / "consultation-outcome-phone.png"), full_page=True)
    width = await spoke.evaluate("document.documentElement.scrollWidth")
    assert width <= 391, "the case page scrolls sideways on a phone"
    for page in (hub, spoke):
        assert not [e for e in page.errors if "Content Security Policy" in e], page.errors  # type: ignore[attr-defined]
    await hub_ctx.close()
    await spoke_ctx.close()
