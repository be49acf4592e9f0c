"""Packaging for wirewatch: the job modules plus schemas and config as package data.

Dataflow and other remote runners install this on workers with ``--setup_file ./setup.py``,
so everything a worker reads (schemas, taxonomy, aliases) must be listed here.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def direct_requirements() -> list[str]:
    lines = (HERE / "requirements.in").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


setup(
    name="wirewatch",
    version="0.1.0",
    description="Apache Beam jobs that ingest news feeds and wire dispatches into validated event records",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["pipelines*", "transforms*", "reporting*", "schemas", "config"]),
    package_data={"schemas": ["*.json"], "config": ["*.yaml", "*.yml"], "reporting": ["*.js", "*.css"]},
    include_package_data=True,
    install_requires=direct_requirements(),
    # pip install "wirewatch[consumers]": what a reader of the dataset needs (docs/DATASET.md, pandas).
    extras_require={"consumers": ["pandas==3.1.1", "gcsfs==2026.10.1"]},
    entry_points={
        "console_scripts": [
            "wirewatch=pipelines.cli:console",
            "wirewatch-batch=pipelines.batch:main",
            "wirewatch-stream=pipelines.streaming:main",
            "wirewatch-replay=pipelines.replay:main",
        ]
    },
)
