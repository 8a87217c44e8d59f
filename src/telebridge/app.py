"""create_app(): one ASGI app serving pages, /api/v1 JSON, health checks and static files."""

from __future__ import annotations

import gc
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.orm.exc import StaleDataError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telebridge.config import Settings, get_settings
from telebridge.identity.deps import LoginRequired
from telebridge.kit import audit, i18n, logs
from telebridge.kit.db import make_engine, make_sessionmaker
from telebridge.kit.errors import DomainError, Forbidden
from telebridge.kit.events import make_bus
from telebridge.kit.i18n import N_
from telebridge.kit.web import LOCALE_COOKIE, STATIC_DIR, is_htmx, render, wants_html
from telebridge.messaging.notifier import make_notifier

log = logging.getLogger("telebridge.http")

# Routes taking file uploads (multipart bodies larger than a form): their own size limit.
UPLOAD_ROUTES = re.compile(r"^(/api/v1)?/auscultation/exams/[0-9a-fA-F-]{36}/recordings$"
                           r"|^/api/v1/imaging/patients/[0-9a-fA-F-]{36}/instances$|^/dicomweb/studies(/[0-9.]+)?$")

# DICOM uploads (single instance, STOW-RS): streamed to an encrypted spool, each instance bounded
# by the DICOM file limit as it arrives; the whole body by the largest file limit.
STREAMED_ROUTES = re.compile(r"^/api/v1/imaging/patients/[0-9a-fA-F-]{36}/instances$|^/dicomweb/studies$")

# Resumable file uploads (tus PATCH): exempt from the form limit.
TUS_PATCH = re.compile(r"^/api/v1/files/uploads/[0-9a-fA-F-]{32,36}$")

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "permissions-policy": "geolocation=()",
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logs.configure(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not hasattr(app.state, "engine"):
            app.state.engine = make_engine(settings.database_url)
            app.state.sessionmaker = make_sessionmaker(app.state.engine)
            app.state.owns_engine = True
        if not hasattr(app.state, "bus"):
            app.state.bus = make_bus(settings.redis_url)
        sweeper = None
        if settings.sla_sweep_seconds > 0:
            from telebridge.consultations import sla

            sweeper = sla.running(app.state, settings.sla_sweep_seconds)
            await sweeper.__aenter__()
        from telebridge.files import lifecycle as files_lifecycle
        from telebridge.identity import cache as identity_cache

        await files_lifecycle.start(app, settings)
        identity_listener = identity_cache.listening(app.state.bus)
        await identity_listener.__aenter__()
        from telebridge.calls import recording as call_recording

        try:  # recordings cut off by a stop of this (or another) process
            await call_recording.recover(app)
        except Exception:  # noqa: BLE001 - a database not reachable yet must not stop the start; /readyz tells
            log.warning("recordings left running by a stopped process were not recovered", exc_info=True)
        consent_listener = call_recording.listening(app)  # a withdrawn consent stops a recording under way
        await consent_listener.__aenter__()
        gc.freeze()  # start-up objects (modules, models, catalogs) leave the collector's scans
        yield
        if sweeper is not None:
            await sweeper.__aexit__(None, None, None)
        await files_lifecycle.stop(app)
        await identity_listener.__aexit__(None, None, None)
        await consent_listener.__aexit__(None, None, None)
        if getattr(app.state, "calls_hub", None) is not None:
            await app.state.calls_hub.close()
        await app.state.bus.close()
        if getattr(app.state, "owns_engine", False):
            await app.state.engine.dispose()

    app = FastAPI(title="Telebridge", version="0.1.0", lifespan=lifespan, docs_url="/api/docs",
                  openapi_url="/api/openapi.json", redoc_url=None)
    app.state.settings = settings
    app.state.bus = make_bus(settings.redis_url)
    app.state.notifier = make_notifier(settings.notifier)

    app.add_middleware(RequestContext, settings=settings)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if isinstance(exc, Forbidden) and getattr(exc, "audit", None) and hasattr(request.app.state, "sessionmaker"):
            subject = getattr(request.state, "subject", None)
            if subject is not None:
                await audit.record_in_own_transaction(request.app.state.sessionmaker, subject, outcome="denied", **exc.audit)  # type: ignore[attr-defined]
        return _error_response(request, exc.status, exc.code, exc.translated(), exc.field)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        from urllib.parse import quote

        target = "/login?next=" + quote(str(request.url.path)) + ("&m=expired" if exc.expired else "")
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        response = RedirectResponse(target, status_code=303)
        if exc.expired:
            response.delete_cookie("tb_session", path="/")
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        fields = [".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors()]
        message = i18n.gettext(N_("Some fields are missing or malformed: {fields}.")).format(fields=", ".join(fields))
        return _error_response(request, 422, "malformed", message, fields[0] if fields else None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        messages = {
            404: N_("This page does not exist."),
            405: N_("This action is not allowed here."),
        }
        return _error_response(request, exc.status_code, "http_error",
                               i18n.gettext(messages.get(exc.status_code, N_("The request could not be served."))))

    @app.exception_handler(StaleDataError)
    async def concurrent_change(request: Request, exc: StaleDataError) -> Response:
        return _error_response(request, 409, "concurrent_change", i18n.gettext(
            N_("Someone else changed this record at the same moment. Nothing was saved; reload and try again.")))

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        return Response(status_code=400)  # the browser left (page changed, link dropped): nothing to answer

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"fields": {"request_id": getattr(request.state, "request_id", "-")}})
        return _error_response(request, 500, "internal",
                               i18n.gettext(N_("Something went wrong on our side. Nothing was saved; please try again.")))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        try:
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any failure means not ready
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _include_routers(app)
    return app


class RequestContext:
    """Per request: an id, the language, the size limit of the body, the security headers and
    one log line. A plain ASGI middleware: it adds no task or stream copy to each request."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request = Request(scope)
        request_id = uuid.uuid4().hex[:12]
        request.state.request_id = request_id
        path, method = scope["path"], scope["method"]
        lang = i18n.normalize(request.query_params.get("lang")) or i18n.normalize(request.cookies.get(LOCALE_COOKIE))
        if lang is None and path.startswith("/api/"):
            lang = i18n.negotiate(request.headers.get("accept-language"))
        i18n.set_locale(lang or self.settings.default_locale)
        status = 500
        static = path.startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers.setdefault(key, value)
                if not static:
                    headers.setdefault("cache-control", "no-store")
            await send(message)

        length = request.headers.get("content-length")
        limit = self.settings.max_upload_bytes if UPLOAD_ROUTES.match(path) else self.settings.max_form_bytes
        if method == "POST" and STREAMED_ROUTES.match(path):
            limit = max(int(v) for v in self.settings.files_max_mb.values()) * 1024 * 1024
        if method == "PATCH" and TUS_PATCH.match(path):
            limit = 1 << 62  # tus chunks stream to an encrypted spool; the upload's own length bounds them
        try:
            if length and length.isdigit() and int(length) > limit and method in ("POST", "PUT", "PATCH"):
                too_large = _error_response(request, 413, "too_large", i18n.gettext(N_("The submitted data is too large.")))
                await too_large(scope, receive, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            logs.log(log, logging.INFO, "request", method=method, route=getattr(route, "path", "-"), status=status,
                     ms=round((time.perf_counter() - started) * 1000, 1), request_id=request_id)


def _include_routers(app: FastAPI) -> None:
    from telebridge.audit import views as audit_views
    from telebridge.auscultation import api as auscultation_api
    from telebridge.auscultation import views as auscultation_views
    from telebridge.calls import api as calls_api
    from telebridge.calls import views as calls_views
    from telebridge.consultations import api as consultations_api
    from telebridge.consultations import views as consultations_views
    from telebridge.files import api as files_api
    from telebridge.files import views as files_views
    from telebridge.home import views as home_views
    from telebridge.identity import api as identity_api
    from telebridge.identity import views as identity_views
    from telebridge.imaging import api as imaging_api
    from telebridge.imaging import dicomweb_api as imaging_dicomweb
    from telebridge.imaging import views as imaging_views
    from telebridge.messaging import views as messaging_views
    from telebridge.network import api as network_api
    from telebridge.network import views as network_views
    from telebridge.patients import api as patients_api
    from telebridge.patients import views as patients_views
    from telebridge.terminology import api as terminology_api
    from telebridge.terminology import views as terminology_views

    for router in (consultations_api.router, consultations_views.router, messaging_views.router,
                   identity_views.router, identity_api.router, home_views.router, network_api.router,
                   network_views.router, patients_api.router, patients_views.router, audit_views.router,
                   terminology_api.router, terminology_views.router, auscultation_api.router,
                   auscultation_views.router, calls_api.router, calls_api.ws_router, calls_views.router,
                   files_api.router, files_views.router, imaging_api.router, imaging_dicomweb.router,
                   imaging_views.router):
        app.include_router(router)


def _error_response(request: Request, status: int, code: str, message: str, field: str | None = None) -> Response:
    if wants_html(request):
        template = "fragments/error.html" if is_htmx(request) else "error.html"
        return render(request, template, {"status": status, "message": message}, status)
    body: dict[str, object] = {"error": {"code": code, "message": message}}
    if field:
        body["error"]["field"] = field  # type: ignore[index]
    return JSONResponse(body, status_code=status)
