"""Heart-sound (phonocardiogram) murmur screening for Telebridge.

Decision support, not a diagnosis. Typical use from the web layer::

    from telebridge.auscultation import analyze_exam, load_audio
    audio = load_audio(uploaded_bytes)
    exam = analyze_exam([(audio.samples, audio.sample_rate, "MV")])
    exam.murmur, exam.probability_present, exam.sites, exam.disclaimer
"""

from .dsp import ANALYSIS_RATE, Audio, AudioError, load_audio
from .model import (
    DISCLAIMER,
    ExamResult,
    RecordingResult,
    ScreeningModel,
    analyze_exam,
    analyze_recording,
    default_model,
)
from .quality import QualityResult, assess_quality

__all__ = [
    "ANALYSIS_RATE",
    "Audio",
    "AudioError",
    "DISCLAIMER",
    "ExamResult",
    "QualityResult",
    "RecordingResult",
    "ScreeningModel",
    "analyze_exam",
    "analyze_recording",
    "assess_quality",
    "default_model",
    "load_audio",
]
