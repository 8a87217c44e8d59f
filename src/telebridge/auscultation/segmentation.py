"""Heart-sound segmentation with a logistic-regression hidden semi-Markov model.

Written from the description in Springer, Tarassenko & Clifford (2016), "Logistic
Regression-HSMM-based Heart Sound Segmentation", IEEE TBME 63(4):822-832:

* envelope features at 50 Hz (homomorphic, Hilbert, band and 40-60 Hz power envelopes),
* emission probabilities from a multinomial logistic regression turned into scaled
  likelihoods with Bayes' rule (posterior / prior),
* Gaussian state-duration distributions whose means follow the heart cycle estimated from
  the envelope autocorrelation (search range 40-250 bpm so infants are covered),
* a duration-dependent (explicit-duration) Viterbi decoder over the cyclic chain
  S1 -> systole -> S2 -> diastole, allowing truncated first and last states.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .dsp import ANALYSIS_RATE, FEATURE_RATE, autocorrelation, envelope_features

N_STATES = 4  # 0=S1, 1=systole, 2=S2, 3=diastole (reference .tsv uses 1..4)
STATE_NAMES = ("S1", "systole", "S2", "diastole")
CONTEXT = (-4, -2, 0, 2, 4)  # frame offsets stacked into the emission features
MIN_BPM, MAX_BPM = 40.0, 250.0
_PREV = np.array([3, 0, 1, 2])  # predecessor of each state in the cycle
MIN_FRAMES = 2.0  # 40 ms: below the 0.1st percentile of every annotated state in CirCor


@dataclass
class SegmenterParams:
    """Learned parameters: emission logistic regression + duration model (seconds vs. cycle)."""

    mean: np.ndarray  # (n_features,) standardisation
    scale: np.ndarray
    coef: np.ndarray  # (4, n_features)
    intercept: np.ndarray  # (4,)
    log_prior: np.ndarray  # (4,)
    dur_a: np.ndarray  # (4,) duration mean = a + b * cycle
    dur_b: np.ndarray
    dur_sd: np.ndarray  # (4,) seconds

    def to_dict(self) -> dict[str, list[float] | list[list[float]]]:
        # Rounded so that tiny BLAS-threading differences do not change the stored model.
        return {k: np.round(np.asarray(v, dtype=np.float64), 8).tolist() for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict[str, list]) -> SegmenterParams:
        return cls(**{k: np.asarray(v, dtype=np.float64) for k, v in d.items()})


@dataclass
class Segmentation:
    states: np.ndarray  # (n_frames,) int in 0..3 at FEATURE_RATE
    heart_rate_bpm: float
    cycle_s: float
    log_likelihood: float
    confidence: float  # mean emission posterior of the decoded state

    def segments(self) -> list[tuple[float, float, int]]:
        """(start_s, end_s, state) runs, state numbered 1..4 as in CirCor ``.tsv`` files."""
        change = np.flatnonzero(np.diff(self.states)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [len(self.states)]])
        return [(s / FEATURE_RATE, e / FEATURE_RATE, int(self.states[s]) + 1) for s, e in zip(starts, ends)]

    def onsets(self, state: int) -> np.ndarray:
        """Onset times (s) of state (0..3), excluding a truncated first segment."""
        idx = np.flatnonzero((self.states[1:] == state) & (self.states[:-1] != state)) + 1
        return idx / FEATURE_RATE

    def beats(self, fs: int = ANALYSIS_RATE) -> np.ndarray:
        """Complete cycles as sample indices: rows of (S1, systole, S2, diastole, next S1) starts."""
        seg = [(int(round(s * fs)), st - 1) for s, _, st in self.segments()]
        rows = []
        for i in range(len(seg) - 4):
            if [seg[i + k][1] for k in range(5)] == [0, 1, 2, 3, 0]:
                rows.append([seg[i + k][0] for k in range(5)])
        return np.array(rows, dtype=int).reshape(-1, 5)


def stack_context(env: np.ndarray) -> np.ndarray:
    n = len(env)
    off = max(abs(c) for c in CONTEXT)
    padded = np.pad(env, ((off, off), (0, 0)), mode="edge")
    return np.hstack([padded[off + c : off + c + n] for c in CONTEXT])


def emission_posteriors(features: np.ndarray, params: SegmenterParams) -> np.ndarray:
    z = (features - params.mean) / params.scale @ params.coef.T + params.intercept
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def cycle_candidates(env: np.ndarray, n_peaks: int = 3) -> np.ndarray:
    """Candidate heart-cycle lengths (s) from the envelope autocorrelation (40-250 bpm).

    The highest autocorrelation peak is often half a cycle (S1 aligned with S2) in fast
    infant hearts, so the top peaks plus double and half of the best one are returned and
    the HSMM likelihood chooses among them.
    """
    ac = np.mean([autocorrelation(env[:, i]) for i in range(env.shape[1])], axis=0)
    lo = int(FEATURE_RATE * 60.0 / MAX_BPM)
    hi = min(int(FEATURE_RATE * 60.0 / MIN_BPM), len(ac) - 2)
    if hi <= lo + 2:
        return np.array([0.6])
    seg = ac[lo : hi + 1]
    peaks = np.flatnonzero((seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:])) + 1 + lo
    if len(peaks) == 0:
        peaks = np.array([lo + int(np.argmax(seg))])
    top = peaks[np.argsort(-ac[peaks], kind="stable")][:n_peaks] / FEATURE_RATE
    cands = [*top, 2 * top[0], top[0] / 2]
    cands = sorted(c for c in cands if lo / FEATURE_RATE <= c <= 60.0 / MIN_BPM)
    unique: list[float] = []
    for c in cands:
        if not unique or c > unique[-1] * 1.04:
            unique.append(c)
    return np.array(unique)


def duration_log_pmf(params: SegmenterParams, cycles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log duration pmf and log survival, both (K, d_max + 1, 4), for K candidate cycles (s)."""
    cycles = np.atleast_1d(np.asarray(cycles, dtype=np.float64))[:, None, None]
    means = np.maximum(params.dur_a + params.dur_b * cycles, 0.02) * FEATURE_RATE  # (K, 1, 4)
    sds = np.maximum(params.dur_sd * FEATURE_RATE, 1.0) * np.ones_like(means)
    d_max = int(np.ceil(np.max(means + 4 * sds))) + 1
    d = np.arange(d_max + 1, dtype=np.float64)[None, :, None]
    lo = np.maximum(MIN_FRAMES, np.floor(means - 3.5 * sds))
    hi = np.ceil(means + 4 * sds)
    logp = np.where((d < lo) | (d > hi), -np.inf, -0.5 * ((d - means) / sds) ** 2)
    logp -= np.logaddexp.reduce(logp, axis=1, keepdims=True)
    surv = np.cumsum(np.exp(logp)[:, ::-1], axis=1)[:, ::-1]
    surv[:, 0] = 1.0
    return logp, np.log(np.maximum(surv, 1e-300))


def viterbi_hsmm(log_b: np.ndarray, log_d: np.ndarray, log_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Explicit-duration Viterbi over the cyclic chain, batched over K duration models.

    ``log_b`` (T, 4) log emissions; ``log_d``/``log_s`` (K, D+1, 4) log duration pmf and
    survival. First and last segments may be truncated (scored with the survival function).
    Returns the state path of the best model, the per-model log-likelihoods and its index.
    """
    n, n_models, d_max = len(log_b), log_d.shape[0], log_d.shape[1] - 1
    cum = np.vstack([np.zeros((1, N_STATES)), np.cumsum(log_b, axis=0)])  # cum[t]: frames < t
    # g[:, t + d_max, j]: best score of [0, t) ending with a segment of prev(j), minus cum[t, j]
    g = np.full((n_models, n + 1 + d_max, N_STATES), -np.inf)
    windows = sliding_window_view(g, d_max, axis=1)  # windows[:, t, j, w] = g[:, t + w, j] (a view)
    best_k = np.zeros((n_models, n + 1, N_STATES), dtype=np.int16)  # best duration = d_max - k
    dur_rev = np.ascontiguousarray(log_d[:, 1:][:, ::-1].transpose(0, 2, 1))[:, None]  # w <-> d_max - w
    log_init = -np.log(N_STATES)
    # Durations shorter than `block` are impossible, so `block` frames can be decoded at once:
    # their windows only reach already-final entries (or -inf entries that cannot win).
    finite = np.isfinite(log_d).any(axis=(0, 2))
    block = max(1, int(np.argmax(finite)))
    for t0 in range(1, n + 1, block):
        t1 = min(t0 + block, n + 1)
        win = windows[:, t0:t1] + dur_rev  # (K, b, 4, d_max)
        k = win.argmax(axis=-1)
        f_t = win.max(axis=-1)
        f_t += cum[t0:t1]
        if t0 <= d_max:  # truncated first segment covering [0, t)
            ts = np.arange(t0, t1)
            tt = np.minimum(ts, d_max)
            start = np.where((ts <= d_max)[None, :, None], log_init + log_s[:, tt] + cum[t0:t1], -np.inf)
            better = start > f_t
            f_t = np.where(better, start, f_t)
            k = np.where(better, d_max - ts[None, :, None], k)
        best_k[:, t0:t1] = k
        g[:, t0 + d_max : t1 + d_max] = f_t[:, :, _PREV] - cum[t0:t1]
    dd = np.arange(1, min(d_max, n) + 1)
    end = g[:, n - dd + d_max] + log_s[:, dd] + cum[n]  # (K, len(dd), 4)
    flat = end.reshape(n_models, -1)
    lls = flat.max(axis=1)
    m = int(np.argmax(lls))
    k_d, j_end = np.unravel_index(int(np.argmax(flat[m])), end.shape[1:])
    states = np.empty(n, dtype=np.int8)
    t, j, d = n, int(j_end), int(dd[k_d])
    while t > 0:
        states[t - d : t] = j
        t -= d
        j = int(_PREV[j])
        if t > 0:
            d = d_max - int(best_k[m, t, j])
    return states, lls, m


class Segmenter:
    def __init__(self, params: SegmenterParams) -> None:
        self.params = params

    def features(self, x: np.ndarray) -> np.ndarray:
        return envelope_features(x)

    def segment(self, x: np.ndarray, env: np.ndarray | None = None) -> Segmentation:
        env = envelope_features(x) if env is None else env
        post = emission_posteriors(stack_context(env), self.params)
        log_b = np.log(np.maximum(post, 1e-12)) - self.params.log_prior
        cands = cycle_candidates(env)
        log_d, log_s = duration_log_pmf(self.params, cands)
        states, lls, best = viterbi_hsmm(log_b, log_d, log_s)
        cycle, ll = float(cands[best]), float(lls[best])
        conf = float(post[np.arange(len(states)), states].mean())
        s1 = np.flatnonzero((states[1:] == 0) & (states[:-1] != 0)) + 1
        if len(s1) >= 3:
            cycle = float(np.median(np.diff(s1))) / FEATURE_RATE
        return Segmentation(states, 60.0 / cycle, cycle, ll / max(len(states), 1), conf)


def reference_states(ref: np.ndarray, n_frames: int) -> np.ndarray:
    """Frame labels (0..3, -1 = unannotated) from a reference ``start end state`` table."""
    labels = np.full(n_frames, -1, dtype=np.int8)
    centres = (np.arange(n_frames) + 0.5) / FEATURE_RATE
    for start, end, state in ref:
        if 1 <= state <= 4:
            labels[(centres >= start) & (centres < end)] = int(state) - 1
    return labels


def reference_onsets(ref: np.ndarray, state: int) -> np.ndarray:
    """Onsets (s) of reference segments of ``state`` (1..4) that follow an annotated segment."""
    rows = [i for i in range(1, len(ref)) if ref[i, 2] == state and ref[i - 1, 2] != 0]
    return ref[rows, 0] if rows else np.zeros(0)


def onset_matches(pred: np.ndarray, ref: np.ndarray, tol: float = 0.06) -> int:
    """Number of one-to-one matches between predicted and reference onsets within ``tol`` seconds."""
    pred, ref = np.sort(pred), np.sort(ref)
    i = j = hits = 0
    while i < len(pred) and j < len(ref):
        if abs(pred[i] - ref[j]) <= tol:
            hits, i, j = hits + 1, i + 1, j + 1
        elif pred[i] < ref[j]:
            i += 1
        else:
            j += 1
    return hits


def _segment_durations(ref: np.ndarray) -> tuple[float, list[tuple[int, float]]]:
    s1 = reference_onsets(ref, 1)
    cycle = float(np.median(np.diff(s1))) if len(s1) >= 3 else float("nan")
    inner = [(int(r[2]) - 1, float(r[1] - r[0])) for i, r in enumerate(ref) if 0 < i < len(ref) - 1 and r[2] > 0]
    return cycle, inner


def fit_segmenter(
    items: list[tuple[np.ndarray, np.ndarray]], seed: int = 0, max_frames: int = 400_000
) -> SegmenterParams:
    """Learn emission logistic regression and duration-vs-cycle model from (signal, reference) pairs."""
    from sklearn.linear_model import LogisticRegression

    feats: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    rows: list[tuple[int, float, float]] = []
    for x, ref in items:
        env = envelope_features(x)
        lab = reference_states(ref, len(env))
        keep = lab >= 0
        feats.append(stack_context(env)[keep])
        labels.append(lab[keep])
        true_cycle, segs = _segment_durations(ref)
        cands = cycle_candidates(env)
        est = float(cands[np.argmin(np.abs(cands - true_cycle))]) if np.isfinite(true_cycle) else np.nan
        if np.isfinite(true_cycle) and abs(est / true_cycle - 1) < 0.15:
            rows.extend((st, est, dur) for st, dur in segs)
    x_all, y_all = np.vstack(feats), np.concatenate(labels)
    rng = np.random.default_rng(seed)
    if len(y_all) > max_frames:
        pick = rng.choice(len(y_all), max_frames, replace=False)
        x_all, y_all = x_all[pick], y_all[pick]
    mean, scale = x_all.mean(axis=0), x_all.std(axis=0) + 1e-9
    lr = LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
    lr.fit((x_all - mean) / scale, y_all)
    prior = np.bincount(y_all, minlength=N_STATES) / len(y_all)
    table = np.array(rows, dtype=np.float64)
    a, b, sd = np.zeros(N_STATES), np.zeros(N_STATES), np.zeros(N_STATES)
    for st in range(N_STATES):
        sel = table[table[:, 0] == st]
        design = np.c_[np.ones(len(sel)), sel[:, 1]]
        (a[st], b[st]), *_ = np.linalg.lstsq(design, sel[:, 2], rcond=None)
        resid = sel[:, 2] - design @ np.array([a[st], b[st]])
        sd[st] = 1.4826 * np.median(np.abs(resid - np.median(resid)))
    return SegmenterParams(mean, scale, lr.coef_, lr.intercept_, np.log(prior), a, b, sd)


def segmentation_scores(
    segmenter: Segmenter, items: list[tuple[np.ndarray, np.ndarray]], tol: float = 0.06
) -> dict[str, float]:
    """S1/S2 onset F1 (within ``tol`` s) against reference tables, inside the annotated span only,
    plus the share of recordings whose heart rate is within 10 % of the reference."""
    hits, n_pred, n_ref = np.zeros(2), np.zeros(2), np.zeros(2)
    hr_ok = []
    for x, ref in items:
        seg = segmenter.segment(x)
        annotated = ref[ref[:, 2] > 0]
        if len(annotated) == 0:
            continue
        lo, hi = annotated[:, 0].min() + tol / 2, annotated[:, 1].max() - tol / 2
        for k, state in enumerate((0, 2)):
            pred = seg.onsets(state)
            pred = pred[(pred >= lo) & (pred <= hi)]
            ref_on = reference_onsets(ref, state + 1)
            hits[k] += onset_matches(pred, ref_on, tol)
            n_pred[k] += len(pred)
            n_ref[k] += len(ref_on)
        true_cycle, _ = _segment_durations(ref)
        if np.isfinite(true_cycle):
            hr_ok.append(abs(seg.cycle_s / true_cycle - 1) < 0.1)
    f1 = 2 * hits / np.maximum(n_pred + n_ref, 1)
    return {
        "f1_s1": round(float(f1[0]), 4),
        "f1_s2": round(float(f1[1]), 4),
        "f1": round(float(2 * hits.sum() / max((n_pred + n_ref).sum(), 1)), 4),
        "heart_rate_within_10pct": round(float(np.mean(hr_ok)) if hr_ok else float("nan"), 4),
        "n_recordings": len(items),
    }
