"""Sign-in through the pages: password + TOTP, enrolment with QR and recovery codes, lockout,
expiry, logout (and the second tab after it), CSRF, language."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pyotp
from sqlalchemy import select, update

from telebridge.identity.models import RecoveryCode, User, UserSession
from telebridge.kit.audit import AuditEvent
from telebridge.kit.db import utcnow
from telebridge.kit.subject import Role
from tests.factories import World, add_user
from tests.identity.conftest import csrf_of, sign_in


async def test_login_page_is_vietnamese_by_default(client: httpx.AsyncClient) -> None:
    r = await client.get("/login")
    assert r.status_code == 200
    assert "Đăng nhập" in r.text and 'lang="vi"' in r.text
    assert "content-security-policy" in r.headers


async def test_password_and_totp_sign_in(client: httpx.AsyncClient, world: World, db) -> None:  # type: ignore[no-untyped-def]
    await sign_in(client, world.hub_specialist)
    home = await client.get("/")
    assert home.status_code == 200
    assert world.hub_specialist.username in home.text
    login = await db.scalar(select(AuditEvent).where(
        AuditEvent.actor_user_id == world.hub_specialist.id, AuditEvent.action == "login", AuditEvent.outcome == "ok"))
    assert login is not None and login.client_addr == "203.0.113.7"


async def test_pages_need_sign_in(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/")


async def test_wrong_totp_is_refused_in_vietnamese(client: httpx.AsyncClient, world: World) -> None:
    token = await csrf_of(client)
    u = world.spoke_clinician
    await client.post("/login", data={"username": u.username, "password": u.password, "csrf_token": token})
    r = await client.post("/login/totp", data={"code": "000000", "csrf_token": token})
    assert r.status_code == 401
    assert "Mã không đúng" in r.text
    assert (await client.get("/")).status_code == 303  # not signed in


async def test_replayed_totp_code_is_refused(client: httpx.AsyncClient, world: World) -> None:
    u = world.hub_coordinator
    await sign_in(client, u)
    code_used = u.totp_now()
    async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver") as second:  # type: ignore[attr-defined]
        token = await csrf_of(second)
        await second.post("/login", data={"username": u.username, "password": u.password, "csrf_token": token})
        r = await second.post("/login/totp", data={"code": code_used, "csrf_token": token})
        assert r.status_code == 401


async def test_enrolment_by_qr_code_then_recovery_code(client: httpx.AsyncClient, world: World, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    async with sessionmaker() as db:
        fresh = await add_user(db, f"new-{world.tag}", [(Role.SPOKE_CLINICIAN, world.spoke_a.id, None)], mfa=False)
        await db.commit()
    token = await csrf_of(client)
    r = await client.post("/login", data={"username": fresh.username, "password": fresh.password, "csrf_token": token})
    assert r.headers["location"].startswith("/login/enrol")
    page = await client.get(r.headers["location"])
    assert "<svg" in page.text  # the QR code
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page.text).group(1)  # type: ignore[union-attr]
    bad = await client.post("/login/enrol", data={"code": "123456", "csrf_token": token})
    assert bad.status_code == 400
    done = await client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert done.status_code == 200
    codes = re.findall(r"<code>([0-9a-f]{6}-[0-9a-f]{6})</code>", done.text)
    assert len(codes) == 10
    assert (await client.get("/")).status_code == 200
    # Sign out, then use a recovery code instead of the app; it works once only.
    await client.post("/logout", data={"csrf_token": token})
    for expected in (303, 401):
        await client.post("/login", data={"username": fresh.username, "password": fresh.password, "csrf_token": token})
        r = await client.post("/login/totp", data={"code": codes[0], "csrf_token": token})
        assert r.status_code == expected
    async with sessionmaker() as db:
        used = await db.scalars(select(RecoveryCode).where(RecoveryCode.user_id == fresh.id, RecoveryCode.used_at.isnot(None)))
        assert len(used.all()) == 1


async def test_lockout_through_pages(client: httpx.AsyncClient, world: World) -> None:
    token = await csrf_of(client)
    u = world.analyst_national
    for _ in range(5):
        r = await client.post("/login", data={"username": u.username, "password": "not-the-password", "csrf_token": token})
        assert r.status_code == 401
    r = await client.post("/login", data={"username": u.username, "password": u.password, "csrf_token": token})
    assert r.status_code == 401 and "bị khóa" in r.text


async def test_logout_ends_the_session_in_every_tab(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.sysadmin)
    cookies = dict(client.cookies)
    token = await csrf_of(client, "/")
    r = await client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303 and "m=signed_out" in r.headers["location"]
    # A second tab still holding the old cookie is sent to sign in, told why.
    async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver", cookies=cookies) as tab:  # type: ignore[attr-defined]
        r = await tab.get("/account/password")
        assert r.status_code == 303 and "m=expired" in r.headers["location"]
        page = await tab.get(r.headers["location"])
        assert "Phiên làm việc đã kết thúc" in page.text


async def test_idle_session_expires(client: httpx.AsyncClient, world: World, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    await sign_in(client, world.facility_admin)
    async with sessionmaker() as db:
        await db.execute(update(UserSession).where(UserSession.user_id == world.facility_admin.id)
                         .values(last_seen_at=utcnow() - timedelta(hours=2)))
        await db.commit()
    r = await client.get("/")
    assert r.status_code == 303 and "m=expired" in r.headers["location"]


async def test_post_without_csrf_token_is_refused(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.sysadmin)
    r = await client.post("/logout")
    assert r.status_code == 403
    assert "Biểu mẫu đã hết hạn" in r.text
    assert (await client.get("/")).status_code == 200  # still signed in


async def test_language_switch_and_unknown_language(client: httpx.AsyncClient) -> None:
    r = await client.get("/lang/en?next=/login")
    assert r.status_code == 303
    assert "Sign in" in (await client.get("/login")).text
    r = await client.get("/lang/xx?next=/login")
    page = await client.get(r.headers["location"])
    assert "Ngôn ngữ này chưa được hỗ trợ" in page.text


async def test_password_change_signs_out_other_sessions(client: httpx.AsyncClient, world: World, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    u = world.other_clinician
    await sign_in(client, u)
    async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver") as other:  # type: ignore[attr-defined]
        async with sessionmaker() as db:  # a fresh code step for the second sign-in
            await db.execute(update(User).where(User.id == u.id).values(totp_last_step=None))
            await db.commit()
        await sign_in(other, u)
        token = await csrf_of(client, "/account/password")
        short = await client.post("/account/password", data={"current": u.password, "new": "short", "confirm": "short", "csrf_token": token})
        assert short.status_code == 400 and "ít nhất 10 ký tự" in short.text
        r = await client.post("/account/password", data={"current": u.password, "new": "a much better secret", "confirm": "a much better secret", "csrf_token": token})
        assert r.status_code == 303
        assert (await client.get("/")).status_code == 200
        assert (await other.get("/")).status_code == 303


async def test_oversized_form_is_refused(client: httpx.AsyncClient) -> None:
    token = await csrf_of(client)
    r = await client.post("/login", data={"username": "x" * 70_000, "password": "y", "csrf_token": token})
    assert r.status_code == 413
    assert "quá lớn" in r.text


async def test_next_never_leaves_the_site(client: httpx.AsyncClient) -> None:
    for evil in ("//evil.example", "/\\evil.example", "https://evil.example", "/%0d%0aX:1"):
        r = await client.get("/lang/en", params={"next": evil})
        location = r.headers["location"]
        assert location.startswith("/") and not location.startswith(("//", "/\\")), (evil, location)
    r = await client.get("/lang/en", params={"next": "/facilities?q=a"})
    assert r.headers["location"] == "/facilities?q=a"
