"""The HTML report: its figures add up to the run manifests, it is self-contained, it reads gs:// outputs,
and (with Debian's chromium installed, ``make report-check``) it draws every chart in a real browser.

The output is made by two real batch runs on two days: bundled sample feeds (copies across feeds), a feed
and a 404 on a real HTTP server on 127.0.0.1 (the second run gets a 304 and a changed feed), and a source
whose file does not exist (a reject).
"""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.io.filesystems import FileSystems

from pipelines.batch import build_pipeline
from reporting import write_report
from reporting.charts import panels
from tests.httpfixtures import FeedServer, Reply
from tests.test_fetch_pipeline import POLICY, rss
from transforms.embargo import list_held_files
from transforms.manifest import RunInfo
from transforms.model import Source

pytest_plugins = ["tests.gcs_emulator"]

REPO = Path(__file__).resolve().parents[1]
FEEDS = REPO / "samples" / "feeds"
DAYS = ("2026-11-23", "2026-11-24")


def _run(sources: list[Source], output: Path, run_id: str, day: str) -> dict[str, Any]:
    run = RunInfo(run_id, f"{day}T10:00:00Z", str(output), "test", tuple(s.id for s in sources), {})
    with beam.Pipeline() as pipeline:
        build_pipeline(pipeline, sources, run, held_files=list_held_files(run.state_dir), fetch_policy=POLICY)
    return json.loads((output / "runs" / f"{run_id}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "out"
    with FeedServer() as server:
        wire = server.feed("/wire.xml", rss("Drone attack on Kyiv", "Talks in Moscow"), etag='"v1"')
        sources = [
            Source(id="worlddesk-en", url=str(FEEDS / "world-news-en.rss.xml")),
            Source(id="worlddigest-en", url=str(FEEDS / "world-digest-en.rss.xml")),
            Source(id="hanbit-ko", url=str(FEEDS / "hanbit-news-ko.rss.xml")),
            Source(id="wire", url=server.url("/wire.xml")),
            Source(id="gone", url=server.url("/gone.xml")),
            Source(id="missing", url=str(out.parent / "no-such-feed.xml")),
        ]
        server.script("/gone.xml", Reply(404))
        _run(sources, out, "run1", DAYS[0])
        wire.body = rss("Drone attack on Kyiv", "Sanctions on Russia", "Missile launch by North Korea")
        wire.etag = '"v2"'
        _run(sources, out, "run2", DAYS[1])
    return out


def manifests(output: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(output.glob("runs/*.json"))]


def page_data(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="wirewatch-data">(.*?)</script>', page, re.S)
    assert match, "the page carries its figures as JSON"
    data = json.loads(match.group(1))
    data["tables"] = {name: [dict(zip(t["columns"], row, strict=True)) for row in t["rows"]]
                      for name, t in data["tables"].items()}
    return data


def sums(rows: list[dict[str, Any]], key: str | tuple[str, ...], measure: str) -> Counter:
    keys = (key,) if isinstance(key, str) else key
    total: Counter = Counter()
    for row in rows:
        total[row[keys[0]] if len(keys) == 1 else tuple(row[k] for k in keys)] += row[measure]
    return +total


@pytest.fixture(scope="module")
def report(output: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    destination = tmp_path_factory.mktemp("page") / "report.html"
    result = write_report(str(output), str(destination))
    assert result.runs == 2 and result.bytes == destination.stat().st_size
    return destination


def test_every_figure_adds_up_to_the_manifests(output: Path, report: Path) -> None:
    data = page_data(report.read_text(encoding="utf-8"))
    tables, runs = data["tables"], manifests(output)
    assert data["days"] == list(DAYS) and data["runs"] == 2
    assert set(data["sources"]) == {sid for m in runs for sid in m["sources"]}
    # per run and source: exactly the manifests' counts
    per_run = {(r["run_id"], r["source"]): r for r in tables["runs"]}
    for m in runs:
        for sid, counts in m["sources"].items():
            row = per_run[(m["run_id"], sid)]
            for kind in ("items_read", "events", "duplicates", "rejects", "held"):
                assert row[kind] == counts[kind], (m["run_id"], sid, kind)
    assert len(per_run) == sum(len(m["sources"]) for m in runs)

    def over_runs(field: str) -> Counter:
        return +sum((Counter(m[field]) for m in runs), Counter())

    assert sums(tables["topics"], "topic", "n") == over_runs("topics")
    assert sums(tables["countries"], "country", "mentioned") == over_runs("countries")
    assert sums(tables["duplicate_reasons"], "reason", "n") == over_runs("duplicate_reasons")
    assert sums(tables["rejects"], "reason", "n") == over_runs("reject_reasons")
    by_stage: Counter = Counter()
    for m in runs:
        for sid, counts in m["sources"].items():
            by_stage.update({(sid, stage): n for stage, n in counts["rejects_by_stage"].items()})
    assert sums(tables["rejects"], ("source", "stage"), "n") == +by_stage
    assert sum(r["n"] for r in tables["languages"]) == sum(m["totals"]["events"] for m in runs)
    # fetch outcomes per host: the documents and statuses each source's fetch report counted
    fetched: Counter = Counter()
    for m in runs:
        fetched.update({sid: s["fetch"]["documents"] for sid, s in m["sources"].items() if "fetch" in s})
    assert sums(tables["fetch_hosts"], "source", "documents") == +fetched
    statuses = sums(tables["fetch_status"], ("host", "status"), "n")
    assert statuses[("127.0.0.1", "404")] == 2 and statuses[("127.0.0.1", "304")] == 0
    assert statuses[("127.0.0.1", "200")] == 2  # wire on both days (its body changed), gone never
    assert statuses[("local", "local")] == 6
    assert {r["host"] for r in tables["fetch_hosts"]} == {"127.0.0.1", "local"}


def test_largest_stories_count_the_copies_in_the_duplicates_dataset(output: Path, report: Path) -> None:
    stories = page_data(report.read_text(encoding="utf-8"))["tables"]["stories"]
    duplicates = [json.loads(line) for p in output.glob("duplicates/*/*.jsonl")
                  for line in p.read_text(encoding="utf-8").splitlines()]
    copies = Counter(d["duplicate_of"] for d in duplicates)
    assert stories, "the sample feeds carry copies across feeds"
    for story in stories:
        assert story["copies"] == copies[story["story_id"]]
        assert story["first_seen"] <= story["last_seen"]
        assert story["title"]
    assert [s["copies"] for s in stories] == sorted((s["copies"] for s in stories), reverse=True)


def test_the_page_is_self_contained(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    markup = re.sub(r"(<script\b[^>]*>).*?</script>", r"\1", page, flags=re.S)  # tags, not script text
    tags = re.findall(r"<(?:script|link|img|iframe|source|embed|object)\b[^>]*>", markup)
    assert not [t for t in tags if re.search(r"\b(?:src|href|data)\s*=", t)], "no resource is loaded from anywhere"
    styles = "".join(re.findall(r"<style>(.*?)</style>", page, re.S))
    assert "url(" not in styles and "@import" not in styles
    assert "vegaEmbed" in page and len(page) < 3_000_000
    # every panel has its section; the spec of each chart names its data set and carries no data of its own
    for panel in panels():
        assert f'<section id="{panel.id}">' in page
        assert panel.spec()["data"] == {"name": panel.data}


def test_report_of_a_gcs_output_matches_the_local_one(output: Path, report: Path, gcs_prefix: str) -> None:
    for path in output.rglob("*"):
        if path.is_file() and not path.name.endswith(".gz"):
            with FileSystems.create(f"{gcs_prefix}/{path.relative_to(output).as_posix()}") as handle:
                handle.write(path.read_bytes())
    result = write_report(gcs_prefix)
    assert result.path == f"{gcs_prefix}/report.html"
    with FileSystems.open(result.path, compression_type="uncompressed") as handle:
        remote = page_data(handle.read().decode("utf-8"))
    assert remote["tables"] == page_data(report.read_text(encoding="utf-8"))["tables"]


def test_an_output_without_runs_gives_an_empty_report(tmp_path: Path) -> None:
    result = write_report(str(tmp_path), str(tmp_path / "r.html"))
    data = page_data((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert result.runs == 0 and data["days"] == [] and all(rows == [] for rows in data["tables"].values())


# -- in a real browser -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser, found before the output is made: without it the browser tests skip at once."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("Chromium absent: the browser test needs Debian's chromium package (make report-check installs it)")


def render(chromium: str, page: Path, tmp_path: Path, fragment: str = "") -> tuple[str, list[str]]:
    """The DOM after the page's scripts ran, and the console messages, from headless Chromium.

    The proxy points at a closed loopback port, so any network request the page made would fail and log.
    """
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               f"--user-data-dir={tmp_path / 'profile'}", "--proxy-server=127.0.0.1:9", "--enable-logging=stderr",
               "--v=0", "--virtual-time-budget=20000", "--dump-dom", page.as_uri() + fragment]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Failed to load" in line]
    return done.stdout, console


def body_attribute(dom: str, name: str) -> str | None:
    match = re.search(r"<body\b[^>]*\b" + name + r'="([^"]*)"', dom)
    return html_lib.unescape(match.group(1)) if match else None


def kpis(dom: str) -> dict[str, int]:
    return {k: int(v.replace(",", "")) for k, v in re.findall(r'data-kpi="([^"]+)"><b>([\d,]+)</b>', dom)}


def chart_marks(dom: str, panel_id: str) -> int:
    """Marks (SVG paths inside Vega mark groups) drawn in a panel's chart."""
    section = re.search(rf'<section id="{panel_id}">(.*?)</section>', dom, re.S)
    assert section, panel_id
    return len(re.findall(r'<g class="mark-[^"]*role-mark[^"]*"[^>]*>\s*<path', section.group(1)))


def test_browser_draws_every_chart_without_errors(chromium: str, output: Path, report: Path, tmp_path: Path) -> None:
    dom, console = render(chromium, report, tmp_path)
    assert console == [], console
    assert body_attribute(dom, "data-errors") is None
    data = page_data(report.read_text(encoding="utf-8"))
    with_data = [p for p in panels() if data["tables"][p.data]]
    assert body_attribute(dom, "data-rendered") == str(len(with_data))
    for panel in with_data:
        assert chart_marks(dom, panel.id) > 0, f"{panel.id}: no marks drawn"
    runs = manifests(output)
    totals = {k: sum(m["totals"][k] for m in runs) for k in ("items_read", "events", "duplicates", "rejects")}
    assert kpis(dom) == {"runs": 2, "items read": totals["items_read"], "events": totals["events"],
                         "duplicates": totals["duplicates"], "rejects": totals["rejects"], "held": 0}


def test_browser_filter_by_day_and_source(chromium: str, output: Path, report: Path, tmp_path: Path) -> None:
    run2 = json.loads((output / "runs" / "run2.json").read_text(encoding="utf-8"))["sources"]["wire"]
    dom, console = render(chromium, report, tmp_path, f"#from={DAYS[1]}&to={DAYS[1]}&source=wire")
    assert console == [] and body_attribute(dom, "data-errors") is None
    assert kpis(dom) == {"runs": 1, "items read": run2["items_read"], "events": run2["events"],
                         "duplicates": run2["duplicates"], "rejects": run2["rejects"], "held": 0}
    # the rejects panel has nothing for this source and day: it says so instead of drawing empty axes
    assert "no data in the selected days and source" in re.search(
        r'<section id="rejects">(.*?)</section>', dom, re.S).group(1)
