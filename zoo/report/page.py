"""results/index.html: every table and plot of `zoo report` on one self-contained page.

One file, no server, no network: CSS and JavaScript inline, plots inline as base64 PNG. Every table is
sortable (click a header) and the page filters rows by task, device, machine, real or random-init weights and
data set; each plot links to the tables made from the same rows and to their raw files. The page is
deterministic (same rows in, same bytes out), so ``zoo report --check`` covers it like any other file.

The page's state can be set from the query string (for links, and for the headless-browser test):
``index.html?weights=random-init&sort=leaderboard:items/s:desc`` (filters: task, device, machine, weights,
dataset, q; sort: table slug, column name, asc or desc).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from .base import GENERATED, Table, fmt
from .render import table_notes

FILTERS = ("task", "device", "machine", "weights", "dataset")
_DEVICE_COLUMNS = ("device", "device (ours)", "machine")
_DATA_COLUMNS = ("dataset", "data set", "data", "data set (test)", "training data")


def _cell(x: Any, digits: int) -> str:
    return " ".join(fmt(x, digits).split())


def _device_and_machine(text: str) -> tuple[str, str]:
    """"cpu: AMD EPYC 2c avx2 (2 torch threads)" -> ("cpu", "AMD EPYC 2c avx2"); a bare machine name -> ("", it)."""
    if not text or text.startswith("—"):
        return "", ""
    kind, sep, rest = text.partition(": ")
    if not sep or " " in kind:
        return "", text
    return kind, rest.split(" (")[0]


def row_facets(columns: list[str], row: list[str]) -> dict[str, str]:
    """The filter values of one table row (task, device, machine, weights, dataset; "" when the table has no such
    column). weights: "random-init" when any weights cell (or the rank) says so, "real" when it has weights cells
    and none says so."""
    by = dict(zip(columns, row))
    facets = {"task": by.get("task", ""), "device": "", "machine": "", "weights": "", "dataset": ""}
    for c in _DEVICE_COLUMNS:
        if by.get(c) and by[c] != "—":
            dev, mach = _device_and_machine(by[c])
            facets["device"] = facets["device"] or dev
            facets["machine"] = facets["machine"] or mach
    facets["dataset"] = next((by[c] for c in _DATA_COLUMNS if by.get(c) and by[c] != "—"), "")
    facets["weights"] = _weights_facet(by)
    return facets


def _weights_facet(by: dict[str, str]) -> str:
    """"random-init" or "real" (the weights the row's figures come from), "" when the row does not say. A score
    made with trained weights beside a timing made with random-init ones (a dense network's speed does not depend
    on the values) counts as real; the leaderboard's rank says random-init where the figures do not stand."""
    if by.get("rank") == "random-init":
        return "random-init"
    score = by.get("score weights")
    if score and score != "—" and score != "same":
        return "random-init" if "random-init" in score else "real"
    weights = [v for c, v in by.items() if "weights" in c and v and v != "—"]
    if not weights:
        return ""
    return "random-init" if any("random-init" in v for v in weights) else "real"


def _table_html(table: Table, topic: str, raw_files: list[str]) -> tuple[str, list[dict[str, str]]]:
    cells = [[_cell(x, table.digits) for x in r] for r in table.rows]
    facets = [row_facets(table.columns, r) for r in cells]
    e = html.escape
    head = "".join(f'<th data-col="{j}" title="sort by {e(c)}">{e(c)}</th>' for j, c in enumerate(table.columns))
    body = []
    for i, (r, f) in enumerate(zip(cells, facets)):
        attrs = "".join(f' data-{k}="{e(v)}"' for k, v in f.items())
        body.append(f'<tr data-i="{i}"{attrs}>' + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>")
    raw = " ".join(f'<a href="{e(p)}">{e(Path(p).name)}</a>' for p in raw_files)
    notes = "".join(f"<li>{e(n)}</li>" for n in table_notes(table))
    out = (f'<section class="table" id="{e(table.slug)}" data-topic="{e(topic)}">'
           f"<h2>{e(' '.join(table.title.split()))}</h2>"
           f'<p class="meta"><span class="count"></span> · <a href="{e(table.slug)}.csv">CSV</a> · '
           f'<a href="{e(table.slug)}.md">markdown</a>{" · raw rows: " + raw if raw else ""}</p>'
           f'<div class="scroll"><table class="zoo" data-slug="{e(table.slug)}"><thead><tr>{head}</tr></thead>'
           f"<tbody>{''.join(body)}</tbody></table></div>"
           f"<details><summary>notes</summary><ul>{notes}</ul></details></section>")
    return out, facets


def _raw_files_of(table: Table, row_file: dict[int, str], raw_link: str) -> list[str]:
    files = sorted({row_file[id(r)] for r in table.sources or [] if id(r) in row_file})
    return [f"{raw_link}/{f}.jsonl" for f in files]


# The row kinds a topic module's plots read, for figures whose tables do not name their source rows.
KINDS_OF = {"speed": {"speed"}, "studies": {"study"}, "more_data": {"study"}, "misconceptions": {"study", "eval", "speed"},
            "leaderboard": {"speed", "eval"}}


def _tables_of_figure(rel: str, tables: list[Table]) -> list[Table]:
    """The tables of the figure's topic that share the most words with its file name ("studies_learning_rate"
    -> study_learning_rate), or all of them when none shares a word."""
    words = set(Path(rel).stem.split("_")[1:])
    overlap = {t.slug: len(words & set(t.slug.split("_")[1:])) for t in tables}
    best = max(overlap.values(), default=0)
    return [t for t in tables if overlap[t.slug] == best] if best else tables


def _figure_html(rel: str, png: bytes, caption: str, tables: list[Table], raw_files: list[str]) -> str:
    e = html.escape
    data = base64.b64encode(png).decode("ascii")
    links = " ".join(f'<a href="#{e(t.slug)}">{e(t.slug)}</a>' for t in tables)
    raw = " ".join(f'<a href="{e(p)}">{e(Path(p).name)}</a>' for p in raw_files)
    return (f'<figure id="plot-{e(Path(rel).stem)}"><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{e(caption)}<br>made from: {links or 'its topic’s rows'}"
            f"{' · raw rows: ' + raw if raw else ''} · <a href=\"{e(rel)}\">{e(rel)}</a></figcaption></figure>")


def _options(name: str, values: set[str]) -> str:
    e = html.escape
    opts = "".join(f'<option value="{e(v)}">{e(v)}</option>' for v in sorted(v for v in values if v))
    return f'<label>{name} <select id="filter-{name}" data-facet="{name}"><option value="">all</option>{opts}</select></label>'


def page(made: list[tuple[Table, str]], plots: dict[str, str], stage: Path, rows: dict[str, list[dict]],
         raw_link: str, caption_of) -> str:
    """The HTML text of results/index.html. ``made``: (table, topic module) in report order; ``plots``: plot path
    (relative to ``stage``) -> topic module; ``caption_of``: plot path -> its caption."""
    row_file = {id(r): topic for topic, rs in rows.items() for r in rs}
    sections, seen = [], {k: set() for k in FILTERS}
    for table, topic in made:
        raw_files = _raw_files_of(table, row_file, raw_link)
        text, facets = _table_html(table, topic, raw_files)
        sections.append(text)
        for f in facets:
            for k in FILTERS:
                seen[k].add(f[k])
    figures = []
    for rel, topic in sorted(plots.items()):
        if not rel.endswith(".png"):
            continue
        same = _tables_of_figure(rel, [t for t, tp in made if tp == topic])
        raw = sorted({p for t in same for p in _raw_files_of(t, row_file, raw_link)}) or \
            sorted(f"{raw_link}/{f}.jsonl" for f in rows if {r.get("kind") for r in rows[f]} & KINDS_OF.get(topic, set()))
        figures.append(_figure_html(rel, (stage / rel).read_bytes(), caption_of(rel), same, raw))
    toc = "".join(f'<li><a href="#{html.escape(t.slug)}">{html.escape(t.slug)}</a></li>' for t, _ in made)
    filters = "".join(_options(k, seen[k]) for k in FILTERS)
    return (f"<!DOCTYPE html><!-- {GENERATED} -->\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>zoo results</title><style>{CSS}</style><script>{ERRORS_JS}</script></head><body>"
            "<h1>zoo results</h1><p>Every table and plot that <code>zoo report</code> made from the raw rows. Click a "
            "column header to sort; the filters apply to every table (a row without that field is hidden while the "
            "filter is set).</p>"
            f'<form id="filters">{filters}<label>text <input id="filter-q" type="search"></label></form>'
            f'<nav><ul>{toc}<li><a href="#plots">plots</a></li></ul></nav>'
            + "".join(sections) + f'<section id="plots"><h2>Plots</h2>{"".join(figures)}</section>'
            f"<script>{JS}</script></body></html>\n")


CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222}
table.zoo{border-collapse:collapse;font-variant-numeric:tabular-nums}
table.zoo th,table.zoo td{border:1px solid #ccc;padding:2px 6px;white-space:nowrap;max-width:28em;
overflow:hidden;text-overflow:ellipsis}
table.zoo th{background:#eee;cursor:pointer;position:sticky;top:0}
th[data-dir=asc]::after{content:" \\25B2"}th[data-dir=desc]::after{content:" \\25BC"}
tr[data-weights=random-init] td{color:#a33}
.scroll{overflow:auto;max-height:40em}.meta{color:#555}#filters{position:sticky;top:0;background:#fff;padding:.5em 0;
z-index:2}#filters label{margin-right:1em}nav ul{columns:3}figure{display:inline-block;margin:1em;vertical-align:top;
max-width:48%}figure img{max-width:100%}"""

# Registered first, so an error anywhere on the page is counted (the browser test reads data-errors).
ERRORS_JS = """window.zooErrors=[];window.addEventListener('error',function(e){window.zooErrors.push(String(e.message));
document.documentElement.setAttribute('data-errors',String(window.zooErrors.length));});"""

JS = r"""(function(){
function num(t){var s=t.replace(/[,%x+]/g,'').replace(/\u2013.*/,'');var v=parseFloat(s);return isNaN(v)?null:v;}
function sortTable(table,col,dir){
  var tb=table.tBodies[0],rows=Array.prototype.slice.call(tb.rows);
  rows.sort(function(a,b){
    var x=a.cells[col].textContent,y=b.cells[col].textContent,nx=num(x),ny=num(y),r;
    if(nx===null&&ny===null){r=x.localeCompare(y);}else if(nx===null){return 1;}else if(ny===null){return -1;}
    else{r=nx-ny;}
    if(r===0){r=(+a.getAttribute('data-i'))-(+b.getAttribute('data-i'));return r;}
    return dir==='desc'?-r:r;});
  rows.forEach(function(r){tb.appendChild(r);});
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,j){
    if(j===col){th.setAttribute('data-dir',dir);}else{th.removeAttribute('data-dir');}});
}
function applyFilters(){
  var want={};document.querySelectorAll('#filters select').forEach(function(s){want[s.getAttribute('data-facet')]=s.value;});
  var q=document.getElementById('filter-q').value.toLowerCase();
  document.querySelectorAll('table.zoo').forEach(function(t){
    var shown=0,rows=t.tBodies[0].rows;
    Array.prototype.forEach.call(rows,function(r){
      var ok=true;for(var k in want){if(want[k]&&r.getAttribute('data-'+k)!==want[k]){ok=false;}}
      if(ok&&q&&r.textContent.toLowerCase().indexOf(q)<0){ok=false;}
      r.hidden=!ok;if(ok){shown++;}});
    var c=t.closest('section').querySelector('.count');c.textContent=shown+' of '+rows.length+' rows shown';});
}
document.querySelectorAll('table.zoo th').forEach(function(th){th.addEventListener('click',function(){
  var dir=th.getAttribute('data-dir')==='desc'?'asc':'desc';sortTable(th.closest('table'),+th.getAttribute('data-col'),dir);});});
document.querySelectorAll('#filters select').forEach(function(s){s.addEventListener('change',applyFilters);});
document.getElementById('filter-q').addEventListener('input',applyFilters);
var p=new URLSearchParams(location.search);
document.querySelectorAll('#filters select').forEach(function(s){var v=p.get(s.getAttribute('data-facet'));if(v){s.value=v;}});
if(p.get('q')){document.getElementById('filter-q').value=p.get('q');}
if(p.get('sort')){var a=p.get('sort').split(':'),t=document.querySelector('table.zoo[data-slug="'+a[0]+'"]');
  if(t){Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,j){
    if(th.textContent===a[1]){sortTable(t,j,a[2]||'desc');}});}}
applyFilters();
document.body.setAttribute('data-ready','1');
})();"""
