"""Sign-in rules: passwords (argon2), TOTP with recovery codes, lockout, sessions, API tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import segno
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.config import get_settings
from telebridge.identity import repository as repo
from telebridge.identity.models import (
    ApiToken,
    RecoveryCode,
    RoleAssignment,
    User,
    UserSession,
)
from telebridge.kit import audit
from telebridge.kit.db import utcnow
from telebridge.kit.errors import BadInput, Conflict, Unauthenticated
from telebridge.kit.i18n import N_
from telebridge.kit.subject import MFA_ROLES, Assignment, Role, Subject

# argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane). The library default
# (64 MiB, 3 passes, 4 lanes) costs about 8 times the CPU on these 2-core servers, where every
# sign-in and every signature of minutes re-verifies a password; hashes stored with other
# parameters are re-hashed with these at the next successful sign-in.
_hasher = PasswordHash((Argon2Hasher(memory_cost=19456, time_cost=2, parallelism=1),))
# Verifying against this when the user does not exist keeps timing uniform.
_DUMMY_HASH = _hasher.hash("telebridge-timing-equaliser")
MIN_PASSWORD = 10
RECOVERY_CODES = 10
ISSUER = "Telebridge"


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_rules(password: str, *, username: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise BadInput(N_("A password needs at least {n} characters."), field="password", n=MIN_PASSWORD)
    if len(password) > 256:
        raise BadInput(N_("Too long: at most {max} characters."), field="password", max=256)
    if username.lower() in password.lower():
        raise BadInput(N_("A password must not contain the username."), field="password")


def needs_mfa(assignments: list[RoleAssignment] | tuple[Assignment, ...]) -> bool:
    return any(Role(a.role) in MFA_ROLES for a in assignments)


@dataclass
class Client:
    addr: str | None
    user_agent: str | None = None


@dataclass
class _ClientActor:
    """Audit actor for sign-in events, before a subject exists."""

    user_id: uuid.UUID | None
    display_name: str
    client_addr: str | None
    role_label: str = "anonymous"
    facility_id: uuid.UUID | None = None


def client_actor(user: User | None, client: Client) -> _ClientActor:
    return _ClientActor(user.id if user else None, user.display_name if user else "unknown", client.addr)


# --------------------------------------------------------------------------- password step

@dataclass
class PasswordOutcome:
    user: User | None
    error: str | None = None
    locked_minutes: int | None = None


async def check_password(db: AsyncSession, *, username: str, password: str, client: Client) -> PasswordOutcome:
    """First factor. Never raises for wrong credentials so the failure count is committed."""
    settings = get_settings()
    now = utcnow()
    user = await repo.user_by_username(db, username) if username else None
    if user is None or not user.is_active:
        _hasher.verify(password or "x", _DUMMY_HASH)
        audit.record(db, client_actor(None, client), action="login", object_type="user", outcome="failed", detail={"reason": "unknown_user"})
        return PasswordOutcome(None, N_("Wrong username or password."))
    if user.locked_until and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        audit.record(db, client_actor(user, client), action="login", object_type="user", object_id=user.id, outcome="locked")
        return PasswordOutcome(None, N_("This account is locked after repeated failed sign-ins. Try again in {minutes} minutes or ask an administrator."), minutes)
    ok, new_hash = _hasher.verify_and_update(password, user.password_hash)
    if not ok:
        await register_failure(db, user, client, reason="password")
        if user.locked_until and user.locked_until > now:
            return PasswordOutcome(None, N_("This account is locked after repeated failed sign-ins. Try again in {minutes} minutes or ask an administrator."), settings.lockout_minutes)
        return PasswordOutcome(None, N_("Wrong username or password."))
    if new_hash:
        user.password_hash = new_hash
    return PasswordOutcome(user)


async def register_failure(db: AsyncSession, user: User, client: Client, *, reason: str) -> None:
    settings = get_settings()
    user.failed_logins += 1
    if user.failed_logins >= settings.lockout_threshold:
        user.locked_until = utcnow() + timedelta(minutes=settings.lockout_minutes)
        user.failed_logins = 0
        audit.record(db, client_actor(user, client), action="lockout", object_type="user", object_id=user.id, outcome="locked")
    audit.record(db, client_actor(user, client), action="login", object_type="user", object_id=user.id, outcome="failed", detail={"reason": reason})


def reset_failures(user: User) -> None:
    user.failed_logins = 0
    user.locked_until = None


# --------------------------------------------------------------------------- TOTP

def totp_uri(user: User) -> str:
    assert user.totp_secret
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def totp_qr_svg(user: User) -> str:
    return segno.make(totp_uri(user), error="m").svg_inline(scale=4, dark="#0b3954")


def begin_enrolment(user: User) -> None:
    if user.totp_confirmed_at is None:
        user.totp_secret = pyotp.random_base32()


def _verify_code(user: User, code: str) -> bool:
    code = (code or "").strip().replace(" ", "")
    if not user.totp_secret or len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(user.totp_secret)
    now = utcnow()
    for offset in (0, -1, 1):  # one 30-second step of clock drift either way
        at = now + timedelta(seconds=30 * offset)
        step = int(at.timestamp()) // 30
        if secrets.compare_digest(totp.at(at), code):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False  # replayed code
            user.totp_last_step = step
            return True
    return False


async def confirm_enrolment(db: AsyncSession, user: User, code: str, client: Client) -> list[str]:
    """Check the first code from the authenticator app; return fresh recovery codes (shown once)."""
    if not _verify_code(user, code):
        await register_failure(db, user, client, reason="totp_enrolment")
        raise BadInput(N_("That code is not right. Check the time on your phone and enter the current 6-digit code."), field="code")
    user.totp_confirmed_at = utcnow()
    reset_failures(user)
    audit.record(db, client_actor(user, client), action="mfa_enrol", object_type="user", object_id=user.id)
    return await new_recovery_codes(db, user)


async def new_recovery_codes(db: AsyncSession, user: User) -> list[str]:
    await repo.delete_recovery_codes(db, user.id)
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    db.add_all(RecoveryCode(user_id=user.id, code_hash=sha256(c)) for c in codes)
    await db.flush()
    return codes


async def check_second_factor(db: AsyncSession, user: User, code: str, client: Client) -> bool:
    code = (code or "").strip().lower()
    if user.locked_until and user.locked_until > utcnow():
        return False
    if len(code) == 13 and "-" in code:  # a recovery code
        for rc in await repo.unused_recovery_codes(db, user.id):
            if secrets.compare_digest(rc.code_hash, sha256(code)):
                rc.used_at = utcnow()
                reset_failures(user)
                audit.record(db, client_actor(user, client), action="login_recovery_code", object_type="user", object_id=user.id)
                return True
    elif _verify_code(user, code):
        reset_failures(user)
        return True
    await register_failure(db, user, client, reason="totp")
    return False


# --------------------------------------------------------------------------- sessions

async def open_session(db: AsyncSession, user: User, client: Client, *, mfa_passed: bool) -> str:
    settings = get_settings()
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(UserSession(
        token_hash=sha256(token), user_id=user.id, created_at=now, last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_max_hours), mfa_passed=mfa_passed,
        client_addr=client.addr, user_agent=(client.user_agent or "")[:300],
    ))
    await db.flush()
    return token


TOUCH_EVERY = timedelta(seconds=60)  # how often a session's or token's "last used" stamp is written


def session_idle_end(s: UserSession) -> datetime:
    return s.last_seen_at + timedelta(minutes=get_settings().session_idle_minutes)


def session_alive(s: UserSession, now: datetime) -> bool:
    return s.revoked_at is None and s.expires_at > now and session_idle_end(s) > now


async def touch_session(s: UserSession, now: datetime) -> None:
    if now - s.last_seen_at > TOUCH_EVERY:
        s.last_seen_at = now


async def close_session(db: AsyncSession, token: str, client: Client) -> None:
    s = await repo.session_by_hash(db, sha256(token))
    if s and s.revoked_at is None:
        s.revoked_at = utcnow()
        user = await db.get(User, s.user_id)
        audit.record(db, client_actor(user, client), action="logout", object_type="user", object_id=s.user_id)


async def change_password(db: AsyncSession, user: User, *, current: str, new: str, keep_session: str | None, client: Client) -> None:
    if not _hasher.verify(current, user.password_hash):
        raise BadInput(N_("The current password is not right."), field="current")
    check_password_rules(new, username=user.username)
    if _hasher.verify(new, user.password_hash):
        raise Conflict(N_("The new password must differ from the current one."), field="new")
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    await repo.revoke_all_sessions(db, user.id, utcnow(), keep=keep_session)
    audit.record(db, client_actor(user, client), action="password_change", object_type="user", object_id=user.id)


# --------------------------------------------------------------------------- API tokens

async def issue_api_token(db: AsyncSession, user: User, client: Client, label: str | None = None) -> tuple[str, ApiToken]:
    token = "tb_" + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(token_hash=sha256(token), user_id=user.id, label=label, created_at=now,
                   expires_at=now + timedelta(hours=get_settings().api_token_hours))
    db.add(row)
    audit.record(db, client_actor(user, client), action="token_issue", object_type="user", object_id=user.id)
    await db.flush()
    return token, row


# --------------------------------------------------------------------------- subject

async def subject_for(db: AsyncSession, user: User, client_addr: str | None) -> Subject:
    subject, _ = await subject_with_horizon(db, user, client_addr)
    return subject


async def subject_with_horizon(db: AsyncSession, user: User, client_addr: str | None = None) -> tuple[Subject, datetime | None]:
    """The user's subject, and when its earliest break-glass grant ends (it must not be used past that)."""
    rows = await repo.assignments_of(db, user.id)
    grants = await repo.active_break_glass(db, user.id, utcnow())
    subject = Subject(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        assignments=tuple(Assignment(Role(r.role), r.facility_id, r.province_code) for r in rows),
        practitioner_id=user.practitioner_id,
        patient_id=user.patient_id,
        client_addr=client_addr,
        break_glass_patient_ids=frozenset(patient_id for patient_id, _ in grants),
    )
    return subject, min((end for _, end in grants), default=None)


async def create_user(
    db: AsyncSession, *, username: str, display_name: str, password: str,
    assignments: list[Assignment], practitioner_id: uuid.UUID | None = None,
    email: str | None = None, granted_by: uuid.UUID | None = None, check_rules: bool = True,
) -> User:
    username = username.strip().lower()
    if check_rules:
        check_password_rules(password, username=username)
    if await repo.user_by_username(db, username):
        raise Conflict(N_("The username {username} is taken."), field="username", username=username)
    user = User(username=username, display_name=display_name, password_hash=hash_password(password),
                email=email, practitioner_id=practitioner_id, password_changed_at=utcnow())
    db.add(user)
    await db.flush()
    now = utcnow()
    db.add_all(RoleAssignment(user_id=user.id, role=a.role.value, facility_id=a.facility_id,
                              province_code=a.province_code, granted_at=now, granted_by=granted_by) for a in assignments)
    await db.flush()
    return user


def ensure_session_ok(s: UserSession | None, now: datetime) -> UserSession:
    if s is None or not session_alive(s, now):
        raise Unauthenticated(N_("Your session has ended. Please sign in again."), code="session_expired")
    return s
