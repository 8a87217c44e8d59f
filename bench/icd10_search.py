"""ICD-10 search-as-you-type latency: every prefix a clinician types of real titles and codes.

    .venv/bin/python bench/icd10_search.py [--titles 300] [--seed 1]

Prints one JSON line: index build time, number of queries, p50/p99/max per query in ms.
Aim: p99 < 5 ms on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time

from telebridge.kit.validators import fold
from telebridge.terminology import icd10


def queries(n_titles: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    entries = rng.sample(icd10.all_entries(), n_titles)
    out: list[tuple[str, str]] = []
    for i, e in enumerate(entries):
        text = e.title("vi")
        if i % 3 == 1:
            text = fold(text)  # typed without diacritics
        words = text.split()[:3]
        typed = " ".join(words)
        out.extend(("vi", typed[:k]) for k in range(1, len(typed) + 1))  # keystroke by keystroke
        out.extend(("vi", e.code[:k]) for k in range(1, len(e.code) + 1))
        if i % 5 == 0:
            out.extend(("en", e.title_en[:k]) for k in range(1, min(len(e.title_en), 20) + 1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--titles", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    icd10.warm()
    build_ms = (time.perf_counter() - started) * 1000
    qs = queries(args.titles, args.seed)
    timings = []
    hits = 0
    for lang, q in qs:
        t = time.perf_counter()
        found = icd10.search(q, limit=20, lang=lang)
        timings.append((time.perf_counter() - t) * 1000)
        hits += bool(found)
    timings.sort()
    print(json.dumps({
        "bench": "icd10_search", "codes": len(icd10.all_entries()), "build_ms": round(build_ms, 1),
        "queries": len(timings), "with_results": hits,
        "p50_ms": round(statistics.median(timings), 3), "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 3),
        "max_ms": round(timings[-1], 3), "cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
