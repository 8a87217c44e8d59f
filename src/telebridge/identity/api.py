"""/api/v1/auth: bearer tokens (password + TOTP), /api/v1/me."""

from __future__ import annotations

from fastapi import APIRouter, Request

from telebridge.identity import repository as repo
from telebridge.identity import service
from telebridge.identity.deps import ApiSubject, Db
from telebridge.identity.schemas import AssignmentOut, MeOut, TokenOut, TokenRequest
from telebridge.kit.db import utcnow
from telebridge.kit.deps import client_addr
from telebridge.kit.errors import Locked, Unauthenticated
from telebridge.kit.i18n import N_

router = APIRouter(prefix="/api/v1", tags=["identity"])


@router.post("/auth/token", response_model=TokenOut)
async def issue_token(body: TokenRequest, request: Request, db: Db) -> TokenOut:
    client = service.Client(client_addr(request), request.headers.get("user-agent"))
    outcome = await service.check_password(db, username=body.username, password=body.password, client=client)
    user = outcome.user
    if user is not None and service.needs_mfa(await repo.assignments_of(db, user.id)):
        if user.totp_confirmed_at is None:
            outcome = service.PasswordOutcome(None, N_("Enrol a second factor in the web application before using the API."))
        elif not await service.check_second_factor(db, user, body.totp or "", client):
            outcome = service.PasswordOutcome(None, N_("Wrong username, password or code."))
    if outcome.user is None:
        # Commit the failure count and audit record, then refuse.
        await db.commit()
        if outcome.locked_minutes:
            raise Locked(outcome.error or "", minutes=outcome.locked_minutes)
        raise Unauthenticated(outcome.error or N_("Wrong username or password."), code="bad_credentials",
                              minutes=outcome.locked_minutes or 0)
    service.reset_failures(outcome.user)
    token, row = await service.issue_api_token(db, outcome.user, client)
    return TokenOut(access_token=token, expires_at=row.expires_at)


@router.delete("/auth/token", status_code=204)
async def revoke_token(request: Request, subject: ApiSubject, db: Db) -> None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        row = await repo.token_by_hash(db, service.sha256(header[7:].strip()))
        if row is not None:
            row.revoked_at = utcnow()


@router.get("/me", response_model=MeOut)
async def me(subject: ApiSubject) -> MeOut:
    return MeOut(
        id=subject.user_id, username=subject.username, display_name=subject.display_name,
        assignments=[AssignmentOut(role=a.role.value, facility_id=a.facility_id, province_code=a.province_code)
                     for a in subject.assignments],
    )
