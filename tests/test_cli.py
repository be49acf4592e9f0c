"""The ``wirewatch`` command: every job and tool under one name, and ``sources check`` against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import cli
from pipelines.sources_check import main as sources_check
from tests.httpfixtures import FeedServer, Reply
from tests.test_fetch_pipeline import rss

REPO = Path(__file__).resolve().parents[1]


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("run", "stream", "replay", "query", "report", "sources check"):
        assert f"  {name} " in out
    assert cli.main([]) == 0


def test_unknown_command_is_one_line_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["frobnicate"]) == 2
    assert capsys.readouterr().err.strip() == "error: unknown command 'frobnicate'; see wirewatch --help"


def test_each_command_reaches_its_module(capsys: pytest.CaptureFixture[str]) -> None:
    for name, (module, _) in cli.COMMANDS.items():
        try:
            status = cli.main([*name.split(), "--help"])
        except SystemExit as exc:  # argparse's --help exits
            status = exc.code
        assert status == 0, name
        assert f"usage: wirewatch {name} " in capsys.readouterr().out, module


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "wirewatch"
    if not script.exists():
        pytest.skip("wirewatch console script not installed (pip install -e . installs it)")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0 and "sources check" in done.stdout


def test_sources_check_tries_each_source_once_and_writes_nothing(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with FeedServer() as server:
        server.feed("/ok.xml", rss("Drone attack on Kyiv", "Talks in Moscow"), etag='"v1"')
        server.script("/gone.xml", Reply(404))
        server.script("/broken.xml", Reply(200, b"<html><body>not a feed</body></html>",
                                           headers={"Content-Type": "text/html"}))
        sources = tmp_path / "sources.yaml"
        sources.write_text(
            "sources:\n"
            f"  - id: ok\n    url: {server.url('/ok.xml')}\n"
            f"  - id: gone\n    url: {server.url('/gone.xml')}\n"
            f"  - id: broken\n    url: {server.url('/broken.xml')}\n"
            "  - id: missing\n    url: no-such-folder/\n"
            f"  - id: samples\n    url: {REPO / 'samples' / 'dispatches'}\n",
            encoding="utf-8")
        before = sorted(p.name for p in tmp_path.rglob("*"))
        assert sources_check([str(sources)]) == 1
        out = capsys.readouterr().out.splitlines()
        hits = {path: len(server.hits_for(path)) for path in ("/ok.xml", "/gone.xml", "/broken.xml")}
        conditional = [h for h in server.hits_for("/ok.xml") if "if-none-match" in h.headers]
    assert out[0] == f"{sources}: valid, 5 source(s)"
    lines = {line.split()[1].rstrip(":"): line for line in out[1:-1]}
    assert lines["ok"].startswith("  ok   ok:") and "-> 200, 2 item(s)" in lines["ok"]
    assert lines["gone"].startswith("  FAIL gone: http_404")
    assert lines["broken"].startswith("  FAIL broken: ")
    assert lines["missing"].startswith("  FAIL missing: not_found")
    assert "3 document(s)" in lines["samples"] and "-> local, 1 item(s)" in lines["samples"]
    assert out[-1] == "2 of 5 source(s) gave items"
    assert hits == {"/ok.xml": 1, "/gone.xml": 1, "/broken.xml": 1}, "one try per source, no retries"
    assert conditional == [], "no fetch state is read"
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "nothing written"


def test_sources_check_refuses_an_invalid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "sources.yaml"
    bad.write_text("sources:\n  - id: a\n    uri: https://example.org/feed\n", encoding="utf-8")
    assert sources_check([str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "uri" in err and len(err.strip().splitlines()) == 1
