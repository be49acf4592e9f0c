"""``wirewatch``: one command for every job and tool (the ``python -m pipelines.*`` forms stay).

Each command hands its arguments to the module that implements it, so ``wirewatch run --help`` is the
batch job's own help and every option works the same under both names.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

# command -> (module, what it does); every module has main() (reads sys.argv) or main(argv).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("pipelines.batch", "run the batch job: fetch, parse, dedup, tag and write the sources' items"),
    "stream": ("pipelines.streaming", "run the streaming job: poll the sources and write windows as they close"),
    "replay": ("pipelines.replay", "re-derive records from OUTPUT/raw with the current code, fetching nothing"),
    "query": ("pipelines.query", "run the ready-made DuckDB queries over an output folder and print tables"),
    "report": ("pipelines.report", "write OUTPUT/report.html: charts and tables of the runs and the news"),
    "sources check": ("pipelines.sources_check", "validate a sources file and try each source once (writes nothing)"),
}
# Modules whose main() parses sys.argv and exits itself (they set up logging and signals first).
_ARGV_MAINS = {"pipelines.batch", "pipelines.streaming", "pipelines.replay"}


def usage() -> str:
    width = max(len(c) for c in COMMANDS)
    lines = ["usage: wirewatch COMMAND [options]   (wirewatch COMMAND --help for a command's options)", "",
             "wirewatch ingests news feeds and wire dispatches into validated event records.", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "examples:",
              "  wirewatch run --sources config/sources.yaml --output out/",
              "  wirewatch report --output out/",
              "  wirewatch query --output out/ rejects_by_reason",
              "  wirewatch sources check config/sources.yaml"]
    return "\n".join(lines)


def resolve(argv: list[str]) -> tuple[str, list[str]] | None:
    """(command, its arguments) for ``argv``, or None when it names no command."""
    for words in (2, 1):
        name = " ".join(argv[:words])
        if len(argv) >= words and name in COMMANDS:
            return name, argv[words:]
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    found = resolve(argv)
    if found is None:
        print(f"error: unknown command {' '.join(argv[:2])!r}; see wirewatch --help", file=sys.stderr)
        return 2
    name, rest = found
    module_name = COMMANDS[name][0]
    module = importlib.import_module(module_name)
    entry: Callable[..., int | None] = module.main
    if module_name in _ARGV_MAINS:
        saved, sys.argv = sys.argv, [f"wirewatch {name}", *rest]
        try:
            entry()
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.argv = saved
        return 0
    return entry(rest, prog=f"wirewatch {name}")


def console() -> None:
    """The ``wirewatch`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console()
