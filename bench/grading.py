"""Benchmark: the grading core — scoring, item statistics and 雷同卷 similarity at sitting scale.

    python3 bench/grading.py [--quick] [--seed 1] [--repeat 3] [--profile]

Every step runs against a baseline in the same process, on data generated from ``--seed``.
Each timed call is made once first (``*_first_s``: the first call in a process touches fresh
memory, which on the benchmark VM costs more kernel time than the work) and then ``--repeat``
times; the median of those is the figure. Steps:

1. **Scoring** 1,000,000 sheets × 100 objective items held in memory as ``uint16`` option
   bitmasks (60 single choice with 4–5 options, 25 multiple choice scored ``subset_partial`` 0.5,
   15 true/false; answers drawn from a 3-parameter logistic model with one attractive
   distractor per item, cautious proper subsets on multiple choice, ~1.5 % blanks, 0.1 %
   unreadable codes, 0.1 % wholly blank sheets). ``score_choices`` → ``score_s``. Baseline: a pure-Python loop (per sheet, per item: compare, subset check,
   add points) over Python lists on a 10,000-sheet sample, scaled ×100 →
   ``score_python_ratio`` = baseline_scaled / score_s; the two must agree exactly.
2. **Statistics** (``item_statistics``, every Moodle figure plus KR-20) on the scores of
   100,000 fresh sheets with 2 % of cells missing (NaN) → ``stats_s``.
   Baseline: ``pingouin.cronbach_alpha`` on the same matrix as a DataFrame (it computes alpha
   only) → ``stats_pingouin_ratio`` = pingouin_s / stats_s; the alphas must agree to 1e-9.
   ``--profile`` (or a missed goal) adds a cProfile and a stage-by-stage timing to stderr.
3. **Similarity** (``similar_pairs``, all 49,995,000 pairs of 10,000 candidates, threshold 6 as
   the module recommends at this size) with 5 planted copied pairs (90–100 % of a sheet with
   ≥ 40 wrong answers copied) that must all be flagged → ``similarity_s``. Baseline: a numpy
   loop over the pairs of a 300-candidate sample (the planted candidates and random others,
   44,850 pairs) with the same q from the whole sitting, scaled to all pairs →
   ``similarity_baseline_ratio``; its flags on the sample must equal ours.
4. **Memory**: one extra run of each step under ``tracemalloc`` (numpy reports its buffers to
   it), peak bytes allocated by the call including its result, inputs excluded →
   ``score_peak_mb``, ``stats_peak_mb``, ``similarity_peak_mb``; ``peak_mb`` is the largest.

``--quick`` shrinks everything (50,000 / 10,000 / 1,000 candidates) for a smoke run.
Prints one line per figure, then LAST one JSON object with every figure; exits 1 when a
correctness check fails (the figures are printed first). The sha256 of the three modules and
the load average are kept in the JSON: the machine is shared, and a busy neighbour on two cores
slows the BLAS products most.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import math
import os
import pstats
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pingouin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from certify.grading import statistics as grading_stats
from certify.grading.scoring import INVALID, score_choices
from certify.grading.similarity import similar_pairs

SINGLE, MULTIPLE, TRUE_FALSE = 60, 25, 15
POINTS = {"single": 1.0, "multiple": 2.0, "true_false": 1.0}
PARTIAL = 0.5
GOALS = {"score_s": 1.0, "stats_s": 0.5, "similarity_s": 10.0}
MB = 1 << 20


# --------------------------------------------------------------------------- data


def make_exam(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Keys, points, kinds and 3PL item parameters of a 100-item objective paper."""
    k = SINGLE + MULTIPLE + TRUE_FALSE
    kind = np.array([0] * SINGLE + [1] * MULTIPLE + [2] * TRUE_FALSE)
    options = np.where(kind == 2, 2, np.where(rng.random(k) < 0.2, 5, 4))
    keys = np.zeros(k, dtype=np.uint16)
    for i in range(k):
        if kind[i] == 1:  # 2 .. options-1 right options, so a wrong option always exists
            size = rng.integers(2, options[i])
            keys[i] = sum(1 << int(b) for b in rng.choice(options[i], size, replace=False))
        else:
            keys[i] = 1 << int(rng.integers(options[i]))
    points = np.array(
        [POINTS["single"], POINTS["multiple"], POINTS["true_false"]], dtype=np.float64
    )[kind]
    guess = np.array([0.2, 0.02, 0.5])[kind] * np.where(options == 5, 0.8, 1.0)
    return {
        "kind": kind,
        "options": options,
        "keys": keys,
        "points": points,
        "multiple": kind == 1,
        "a": rng.uniform(0.7, 2.0, k),
        "b": rng.normal(-0.6, 1.0, k),
        "c": guess,
        "attractive": rng.integers(1, 4, k),  # offset of each item's favourite distractor
        "blank": rng.uniform(0.005, 0.03, k),
    }


def make_responses(exam: dict[str, np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """(n × 100) uint16 bitmasks drawn item by item (columns of length n, so memory is O(n))."""
    k = len(exam["keys"])
    out = np.empty((n, k), dtype=np.uint16)
    theta = rng.normal(size=n)
    for i in range(k):
        key, opts = int(exam["keys"][i]), int(exam["options"][i])
        logit = exam["a"][i] * (theta - exam["b"][i])
        p = exam["c"][i] + (1 - exam["c"][i]) / (1 + np.exp(-logit))
        right = rng.random(n) < p
        kind = exam["kind"][i]
        if kind == 1:
            # wrong: 55 % a cautious proper subset of the key, else the key with one option
            # swapped or added for a wrong one (favourite wrong option first)
            sub = key & rng.integers(1, 1 << opts, n)
            lowest = key & -key
            sub = np.where((sub == 0) | (sub == key), key & ~lowest, sub)
            wrong_opts = [b for b in range(opts) if not key >> b & 1]
            pick = np.where(rng.random(n) < 0.6, 0, rng.integers(0, len(wrong_opts), n)) % len(
                wrong_opts
            )
            extra = (1 << np.array(wrong_opts))[pick]
            keep = np.where(rng.random(n) < 0.5, key, sub)
            wrong = np.where(rng.random(n) < 0.55, sub, keep | extra)
        else:
            code = int(key).bit_length() - 1
            offset = np.where(
                rng.random(n) < 0.55,
                min(int(exam["attractive"][i]), opts - 1),
                rng.integers(1, opts, n),
            )
            wrong = 1 << ((code + offset) % opts)
            if kind == 0:  # a few sheets mark two options on a single-choice item
                wrong = np.where(rng.random(n) < 0.01, wrong | key, wrong)
        col = np.where(right, key, wrong).astype(np.uint16)
        col[rng.random(n) < exam["blank"][i]] = 0
        col[rng.random(n) < 0.001] = INVALID
        out[:, i] = col
    out[rng.random(n) < 0.001] = 0  # absent candidates: wholly blank sheets
    return out


# --------------------------------------------------------------------------- helpers


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


@dataclass
class Timing:
    """``median`` of the timed runs; ``runs`` and ``kernel`` (system CPU seconds) per run."""

    median: float
    result: Any
    runs: list[float]
    kernel: list[float]
    first: float


def measure(repeat: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Timing:
    """One first call, reported apart, then ``repeat`` timed calls.

    The first call in a process touches fresh memory, which on the benchmark VM costs more
    kernel time than the work itself. Later calls can pay it again (a freed large array goes
    back to the kernel, and the VM may hand its pages back to the host), so the system CPU time
    of every run is kept: it tells page faults apart from computation.
    """
    first, result = timed(fn, *args, **kwargs)
    runs, kernel = [], []
    for _ in range(repeat):
        del result
        before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        seconds, result = timed(fn, *args, **kwargs)
        kernel.append(resource.getrusage(resource.RUSAGE_SELF).ru_stime - before)
        runs.append(seconds)
    return Timing(statistics.median(runs), result, runs, kernel, first)


def traced_peak_mb(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    """Peak bytes allocated while ``fn`` runs (its result included), in MiB."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = fn(*args, **kwargs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return peak / MB


def timing_figures(prefix: str, timing: Timing) -> dict[str, Any]:
    return {
        f"{prefix}_runs_s": [round(t, 4) for t in timing.runs],
        f"{prefix}_kernel_runs_s": [round(t, 4) for t in timing.kernel],
        f"{prefix}_first_s": timing.first,
    }


def print_runs(name: str, timing: Timing) -> None:
    runs = ", ".join(f"{t:.3f}" for t in timing.runs)
    kernel = ", ".join(f"{t:.3f}" for t in timing.kernel)
    print(f"    runs {runs} s (of which kernel CPU {kernel} s); first call {timing.first:.3f} s")


# --------------------------------------------------------------------------- baselines


def score_python(
    responses: list[list[int]],
    keys: list[int],
    points: list[float],
    multiple: list[bool],
    fraction: float,
) -> list[list[float]]:
    out = []
    for sheet in responses:
        row = []
        for r, k, p, m in zip(sheet, keys, points, multiple, strict=True):
            if r == k:
                row.append(p)
            elif m and fraction and r != 0 and r & ~k == 0:
                row.append(p * fraction)
            else:
                row.append(0.0)
        out.append(row)
    return out


def wrong_agreement(responses: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    """Per item, the chance two wrong answers agree: Σ share² over wrong answer patterns."""
    q = np.zeros(responses.shape[1])
    for i in range(responses.shape[1]):
        _, counts = np.unique(responses[wrong[:, i], i], return_counts=True)
        if counts.sum():
            q[i] = float(((counts / counts.sum()) ** 2).sum())
    return q


def similarity_loop(
    responses: np.ndarray,
    wrong: np.ndarray,
    q: np.ndarray,
    threshold: float,
    min_matches: int = 3,
) -> list[tuple[int, int, float]]:
    """Error-similarity z of every pair of rows, one pair at a time."""
    qv = q * (1 - q)
    flagged = []
    n = len(responses)
    for a in range(n):
        ra, wa = responses[a], wrong[a]
        for b in range(a + 1, n):
            both = wa & wrong[b]
            matches = int((both & (ra == responses[b])).sum())
            variance = float(qv[both].sum())
            if variance <= 0:
                continue
            z = (matches - float(q[both].sum())) / math.sqrt(variance)
            if z >= threshold and matches >= min_matches:
                flagged.append((a, b, z))
    return flagged


# --------------------------------------------------------------------------- profiling


def stage_times(x: np.ndarray, max_marks: np.ndarray) -> dict[str, float]:
    """Wall time of each stage item_statistics runs: its own lines copied, its helpers as is."""
    stages: dict[str, float] = {}
    whole = time.perf_counter()
    t = time.perf_counter()
    observed = ~np.isnan(x)
    filled = np.where(observed, x, 0.0)
    total = filled.sum(axis=1)
    attempts = observed.sum(axis=0)
    mean = filled.sum(axis=0) / attempts
    var = (np.where(observed, (filled - mean) ** 2, 0.0)).sum(axis=0) / (attempts - 1)
    stages["masks, totals, facility, sd"] = time.perf_counter() - t
    t = time.perf_counter()
    rest = total[:, None] - filled
    stages["rest-of-test matrix X-i"] = time.perf_counter() - t
    t = time.perf_counter()
    grading_stats._discrimination(filled, rest, observed, mean)
    stages["_discrimination (loop over items)"] = time.perf_counter() - t
    t = time.perf_counter()
    columns = []
    for i in range(x.shape[1]):
        rows = observed[:, i]
        columns.append((filled[rows, i], rest[rows, i]))
    stages["  its column gathers filled[rows, i], rest[rows, i]"] = time.perf_counter() - t
    t = time.perf_counter()
    for xi, yi in columns:
        dx, dy = xi - xi.mean(), yi - yi.mean()
        float(dx @ dy), float(dx @ dx), float(dy @ dy)
    stages["  its centring and three dot products"] = time.perf_counter() - t
    t = time.perf_counter()
    for xi, yi in columns:
        grading_stats._max_covariance(xi, yi)
    stages["  its _max_covariance calls"] = time.perf_counter() - t
    t = time.perf_counter()
    grading_stats._covariance_with(filled, total[:, None], observed)
    stages["_covariance_with (effective weight)"] = time.perf_counter() - t
    t = time.perf_counter()
    grading_stats.pairwise_covariance(x)
    stages["pairwise_covariance (CIC)"] = time.perf_counter() - t
    t = time.perf_counter()
    grading_stats.kr20(x, max_marks)
    stages["kr20"] = time.perf_counter() - t
    stages["all stages (the gathers and dots counted twice)"] = time.perf_counter() - whole
    del var, columns
    return stages


def profile_statistics(
    x: np.ndarray, max_marks: np.ndarray, repeat: int, top: int = 22
) -> tuple[str, dict]:
    """cProfile of one item_statistics call, and the median wall time of each of its stages."""
    profiler = cProfile.Profile()
    profiler.enable()
    grading_stats.item_statistics(x, max_marks)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    runs = [stage_times(x, max_marks) for _ in range(repeat)]
    stages = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
    return out.getvalue(), stages


# --------------------------------------------------------------------------- steps


def bench_scoring(args: argparse.Namespace, exam: dict, figures: dict, checks: dict) -> None:
    n, sample = args.score_n, args.score_sample
    gen_s, responses = timed(make_responses, exam, n, np.random.default_rng(args.seed))
    keys, points, multiple = exam["keys"], exam["points"], exam["multiple"]
    call = (responses, keys, points, multiple)
    timing = measure(args.repeat, score_choices, *call, partial_fraction=PARTIAL)
    score_s, scores = timing.median, timing.result
    lists = responses[:sample].tolist()
    py_args = (lists, keys.tolist(), points.tolist(), multiple.tolist(), PARTIAL)
    baseline = measure(args.repeat, score_python, *py_args)
    py_s, py_scores = baseline.median, baseline.result
    agree = bool(np.array_equal(np.array(py_scores, dtype=np.float32), scores[:sample]))
    del scores
    peak = traced_peak_mb(score_choices, *call, partial_fraction=PARTIAL)
    scaled = py_s * n / sample
    figures.update(
        score_sheets=n,
        score_generate_s=gen_s,
        score_s=score_s,
        **timing_figures("score", timing),
        score_python_sample=sample,
        score_python_s_scaled=scaled,
        score_python_ratio=scaled / score_s,
        score_peak_mb=peak,
    )
    checks["score_agree"] = agree
    print(f"scoring: {n:,} sheets × {responses.shape[1]} items ({responses.nbytes / MB:.0f} MiB)")
    print(f"  generate responses:                  {gen_s:.2f} s")
    print(f"  score_choices (median of {args.repeat}):       {score_s:.3f} s (goal ≤ 1 s)")
    print_runs("score_choices", timing)
    print(f"  baseline pure Python ({sample:,} sheets, ×{n / sample:g}): {scaled:.1f} s")
    print(f"  ratio baseline / score_choices:      {scaled / score_s:.0f}×")
    print(f"  agree exactly on the sample:         {agree}")
    print(f"  peak memory of the call:             {peak:.0f} MiB")


def bench_statistics(args: argparse.Namespace, exam: dict, figures: dict, checks: dict) -> None:
    n = args.stats_n
    rng = np.random.default_rng(args.seed + 1)
    responses = make_responses(exam, n, rng)
    x = score_choices(responses, exam["keys"], exam["points"], exam["multiple"]).astype(np.float64)
    x[rng.random(x.shape) < 0.02] = np.nan
    max_marks = exam["points"]
    timing = measure(args.repeat, grading_stats.item_statistics, x, max_marks)
    stats_s, result = timing.median, timing.result
    frame = pd.DataFrame(x)
    baseline = measure(args.repeat, pingouin.cronbach_alpha, frame)
    ping_s, (alpha, _) = baseline.median, baseline.result
    diff = abs(result.cic / 100 - alpha)
    peak = traced_peak_mb(grading_stats.item_statistics, x, max_marks)
    figures.update(
        stats_candidates=n,
        stats_missing_share=float(np.isnan(x).mean()),
        stats_s=stats_s,
        **timing_figures("stats", timing),
        stats_pingouin_s=ping_s,
        stats_pingouin_ratio=ping_s / stats_s,
        stats_alpha=float(alpha),
        stats_alpha_diff=float(diff),
        stats_kr20=result.kr20,
        stats_peak_mb=peak,
    )
    checks["stats_alpha_agree"] = bool(diff < 1e-9)
    print(f"statistics: {n:,} candidates × {x.shape[1]} items, {np.isnan(x).mean():.1%} missing")
    print(f"  item_statistics (median of {args.repeat}):     {stats_s:.3f} s (goal ≤ 0.5 s)")
    print_runs("item_statistics", timing)
    print(f"  baseline pingouin.cronbach_alpha:    {ping_s:.3f} s (alpha only)")
    print(f"  ratio pingouin / item_statistics:    {ping_s / stats_s:.1f}×")
    print(f"  alpha {alpha:.6f}; |ours − pingouin| = {diff:.1e} (< 1e-9: {diff < 1e-9})")
    print(f"  peak memory of the call:             {peak:.0f} MiB")
    if args.profile or stats_s > GOALS["stats_s"]:
        report, stages = profile_statistics(x, max_marks, args.repeat)
        figures["stats_stages_s"] = {k: round(v, 4) for k, v in stages.items()}
        print(report, file=sys.stderr)
        print(f"item_statistics stages (median of {args.repeat}):")
        for name, seconds in stages.items():
            print(f"  {name:<50} {seconds:.3f} s")


def plant_copies(
    responses: np.ndarray, keys: np.ndarray, rng: np.random.Generator, count: int = 5
) -> list[tuple[int, int]]:
    """Copy 90–100 % of a weak candidate's sheet onto another's; returns (a, b) with a < b."""
    wrong = ((responses != 0) & (responses != keys)).sum(axis=1)
    weak = rng.permutation(np.flatnonzero(wrong >= 40))
    used: set[int] = set()
    pairs = []
    for j, fraction in enumerate(np.linspace(1.0, 0.9, count)):
        source = int(weak[j])
        copier = int(rng.integers(len(responses)))
        while copier in used or copier in weak[:count]:
            copier = int(rng.integers(len(responses)))
        used |= {source, copier}
        copy = rng.random(responses.shape[1]) < fraction
        responses[copier, copy] = responses[source, copy]
        pairs.append((min(source, copier), max(source, copier)))
    return pairs


def bench_similarity(args: argparse.Namespace, exam: dict, figures: dict, checks: dict) -> None:
    n, sample_n = args.similarity_n, args.similarity_sample
    rng = np.random.default_rng(args.seed + 2)
    responses = make_responses(exam, n, rng)
    keys = exam["keys"]
    planted = plant_copies(responses, keys, rng)
    threshold = args.threshold
    timing = measure(args.repeat, similar_pairs, responses, keys, threshold=threshold)
    sim_s, pairs = timing.median, timing.result
    found = {(p.a, p.b) for p in pairs}
    planted_found = sum(pair in found for pair in planted)
    # baseline: every pair of a sample holding the planted candidates, q from the whole sitting
    members = sorted({c for pair in planted for c in pair})
    others = rng.permutation(np.setdiff1d(np.arange(n), members))[: sample_n - len(members)]
    sample = np.sort(np.concatenate([members, others]))
    wrong = (responses != 0) & (responses != keys)
    q = wrong_agreement(responses, wrong)
    loop_args = (responses[sample], wrong[sample], q, threshold)
    baseline = measure(args.repeat, similarity_loop, *loop_args)
    loop_s, loop_flags = baseline.median, baseline.result
    sample_pairs = len(sample) * (len(sample) - 1) // 2
    all_pairs = n * (n - 1) // 2
    scaled = loop_s * all_pairs / sample_pairs
    ours_in_sample = {(a, b): z for a, b, z in ((p.a, p.b, p.z) for p in pairs)}
    in_sample = set(sample.tolist())
    ours_in_sample = {k: v for k, v in ours_in_sample.items() if set(k) <= in_sample}
    theirs = {(int(sample[a]), int(sample[b])): z for a, b, z in loop_flags}
    z_diff = max(
        (abs(ours_in_sample[k] - theirs[k]) for k in theirs if k in ours_in_sample), default=0
    )
    agree = set(ours_in_sample) == set(theirs) and z_diff < 1e-3
    peak = traced_peak_mb(similar_pairs, responses, keys, threshold=threshold)
    figures.update(
        similarity_candidates=n,
        similarity_pairs=all_pairs,
        similarity_threshold=threshold,
        similarity_s=sim_s,
        **timing_figures("similarity", timing),
        similarity_baseline_sample_pairs=sample_pairs,
        similarity_baseline_s_scaled=scaled,
        similarity_baseline_ratio=scaled / sim_s,
        similarity_planted=len(planted),
        similarity_planted_found=planted_found,
        similarity_flagged=len(pairs),
        similarity_peak_mb=peak,
    )
    checks["similarity_planted_all_found"] = planted_found == len(planted)
    checks["similarity_baseline_agree"] = bool(agree)
    print(f"similarity: {n:,} candidates, {all_pairs:,} pairs, threshold z ≥ {threshold:g}")
    print(f"  similar_pairs (median of {args.repeat}):       {sim_s:.2f} s (goal ≤ 10 s)")
    print_runs("similar_pairs", timing)
    print(f"  planted copied pairs flagged:        {planted_found} / {len(planted)}")
    print(f"  pairs flagged in all:                {len(pairs)}")
    print(
        f"  baseline pair loop ({len(sample)} candidates, {sample_pairs:,} pairs, "
        f"{loop_s:.2f} s), scaled: {scaled:.0f} s"
    )
    print(f"  ratio baseline / similar_pairs:      {scaled / sim_s:.0f}×")
    print(f"  same flags on the sample:            {agree} (max |Δz| {z_diff:.1e})")
    print(f"  peak memory of the call:             {peak:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per step (median)")
    parser.add_argument("--threshold", type=float, default=6.0, help="similarity z threshold")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile item_statistics (stderr) and its stages"
    )
    args = parser.parse_args()
    if args.quick:
        args.score_n, args.score_sample = 50_000, 2_000
        args.stats_n, args.similarity_n, args.similarity_sample = 10_000, 1_000, 100
    else:
        args.score_n, args.score_sample = 1_000_000, 10_000
        args.stats_n, args.similarity_n, args.similarity_sample = 100_000, 10_000, 300
    exam = make_exam(np.random.default_rng(args.seed))
    figures: dict[str, Any] = {"seed": args.seed, "quick": args.quick, "repeat": args.repeat}
    figures["load_1min_start"] = os.getloadavg()[0]
    grading = Path(grading_stats.__file__).parent
    for name in ("scoring", "statistics", "similarity"):  # the cores are still changing
        digest = hashlib.sha256((grading / f"{name}.py").read_bytes()).hexdigest()[:12]
        figures[f"sha256_{name}"] = digest
    print(
        "measured: "
        + ", ".join(
            f"{n}.py {figures[f'sha256_{n}']}" for n in ("scoring", "statistics", "similarity")
        )
    )
    checks: dict[str, bool] = {}
    print(
        f"paper: {SINGLE} single choice, {MULTIPLE} multiple choice (subset_partial {PARTIAL}), "
        f"{TRUE_FALSE} true/false; max mark {exam['points'].sum():g}; seed {args.seed}"
    )
    bench_scoring(args, exam, figures, checks)
    bench_statistics(args, exam, figures, checks)
    bench_similarity(args, exam, figures, checks)
    figures["peak_mb"] = max(
        figures[k] for k in ("score_peak_mb", "stats_peak_mb", "similarity_peak_mb")
    )
    figures["process_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["load_1min_end"] = os.getloadavg()[0]
    for name, goal in GOALS.items():
        figures[f"{name.removesuffix('_s')}_goal_met"] = figures[name] <= goal
    figures.update(checks)
    print(
        f"peak memory of any step: {figures['peak_mb']:.0f} MiB (process max RSS {figures['process_maxrss_mb']:.0f} MiB)"
    )
    print("goals met: " + ", ".join(f"{k} ≤ {v:g} s: {figures[k] <= v}" for k, v in GOALS.items()))
    print(
        json.dumps(
            {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()},
            ensure_ascii=False,
        )
    )
    if not all(checks.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
