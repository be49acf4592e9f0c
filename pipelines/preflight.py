"""Checks a launcher makes before any work, so a user's mistake is one line and exit status 2, not a traceback.

Each check returns an error message (without the ``error:`` prefix) or None. The batch and streaming jobs
call ``preflight`` after parsing their options.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from transforms.gcs import is_gcs_path, split_gcs_path


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake is one line on stderr (``error: ...``) and status 2, without the usage block:
    ``--help`` shows the usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message}; see --help\n")


def prog_name(module: str) -> str:
    """The name ``--help`` shows: ``wirewatch COMMAND`` when the ``wirewatch`` command started the job (it sets
    ``sys.argv[0]``), else the ``python -m`` form."""
    return sys.argv[0] if sys.argv[0].startswith("wirewatch ") else f"python -m {module}"


def _number(flag: str, convert: type, check: Callable[[Any], bool], expected: str) -> Callable[[str], Any]:
    """An argparse type that converts with ``convert`` and names ``flag`` and what it expects when it fails."""

    def parse(value: str) -> Any:
        try:
            number = convert(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes {expected}, not {value!r}") from None
        if not check(number):  # NaN fails every comparison, so it is refused too
            raise argparse.ArgumentTypeError(f"{flag} takes {expected}, not {value}")
        return number

    parse.__name__ = flag
    return parse


def non_negative_seconds(flag: str) -> Callable[[str], float]:
    return _number(flag, float, lambda x: x >= 0, "a number of seconds, 0 or more")


def positive_int(flag: str) -> Callable[[str], int]:
    return _number(flag, int, lambda x: x >= 1, "a whole number, at least 1")


def fraction(flag: str) -> Callable[[str], float]:
    return _number(flag, float, lambda x: 0 <= x <= 1, "a fraction from 0 to 1")


def check_runner(beam_args: list[str]) -> str | None:
    """The runner named by ``--runner`` must be one Beam knows."""
    name = PipelineOptions(beam_args).view_as(StandardOptions).runner
    if not name:
        return None
    from apache_beam.runners.runner import create_runner

    try:
        create_runner(name)
    except (ValueError, ImportError) as exc:
        return f"--runner {name}: {str(exc).splitlines()[0]}"
    return None


def check_folder(flag: str, path: str | None) -> str | None:
    """A local output or state folder must be creatable: no part of it may be an existing file."""
    if not path or is_gcs_path(path) or "://" in path:
        return None
    folder = Path(path)
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                return f"{flag} {path}: {part} is a file, not a folder"
            return None
    return None


def check_bucket(flag: str, path: str | None) -> str | None:
    """A gs:// output or state prefix must name a bucket that exists and can be reached."""
    if not path or not is_gcs_path(path):
        return None
    from transforms.gcs import storage_client

    bucket, _ = split_gcs_path(path)
    try:
        exists = storage_client().bucket(bucket).exists()
    except Exception as exc:  # credentials, network: whatever it is, say it in one line
        return f"{flag} {path}: cannot reach bucket {bucket!r}: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None if exists else f"{flag} {path}: bucket {bucket!r} does not exist"


def preflight(args: argparse.Namespace, beam_args: list[str]) -> str | None:
    """The first problem with the options a job was given, or None."""
    checks = (
        lambda: check_runner(beam_args),
        lambda: check_folder("--output", args.output),
        lambda: check_folder("--state", args.state),
        lambda: check_bucket("--output", args.output),
        lambda: check_bucket("--state", args.state),
    )
    for check in checks:
        problem = check()
        if problem:
            return problem
    return None
