"""Settings from TELEBRIDGE_* environment variables (``*_FILE`` variants for secrets)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "telebridge-embedded-default-secret-change-me"


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

    @model_validator(mode="after")
    def _secrets_and_production(self) -> "Settings":
        secret = _read_secret_file("SECRET_KEY")
        if secret:
            self.secret_key = secret
        if self.environment == "production":
            if self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32:
                raise ValueError(
                    "TELEBRIDGE_SECRET_KEY (or TELEBRIDGE_SECRET_KEY_FILE) must be set to a "
                    "random value of at least 32 characters in production"
                )
            if not self.cookie_secure:
                self.cookie_secure = True
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
