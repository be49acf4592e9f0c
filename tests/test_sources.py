"""Sources file: validation with one-line errors, path resolution and expansion."""

from __future__ import annotations

from pathlib import Path

import pytest

from transforms.model import ParseError
from transforms.sources import SourcesError, expand_location, load_sources

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_bundled_sources_file_is_valid_and_resolves_relative_paths() -> None:
    sources = load_sources(str(REPO / "config" / "sources.yaml"))
    assert len({s.id for s in sources}) == len(sources) >= 3
    for source in sources:
        assert Path(source.url).is_absolute(), source.url


def test_relative_paths_resolve_against_the_sources_file(tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    path = write(tmp_path, "sources:\n  - id: local\n    url: feeds/\n  - id: web\n    url: https://example.org/rss\n")
    local, web = load_sources(path)
    assert local.url == str(tmp_path / "feeds")
    assert web.url == "https://example.org/rss"
    assert local.format == "auto"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources:\n  - id: Bad_Id\n    url: x.xml\n", "sources[0].id: 'Bad_Id' does not match"),
        ("sources:\n  - id: a\n", "sources[0]: 'url' is a required property"),
        ("sources:\n  - id: a\n    url: x\n    colour: red\n", "sources[0]: unknown key 'colour'; known keys: agency"),
        ("sources:\n  - id: a\n    ur1: x.xml\n", "sources[0]: unknown key 'ur1' (did you mean 'url'?)"),
        ("sources:\n  - id: a\n    url: x\n    format: pdf\n", "sources[0].format: 'pdf' is not one of"),
        ("sources:\n  - id: a\n    url: x\n  - id: a\n    url: y\n", "sources[1].id: duplicate id 'a'"),
        ("feeds: []\n", "(top level): unknown key 'feeds'; known keys: sources"),
        ("sources: [\n", "not valid YAML (line"),
    ],
)
def test_bad_sources_files_fail_with_one_line_naming_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SourcesError) as err:
        load_sources(path)
    message = str(err.value)
    assert message.startswith(path + ": ")
    assert expected in message
    assert "\n" not in message


def test_missing_sources_file(tmp_path: Path) -> None:
    with pytest.raises(SourcesError, match="cannot read sources file"):
        load_sources(str(tmp_path / "nope.yaml"))


def test_expand_directory_glob_file_and_url(tmp_path: Path) -> None:
    for name in ("b.xml", "a.xml", ".hidden", "sub/c.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x")
    assert expand_location(str(tmp_path)) == [str(tmp_path / n) for n in ("a.xml", "b.xml", "sub/c.txt")]
    assert expand_location(str(tmp_path / "*.xml")) == [str(tmp_path / "a.xml"), str(tmp_path / "b.xml")]
    assert expand_location(str(tmp_path / "a.xml")) == [str(tmp_path / "a.xml")]
    assert expand_location("https://example.org/feed") == ["https://example.org/feed"]
    with pytest.raises(ParseError, match="not_found"):
        expand_location(str(tmp_path / "missing.xml"))


def test_opml_sources_file(tmp_path: Path) -> None:
    path = tmp_path / "feeds.opml"
    path.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>Mine</title></head><body>'
        '<outline text="News"><outline type="rss" text="Kyiv Independent" xmlUrl="https://kyiv.example/rss"/>'
        '<outline type="rss" title="Yonhap" text="Yonhap" xmlUrl="https://yna.example/rss.xml"/></outline>'
        "</body></opml>",
        encoding="utf-8",
    )
    sources = load_sources(str(path))
    assert [s.url for s in sources] == ["https://kyiv.example/rss", "https://yna.example/rss.xml"]
    assert {s.format for s in sources} == {"auto"}
    assert all(s.id and s.id == s.id.lower() for s in sources)


def test_broken_opml_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "feeds.opml"
    path.write_text("<opml><body><outline", encoding="utf-8")
    with pytest.raises(SourcesError) as err:
        load_sources(str(path))
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)
