"""A short live streaming run, watched from outside as a consumer would (``bench.bench_stream.run_stream`` at
small scale): windows are readable while the job runs, every item comes out once, and ``pipelines.query``
reads the output like a batch one. The ten-minute version with lags and RSS is ``python -m bench stream``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench.bench_stream import RUN_ID, run_stream


@pytest.mark.timeout(180)
def test_a_live_run_writes_windows_while_it_runs_every_item_once_and_query_reads_them(tmp_path: Path) -> None:
    run = run_stream(tmp_path, duration_s=10, every_s=1.0, poll_s=1.0, window_s=3.0, rss_every_s=2.0)
    assert run.returncode == 0, run.stderr[-3000:]
    # windows became readable (manifest and every file it lists) while the job was still running
    assert [w for w in run.windows if w["while_running"] and not w["cut_by_stop"]], run.windows
    # every item the feed served is an event exactly once, in JSONL and in Parquet
    assert run.served and sorted(run.event_guids) == sorted(run.served)
    assert not [g for g, n in Counter(run.event_guids).items() if n > 1]
    assert sorted(run.parquet_guids) == sorted(run.event_guids)
    assert run.unbalanced == []
    # the bundled queries see the run's windows and its stories
    runs_table = run.query_output.split("== runs ==")[1].split("==")[0]
    stories_table = run.query_output.split("== stories_per_topic_per_day ==")[1].split("==")[0]
    assert RUN_ID in runs_table
    assert "no data yet" not in stories_table and "(0 rows)" not in stories_table
