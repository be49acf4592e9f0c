"""Configuration users edit (sources, topic taxonomy, country aliases), shipped as package data.

Being a package lets workers find the default taxonomy with ``importlib.resources``
when the job runs from an installed wheel rather than a source checkout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def config_path(name: str) -> Path:
    """Path of a bundled configuration file such as ``topics.yaml``."""
    return Path(str(resources.files(__name__).joinpath(name)))
