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
