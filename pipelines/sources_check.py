"""Check a sources file: validate it, then try each source once (fetch and parse its first document).

    wirewatch sources check config/sources.yaml
    python -m pipelines.sources_check config/sources.yaml

Nothing is written: no fetch state (requests are unconditional), no archive, no dataset. Exit status:
0 when every source gave items, 1 when some source failed (each is one line with its reason code, as the
rejects dataset would name it), 2 when the file itself is invalid.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from pipelines.preflight import OneLineParser
from transforms.fetch import FetchPolicy, fetch_document
from transforms.formats import parse_payload
from transforms.model import DocumentRef, ParseError, PartialReject, Source
from transforms.sources import SourcesError, expand_location, load_sources


@dataclass(frozen=True)
class SourceCheck:
    """What trying one source gave: documents it names, the first one's fetch and parse, or why it failed."""

    source_id: str
    documents: int
    location: str | None = None
    status: str | None = None  # HTTP status, or "local" for files
    items: int = 0
    parts_lost: int = 0
    reason: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    def line(self) -> str:
        if not self.ok:
            return f"  FAIL {self.source_id}: {self.reason} ({self.message})"
        lost = f", {self.parts_lost} part(s) not salvaged" if self.parts_lost else ""
        return (f"  ok   {self.source_id}: {self.documents} document(s); {self.location} -> {self.status}, "
                f"{self.items} item(s){lost}")


def check_source(source: Source, policy: FetchPolicy) -> SourceCheck:
    """Fetch and parse the first document ``source`` names, without state (never raises for the source's faults)."""
    try:
        locations = expand_location(source.url)
    except ParseError as exc:
        return SourceCheck(source.id, 0, reason=exc.reason, message=exc.message)
    if not locations:
        return SourceCheck(source.id, 0, reason="not_found", message=f"{source.url} matches no file")
    outcome = fetch_document(DocumentRef(source, locations[0]), policy, state_dir=None)
    status = str(outcome.report.status) if outcome.report.status is not None else "local"
    if outcome.failure is not None:
        _, reason, message = outcome.failure
        return SourceCheck(source.id, len(locations), locations[0], status, reason=reason, message=message)
    if outcome.payload is None:  # cannot happen without state; kept honest rather than assumed
        return SourceCheck(source.id, len(locations), locations[0], status, reason="empty", message="no body")
    try:
        parsed = parse_payload(outcome.payload)
    except ParseError as exc:
        return SourceCheck(source.id, len(locations), locations[0], status, reason=exc.reason, message=exc.message)
    lost = sum(isinstance(p, PartialReject) for p in parsed)
    return SourceCheck(source.id, len(locations), locations[0], status, items=len(parsed) - lost, parts_lost=lost)


def main(argv: list[str] | None = None, prog: str = "python -m pipelines.sources_check") -> int:
    parser = OneLineParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("file", metavar="FILE", help="sources file (YAML, or OPML)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per document (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        sources = load_sources(args.file)
    except SourcesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    policy = FetchPolicy(deadline_s=args.timeout, max_attempts=1)
    print(f"{args.file}: valid, {len(sources)} source(s)")
    checks = [check_source(s, policy) for s in sources]
    for check in checks:
        print(check.line())
    failed = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} of {len(checks)} source(s) gave items" if checks else "no sources")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
