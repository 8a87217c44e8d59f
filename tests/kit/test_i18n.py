"""Every message shown to users has a Vietnamese translation with the same placeholders."""

from __future__ import annotations

import re

from telebridge.kit import i18n

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_every_message_is_translated_into_vietnamese() -> None:
    catalog = i18n.translations("vi")._catalog  # type: ignore[attr-defined]
    missing = [
        f"{name}: {msgid!r} ({where[0]})"
        for name, messages in i18n.extract_messages().items()
        for msgid, where in messages.items()
        if not catalog.get(msgid)
    ]
    assert not missing, "untranslated (run `python -m telebridge.kit.i18n extract`, then translate):\n" + "\n".join(missing)


def test_translations_keep_placeholders() -> None:
    catalog = i18n.translations("vi")._catalog  # type: ignore[attr-defined]
    wrong = [k for k, v in catalog.items() if k and set(_PLACEHOLDER.findall(k)) != set(_PLACEHOLDER.findall(v))]
    assert not wrong


def test_locale_negotiation() -> None:
    assert i18n.normalize("en-US") == "en"
    assert i18n.normalize("fr") is None
    assert i18n.negotiate("fr-FR,fr;q=0.9,en;q=0.8") == "en"
    i18n.set_locale("vi")
    assert i18n.gettext("Sign in") == "Đăng nhập"
    i18n.set_locale("en")
    assert i18n.gettext("Sign in") == "Sign in"


def test_dates_are_shown_in_vietnam_time() -> None:
    from datetime import UTC, date, datetime

    from telebridge.kit.web import localdate, localtime

    late_evening_utc = datetime(2026, 11, 23, 20, 30, tzinfo=UTC)  # 03:30 on the 24th in Hà Nội
    assert localdate(late_evening_utc) == "24/11/2026"
    assert localtime(late_evening_utc) == "24/11/2026 03:30"
    assert localdate(date(2026, 1, 2)) == "02/01/2026"
