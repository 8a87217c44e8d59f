"""ICD-10 with Vietnamese titles: lookup, search as you type, the remote-treatment list.

The list ships with the package (``data/icd10.json.gz``, see ``data/README.md`` for its
provenance) and is indexed in memory once, on first use: ~12,000 codes, a few MB of RAM.

Search: a code prefix ("J18", "j18.", "J189") lists those codes first, in code order; then
every title whose words start with every word of the query, diacritics ignored ("viem phoi"
finds "Viêm phổi"), ranked: exact spelling with diacritics, the whole phrase, a match in the
asked language's title, then categories before subcategories and shorter titles first.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from telebridge.kit import validators
from telebridge.kit.errors import BadInput
from telebridge.kit.i18n import N_
from telebridge.kit.validators import fold

MAX_QUERY = 100
MAX_LIMIT = 50
_CODE_PREFIX = re.compile(r"^[A-Z](\d{1,2}(\.?\d{0,2})?)?$")
_WORD = re.compile(r"[0-9a-z]+")


@dataclass(frozen=True, slots=True)
class Icd10Group:
    """A chapter ("X", J00-J99) or a block ("J09-J18")."""

    id: str
    first: str
    last: str
    title_en: str
    title_vi: str

    def title(self, lang: str = "vi") -> str:
        return self.title_vi if lang == "vi" and self.title_vi else self.title_en


@dataclass(frozen=True, slots=True)
class Icd10Entry:
    code: str  # "J18.9"
    title_en: str  # WHO English title
    title_vi: str  # Vietnamese title; "" when the packaged list has none (never invented)
    block: Icd10Group | None
    chapter: Icd10Group | None
    remote_treatment: bool  # listed in Circular 30/2023/TT-BYT (see data/remote_treatment.csv)

    @property
    def vi_missing(self) -> bool:
        return not self.title_vi

    @property
    def is_category(self) -> bool:
        """A 3-character category (J18) rather than a subcategory (J18.9)."""
        return len(self.code) == 3

    def title(self, lang: str = "vi") -> str:
        return self.title_vi if lang == "vi" and self.title_vi else self.title_en

    def as_dict(self, lang: str = "vi") -> dict[str, Any]:
        return {
            "code": self.code, "title": self.title(lang), "title_vi": self.title_vi or None, "title_en": self.title_en,
            "block": self.block.id if self.block else None,
            "block_title": self.block.title(lang) if self.block else None,
            "chapter": self.chapter.id if self.chapter else None,
            "chapter_title": self.chapter.title(lang) if self.chapter else None,
            "remote_treatment": self.remote_treatment,
        }


class _Index:
    def __init__(self) -> None:
        data = json.loads(gzip.decompress(resources.files(__package__).joinpath("data/icd10.json.gz").read_bytes()))
        self.source: dict[str, str] = data["source"]
        self.chapters = [Icd10Group(c["id"], c["first"], c["last"], c["en"], c["vi"]) for c in data["chapters"]]
        self.blocks = sorted((Icd10Group(b["id"], b["first"], b["last"], b["en"], b["vi"]) for b in data["blocks"]),
                             key=lambda b: b.first)
        chapter_of_block = {b["id"]: b["chapter"] for b in data["blocks"]}
        blocks = {b.id: b for b in self.blocks}
        chapters = {c.id: c for c in self.chapters}
        self.remote = _remote_rules()
        # Each code carries its place in the source: a block id ("J10-J18") or, for the few codes
        # added after the source's blocks (J09, U82-U85 …), a chapter id ("X").
        entries = [Icd10Entry(code, en, vi, blocks.get(group), chapters.get(chapter_of_block.get(group, group)),
                              _remote_allowed(code, self.remote))
                   for code, en, vi, group in data["codes"]]
        entries.sort(key=lambda e: e.code)
        self.entries = entries
        self.by_code = {e.code: e for e in entries}
        self.keys = [e.code.replace(".", "") for e in entries]  # sorted, for code-prefix bisect
        # Word matches are indexed in a static order: categories first, then shorter titles, then
        # code; position i in `ranked` is the tie-break rank of the entry.
        self.ranked = sorted(entries, key=lambda e: (len(e.code), len(e.title_vi or e.title_en), e.code))
        self.folded = {lang: [fold(e.title(lang)) for e in self.ranked] for lang in ("vi", "en")}
        self.lower = {lang: [e.title(lang).lower() for e in self.ranked] for lang in ("vi", "en")}
        postings: dict[str, set[int]] = {}
        for i in range(len(self.ranked)):
            for word in set(_WORD.findall(self.folded["vi"][i] + " " + self.folded["en"][i])):
                postings.setdefault(word, set()).add(i)
        self.words = sorted(postings)
        self.postings = postings
        self._prefix_cache: dict[str, tuple[frozenset[int], tuple[int, ...]]] = {}

    def with_word_prefix(self, token: str) -> tuple[frozenset[int], tuple[int, ...]]:
        """Entries having a word that starts with ``token``: as a set, and sorted (= rank order)."""
        cached = self._prefix_cache.get(token)
        if cached is not None:
            return cached
        lo = bisect.bisect_left(self.words, token)
        hi = bisect.bisect_left(self.words, token + "\x7f")
        found: set[int] = set()
        for word in self.words[lo:hi]:
            found |= self.postings[word]
        result = (frozenset(found), tuple(sorted(found)))
        if len(self._prefix_cache) < 20000:
            self._prefix_cache[token] = result
        return result


@lru_cache(maxsize=1)
def _index() -> _Index:
    return _Index()


def warm() -> None:
    """Build the index now (e.g. at start-up) instead of on the first search."""
    _index()


def source() -> dict[str, str]:
    return dict(_index().source)


def all_entries() -> list[Icd10Entry]:
    return list(_index().entries)


def chapters() -> list[Icd10Group]:
    return list(_index().chapters)


def lookup(code: str | None) -> Icd10Entry | None:
    """The entry for a code ("J18.9", "j189", " I10 "), or None when it is not in the list.
    A malformed code is a BadInput (translated message)."""
    value = (code or "").strip().upper()
    if re.fullmatch(r"[A-Z]\d{3,4}", value):  # J189 → J18.9
        value = value[:3] + "." + value[3:]
    value = validators.icd10(value)
    return _index().by_code.get(value)


def search(q: str | None, limit: int = 20, lang: str = "vi") -> list[Icd10Entry]:
    """Entries for what the user has typed so far: code prefix matches first, then title words."""
    q = (q or "").strip()
    if not q:
        return []
    if len(q) > MAX_QUERY:
        raise BadInput(N_("Type at most {max} characters to search."), field="q", max=MAX_QUERY)
    limit = max(1, min(int(limit), MAX_LIMIT))
    lang = lang if lang in ("vi", "en") else "vi"
    idx = _index()
    out: list[Icd10Entry] = []
    seen: set[str] = set()

    compact = q.upper().replace(" ", "")
    if _CODE_PREFIX.match(compact):
        key = compact.replace(".", "")
        lo = bisect.bisect_left(idx.keys, key)
        hi = bisect.bisect_left(idx.keys, key + "\x7f")
        for e in idx.entries[lo:min(hi, lo + limit)]:
            out.append(e)
            seen.add(e.code)
        if len(out) >= limit:
            return out

    folded_q = fold(q)
    tokens = _WORD.findall(folded_q)
    if not tokens:
        return out
    matches = sorted((idx.with_word_prefix(t) for t in dict.fromkeys(tokens)), key=lambda m: len(m[1]))
    ordered: Iterable[int] = matches[0][1]
    if len(matches) > 1:
        candidates = set(matches[0][0])
        for found, _ in matches[1:]:
            candidates &= found
            if not candidates:
                return out
        ordered = sorted(candidates)
    phrase = " ".join(tokens)
    lower_q = " ".join(q.lower().split())
    with_marks = lower_q != folded_q  # the user typed diacritics: honour them in the ranking
    folded = idx.folded[lang]
    lower = idx.lower[lang]
    # Tiers, best first: exact spelling with diacritics, the whole phrase, every word in the asked
    # language's title, the title starting with the phrase. Candidates are visited in static rank
    # order, so a tier's bucket is already sorted, and the scan stops once the best reachable
    # tier holds enough entries: nothing later can outrank them.
    best = (0 if with_marks else 1, 0, 0, 0)
    buckets: dict[tuple[int, int, int, int], list[int]] = {}
    wanted = limit  # the slots left (limit - len(out)) plus the codes listed already, skipped below
    for i in ordered:
        hay = folded[i]
        tier = (
            0 if with_marks and lower_q in lower[i] else 1,
            0 if phrase in hay else 1,
            0 if all(t in hay for t in tokens) else 1,
            0 if hay.startswith(phrase) else 1,
        )
        bucket = buckets.setdefault(tier, [])
        if len(bucket) < wanted:
            bucket.append(i)
            if tier == best and len(bucket) >= wanted:
                break
    for tier in sorted(buckets):
        for i in buckets[tier]:
            e = idx.ranked[i]
            if e.code in seen:
                continue
            out.append(e)
            if len(out) >= limit:
                return out
    return out


def resolve_codes(values: list[str] | tuple[str, ...]) -> tuple[list[Icd10Entry], list[BadInput]]:
    """Entries for codes as submitted by a form: repeated fields and/or text typed without
    JavaScript ("J18.9, I10; e11"). Duplicates are dropped, order kept; each bad code gives a
    translated error (malformed, or not in the list) instead of stopping the others."""
    found: list[Icd10Entry] = []
    errors: list[BadInput] = []
    seen: set[str] = set()
    for value in values:
        for raw in re.split(r"[,;\s]+", value or ""):
            if not raw:
                continue
            try:
                entry = lookup(raw)
            except BadInput:
                errors.append(BadInput(N_("“{value}” is not an ICD-10 code."), field="icd10", value=raw[:20]))
                continue
            if entry is None:
                errors.append(BadInput(N_("This ICD-10 code is not in the list: {value}."), field="icd10", value=raw[:20]))
            elif entry.code not in seen:
                seen.add(entry.code)
                found.append(entry)
    return found, errors


# --------------------------------------------------------------------------- remote treatment

REMOTE_STATUSES = ("annex", "partial", "provisional")  # see data/remote_treatment.csv


def remote_treatment_rows() -> list[dict[str, str]]:
    """The rows of ``data/remote_treatment.csv`` in file order (Circular 30/2023/TT-BYT annex rows,
    then rows not yet read in the annex; ``status`` tells which, see ``data/README.md``)."""
    text = resources.files(__package__).joinpath("data/remote_treatment.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#")))
    for row in rows:
        if row["status"] not in REMOTE_STATUSES:
            raise ValueError(f"remote_treatment.csv: unknown status {row['status']!r} for {row['icd10']!r}")
    return rows


def expand_icd10_spec(spec: str) -> tuple[frozenset[str], frozenset[str]]:
    """(3-character categories, subcategory codes) named by one annex cell: a code ("E66", "J31.1"),
    a range of categories ("E00-E07") or a list of those separated by ";" or "," ("L20, L23")."""
    categories: set[str] = set()
    codes: set[str] = set()
    for part in re.split(r"[;,]", spec):
        first, _, last = part.strip().upper().partition("-")
        if last:
            first, last = validators.icd10(first), validators.icd10(last)
            if len(first) != 3 or len(last) != 3 or first[0] != last[0] or first > last:
                raise ValueError(f"not a range of ICD-10 categories: {part.strip()!r}")
            categories.update(f"{first[0]}{n:02d}" for n in range(int(first[1:]), int(last[1:]) + 1))
        elif len(first) == 3:
            categories.add(validators.icd10(first))
        else:
            codes.add(validators.icd10(first))
    return frozenset(categories), frozenset(codes)


def _remote_rules() -> tuple[frozenset[str], frozenset[str]]:
    """(3-character categories, subcategory codes) listed for remote treatment."""
    categories: set[str] = set()
    codes: set[str] = set()
    for row in remote_treatment_rows():
        row_categories, row_codes = expand_icd10_spec(row["icd10"])
        categories |= row_categories
        codes |= row_codes
    return frozenset(categories), frozenset(codes)


def _remote_allowed(code: str, rules: tuple[frozenset[str], frozenset[str]]) -> bool:
    categories, codes = rules
    return code[:3] in categories or any(code == c or code.startswith(c) for c in codes)


def allowed_for_remote_treatment(code: str) -> bool:
    """Whether remote *treatment* may be given for this diagnosis (Circular 30/2023/TT-BYT).
    A listed category covers its subcategories (E11 → E11.9); a listed subcategory (M54.5)
    covers only itself. Remote *consultation* between facilities is not limited by this list."""
    value = (code or "").strip().upper()
    if re.fullmatch(r"[A-Z]\d{3,4}", value):
        value = value[:3] + "." + value[3:]
    value = validators.icd10(value)
    return _remote_allowed(value, _index().remote)
