"""Reader for CirCor DigiScope style directories (patient ``.txt`` + audio + optional ``.tsv``).

Accepts both the Telebridge dev layout (``AV 123_AV.flac 123_AV.tsv``) and the original
PhysioNet layout (``AV 123_AV.hea 123_AV.wav 123_AV.tsv``). Reference segmentations are
optional and only ever used for training / evaluating the segmenter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3")
MURMUR_CLASSES = ("Present", "Unknown", "Absent")
_HEADER = re.compile(r"^\s*(\S+)\s+(\d+)\s+(\d+)\s*$")


@dataclass(frozen=True)
class RecordingRef:
    site: str
    audio_path: Path
    segmentation_path: Path | None

    @property
    def stem(self) -> str:
        return self.audio_path.stem


@dataclass
class Patient:
    patient_id: str
    sample_rate: int
    recordings: list[RecordingRef]
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def murmur(self) -> str | None:
        value = self.meta.get("Murmur")
        return value if value in MURMUR_CLASSES else None

    @property
    def murmur_locations(self) -> set[str]:
        raw = self.meta.get("Murmur locations", "nan")
        return set() if raw in ("nan", "") else set(raw.split("+"))

    @property
    def additional_id(self) -> str | None:
        raw = self.meta.get("Additional ID", "nan")
        return None if raw in ("nan", "") else raw

    @property
    def murmur_timing(self) -> str | None:
        """'systolic', 'diastolic', 'both' or None, from the annotation."""
        sys_ = self.meta.get("Systolic murmur timing", "nan") not in ("nan", "")
        dia = self.meta.get("Diastolic murmur timing", "nan") not in ("nan", "")
        return "both" if sys_ and dia else "systolic" if sys_ else "diastolic" if dia else None

    def recording_label(self, rec: RecordingRef) -> int | None:
        """1 if the murmur is audible at this site, 0 if not, None if unknown."""
        if self.murmur == "Absent":
            return 0
        if self.murmur == "Present":
            locs = self.murmur_locations
            return 1 if (not locs or rec.site in locs) else 0
        return None


def _resolve_audio(directory: Path, tokens: list[str]) -> Path | None:
    for tok in tokens:
        if Path(tok).suffix.lower() in AUDIO_SUFFIXES and (directory / tok).is_file():
            return directory / tok
    for tok in tokens:  # header-named or missing audio: try the same stem with an audio suffix
        stem = Path(tok).stem
        if Path(tok).suffix.lower() in (".hea", *AUDIO_SUFFIXES):
            for suffix in AUDIO_SUFFIXES:
                if (directory / (stem + suffix)).is_file():
                    return directory / (stem + suffix)
    return None


def parse_patient_file(path: Path) -> Patient | None:
    """Parse one ``<patient>.txt``; returns None if it is not a patient description."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    if not lines:
        return None
    head = _HEADER.match(lines[0])
    if not head:
        return None
    pid, n_rec, rate = head.group(1), int(head.group(2)), int(head.group(3))
    recordings: list[RecordingRef] = []
    meta: dict[str, str] = {}
    for line in lines[1:]:
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            meta[key.strip()] = value.strip()
            continue
        if len(recordings) >= n_rec:
            continue
        tokens = line.split()
        audio = _resolve_audio(path.parent, tokens[1:])
        if audio is None:
            continue
        seg = next((path.parent / t for t in tokens[1:] if t.lower().endswith(".tsv")), None)
        recordings.append(RecordingRef(tokens[0], audio, seg if seg is not None and seg.is_file() else None))
    return Patient(pid, rate, recordings, meta)


def load_directory(directory: str | Path) -> list[Patient]:
    """All patients in a directory, sorted by id. Files that are not patient descriptions are skipped."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"Data directory not found: {root}")
    patients = [p for f in sorted(root.glob("*.txt")) if (p := parse_patient_file(f)) is not None]
    return sorted(patients, key=lambda p: p.patient_id)


def read_segmentation(path: Path | None) -> np.ndarray:
    """Reference segmentation as an (n, 3) array of ``start, end, state``."""
    if path is None:
        raise FileNotFoundError("This recording has no reference segmentation (.tsv).")
    arr = np.loadtxt(path, delimiter="\t", ndmin=2)
    return arr.reshape(-1, 3)


def patient_groups(patients: list[Patient]) -> np.ndarray:
    """Group index per patient: union of patient id and ``Additional ID`` (same child, two campaigns)."""
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        parent.setdefault(a, a)
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for p in patients:
        find(p.patient_id)
        if p.additional_id:
            ra, rb = find(p.patient_id), find(p.additional_id)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    roots = {r: i for i, r in enumerate(sorted({find(p.patient_id) for p in patients}))}
    return np.array([roots[find(p.patient_id)] for p in patients], dtype=int)
