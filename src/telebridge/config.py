"""Settings from TELEBRIDGE_* environment variables (``*_FILE`` variants for secrets)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "telebridge-embedded-default-secret-change-me"
# Embedded default master key for files at rest (32 bytes, base64): production refuses it.
DEFAULT_MASTER_KEY = "dGVsZWJyaWRnZS1lbWJlZGRlZC1tYXN0ZXIta2V5ISE"


def _read_secret_file(var: str) -> str | None:
    path = os.environ.get(f"TELEBRIDGE_{var}_FILE")
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TELEBRIDGE_", extra="ignore")

    environment: str = Field("development", description="development | test | production")
    database_url: str = "sqlite+aiosqlite:///var/telebridge.db"
    redis_url: str | None = None
    secret_key: str = DEFAULT_SECRET
    files_dir: Path = Path("var/files")
    default_locale: str = "vi"
    timezone: str = "Asia/Ho_Chi_Minh"
    # Sessions: idle timeout and absolute lifetime.
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    api_token_hours: int = 12
    # Lockout after repeated failed sign-ins.
    lockout_threshold: int = 5
    lockout_minutes: int = 15
    # Cookies are Secure unless explicitly serving plain http on loopback (embedded demo, tests).
    cookie_secure: bool = False
    break_glass_hours: int = 4
    log_level: str = "INFO"
    max_form_bytes: int = 64 * 1024
    # Live sessions (calls domain). janus_url empty: `telebridge calls janus` runs a private Janus.
    janus_url: str | None = None
    janus_api_secret: str | None = None
    janus_admin_key: str | None = None
    # Each publisher's total bitrate in Janus rooms (all simulcast layers together). At the default
    # the browser sends the half and quarter layers; from about 1_500_000 the full-resolution one too.
    janus_room_bitrate: int = Field(default=512_000, ge=64_000, le=8_000_000)
    # Where Janus writes session recordings (.mjr) and the app reads them back: one directory both
    # see at the same path (a shared mount with an external Janus). Default: <files_dir>/../recordings.
    call_recordings_dir: Path | None = None
    call_token_minutes: int = 10
    # TURN (coturn REST shared-secret scheme); empty = no TURN offered to browsers.
    turn_urls: list[str] = Field(default_factory=list)
    turn_secret: str | None = None
    turn_ttl_seconds: int = 3600
    max_upload_bytes: int = 60 * 1024 * 1024  # multipart upload routes (app.UPLOAD_ROUTES)
    # Clinical files: encryption at rest, object store, limits (see telebridge.files).
    master_key: str = DEFAULT_MASTER_KEY
    previous_master_keys: str = ""  # comma-separated; still unwrap data keys until rotated
    storage_backend: str = "local"  # local | s3
    s3_bucket: str | None = None
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    files_max_mb: dict[str, int] = Field(default_factory=lambda: {
        "dicom": 2048, "jpeg": 50, "png": 50, "pdf": 100, "mp4": 4096, "webm": 4096,
        "wav": 500, "flac": 500, "mp3": 200, "text": 5,
    })
    files_retention_years: int = 10
    download_url_seconds: int = 300
    files_scanner: str | None = None  # "package.module:Class" of a virus scanner; default: built-in signatures
    upload_expiry_hours: int = 72
    # Previews decode uploaded content in sandboxed worker processes (telebridge.files.sandbox): each
    # worker's address space, CPU seconds per preview, wall-clock seconds before it is killed, and
    # how many idle workers are kept for the next previews.
    files_preview_memory_mb: int = Field(default=1024, ge=256)
    files_preview_cpu_seconds: int = Field(default=20, ge=1)
    files_preview_timeout_seconds: float = Field(default=30.0, gt=0)
    files_preview_workers: int = Field(default=2, ge=0)
    # Imaging: the hospital PACS reached by DICOMweb (QIDO/WADO/STOW); unset = no PACS exchange.
    pacs_dicomweb_url: str | None = None
    pacs_timeout_seconds: float = 60.0
    imaging_cache_instances: int = 64  # parsed DICOM instances kept in memory for frame rendering
    imaging_cache_mb: int = 512  # … and at most this much of their files
    # Teleconsultation service levels, minutes to acknowledge and to answer (signed minutes),
    # per urgency; an unacknowledged request escalates to the coordinator at the first
    # breach and moves to the next linked hub after one more acknowledgement period.
    sla_minutes: dict[str, tuple[int, int]] = Field(default_factory=lambda: {
        "emergency": (10, 60), "urgent": (60, 240), "routine": (480, 2880),
    })
    sla_sweep_seconds: float = 15.0
    max_message_chars: int = 4000
    notifier: str | None = None  # "module:factory" of an email/SMS gateway; default logs

    @model_validator(mode="after")
    def _secrets_and_production(self) -> "Settings":
        secret = _read_secret_file("SECRET_KEY")
        if secret:
            self.secret_key = secret
        master = _read_secret_file("MASTER_KEY")
        if master:
            self.master_key = master
        previous = _read_secret_file("PREVIOUS_MASTER_KEYS")
        if previous:
            self.previous_master_keys = previous
        s3_secret = _read_secret_file("S3_SECRET_ACCESS_KEY")
        if s3_secret:
            self.s3_secret_access_key = s3_secret
        if self.environment == "production":
            if self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32:
                raise ValueError(
                    "TELEBRIDGE_SECRET_KEY (or TELEBRIDGE_SECRET_KEY_FILE) must be set to a "
                    "random value of at least 32 characters in production"
                )
            if self.master_key == DEFAULT_MASTER_KEY:
                raise ValueError(
                    "TELEBRIDGE_MASTER_KEY (or TELEBRIDGE_MASTER_KEY_FILE) must be set to 32 random bytes "
                    "in base64 in production (telebridge files new-key prints one)"
                )
            if self.janus_url and not (self.janus_api_secret and self.janus_admin_key):
                raise ValueError("TELEBRIDGE_JANUS_API_SECRET and TELEBRIDGE_JANUS_ADMIN_KEY must be set with "
                                 "TELEBRIDGE_JANUS_URL in production")
            if self.turn_urls and not self.turn_secret:
                raise ValueError("TELEBRIDGE_TURN_SECRET must be set with TELEBRIDGE_TURN_URLS in production")
            if not self.cookie_secure:
                self.cookie_secure = True
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
