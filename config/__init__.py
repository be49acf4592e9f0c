"""Configuration users edit (sources, topic taxonomy, country aliases), shipped as package data.

Being a package lets workers find the default taxonomy with ``importlib.resources``
when the job runs from an installed wheel rather than a source checkout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any


def config_path(name: str) -> Path:
    """Path of a bundled configuration file such as ``topics.yaml``."""
    return Path(str(resources.files(__name__).joinpath(name)))


def load_checked_yaml(path: str | None, name: str, error: type[ValueError]) -> tuple[str, dict[str, Any]]:
    """(where, document) of ``path`` (local or ``gs://``; default the bundled ``NAME.yaml``), checked against
    ``schemas/NAME.schema.json``; an unreadable or invalid file raises ``error`` naming the file and the key.
    An empty file is an empty mapping: every setting keeps its default."""
    import yaml
    from apache_beam.io.filesystem import BeamIOError
    from apache_beam.io.filesystems import FileSystems

    from schemas import first_error

    where = path or str(config_path(f"{name}.yaml"))
    try:
        with FileSystems.open(where, compression_type="uncompressed") as handle:
            document = yaml.safe_load(handle.read().decode("utf-8"))
    except (OSError, BeamIOError, yaml.YAMLError) as exc:
        raise error(f"{where}: cannot read {name} config: {exc}") from exc
    document = {} if document is None else document
    problem = first_error(name, document)
    if problem:
        raise error(f"{where}: {problem}")
    return where, document
