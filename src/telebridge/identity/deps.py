"""Who is asking: the subject behind a session cookie (pages) or a bearer token (API)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, WebSocket
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from telebridge.identity import cache, service
from telebridge.identity import repository as repo
from telebridge.identity.models import User
from telebridge.kit.db import utcnow
from telebridge.kit.deps import client_addr, get_db
from telebridge.kit.errors import Unauthenticated
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Subject
from telebridge.kit.web import check_csrf

SESSION_COOKIE = "tb_session"
# The unit of work ends (commits) before the response is sent: a client never hears
# "done" about a write that is not durable yet, or that then fails to commit.
Db = Annotated[AsyncSession, Depends(get_db, scope="function")]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """A page needs a signed-in user; the app redirects to the sign-in page."""

    def __init__(self, expired: bool = False):
        self.expired = expired


async def _from_session(request: Request, db: AsyncSession) -> Subject | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    request.state.session_token = token
    key, now = "s:" + service.sha256(token), utcnow()
    if (hit := cache.CACHE.get(key, now)) is not None:
        return replace(hit, client_addr=client_addr(request))
    generation = cache.CACHE.generation
    s = await repo.session_by_hash(db, key[2:])
    if s is None or not service.session_alive(s, now) or not s.mfa_passed:
        raise LoginRequired(expired=True)
    user = await db.get(User, s.user_id)
    if user is None or not user.is_active:
        raise LoginRequired(expired=True)
    await service.touch_session(s, now)
    subject, grants_end = await service.subject_with_horizon(db, user)
    cache.CACHE.put(key, subject, cache.valid_until(now, s.expires_at, service.session_idle_end(s), grants_end,
                                                    s.last_seen_at + service.TOUCH_EVERY), generation)
    return replace(subject, client_addr=client_addr(request))


async def _from_bearer(request: Request, db: AsyncSession) -> Subject | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    key, now = "t:" + service.sha256(header[7:].strip()), utcnow()
    if (hit := cache.CACHE.get(key, now)) is not None:
        return replace(hit, client_addr=client_addr(request))
    generation = cache.CACHE.generation
    token = await repo.token_by_hash(db, key[2:])
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        raise Unauthenticated(N_("The access token is invalid or has expired."), code="invalid_token")
    user = await db.get(User, token.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated(N_("The access token is invalid or has expired."), code="invalid_token")
    if token.last_used_at is None or now - token.last_used_at > service.TOUCH_EVERY:
        token.last_used_at = now
    subject, grants_end = await service.subject_with_horizon(db, user)
    cache.CACHE.put(key, subject, cache.valid_until(now, token.expires_at, grants_end,
                                                    token.last_used_at + service.TOUCH_EVERY), generation)
    return replace(subject, client_addr=client_addr(request))


async def session_subject(conn: HTTPConnection, db: AsyncSession) -> Subject | None:
    """The subject behind a session cookie (a WebSocket's, say), or None when it is missing,
    expired or without a passed second factor."""
    try:
        return await _from_session(conn, db)  # type: ignore[arg-type]
    except LoginRequired:
        return None


async def page_subject(request: Request, db: Db) -> Subject:
    subject = await _from_session(request, db)
    if subject is None:
        raise LoginRequired(expired=False)
    if request.method not in SAFE_METHODS:
        await check_csrf(request)
    request.state.subject = subject
    return subject


async def api_subject(request: Request, db: Db) -> Subject:
    subject = await _from_bearer(request, db)
    if subject is None:
        try:
            subject = await _from_session(request, db)
        except LoginRequired:
            subject = None
        if subject is None:
            raise Unauthenticated(N_("Sign in first: send a bearer token."), code="unauthenticated")
        if request.method not in SAFE_METHODS:
            await check_csrf(request)
    request.state.subject = subject
    return subject


async def socket_subject(websocket: WebSocket) -> Subject | None:
    """The signed-in subject of a WebSocket (session cookie), or None. The handshake must come
    from this site (Origin check: cookies alone would let another site open the socket)."""
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host")
    if origin is None or host is None or urlsplit(origin).netloc != host:
        return None
    async with websocket.app.state.sessionmaker() as db:
        subject = await session_subject(websocket, db)
        await db.commit()
    return subject


PageSubject = Annotated[Subject, Depends(page_subject)]
ApiSubject = Annotated[Subject, Depends(api_subject)]
