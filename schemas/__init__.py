"""JSON Schemas for wirewatch's records and configuration, shipped as package data.

Workers load them through ``importlib.resources`` so the same code works from a source
checkout, an installed wheel, or a Dataflow worker built with ``--setup_file``.
"""

from __future__ import annotations

import difflib
import functools
import json
from importlib import resources
from typing import Any

import jsonschema
import jsonschema_rs


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema ``schemas/<name>.schema.json``."""
    text = resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@functools.cache
def validator(name: str) -> jsonschema.protocols.Validator:
    """A compiled 2020-12 validator for ``name``, with format checks on."""
    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def error_path(error: jsonschema.ValidationError, root: str = "") -> str:
    """A readable path to the failing value, e.g. ``sources[2].id``."""
    path = root
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def first_error(name: str, document: Any, root: str = "") -> str | None:
    """The clearest validation error of ``document`` against schema ``name``, or None."""
    errors = list(validator(name).iter_errors(document))
    # An unknown key is usually a typo of a required one ("ur1:" for "url:"): name it, and what it may mean,
    # rather than only the key that now looks missing.
    for error in errors:
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set(error.schema.get("properties") or {})
            unknown = sorted(k for k in error.instance if k not in known)
            if unknown:
                guess = difflib.get_close_matches(unknown[0], sorted(known), n=1)
                hint = f" (did you mean {guess[0]!r}?)" if guess else f"; known keys: {', '.join(sorted(known))}"
                return f"{error_path(error, root)}: unknown key {unknown[0]!r}{hint}"
    best = jsonschema.exceptions.best_match(errors)
    if best is None:
        return None
    return f"{error_path(best, root)}: {best.message}"


@functools.cache
def fast_validator(name: str) -> jsonschema_rs.Validator:
    """A compiled Rust validator for per-record checks in the pipeline's hot path.

    Measured on 1,000 tagged event records: jsonschema 4.26 validated ~370 records/s (2.7 ms each,
    more than parsing, normalizing and tagging together); jsonschema-rs ~37,000/s, same verdicts.
    """
    return jsonschema_rs.validator_for(load_schema(name), validate_formats=True)


def record_error(name: str, record: Any) -> str | None:
    """The validation error of a record against schema ``name``, or None; fast when valid."""
    if fast_validator(name).is_valid(record):
        return None
    # Rare path: let jsonschema pick the clearest error, or report the Rust validator's first one.
    problem = first_error(name, record)
    if problem is None:
        error = next(iter(fast_validator(name).iter_errors(record)))
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.instance_path).lstrip(".")
        problem = f"{path or '(top level)'}: {error.message}"
    return problem
