"""Domain exceptions that carry their HTTP status and a translatable message.

``message`` is an English msgid; it is translated into the user's language when the error
is rendered (page or JSON), with ``params`` interpolated after translation.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None, **params: Any):
        super().__init__(message)
        self.message = message
        self.params = params
        self.field = field
        if code:
            self.code = code

    def translated(self) -> str:
        from telebridge.kit.i18n import gettext

        text = gettext(self.message)
        if not self.params:
            return text
        return text.format(**{k: _shown(v) for k, v in self.params.items()})


def _shown(value: Any) -> Any:
    from telebridge.kit.i18n import gettext

    if isinstance(value, Msg):
        return gettext(value)
    if isinstance(value, list):
        return ", ".join(str(_shown(v)) for v in value)
    return value


class Msg(str):
    """A parameter that is itself a msgid: translated when the error is shown."""


class BadInput(DomainError):
    status = 400
    code = "bad_input"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class TooLarge(DomainError):
    status = 413
    code = "too_large"


class Locked(DomainError):
    status = 423
    code = "locked"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
