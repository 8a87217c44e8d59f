"""Pages: Jinja2 templates with gettext, CSRF tokens, locale and time display helpers."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from telebridge.config import get_settings
from telebridge.kit import i18n
from telebridge.kit.errors import Forbidden
from telebridge.kit.i18n import N_
from telebridge.kit.subject import ROLE_LABELS

PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
CSRF_COOKIE = "tb_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
LOCALE_COOKIE = "tb_lang"
_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def localtime(value: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(_TZ).strftime(fmt)


def localdate(value: date | datetime | None) -> str:
    """A date as dd/mm/yyyy; an instant is first moved to Vietnam's time zone."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(_TZ).date()
    return value.strftime("%d/%m/%Y")


def _build_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["localtime"] = localtime
    env.filters["localdate"] = localdate
    env.globals["languages"] = i18n.LANGUAGE_NAMES
    env.globals["role_labels"] = ROLE_LABELS
    return env


env = _build_env()


# --------------------------------------------------------------------------- CSRF
# Double-submit token: a random value in a SameSite=Strict cookie, signed with the secret,
# repeated in every unsafe form (hidden field) or htmx request (header).

def _sign(raw: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()[:32]


def new_csrf_token() -> str:
    raw = secrets.token_urlsafe(24)
    return f"{raw}.{_sign(raw)}"


def csrf_token(request: Request) -> str:
    token = getattr(request.state, "csrf_token", None)
    if token is None:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        token = cookie if _valid(cookie) else new_csrf_token()
        request.state.csrf_token = token
    return token


def _valid(token: str) -> bool:
    raw, _, sig = token.partition(".")
    return bool(raw) and hmac.compare_digest(sig, _sign(raw))


async def check_csrf(request: Request) -> None:
    """Refuse an unsafe cookie-authenticated request whose token does not match its cookie."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not cookie or not sent or not _valid(cookie) or not hmac.compare_digest(cookie, sent):
        raise Forbidden(N_("This form has expired or was sent from elsewhere. Reload the page and try again."), code="csrf")


def set_csrf_cookie(request: Request, response: Any) -> None:
    token = getattr(request.state, "csrf_token", None)
    if token and token != request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="strict", secure=get_settings().cookie_secure, path="/"
        )


# --------------------------------------------------------------------------- rendering

def render(request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    ctx: dict[str, Any] = {
        "request": request,
        "locale": i18n.get_locale(),
        "subject": getattr(request.state, "subject", None),
        "csrf_token": csrf_token(request),
        "flash": getattr(request.state, "flash", None),
    }
    ctx["csrf_field"] = Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{ctx["csrf_token"]}">')
    if context:
        ctx.update(context)
    html = env.get_template(template).render(ctx)
    response = HTMLResponse(html, status_code=status_code)
    set_csrf_cookie(request, response)
    return response


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "text/html")


# --------------------------------------------------------------------------- byte ranges (media seeking)

class RangeNotSatisfiable(Exception):
    """The requested byte range lies outside the content (answer 416)."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (start, end) of a single ``Range: bytes=…`` request against ``size`` bytes,
    or None to send the whole content (no header, several ranges, another unit)."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, sep, last = header[6:].strip().partition("-")
    if not sep or not (first or last) or not (first.isdigit() or not first) or not (last.isdigit() or not last):
        return None
    if first:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    else:
        start, end = max(0, size - int(last)), size - 1
    if start > end or start >= size:
        raise RangeNotSatisfiable()
    return start, end


async def slice_stream(stream: Any, start: int, end: int) -> Any:
    """Bytes ``start``..``end`` (inclusive) of an async byte stream, closing it once past ``end``."""
    pos = 0
    try:
        async for chunk in stream:
            n = len(chunk)
            if pos + n > start:
                yield chunk[max(0, start - pos):min(n, end + 1 - pos)]
            pos += n
            if pos > end:
                return
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
