"""OPML sources: outlines with xmlUrl become schema-valid source entries; unsafe XML is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import first_error
from transforms.opml import OpmlError, language_code, load_opml, slugify

OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>subscriptions</title></head>
  <body>
    <outline text="World">
      <outline type="rss" text="BBC News" title="BBC News" xmlUrl="https://feeds.bbci.co.uk/news/rss.xml"
               language="en-GB"/>
      <outline type="rss" text="Le Monde — Économie" xmlUrl="https://www.lemonde.fr/economie/rss_full.xml"
               language="fr"/>
      <outline type="rss" text="연합뉴스" xmlUrl="https://www.yna.co.kr/rss/news.xml"/>
    </outline>
    <outline text="Duplicates">
      <outline type="rss" text="BBC News" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
      <outline type="rss" text="BBC again" xmlUrl="https://feeds.bbci.co.uk/news/rss.xml"/>
      <outline text="a folder link without a feed" htmlUrl="https://example.org/"/>
    </outline>
    <outline type="rss" TEXT="Upper-case attributes" XMLURL="https://example.org/feed" language="nonsense"/>
  </body>
</opml>
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "feeds.opml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_outlines_become_source_entries(tmp_path: Path) -> None:
    entries = load_opml(write(tmp_path, OPML))
    assert entries == [
        {"id": "bbc-news", "url": "https://feeds.bbci.co.uk/news/rss.xml", "name": "BBC News", "language": "en"},
        {"id": "le-monde-economie", "url": "https://www.lemonde.fr/economie/rss_full.xml",
         "name": "Le Monde — Économie", "language": "fr"},
        {"id": "yna-co-kr-rss-news-xml", "url": "https://www.yna.co.kr/rss/news.xml", "name": "연합뉴스"},
        {"id": "bbc-news-2", "url": "https://feeds.bbci.co.uk/news/world/rss.xml", "name": "BBC News"},
        {"id": "upper-case-attributes", "url": "https://example.org/feed", "name": "Upper-case attributes"},
    ]
    assert first_error("sources", {"sources": entries}) is None


def test_slugs_and_languages() -> None:
    assert slugify("  Reuters: Top News!! ") == "reuters-top-news"
    assert slugify("x" * 100) == "x" * 56
    assert slugify("日本") == ""
    assert language_code("pt-BR") == "pt" and language_code("english") is None and language_code(None) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<opml><body><outline text='x'/></body></opml>", "no <outline> with an xmlUrl"),
        ("<rss/>", "root element is <rss>"),
        ("<opml><body>", "not well-formed"),
        (
            '<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            '<opml><body><outline text="&b;" xmlUrl="https://example.org/f"/></body></opml>',
            "unsafe OPML refused",
        ),
        (
            '<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<opml><body><outline text="&x;" xmlUrl="https://example.org/f"/></body></opml>',
            "unsafe OPML refused",
        ),
    ],
)
def test_unusable_files_fail_with_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(OpmlError, match=expected) as caught:
        load_opml(path)
    assert str(caught.value).startswith(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OpmlError, match="cannot read OPML file"):
        load_opml(str(tmp_path / "absent.opml"))
