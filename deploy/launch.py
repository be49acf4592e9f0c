"""Flex Template entry point: ``--job batch|streaming`` picks the wirewatch job, every other argument goes to it.

Dataflow's template launcher runs this file (``FLEX_TEMPLATE_PYTHON_PY_FILE`` in deploy/Dockerfile)
with the template's parameters as ``--name=value`` arguments. The launcher must submit the job
and exit, so ``--no_wait_until_finish`` is always passed on. Locally, the same call prints what
it would run::

    python deploy/launch.py --job streaming --sources config/sources.yaml --output out/ --dry-run
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

JOBS = {"batch": "pipelines.batch", "streaming": "pipelines.streaming"}


def job_runner(job: str) -> Callable[[list[str]], int]:
    """The ``run(argv) -> exit status`` function of a job module."""
    import importlib

    return importlib.import_module(JOBS[job]).run


def launch_args(argv: list[str]) -> tuple[str, list[str], bool]:
    """(job, the job's own arguments with --no_wait_until_finish added, dry run?)."""
    parser = argparse.ArgumentParser(prog="deploy/launch.py", add_help=True)
    parser.add_argument("--job", choices=sorted(JOBS), required=True)
    parser.add_argument("--dry-run", action="store_true", help="print the job and its arguments, run nothing")
    known, rest = parser.parse_known_args(argv)
    if "--no_wait_until_finish" not in rest:
        rest = [*rest, "--no_wait_until_finish"]
    return known.job, rest, known.dry_run


def main(argv: list[str] | None = None) -> int:
    job, rest, dry_run = launch_args(sys.argv[1:] if argv is None else argv)
    if dry_run:
        print(f"python -m {JOBS[job]} {' '.join(rest)}")
        return 0
    return job_runner(job)(rest)


if __name__ == "__main__":
    sys.exit(main())
