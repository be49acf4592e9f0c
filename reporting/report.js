// The report page's script: the date-range and source filter, the tables and the KPI tiles; Vega-Lite
// aggregates for the charts. One implementation, run on load and on every filter change.
(function () {
  const errors = [];
  const note = (e) => { errors.push(String(e && (e.message || e.reason || e))); document.body.dataset.errors = errors.join(' | '); };
  window.addEventListener('error', note);
  window.addEventListener('unhandledrejection', (e) => note(e.reason));
  const data = JSON.parse(document.getElementById('wirewatch-data').textContent);
  const panels = JSON.parse(document.getElementById('wirewatch-panels').textContent);
  const from = document.getElementById('from'), to = document.getElementById('to');
  const source = document.getElementById('source');
  const nf = new Intl.NumberFormat('en-US');
  const keep = (r) => (!r.day || ((!from.value || r.day >= from.value) && (!to.value || r.day <= to.value)))
      && (!source.value || r.source === undefined || r.source === source.value);
  const objects = (t) => t.rows.map((r) => Object.fromEntries(t.columns.map((c, i) => [c, r[i]])));
  const tables = Object.fromEntries(Object.entries(data.tables).map(([name, t]) => [name, objects(t)]));
  const rows = (name) => (tables[name] || []).filter(keep);
  const sum = (r, expr) => expr.split('+').reduce((s, c) => s + (Number(r[c]) || 0), 0);

  function tabulate(t, input) {
    const groups = new Map();
    for (const r of input) {
      const key = JSON.stringify(t.group.map((g) => r[g]));
      let g = groups.get(key);
      if (!g) { g = Object.fromEntries(t.group.map((c) => [c, r[c]])); t.sums.forEach((c) => { g[c] = 0; });
                for (const c of Object.values(t.links)) g[c] = r[c]; groups.set(key, g); }
      t.sums.forEach((c) => { g[c] += Number(r[c]) || 0; });
    }
    let out = [...groups.values()];
    for (const [c, [num, den]] of Object.entries(t.ratios)) out.forEach((g) => { const d = sum(g, den); g[c] = d ? sum(g, num) / d : null; });
    if (t.sort) out.sort((a, b) => (a[t.sort] < b[t.sort] ? -1 : a[t.sort] > b[t.sort] ? 1 : 0) * (t.ascending ? 1 : -1));
    return out.slice(0, t.limit);
  }

  function cell(t, g, c) {
    const td = document.createElement('td'), v = g[c];
    if (c in t.ratios) { td.className = 'num'; td.textContent = v === null ? '' : (c.endsWith('share') || c.endsWith('ratio') ? (100 * v).toFixed(1) + '%' : v.toFixed(3)); }
    else if (typeof v === 'number') { td.className = 'num'; td.textContent = Number.isInteger(v) ? nf.format(v) : v.toFixed(3); }
    else if (t.links[c] && g[t.links[c]]) { const a = document.createElement('a'); a.href = g[t.links[c]]; a.textContent = v || g[t.links[c]]; a.rel = 'noreferrer'; td.appendChild(a); }
    else td.textContent = v === null || v === undefined ? '' : String(v);
    return td;
  }

  function renderTable(p) {
    const t = p.table, cols = [...t.group, ...t.sums, ...Object.keys(t.ratios)];
    const out = tabulate(t, rows(p.data));
    const table = document.createElement('table'), head = table.createTHead().insertRow();
    cols.forEach((c) => { const th = document.createElement('th'); th.textContent = c.replace(/_/g, ' '); head.appendChild(th); });
    const body = table.createTBody();
    if (!out.length) { const td = body.insertRow().insertCell(); td.colSpan = cols.length; td.className = 'empty'; td.textContent = 'nothing in the selected days and source'; }
    out.forEach((g) => { const tr = body.insertRow(); cols.forEach((c) => tr.appendChild(cell(t, g, c))); });
    const box = document.querySelector('#' + p.id + ' .table'); box.replaceChildren(table);
  }

  function renderKpis() {
    const runs = rows('runs'), total = (c) => runs.reduce((s, r) => s + (Number(r[c]) || 0), 0);
    const kpis = [['runs', new Set(runs.map((r) => r.run_id)).size], ['items read', total('items_read')],
                  ['events', total('events')], ['duplicates', total('duplicates')], ['rejects', total('rejects')],
                  ['held', total('held')]];
    document.getElementById('kpis').replaceChildren(...kpis.map(([k, v]) => {
      const d = document.createElement('div'); d.className = 'kpi'; d.dataset.kpi = k;
      d.innerHTML = '<b></b><span></span>'; d.firstChild.textContent = nf.format(v); d.lastChild.textContent = k; return d; }));
  }

  // A chart is drawn from the filtered rows; with none, a line says so (Vega would draw empty axes and warn).
  const views = {};
  function draw(p) {
    const box = document.querySelector('#' + p.id + ' .chart'), input = rows(p.data);
    if (views[p.id]) { views[p.id].finalize(); delete views[p.id]; }
    if (!input.length) { box.replaceChildren(); box.textContent = 'no data in the selected days and source'; box.className = 'chart empty'; return Promise.resolve(); }
    box.className = 'chart';
    const spec = Object.assign({}, p.spec, {data: {name: p.data, values: input}});
    return vegaEmbed(box, spec, {renderer: 'svg', actions: false}).then((res) => { views[p.id] = res.view; });
  }
  function refresh() {
    renderKpis();
    panels.forEach(renderTable);
    return Promise.all(panels.map(draw)).then(() => {
      document.body.dataset.rendered = String(Object.keys(views).length);
      document.body.dataset.empty = String(panels.length - Object.keys(views).length);
    }, note);
  }
  // The filter lives in the address too (#from=…&to=…&source=…), so a filtered view can be shared or bookmarked.
  const wanted = new URLSearchParams(location.hash.slice(1));
  if (wanted.has('from')) from.value = wanted.get('from');
  if (wanted.has('to')) to.value = wanted.get('to');
  if (wanted.has('source')) source.value = wanted.get('source');
  [from, to, source].forEach((el) => el.addEventListener('change', () => {
    history.replaceState(null, '', '#' + new URLSearchParams({from: from.value, to: to.value, source: source.value}));
    refresh();
  }));
  refresh();
})();
