"""Replay job: re-derive events from the raw archive with the current code, fetching nothing.

Wire APIs do not replay history, so every fetched payload is archived under ``OUTPUT/raw/``;
when tagging or parsing improves, this job reads the archive (optionally a range of ``dt``
days) and writes a new, complete set of records as a new run in the same layout. With
unchanged code it reproduces the same event ids and fields; consumers dedup by ``event_id``.

    python -m pipelines.replay --output out/ [--from 2024-10-01 --to 2024-10-31] [--source afp-fr]
"""

from __future__ import annotations

import argparse
import logging
import sys

from apache_beam.io.filesystems import FileSystems

from pipelines.batch import Replay, add_run_options, execute, new_run_id, unknown_beam_args
from pipelines.preflight import OneLineParser, prog_name
from transforms.archive import list_sidecars, parse_day, sidecar_key, sidecar_patterns
from transforms.manifest import RunInfo
from transforms.model import rfc3339, utc_now


def archived_source_ids(output: str, from_date: str | None, to_date: str | None) -> list[str]:
    """The source ids present in the archive's ``dt`` range (for the manifest's per-source books)."""
    ids: set[str] = set()
    for pattern in sidecar_patterns(output, parse_day(from_date, "from"), parse_day(to_date, "to")):
        for path in list_sidecars(pattern):
            key = sidecar_key(path)
            if key and (from_date is None or key[0] >= from_date) and (to_date is None or key[0] <= to_date):
                ids.add(key[1])
    return sorted(ids)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = OneLineParser(
        prog=prog_name("pipelines.replay"),
        description="wirewatch replay: re-derive records from OUTPUT/raw without fetching.",
        epilog="Any standard Beam option is accepted too (--runner, --direct_running_mode, ...).",
    )
    parser.add_argument("--output", required=True, help="output folder or gs:// prefix holding raw/")
    parser.add_argument("--from", dest="from_date", help="first dt day to replay (YYYY-MM-DD, inclusive)")
    parser.add_argument("--to", dest="to_date", help="last dt day to replay (YYYY-MM-DD, inclusive)")
    parser.add_argument("--source", action="append", default=[], help="replay only this source id (repeatable)")
    parser.add_argument("--run-id", "--run_id", dest="run_id")
    parser.add_argument("--topics", default=None, help="topic taxonomy YAML (default: the bundled one)")
    parser.add_argument("--state", default=None, help="state folder (default: OUTPUT/_state)")
    add_run_options(parser)
    return parser.parse_known_args(argv)


def run(argv: list[str] | None = None) -> int:
    args, beam_args = parse_args(argv)
    unknown = unknown_beam_args(beam_args)
    if unknown:
        print(f"error: unknown option(s) {' '.join(unknown)}", file=sys.stderr)
        return 2
    try:
        for value, name in ((args.from_date, "--from"), (args.to_date, "--to")):
            parse_day(value, name)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    output = args.output.rstrip("/") or "/"
    if not FileSystems.exists(FileSystems.join(output, "raw")):
        print(f"error: {output}: no raw/ archive to replay", file=sys.stderr)
        return 2
    source_ids = args.source or archived_source_ids(output, args.from_date, args.to_date)
    started = utc_now()
    run_info = RunInfo(
        run_id=args.run_id or new_run_id(started),
        started_at=rfc3339(started),
        output=output,
        sources_file="(replay)",
        source_ids=tuple(source_ids),
        options={"mode": "replay", "from": args.from_date, "to": args.to_date, "sources": args.source,
                 "beam_args": beam_args, "topics": args.topics},
        state=args.state,
    )
    from transforms.model import Source

    sources = [Source(id=sid, url="") for sid in args.source]
    return execute(run_info, sources, beam_args, args, replay=Replay(args.from_date, args.to_date))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("apache_beam.io.filebasedsink").setLevel(logging.ERROR)
    sys.exit(run())


if __name__ == "__main__":
    main()
