"""Checks a launcher makes before any work, so a user's mistake is one line and exit status 2, not a traceback.

Each check returns an error message (without the ``error:`` prefix) or None. The batch and streaming jobs
call ``preflight`` after parsing their options.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from transforms.gcs import is_gcs_path, split_gcs_path


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake is one line on stderr (``error: ...``) and status 2, without the usage block:
    ``--help`` shows the usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message}; see --help\n")


def non_negative_seconds(flag: str) -> type:
    """An argparse type for a number of seconds >= 0 that names the flag in its error."""

    def parse(value: str) -> float:
        try:
            seconds = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes a number of seconds, not {value!r}") from None
        if not seconds >= 0:  # also refuses NaN
            raise argparse.ArgumentTypeError(f"{flag} must be 0 or more seconds, not {value}")
        return seconds

    parse.__name__ = flag
    return parse


def positive_int(flag: str) -> type:
    """An argparse type for a whole number >= 1 that names the flag in its error."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes a whole number, not {value!r}") from None
        if number < 1:
            raise argparse.ArgumentTypeError(f"{flag} must be at least 1, not {value}")
        return number

    parse.__name__ = flag
    return parse


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
