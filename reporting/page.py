"""The report page: one self-contained HTML file (Vega, Vega-Lite and vega-embed inlined; no network reference).

The figures travel as JSON inside the page (``<script type="application/json" id="wirewatch-data">``),
beside each panel's Vega-Lite spec and table layout. A small script fills the charts' named data sets and
the tables from the rows of the selected days and source, and refills them when the filter changes.
The page records what happened on ``<body>``: ``data-rendered`` (charts drawn) and ``data-errors``
(any script error), which the browser test reads.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

from reporting.charts import Panel
from reporting.figures import Figures


@cache
def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script, from the pinned vl-convert-python (no download).

    vl-convert bundles them anew on every call (1.2 s on an idle core, 3.5 s on a busy machine: most of
    a report's build time), so the bundle is kept in the user's cache folder per vl-convert version.
    """
    import vl_convert

    cache_file = _cache_dir() / f"vega-bundle-{vl_convert.__version__}.js"
    try:
        return cache_file.read_text(encoding="utf-8")
    except OSError:
        pass
    bundle = vl_convert.javascript_bundle()
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = cache_file.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(bundle, encoding="utf-8")
        partial.replace(cache_file)  # atomic: a concurrent build never reads half a bundle
    except OSError:
        pass  # a read-only home only costs the bundling next time
    return bundle


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wirewatch"


def columnar(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows as ``{"columns": [...], "rows": [[...], ...]}``: the column names once, not once per row
    (half the bytes of the figures; the page turns them back into objects)."""
    columns = list(rows[0]) if rows else []
    return {"columns": columns, "rows": [[row[c] for c in columns] for row in rows]}


def _json_for_script(value: Any) -> str:
    """JSON that can sit inside a <script> element (no ``</`` can close it early)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


HERE = Path(__file__).parent


def _asset(name: str) -> str:
    """The page's stylesheet or script, shipped beside this module as package data."""
    return (HERE / name).read_text(encoding="utf-8")


def render_page(figures: Figures, panels: list[Panel], title: str, subtitle: str, generated_at: str) -> str:
    """The whole HTML document."""
    first, last = (figures.days[0], figures.days[-1]) if figures.days else ("", "")
    panel_config = [{"id": p.id, "data": p.data, "spec": p.spec(), "table": asdict(p.table)} for p in panels]
    options = "".join(f'<option value="{html.escape(s)}">{html.escape(s)}</option>' for s in figures.sources)
    sections = "".join(
        f'<section id="{p.id}"><h2>{html.escape(p.title)}</h2><p class="note">{html.escape(p.note)}</p>'
        f'<div class="row"><div class="chart"></div><div class="table"></div></div></section>'
        for p in panels
    )
    payload = {"tables": {name: columnar(rows) for name, rows in figures.tables.items()}, "days": figures.days,
               "sources": figures.sources, "runs": figures.runs,
               "generated_at": generated_at}
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_asset('report.css')}</style>
<script>{vega_bundle()}</script></head>
<body>
<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>
<div id="filters">
<label>From <input type="date" id="from" value="{first}" min="{first}" max="{last}"></label>
<label>To <input type="date" id="to" value="{last}" min="{first}" max="{last}"></label>
<label>Source <select id="source"><option value="">all sources</option>{options}</select></label>
<span class="note">days are UTC ingestion days (the runs' days, the <code>dt</code> partitions)</span>
</div>
<div id="kpis"></div>
<main>{sections}</main>
<footer>Generated {html.escape(generated_at)} by <code>wirewatch report</code> from {figures.runs} run manifest(s)
and the records of those runs. Figures count records as the runs wrote them (the manifests' counts).</footer>
<script type="application/json" id="wirewatch-data">{_json_for_script(payload)}</script>
<script type="application/json" id="wirewatch-panels">{_json_for_script(panel_config)}</script>
<script>{_asset('report.js')}</script>
</body></html>
"""
