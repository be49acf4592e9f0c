"""Write the HTML report of a wirewatch output: charts and tables, one self-contained file.

    python -m pipelines.report --output out/                      # -> out/report.html
    python -m pipelines.report --output gs://BUCKET/wirewatch --to report.html

(also ``wirewatch report``). The page opens offline; see ``reporting`` for what it shows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.preflight import OneLineParser


def parse_args(argv: list[str] | None, prog: str = "python -m pipelines.report") -> argparse.Namespace:
    parser = OneLineParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="out", help="output folder or gs:// prefix of the batch job (default: out)")
    parser.add_argument("--to", default=None, metavar="FILE",
                        help="where to write the page, local or gs:// (default: OUTPUT/report.html)")
    parser.add_argument("--title", default="wirewatch report", help="the page's title")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, prog: str = "python -m pipelines.report") -> int:
    args = parse_args(argv, prog)
    if "://" not in args.output and not Path(args.output).is_dir():
        print(f"error: output folder {args.output} not found; run the batch job first (wirewatch run)",
              file=sys.stderr)
        return 2
    from reporting import write_report

    result = write_report(args.output, args.to, args.title)
    print(f"report: {result.path}  ({result.bytes / 1e6:.2f} MB, {result.runs} run(s), {result.seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
