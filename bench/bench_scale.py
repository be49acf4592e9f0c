"""How the whole batch job scales: three corpora (bench/scale_corpus.py) at 10,000 and 100,000 items.

For each corpus (``distinct``, ``republished``, ``template``) and each size, the feeds are written to a
temporary folder, parsed once by a plain ``feedparser.parse`` loop in this process (the baseline), and
then ingested by ``python -m pipelines.batch`` as a subprocess on the DirectRunner in multi_processing
mode with 2 workers. Reported: throughput against the baseline, wall time, the peak resident memory of
the job's whole process tree (VmRSS summed over the job and its workers, sampled every 0.2 s from
/proc; the PSS sum beside it does not count shared pages twice), and, against the corpus's truth, how
well copies were folded into one story and how many output stories mix different truth stories.

Copies recall is pair-based: for every truth story with two items or more, each item other than the
story's first (earliest published) forms a pair with that first item; a pair is recalled when both
items come out under the same ``story_id``. Recall is recalled pairs over all pairs, so a story with
1,000 copies weighs 1,000 times a story with one (``recall_story_mean`` averages per story instead).
Items are matched to the truth by ``guid``, which the job keeps as given (it canonicalizes URLs).

The job's wall time includes starting Python and Beam (a few seconds), which only weighs at small sizes.

Environment: ``BENCH_SCALE_SIZES`` (default ``10000,100000``; ``2000`` for a quick run),
``BENCH_SCALE_TIMEOUT`` (seconds per job run, default 3600), ``BENCH_SCALE_SEED`` (default 2024).
The full run takes hours on 2 cores while the job runs at tens of items per second.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import apache_beam as beam
import feedparser
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pipeline import AppliedPTransform, PipelineVisitor

from bench.scale_corpus import KINDS, build_corpus, feed_count, write_feeds
from pipelines.batch import build_pipeline, new_run_id
from transforms.manifest import RunInfo
from transforms.model import Source, rfc3339, utc_now
from transforms.normalize import canonical_url

REPO = Path(__file__).resolve().parents[1]
SIZES = [int(s) for s in os.environ.get("BENCH_SCALE_SIZES", "10000,100000").split(",") if s.strip()]
TIMEOUT_S = float(os.environ.get("BENCH_SCALE_TIMEOUT", 3600))
SEED = int(os.environ.get("BENCH_SCALE_SEED", 2024))
POLL_S = 0.2
WORKERS = "2"

# Targets the numbers are printed against.
MIN_RATIO = {"distinct": 0.5, "republished": 0.4, "template": 0.4}  # job items/s over feedparser items/s
MAX_PEAK_RSS_MB = 2048  # at 100,000 items
RSS_TARGET_SIZE = 100_000
MAX_TIME_GROWTH = 1.1  # time at 10x the items: at most 11x the time
MIN_REPUBLISHED_RECALL = 0.95
MAX_TEMPLATE_FALSE_MERGES = 0
GROUP_BY_KEY_CLASSES = ("GroupByKey", "_GroupByKeyOnly")


class GroupByKeyCounter(PipelineVisitor):
    """Counts the GroupByKeys of a pipeline graph: each outermost ``GroupByKey`` / ``_GroupByKeyOnly``
    once (a runner's expansion of one into the other would otherwise count twice), by top-level step."""

    def __init__(self) -> None:
        self.by_step: Counter[str] = Counter()
        self._inside: list[bool] = []  # for each open composite: is it (or is it within) a GroupByKey?

    @staticmethod
    def _is_group_by_key(node: AppliedPTransform) -> bool:
        return type(node.transform).__name__ in GROUP_BY_KEY_CLASSES

    def _count(self, node: AppliedPTransform) -> bool:
        within = bool(self._inside and self._inside[-1])
        if self._is_group_by_key(node) and not within:
            self.by_step[node.full_label.split("/")[0]] += 1
        return within or self._is_group_by_key(node)

    def enter_composite_transform(self, node: AppliedPTransform) -> None:
        self._inside.append(self._count(node))

    def leave_composite_transform(self, node: AppliedPTransform) -> None:
        self._inside.pop()

    def visit_transform(self, node: AppliedPTransform) -> None:
        self._count(node)


def group_by_key_count() -> dict[str, Any]:
    """GroupByKeys in the batch graph, built with ``build_pipeline`` as bench_batch builds it (never run):
    each one is a shuffle, the cost that grows with the data on a real runner."""
    started = utc_now()
    with tempfile.TemporaryDirectory() as tmp:
        run = RunInfo(new_run_id(started), rfc3339(started), tmp, "bench", ("bench",), {})
        pipeline = beam.Pipeline(options=PipelineOptions([]))
        build_pipeline(pipeline, [Source(id="bench", url=tmp, format="rss")], run)
        counter = GroupByKeyCounter()
        pipeline.visit(counter)
    return {"total": sum(counter.by_step.values()), "by_step": dict(sorted(counter.by_step.items()))}


def baseline(paths: list[Path]) -> tuple[int, float]:
    """Items parsed and seconds taken by a single-core ``feedparser.parse`` loop over the files."""
    start = time.perf_counter()
    items = sum(len(feedparser.parse(str(p)).entries) for p in paths)
    return items, time.perf_counter() - start


def _children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        found[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry.name))
    return found


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants now alive."""
    children, tree, queue = _children(), [], [root]
    while queue:
        pid = queue.pop()
        tree.append(pid)
        queue.extend(children.get(pid, ()))
    return tree


def _proc_field(path: str, field: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass  # the process is gone
    return 0


def rss_kb(pid: int) -> int:
    """Resident memory of one process (VmRSS, kB), 0 once it is gone."""
    return _proc_field(f"/proc/{pid}/status", "VmRSS:")


def pss_kb(pid: int) -> int:
    """Proportional set size (kB): resident memory with shared pages split among their sharers, so a sum
    over the tree does not count the shared libraries of every worker again."""
    return _proc_field(f"/proc/{pid}/smaps_rollup", "Pss:")


def _stop(proc: subprocess.Popen, tree: list[int]) -> None:
    """Kill the job we started: its process group, then any descendant that left the group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()


def run_job(sources: Path, output: Path, logs: Path) -> dict[str, Any]:
    """Run the batch job to completion (or ``TIMEOUT_S``); wall time, exit status and the peak of the
    summed VmRSS of its process tree. Its stdout/stderr go to files under ``logs``."""
    command = [sys.executable, "-m", "pipelines.batch", "--sources", str(sources), "--output", str(output),
               "--direct_running_mode", "multi_processing", "--direct_num_workers", WORKERS]
    # This checkout's code, not another one the environment may have installed in editable mode.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    with open(logs / "stdout.txt", "wb") as out, open(logs / "stderr.txt", "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=err, start_new_session=True)
        peak_kb = peak_pss_kb = 0
        timed_out = False
        while True:
            try:
                proc.wait(timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                tree = process_tree(proc.pid)
                peak_kb = max(peak_kb, sum(rss_kb(pid) for pid in tree))
                peak_pss_kb = max(peak_pss_kb, sum(pss_kb(pid) for pid in tree))
                if time.perf_counter() - start > TIMEOUT_S:
                    timed_out = True
                    _stop(proc, tree)
                    break
        seconds = time.perf_counter() - start
    code = proc.returncode
    if timed_out:
        status = f"timeout (after {TIMEOUT_S:.0f} s)"
    elif code < 0:
        status = f"killed (exit code {code}, {signal.Signals(-code).name})"
    elif code:
        status = f"failed (exit code {code})"
    else:
        status = "ok"
    stdout = (logs / "stdout.txt").read_text(errors="replace")
    stderr = (logs / "stderr.txt").read_text(errors="replace")
    return {"status": status, "exit_code": code, "seconds": round(seconds, 1), "peak_rss_mb": round(peak_kb / 1024),
            "peak_pss_mb": round(peak_pss_kb / 1024),
            "summary": [line for line in stdout.splitlines()
                        if line.startswith(("  total", "  rejects by", "  duplicates by"))],
            "stderr_tail": stderr.strip().splitlines()[-5:] if status != "ok" else []}


def read_output(output: Path) -> dict[str, list[dict[str, Any]]]:
    """The run's published events, duplicates and rejects (only what identifies an item is kept)."""
    patterns = {"events": "events/dt=*/**/*.jsonl", "duplicates": "duplicates/dt=*/*.jsonl",
                "rejects": "rejects/dt=*/*.jsonl"}
    found: dict[str, list[dict[str, Any]]] = {}
    for dataset, pattern in patterns.items():
        records = []
        for path in sorted(output.glob(pattern)):
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        record = json.loads(line)
                        records.append({k: record.get(k) for k in ("guid", "url", "story_id")})
        found[dataset] = records
    return found


def quality(stories: dict[str, list[str]], link_of: dict[str, str], output: dict[str, list[dict[str, Any]]],
            damage_of: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """Copies recall and false merges against the truth. ``stories`` maps a truth label to its items' guids,
    earliest published first; ``link_of`` maps a guid to its link, the fallback key for a record without guid;
    ``damage_of`` what republication did to each copy, to tell which damage the missed copies carry."""
    label_of = {guid: label for label, guids in stories.items() for guid in guids}
    label_by_url = {canonical_url(link): label_of[guid] for guid, link in link_of.items()}
    guid_by_url = {canonical_url(link): guid for guid, link in link_of.items()}
    story_of: dict[str, str] = {}
    members: dict[str, Counter[str]] = defaultdict(Counter)
    for record in output["events"] + output["duplicates"]:
        guid = record["guid"] if record["guid"] in label_of else guid_by_url.get(record["url"])
        label = label_of.get(guid) if guid else label_by_url.get(record["url"])
        if guid is None or label is None:
            continue  # not an item of this corpus (cannot happen with a fresh output folder)
        story_of[guid] = record["story_id"]
        members[record["story_id"]][label] += 1
    pairs = recalled = 0
    per_story = []
    copies_by_damage: Counter[str] = Counter()
    missed_by_damage: Counter[str] = Counter()
    for guids in stories.values():
        if len(guids) < 2:
            continue
        first = story_of.get(guids[0])
        hits = 0
        for guid in guids[1:]:
            hit = first is not None and story_of.get(guid) == first
            hits += hit
            for damage in (damage_of or {}).get(guid, ()):
                copies_by_damage[damage] += 1
                missed_by_damage[damage] += not hit
        pairs += len(guids) - 1
        recalled += hits
        per_story.append(hits / (len(guids) - 1))
    mixed = {sid: labels for sid, labels in members.items() if len(labels) > 1}
    return {
        "recall": round(recalled / pairs, 4) if pairs else None,
        "recall_pairs": pairs,
        "recall_story_mean": round(sum(per_story) / len(per_story), 4) if per_story else None,
        "output_stories": len(members),
        "truth_stories": len(stories),
        "false_merges": len(mixed),
        "false_merge_items": sum(sum(labels.values()) for labels in mixed.values()),
        "false_merge_minority_items": sum(sum(c.values()) - max(c.values()) for c in mixed.values()),
        "items_found": len(story_of),
        "missed_by_damage": {d: f"{missed_by_damage[d]}/{n}" for d, n in sorted(copies_by_damage.items())},
    }


def measure(kind: str, n: int) -> dict[str, Any]:
    """Write the ``kind`` corpus of ``n`` items, run the baseline and the job on it, score the output."""
    with tempfile.TemporaryDirectory(prefix=f"bench-scale-{kind}-{n}-") as tmp:
        root = Path(tmp)
        feeds, output, logs = root / "feeds", root / "out", root / "logs"
        feeds.mkdir()
        logs.mkdir()
        start = time.perf_counter()
        corpus = build_corpus(kind, n, SEED)
        paths = write_feeds(corpus, feeds)
        ordered = sorted(corpus.items, key=lambda i: (i.published, i.guid))
        stories: dict[str, list[str]] = defaultdict(list)
        for item in ordered:
            stories[item.story].append(item.guid)
        link_of = {item.guid: item.link for item in corpus.items}
        damage_of = {item.guid: item.damage for item in corpus.items if item.damage}
        del corpus, ordered  # 100,000 items of text: not held while the job runs
        generated_s = time.perf_counter() - start
        base_items, base_s = baseline(paths)
        sources = root / "sources.yaml"
        sources.write_text(f"sources:\n  - id: bench\n    url: {json.dumps(str(feeds))}\n    format: rss\n",
                           encoding="utf-8")
        job = run_job(sources, output, logs)
        result: dict[str, Any] = {
            "corpus": kind, "items": n, "feeds": len(paths), "generate_s": round(generated_s, 1),
            "baseline_items": base_items, "baseline_items_per_s": round(base_items / base_s),
            **{k: v for k, v in job.items() if k != "summary"},
        }
        result["job_summary"] = job["summary"]
        if job["status"] != "ok" and not (output / "runs").is_dir():
            return result  # nothing was published: no rates or quality to report
        records = read_output(output)
        counts = {dataset: len(rs) for dataset, rs in records.items()}
        job_rate = n / job["seconds"]
        result.update(
            job_items_per_s=round(job_rate, 1),
            job_vs_baseline=round(job_rate / (base_items / base_s), 4),
            **counts,
            accounted=sum(counts.values()),
            **quality(stories, link_of, records, damage_of),
        )
        return result


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISS"


def targets(run: dict[str, Any]) -> list[str]:
    """The run's numbers next to their targets, one line each."""
    kind, n = run["corpus"], run["items"]
    lines = []
    if "job_vs_baseline" in run:
        ratio = run["job_vs_baseline"]
        lines.append(f"job/baseline {ratio} (target >= {MIN_RATIO[kind]}: {_mark(ratio >= MIN_RATIO[kind])})")
    rss = run["peak_rss_mb"]
    rss_note = _mark(rss <= MAX_PEAK_RSS_MB) if n >= RSS_TARGET_SIZE else f"target applies at {RSS_TARGET_SIZE:,}"
    lines.append(f"peak RSS {rss} MB (target <= {MAX_PEAK_RSS_MB} MB at {RSS_TARGET_SIZE:,}: {rss_note}); "
                 f"peak PSS {run['peak_pss_mb']} MB")
    if "recall" in run:
        if run["recall"] is None:
            lines.append("copies recall n/a (no truth story has copies)")
        else:
            note = (f" (target >= {MIN_REPUBLISHED_RECALL}: {_mark(run['recall'] >= MIN_REPUBLISHED_RECALL)})"
                    if kind == "republished" else "")
            lines.append(f"copies recall {run['recall']} over {run['recall_pairs']} pairs{note}, "
                         f"per-story mean {run['recall_story_mean']}")
            missed = ", ".join(f"{d} {v}" for d, v in run["missed_by_damage"].items())
            lines.append(f"copies missed, by damage they carry (missed/copies): {missed}")
        note = (f" (target {MAX_TEMPLATE_FALSE_MERGES}: {_mark(run['false_merges'] <= MAX_TEMPLATE_FALSE_MERGES)})"
                if kind == "template" else "")
        lines.append(f"false merges {run['false_merges']} story ids, {run['false_merge_items']} items in them, "
                     f"{run['false_merge_minority_items']} outside their story's majority{note}")
        lines.append(f"events {run['events']} + duplicates {run['duplicates']} + rejects {run['rejects']} = "
                     f"{run['accounted']} of {n} items; {run['output_stories']} output stories for "
                     f"{run['truth_stories']} truth stories")
    return lines


def report(run: dict[str, Any]) -> None:
    rate = f", job {run['job_items_per_s']} items/s" if "job_items_per_s" in run else ""
    print(f"  {run['corpus']} n={run['items']:,} ({run['feeds']} feeds, generated in {run['generate_s']} s): "
          f"job {run['status']} in {run['seconds']} s; baseline {run['baseline_items_per_s']} items/s{rate}",
          flush=True)
    for line in targets(run) + run["job_summary"] + [f"stderr: {x}" for x in run["stderr_tail"]]:
        print(f"    {line}", flush=True)


def scaling(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per corpus, the job's time at the largest size over its time at the smallest (both finished)."""
    found = {}
    small, large = min(SIZES), max(SIZES)
    if small == large:
        return found
    for kind in KINDS:
        a, b = runs.get(f"{kind}/{small}"), runs.get(f"{kind}/{large}")
        if a and b and a["status"] == b["status"] == "ok":
            limit = MAX_TIME_GROWTH * large / small
            ratio = round(b["seconds"] / a["seconds"], 2)
            found[kind] = {f"time_{large}_over_{small}": ratio, "target_max": round(limit, 1),
                           "met": ratio <= limit}
    return found


def main() -> dict[str, Any]:
    gbk = group_by_key_count()
    results: dict[str, Any] = {"cores": os.cpu_count(), "sizes": SIZES, "workers": int(WORKERS),
                               "timeout_s": TIMEOUT_S, "seed": SEED, "group_by_keys": gbk, "runs": {}}
    print(f"  batch graph: {gbk['total']} GroupByKeys ({', '.join(f'{k} {v}' for k, v in gbk['by_step'].items())})",
          flush=True)
    for kind in KINDS:
        for n in SIZES:
            print(f"  ... {kind} n={n:,} ({feed_count(n)} feeds)", flush=True)
            run = measure(kind, n)
            results["runs"][f"{kind}/{n}"] = run
            report(run)
    results["scaling"] = scaling(results["runs"])
    for kind, growth in results["scaling"].items():
        (key, ratio), = [(k, v) for k, v in growth.items() if k.startswith("time_")]
        print(f"  {kind}: {key} = {ratio} (target <= {growth['target_max']}: {_mark(growth['met'])})")
    print(f"  GroupByKeys in the batch graph: {gbk['total']}")
    return results


if __name__ == "__main__":
    main()
