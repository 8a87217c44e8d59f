"""Sign-in pages: password, TOTP (with enrolment by QR code and recovery codes), logout,
password change, language switch."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.config import get_settings
from telebridge.identity import repository as repo
from telebridge.identity import service
from telebridge.identity.deps import SESSION_COOKIE, Db, PageSubject
from telebridge.identity.models import User, UserSession
from telebridge.kit import audit, i18n
from telebridge.kit.db import utcnow
from telebridge.kit.deps import client_addr
from telebridge.kit.errors import BadInput, DomainError
from telebridge.kit.i18n import N_
from telebridge.kit.web import LOCALE_COOKIE, check_csrf, render

router = APIRouter(include_in_schema=False)
PENDING_MINUTES = 10

NOTICES = {
    "expired": N_("Your session has ended. Please sign in again."),
    "signed_out": N_("You have signed out."),
    "password_changed": N_("Your password was changed. Other sessions were signed out."),
    "bad_lang": N_("That language is not available; showing Vietnamese."),
}


def _client(request: Request) -> service.Client:
    return service.Client(client_addr(request), request.headers.get("user-agent"))


def _safe_next(value: str | None) -> str:
    """A local path to go on to; anything that could leave the site (//host, /\\host, schemes) becomes '/'."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(ch) < 32 for ch in value):
        return "/"
    return value


def _set_session_cookie(response: Response, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=get_settings().cookie_secure, path="/")


async def _pending(request: Request, db: AsyncSession) -> tuple[UserSession, User] | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    s = await repo.session_by_hash(db, service.sha256(token))
    if s is None or not service.session_alive(s, utcnow()):
        return None
    user = await db.get(User, s.user_id)
    return (s, user) if user else None


async def _pending_step(request: Request, db: AsyncSession, *, enrolled: bool) -> tuple[UserSession, User] | None:
    """The half-signed-in session of the second-factor step, if the user is at that step."""
    found = await _pending(request, db)
    if found is None or (found[1].totp_confirmed_at is not None) != enrolled:
        return None
    return found


def _login_redirect(notice: str | None = None, next_url: str = "/") -> RedirectResponse:
    url = "/login?next=" + quote(next_url)
    if notice:
        url += f"&m={notice}"
    return RedirectResponse(url, status_code=303)


@router.get("/login")
async def login_page(request: Request, db: Db, next: str = "/", m: str | None = None) -> Response:
    found = await _pending(request, db)
    if found and found[0].mfa_passed:
        return RedirectResponse(_safe_next(next), status_code=303)
    notice = i18n.gettext(NOTICES[m]) if m in NOTICES else None
    return render(request, "identity/login.html", {"next": _safe_next(next), "notice": notice})


@router.post("/login")
async def login_submit(
    request: Request, db: Db,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    await check_csrf(request)
    outcome = await service.check_password(db, username=username, password=password, client=_client(request))
    if outcome.user is None:
        error = i18n.gettext(outcome.error).format(minutes=outcome.locked_minutes) if outcome.error else ""
        return render(request, "identity/login.html", {"next": _safe_next(next), "error": error, "username": username}, 401)
    user = outcome.user
    assignments = await repo.assignments_of(db, user.id)
    mfa = service.needs_mfa(assignments)
    if not mfa:
        service.reset_failures(user)
    token = await service.open_session(db, user, _client(request), mfa_passed=not mfa)
    if mfa:
        s = await repo.session_by_hash(db, service.sha256(token))
        assert s is not None
        s.expires_at = utcnow() + timedelta(minutes=PENDING_MINUTES)
        step = "/login/totp" if user.totp_confirmed_at else "/login/enrol"
        response: Response = RedirectResponse(f"{step}?next={quote(_safe_next(next))}", status_code=303)
    else:
        response = RedirectResponse(_safe_next(next), status_code=303)
    _set_session_cookie(response, token)
    if user.locale in i18n.SUPPORTED and not request.cookies.get(LOCALE_COOKIE):
        response.set_cookie(LOCALE_COOKIE, user.locale, samesite="lax", path="/")
    return response


async def _finish_mfa(db: AsyncSession, request: Request, s: UserSession, user: User, next_url: str) -> Response:
    """Second factor passed: replace the pending session with a full one (new token)."""
    s.revoked_at = utcnow()
    token = await service.open_session(db, user, _client(request), mfa_passed=True)
    service.reset_failures(user)
    audit.record(db, service.client_actor(user, _client(request)), action="login", object_type="user", object_id=user.id)
    response = RedirectResponse(_safe_next(next_url), status_code=303)
    _set_session_cookie(response, token)
    return response


@router.get("/login/totp")
async def totp_page(request: Request, db: Db, next: str = "/") -> Response:
    if await _pending_step(request, db, enrolled=True) is None:
        return _login_redirect("expired", next)
    return render(request, "identity/totp.html", {"next": _safe_next(next)})


@router.post("/login/totp")
async def totp_submit(
    request: Request, db: Db,
    code: Annotated[str, Form(max_length=20)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    await check_csrf(request)
    found = await _pending_step(request, db, enrolled=True)
    if found is None:
        return _login_redirect("expired", next)
    s, user = found
    if await service.check_second_factor(db, user, code, _client(request)):
        return await _finish_mfa(db, request, s, user, next)
    locked = user.locked_until is not None and user.locked_until > utcnow()
    if locked:
        s.revoked_at = utcnow()
    error = i18n.gettext(
        N_("This account is locked after repeated failed sign-ins. Try again in {minutes} minutes or ask an administrator.")
        if locked else N_("That code is not right. Check the time on your phone and enter the current 6-digit code.")
    ).format(minutes=get_settings().lockout_minutes)
    return render(request, "identity/totp.html", {"next": _safe_next(next), "error": error}, 401)


@router.get("/login/enrol")
async def enrol_page(request: Request, db: Db, next: str = "/") -> Response:
    found = await _pending_step(request, db, enrolled=False)
    if found is None:
        return _login_redirect("expired", next)
    user = found[1]
    if not user.totp_secret:
        service.begin_enrolment(user)
    return render(request, "identity/enrol.html", {
        "next": _safe_next(next), "qr_svg": service.totp_qr_svg(user), "secret": user.totp_secret,
    })


@router.post("/login/enrol")
async def enrol_submit(
    request: Request, db: Db,
    code: Annotated[str, Form(max_length=20)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    await check_csrf(request)
    found = await _pending_step(request, db, enrolled=False)
    if found is None or not found[1].totp_secret:
        return _login_redirect("expired", next)
    s, user = found
    try:
        codes = await service.confirm_enrolment(db, user, code, _client(request))
    except BadInput as exc:
        return render(request, "identity/enrol.html", {
            "next": _safe_next(next), "qr_svg": service.totp_qr_svg(user), "secret": user.totp_secret,
            "error": exc.translated(),
        }, 400)
    response = await _finish_mfa(db, request, s, user, next)
    page = render(request, "identity/recovery_codes.html", {"codes": codes, "next": _safe_next(next)})
    for key, value in response.headers.items():
        if key.lower() == "set-cookie":
            page.headers.append(key, value)
    return page


@router.post("/logout")
async def logout(request: Request, db: Db) -> Response:
    await check_csrf(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await service.close_session(db, token, _client(request))
    response = _login_redirect("signed_out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account/password")
async def password_page(request: Request, subject: PageSubject) -> Response:
    return render(request, "identity/password.html", {})


@router.post("/account/password")
async def password_submit(
    request: Request, subject: PageSubject, db: Db,
    current: Annotated[str, Form(max_length=256)] = "",
    new: Annotated[str, Form(max_length=256)] = "",
    confirm: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    user = await db.get(User, subject.user_id)
    try:
        if new != confirm:
            raise BadInput(N_("The two new passwords differ."), field="confirm")
        await service.change_password(db, user, current=current, new=new,
                                      keep_session=service.sha256(request.state.session_token), client=_client(request))
    except DomainError as exc:
        return render(request, "identity/password.html", {"error": exc.translated()}, exc.status)
    return RedirectResponse("/?m=password_changed", status_code=303)


@router.get("/lang/{code}")
async def switch_language(request: Request, code: str, next: str = "/") -> Response:
    lang = i18n.normalize(code)
    target = _safe_next(next)
    if lang is None:
        sep = "&" if "?" in target else "?"
        response = RedirectResponse(f"{target}{sep}m=bad_lang", status_code=303)
        lang = i18n.DEFAULT
    else:
        response = RedirectResponse(target, status_code=303)
    response.set_cookie(LOCALE_COOKIE, lang, samesite="lax", path="/", max_age=365 * 24 * 3600)
    return response
