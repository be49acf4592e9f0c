"""Parquet beside JSONL: the Arrow schema follows event.schema.json, both datasets agree, DuckDB reads both."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apache_beam as beam
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import first_error, load_schema
from transforms.parquet import (
    TIMESTAMP,
    RecordsToArrowTables,
    UnsupportedSchema,
    WriteEventsParquet,
    arrow_schema_from_json_schema,
    event_arrow_schema,
    to_arrow_row,
    to_arrow_table,
)
from transforms.write import WriteDataset

DT, RUN_ID = "2024-11-06", "20241106T060000Z-abc123"


def make_event(n: int, **fields: Any) -> dict[str, Any]:
    """A schema-valid event record; ``fields`` override or add to the defaults."""
    record = {
        "schema_version": "1.1",
        "event_id": f"ev_{n:024x}",
        "story_id": f"st_{n:024x}",
        "run_id": RUN_ID,
        "source": {"id": "afp-fr", "name": "AFP (French)", "format": "dispatch"},
        "agency": "AFP",
        "guid": f"urn:afp:{n}",
        "url": None,
        "title": f"Dépêche {n}",
        "summary": None,
        "body": "Des soldats nord-coréens combattent dans la région de Koursk.",
        "language": "fr",
        "published_at": "2024-11-05T08:00:00Z",
        "published_at_source": "dispatch",
        "ingested_at": "2024-11-06T06:00:00Z",
        "dateline": {"place": "Kyiv", "country": "UA"},
        "countries": [],
        "topics": [],
    }
    record.update(fields)
    assert first_error("event", record) is None, first_error("event", record)
    return record


def country(code: str, name: str, score: float, primary: bool = True, **extra: Any) -> dict[str, Any]:
    return {"code": code, "name": name, "score": score, "mentions": 2, "primary": primary, "evidence": [name], **extra}


def topic(topic_id: str, score: float, *evidence: str) -> dict[str, Any]:
    return {"id": topic_id, "score": score, "evidence": list(evidence)}


def realistic_events() -> list[dict[str, Any]]:
    return [
        make_event(
            1,
            countries=[country("UA", "Ukraine", 0.9), country("KP", "North Korea", 0.8), country("RU", "Russia", 0.5)],
            topics=[topic("ukraine", 0.9, "Koursk"), topic("dprk-russia-military-cooperation", 0.7, "nord-coréens")],
            categories=["Monde", "Europe"],
            flags=["date_only"],
            location="/data/afp/koursk.txt",
            entities=[
                {"id": "Q3874799", "name": "Kursk Oblast", "type": "place", "mentions": 1, "evidence": ["Koursk"]}
            ],
        ),
        make_event(
            2,
            source={"id": "yonhap-en", "name": None, "format": "newsml-g2"},
            agency="Yonhap",
            title="N. Korean troops deployed to Russia: NIS",
            body=None,
            summary="About 1,500 North Korean special forces have been moved to Russia.",
            language="en",
            published_at="2024-10-18T02:30:00Z",
            published_at_source="wire",
            dateline={"place": "Seoul", "country": None},
            countries=[country("KP", "North Korea", 1.0), country("KR", "South Korea", 0.2, primary=False)],
            topics=[topic("dprk", 1.0, "North Korean"), topic("troop-deployment", 0.8, "troops")],
            status="usable",
            version=2,
            supersedes=f"ev_{99:024x}",
            urgency=3,
            subjects=["medtop:20000568"],
            keywords=["NKorea-Russia-troops"],
            embargo_until="2024-10-18T02:00:00Z",
        ),
        make_event(
            3,
            title=None,
            body=None,
            dateline=None,
            status="withdrawn",
            version=3,
            source={"id": "yonhap-en", "name": None, "format": "newsml-g2"},
        ),
        make_event(
            4,
            source={"id": "novosti-ru", "name": "Новости", "format": "rss"},
            agency=None,
            guid=None,
            url="https://example.org/news/4",
            title="Удар по энергетической инфраструктуре Харькова",
            body=None,
            language="ru",
            published_at_source="feed",
            dateline=None,
            countries=[country("UA", "Ukraine", 0.7)],
            topics=[topic("strikes-on-infrastructure", 0.6, "энергетической")],
            byline="Иван Петров",
        ),
    ]


# --- the schema mapping ------------------------------------------------------------------------


def _property_tree(node: dict, root: dict) -> dict[str, Any]:
    """Property names at every level of a JSON Schema (objects, arrays of objects), refs followed."""
    if "$ref" in node:
        target = root
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = {**target, **node}
    for branch in node.get("oneOf", []):
        if branch.get("type") != "null":
            return _property_tree(branch, root)
    if "properties" in node:
        return {name: _property_tree(prop, root) for name, prop in node["properties"].items()}
    if "items" in node:
        return _property_tree(node["items"], root)
    return {}


def _field_tree(arrow: pa.DataType | pa.Schema) -> dict[str, Any]:
    if isinstance(arrow, pa.Schema) or pa.types.is_struct(arrow):
        return {f.name: _field_tree(f.type) for f in arrow}
    if pa.types.is_list(arrow):
        return _field_tree(arrow.value_type)
    return {}


def test_arrow_schema_covers_every_property_at_every_level() -> None:
    """Fails as soon as the JSON Schema gains a field (or a nested one) the Parquet files would not carry."""
    schema = load_schema("event")
    assert _field_tree(event_arrow_schema()) == _property_tree(schema, schema)
    assert list(event_arrow_schema().names) == list(schema["properties"])


def test_arrow_types_follow_the_json_types() -> None:
    arrow = event_arrow_schema()
    assert arrow.field("published_at").type == TIMESTAMP and not arrow.field("published_at").nullable
    assert arrow.field("embargo_until").type == TIMESTAMP and arrow.field("embargo_until").nullable
    assert arrow.field("title").type == pa.string() and arrow.field("title").nullable
    assert arrow.field("version").type == pa.int64() and arrow.field("supersedes").type == pa.string()
    assert arrow.field("status").type == pa.string() and arrow.field("status").nullable  # optional enum
    assert arrow.field("published_at_source").type == pa.string() and not arrow.field("published_at_source").nullable
    countries = arrow.field("countries").type
    assert pa.types.is_list(countries) and pa.types.is_struct(countries.value_type)
    element = countries.value_type
    assert element.field("score").type == pa.float64() and element.field("mentions").type == pa.int64()
    assert element.field("primary").type == pa.bool_() and not element.field("code").nullable
    assert pa.types.is_struct(arrow.field("dateline").type) and arrow.field("dateline").nullable
    assert arrow.field("categories").type == pa.list_(pa.field("element", pa.string(), nullable=False))


def _example(node: dict, root: dict) -> Any:
    """One value that the JSON Schema node accepts, built from the schema alone."""
    if "$ref" in node:
        target = root
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        return _example({**target, **{k: v for k, v in node.items() if k != "$ref"}}, root)
    if "oneOf" in node:
        return _example(next(b for b in node["oneOf"] if b.get("type") != "null"), root)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type", "object")
    kind = next(k for k in ([kind] if isinstance(kind, str) else kind) if k != "null")
    if kind == "object":
        return {name: _example(prop, root) for name, prop in node["properties"].items()}
    if kind == "array":
        return [_example(node["items"], root)]
    if kind == "string":
        return "2024-11-05T08:00:00Z" if node.get("format") == "date-time" else "x"
    return {"integer": 1, "number": 0.5, "boolean": True}[kind]


def test_every_field_survives_a_parquet_round_trip(tmp_path: Path) -> None:
    """A record with every property filled, built from the JSON Schema, comes back out of Parquet intact."""
    schema = load_schema("event")
    record = _example(schema, schema)
    arrow = event_arrow_schema()
    row = to_arrow_row(record, arrow)
    pq.write_table(pa.Table.from_pylist([row], schema=arrow), tmp_path / "one.parquet")
    (back,) = pq.read_table(tmp_path / "one.parquet").to_pylist()
    assert back == row
    assert back["published_at"] == datetime(2024, 11, 5, 8, 0, tzinfo=UTC)
    assert back["countries"][0] == record["countries"][0]  # nested structs stay nested


@pytest.mark.parametrize(
    ("prop", "problem"),
    [
        ({"type": ["string", "integer"]}, "exactly one non-null type"),
        ({"type": "object", "additionalProperties": {"type": "string"}}, "properties"),
        ({"type": "object", "properties": {"a": {"type": "string"}}}, "additionalProperties"),
        ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, "oneOf"),
        ({"enum": ["a", 1]}, "no single Arrow type"),
        ({"$ref": "other.json#/x"}, "local \\$ref"),
        ({"type": "array"}, "items"),
    ],
)
def test_constructs_without_an_arrow_type_fail_loudly(prop: dict, problem: str) -> None:
    schema = {"type": "object", "additionalProperties": False, "properties": {"ok": {"type": "string"}, "new": prop}}
    with pytest.raises(UnsupportedSchema, match=problem) as error:
        arrow_schema_from_json_schema(schema)
    assert "$.new" in str(error.value)


def test_to_arrow_row_fills_absent_fields_and_parses_times() -> None:
    (record, *_) = realistic_events()
    row = to_arrow_row(record, event_arrow_schema())
    assert list(row) == event_arrow_schema().names
    assert row["status"] is None and row["version"] is None and row["embargo_until"] is None  # absent -> null
    assert row["ingested_at"] == datetime(2024, 11, 6, 6, 0, tzinfo=UTC)
    assert row["countries"][1] == country("KP", "North Korea", 0.8)
    assert row["entities"][0]["evidence"] == ["Koursk"]


def sparse_events() -> list[dict[str, Any]]:
    """Records that leave out what they may: optional top-level fields, optional keys of nested objects."""
    return [
        make_event(10, countries=[{"code": "UA", "name": "Ukraine", "score": 1}],
                   topics=[{"id": "ukraine", "score": 1}],
                   entities=[{"id": "Q7747", "name": "Vladimir Putin", "type": "person"}], version=None),
        make_event(11, dateline=None, countries=[], topics=[], embargo_until=None),
    ]


def test_tables_are_built_as_row_by_row_conversion_builds_them() -> None:
    """The writer's column-wise tables equal tables of to_arrow_row rows: nulls for absent keys, floats, times."""
    schema = load_schema("event")
    arrow = event_arrow_schema()
    records = [*realistic_events(), *sparse_events(), _example(schema, schema)]
    expected = pa.Table.from_pylist([to_arrow_row(r, arrow) for r in records], schema=arrow)
    table = to_arrow_table(records, arrow)
    assert table.equals(expected) and table.schema.equals(arrow, check_metadata=True)
    assert table.column("countries").to_pylist()[4][0]["score"] == 1.0  # an integer score becomes a float
    assert table.column("published_at").to_pylist()[0] == datetime(2024, 11, 5, 8, 0, tzinfo=UTC)


def test_a_bundle_becomes_one_table_unless_its_buffer_fills() -> None:
    arrow = event_arrow_schema()
    records = realistic_events() + sparse_events()
    convert = RecordsToArrowTables(arrow, batch_size=2)
    convert.start_bundle()
    assert [out for r in records for out in convert.process(r)] == []
    [windowed] = list(convert.finish_bundle())
    assert windowed.value.equals(to_arrow_table(records, arrow))

    convert = RecordsToArrowTables(arrow, batch_size=2, row_group_bytes=1)  # a table per batch of 2
    convert.start_bundle()
    tables = [out for r in records for out in convert.process(r)] + [w.value for w in convert.finish_bundle()]
    assert [t.num_rows for t in tables] == [2, 2, 2]
    assert pa.concat_tables(tables).equals(to_arrow_table(records, arrow))


# --- a pipeline writing both datasets, then DuckDB over them -----------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Run JSONL + Parquet writers over the realistic records; return the output folder and file names."""
    output = tmp_path_factory.mktemp("parquet") / "out"
    names_file = output.parent / "names.json"
    with beam.Pipeline() as pipeline:
        events = pipeline | beam.Create(realistic_events())
        jsonl = events | "Jsonl" >> WriteDataset(str(output), "events", DT, RUN_ID)
        parquet = events | "Parquet" >> WriteEventsParquet(str(output), DT, RUN_ID)
        _ = (
            (jsonl, parquet)
            | beam.Flatten()
            | beam.combiners.ToList()
            | beam.Map(lambda names: names_file.write_text(json.dumps(sorted(names))))
        )
    return output, json.loads(names_file.read_text())


def test_parquet_files_land_in_the_partition_and_are_reported(written: tuple[Path, list[str]]) -> None:
    output, names = written
    files = sorted(str(p) for p in output.glob("*/dt=*/*"))
    assert names == files
    parquet = [p for p in files if p.endswith(".parquet")]
    assert parquet and all(f"/events_parquet/dt={DT}/part-{RUN_ID}-" in p for p in parquet)


def test_jsonl_and_parquet_agree_record_for_record(written: tuple[Path, list[str]]) -> None:
    output, _ = written
    arrow = event_arrow_schema()
    jsonl = [json.loads(line) for p in output.glob("events/dt=*/*.jsonl") for line in p.read_text().splitlines()]
    table = pa.concat_tables(pq.read_table(p) for p in output.glob("events_parquet/dt=*/*.parquet"))
    assert table.schema.equals(arrow)
    by_id = {row["event_id"]: row for row in table.to_pylist()}
    assert sorted(by_id) == sorted(r["event_id"] for r in jsonl) and len(by_id) == 4
    for record in jsonl:
        assert by_id[record["event_id"]] == to_arrow_row(record, arrow)
    tombstone = by_id[f"ev_{3:024x}"]
    assert tombstone["status"] == "withdrawn" and tombstone["title"] is None and tombstone["countries"] == []
    assert [c["code"] for c in by_id[f"ev_{1:024x}"]["countries"]] == ["UA", "KP", "RU"]


def test_duckdb_reads_both_with_hive_partitions(written: tuple[Path, list[str]]) -> None:
    output, _ = written
    con = duckdb.connect()
    jsonl = f"read_json_auto('{output}/events/*/*.jsonl', hive_partitioning=true)"
    parquet = f"read_parquet('{output}/events_parquet/*/*.parquet', hive_partitioning=true)"
    for source in (jsonl, parquet):
        assert con.execute(f"SELECT count(*), min(CAST(dt AS VARCHAR)) FROM {source}").fetchone() == (4, DT)
        per_topic = con.execute(
            f"SELECT t.id, count(*) FROM {source}, unnest(topics) AS u(t) GROUP BY ALL ORDER BY 1"
        ).fetchall()
        assert per_topic == [
            ("dprk", 1), ("dprk-russia-military-cooperation", 1), ("strikes-on-infrastructure", 1),
            ("troop-deployment", 1), ("ukraine", 1),
        ]
        codes = con.execute(f"SELECT countries[2].code FROM {source} WHERE event_id = 'ev_{1:024x}'").fetchone()
        assert codes == ("KP",)
    kinds = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {parquet})").fetchall())
    assert kinds["published_at"] == "TIMESTAMP WITH TIME ZONE"
    assert kinds["countries"].startswith("STRUCT(code VARCHAR") and kinds["countries"].endswith("[]")
    assert kinds["version"] == "BIGINT"
