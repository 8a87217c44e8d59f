"""Analysis speed of the auscultation pipeline per 20 s of recording, on one core.

Usage: PYTHONPATH=src python bench/auscultation_speed.py [--data DIR] [--n 80]
Prints one JSON line. Timed: quality gate + HSMM segmentation + features + model (audio
decoding is excluded; it is I/O). Times are scaled to a 20 s recording.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from telebridge.auscultation.data import load_directory  # noqa: E402
from telebridge.auscultation.dsp import load_audio  # noqa: E402
from telebridge.auscultation.model import default_model  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "circor-dev"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=80, help="number of recordings sampled (evenly spaced)")
    args = parser.parse_args()
    model = default_model()
    recs = [r for p in load_directory(args.data) for r in p.recordings]
    sample = recs[:: max(1, len(recs) // args.n)][: args.n]
    total, segment = [], []
    for rec in sample:
        audio = load_audio(rec.audio_path)
        scale = 20.0 / audio.duration
        t0 = time.perf_counter()
        model.analyze_recording(audio.samples, audio.sample_rate, rec.site)
        total.append((time.perf_counter() - t0) * scale)
        t0 = time.perf_counter()
        model.segmenter.segment(audio.samples)
        segment.append((time.perf_counter() - t0) * scale)
    ms = lambda v, q: round(float(np.percentile(v, q)) * 1000, 1)  # noqa: E731
    print(
        json.dumps(
            {
                "recordings": len(sample),
                "median_ms_per_20s": ms(total, 50),
                "p95_ms_per_20s": ms(total, 95),
                "segmentation_median_ms_per_20s": ms(segment, 50),
                "segmentation_p95_ms_per_20s": ms(segment, 95),
                "threads": 1,
                "model_version": model.version,
            }
        )
    )


if __name__ == "__main__":
    main()
