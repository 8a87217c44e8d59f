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


# --------------------------------------------------------------------------- extraction

PACKAGE_DIR = LOCALES_DIR.parent
_METHODS = {".py": "python", ".html": "jinja2.ext:babel_extract"}
_OPTIONS = {".html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}


def catalog_of(path: Path) -> str:
    """Which catalog a source file's messages belong to: its domain folder, else 'core'."""
    rel = path.relative_to(PACKAGE_DIR).parts
    if rel[0] == "templates" and len(rel) > 2:
        return rel[1]
    if len(rel) > 1 and rel[0] not in ("kit", "templates", "static", "locales"):
        return rel[0]
    return "core"


def extract_messages() -> dict[str, dict[str, list[str]]]:
    """{catalog: {msgid: [locations]}} for every translatable string in the package."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file

    keywords = dict(DEFAULT_KEYWORDS)
    keywords["N_"] = None
    found: dict[str, dict[str, list[str]]] = {}
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.suffix not in _METHODS or "static" in path.parts or "locales" in path.parts:
            continue
        for lineno, message, _comments, _ctx in extract_from_file(
            _METHODS[path.suffix], str(path), keywords=keywords, options=_OPTIONS.get(path.suffix)
        ):
            ids = message if isinstance(message, tuple) else (message,)
            for msgid in ids[:1]:
                if msgid:
                    where = f"{path.relative_to(PACKAGE_DIR)}:{lineno}"
                    found.setdefault(catalog_of(path), {}).setdefault(msgid, []).append(where)
    return found


def update_catalogs(lang: str = "vi", only: str | None = None) -> dict[str, int]:
    """Add new msgids (untranslated) to each domain's catalog, drop vanished ones; return counts missing."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    missing: dict[str, int] = {}
    for name, messages in extract_messages().items():
        if only and name != only:
            continue
        po = LOCALES_DIR / lang / "LC_MESSAGES" / f"{name}.po"
        old: dict[str, str] = {}
        if po.exists():
            with po.open("rb") as fh:
                old = {m.id: m.string for m in read_po(fh, locale=lang) if m.id and isinstance(m.id, str)}  # type: ignore[misc]
        catalog = Catalog(locale=lang, domain=name, project="Telebridge", charset="utf-8")
        for msgid in sorted(messages):
            catalog.add(msgid, old.get(msgid, ""), locations=[(loc.rsplit(":", 1)[0], int(loc.rsplit(":", 1)[1])) for loc in messages[msgid][:3]])
        po.parent.mkdir(parents=True, exist_ok=True)
        with po.open("wb") as fh:
            write_po(fh, catalog, width=100, omit_header=False, sort_output=True)
        missing[name] = sum(1 for msgid in messages if not old.get(msgid))
    translations.cache_clear()
    return missing


if __name__ == "__main__":  # python -m telebridge.kit.i18n compile|extract
    if sys.argv[1:] == ["compile"]:
        print(f"compiled {compile_catalogs()} catalogs")
    elif sys.argv[1:2] == ["extract"]:
        for name, n in sorted(update_catalogs(only=(sys.argv[2:3] or [None])[0]).items()):
            print(f"{name}.po: {n} untranslated")
    else:
        sys.exit("usage: python -m telebridge.kit.i18n compile | extract [CATALOG]")
