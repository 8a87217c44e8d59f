"""Translations: Vietnamese by default, English second.

Message ids are English. Each domain keeps its own catalog at
``telebridge/locales/<lang>/LC_MESSAGES/<domain>.po``; all catalogs of a language are
merged at load. ``python -m telebridge.kit.i18n compile`` compiles them to ``.mo``
(``make setup`` does); an uncompiled or stale catalog is read from its ``.po``.
"""

from __future__ import annotations

import gettext as _gettext
import sys
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
SUPPORTED = ("vi", "en")
DEFAULT = "vi"
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}

_current: ContextVar[str] = ContextVar("telebridge_locale", default=DEFAULT)


def normalize(value: str | None) -> str | None:
    """Return a supported locale for ``value`` ('vi', 'en-US' …) or None."""
    if not value:
        return None
    base = value.strip().lower().replace("_", "-").split("-")[0]
    return base if base in SUPPORTED else None


def negotiate(accept_language: str | None) -> str | None:
    if not accept_language:
        return None
    for part in accept_language.split(","):
        found = normalize(part.split(";")[0])
        if found:
            return found
    return None


def set_locale(locale: str) -> None:
    _current.set(locale if locale in SUPPORTED else DEFAULT)


def get_locale() -> str:
    return _current.get()


def _po_files(lang: str) -> list[Path]:
    return sorted((LOCALES_DIR / lang / "LC_MESSAGES").glob("*.po"))


@lru_cache(maxsize=None)
def translations(lang: str) -> _gettext.NullTranslations:
    catalog: dict[str, str] = {}
    for po in _po_files(lang):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            with mo.open("rb") as fh:
                catalog.update(_gettext.GNUTranslations(fh)._catalog)  # type: ignore[attr-defined]
        else:
            with po.open("rb") as fh:
                for message in read_po(fh, locale=lang):
                    if message.id and message.string and not message.fuzzy and isinstance(message.id, str):
                        catalog[message.id] = message.string  # type: ignore[assignment]
    trans = _gettext.NullTranslations()
    trans._catalog = catalog  # type: ignore[attr-defined]
    trans.gettext = lambda m: catalog.get(m, m) or m  # type: ignore[method-assign]
    return trans


def gettext(message: str) -> str:
    return translations(get_locale()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    # Vietnamese has no plural forms; English uses the usual two.
    if get_locale() == "vi":
        return gettext(singular)
    return singular if n == 1 else plural


_ = gettext


def N_(message: str) -> str:
    """Mark a message for extraction without translating it now."""
    return message


def compile_catalogs() -> int:
    count = 0
    for lang in SUPPORTED:
        for po in _po_files(lang):
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=lang)
            with po.with_suffix(".mo").open("wb") as out:
                write_mo(out, catalog)
            count += 1
    translations.cache_clear()
    return count


if __name__ == "__main__":  # python -m telebridge.kit.i18n compile
    if sys.argv[1:] == ["compile"]:
        print(f"compiled {compile_catalogs()} catalogs")
    else:
        sys.exit("usage: python -m telebridge.kit.i18n compile")
