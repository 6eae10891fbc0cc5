"""The page frame: CSS, number formatting, tables, embedded images and the load self-check.

The page is one file with every image inlined as a data: URI, and a Content-Security-Policy that forbids any
network request, so it opens offline from disk. A tiny script records on <body> whether every image decoded
and whether any script or resource error or CSP violation happened (data-images-ok / data-errors), for humans
and tests alike.

The policy allows exactly the page's own <style> and <script> blocks, by their sha256 hashes: no
'unsafe-inline', so markup that an odd file name or label might smuggle into the page could not run a script or
restyle it. Nothing here writes a style="..." attribute or an on...= handler (hashes do not cover those): use
classes in CSS.
"""
from __future__ import annotations

import base64
import hashlib
import html
from typing import Iterable

CSS = """
:root { --real:#2f6db5; --fake:#c8473d; --ink:#1f2630; --muted:#667085; --line:#e3e6eb; --bg:#f6f7f9; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",sans-serif;
       color:var(--ink); background:var(--bg); }
header { background:#1f2630; color:#fff; padding:22px 32px 18px; }
header h1 { margin:0 0 4px; font-size:22px; }
header .sub { color:#c3c9d3; font-size:13px; }
nav { position:sticky; top:0; z-index:5; background:#fff; border-bottom:1px solid var(--line); padding:8px 32px; }
nav a { margin-right:18px; color:var(--ink); text-decoration:none; font-weight:600; font-size:13px; }
nav a:hover { color:var(--real); }
main { max-width:1280px; margin:0 auto; padding:8px 32px 48px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:6px 22px 18px; margin:18px 0; }
h2 { font-size:19px; border-bottom:2px solid var(--line); padding-bottom:6px; }
h3 { font-size:15px; margin:20px 0 6px; }
p.note { color:var(--muted); margin:4px 0 10px; max-width:980px; }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin:16px 0 4px; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 16px; min-width:130px; }
.card .v { font-size:22px; font-weight:700; } .card .k { color:var(--muted); font-size:12px; }
table { border-collapse:collapse; margin:6px 0 12px; font-size:13px; }
th, td { border-bottom:1px solid var(--line); padding:4px 10px; text-align:left; vertical-align:top; }
th { background:#f0f2f5; font-weight:600; }
td.n { text-align:right; font-variant-numeric:tabular-nums; }
.REAL { color:var(--real); font-weight:600; } .FAKE { color:var(--fake); font-weight:600; }
img.fig { max-width:100%; border:1px solid var(--line); border-radius:6px; background:#fff; margin:6px 0; }
.warn { background:#fff6e5; border-left:4px solid #e0a21b; padding:8px 12px; margin:10px 0; }
.alarm { background:#fdecea; border-left:6px solid #c8473d; color:#7a1f17; padding:10px 14px; margin:14px 0;
         font-size:15px; }
.card.alarm { border:2px solid #c8473d; color:#c8473d; margin:0; padding:10px 16px; font-size:inherit; }
.ok { background:#eaf6ee; border-left:4px solid #3a9a78; padding:8px 12px; margin:10px 0; }
details { margin:4px 0 10px; } summary { cursor:pointer; color:var(--real); }
.names { columns:4 220px; font-family:ui-monospace,Menlo,Consolas,monospace; font-size:12px; margin:6px 0; }
.grid { display:flex; flex-wrap:wrap; gap:10px; margin:8px 0 14px; }
figure.crop { margin:0; width:128px; font-size:11px; color:var(--muted); }
figure.crop img { width:128px; height:128px; object-fit:cover; border-radius:4px; border:3px solid var(--line); }
figure.crop.REAL img { border-color:var(--real); } figure.crop.FAKE img { border-color:var(--fake); }
figure.crop figcaption { overflow-wrap:anywhere; }
.pair { display:flex; gap:6px; padding:6px; border:1px solid var(--line); border-radius:6px; }
.row-label { font-weight:700; margin:10px 0 2px; }
.row { display:flex; flex-wrap:wrap; gap:4px 40px; align-items:flex-start; }
.row > div > h3 { margin-top:16px; }
.wide { overflow-x:auto; max-width:100%; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:20px; }
"""

SELF_CHECK = """
(function () {
  var errors = [], loaded = false;
  function publish() {  // at load, and again for any error that arrives later (a violation is reported async)
    if (!loaded) return;
    document.body.setAttribute('data-errors', String(errors.length));
    document.getElementById('page-errors').textContent = errors.join('\\n');
  }
  window.addEventListener('error', function (e) {
    var t = e.target && e.target.tagName ? e.target.tagName + ' ' + (e.target.currentSrc || '').slice(0, 40) : '';
    errors.push(e.message || ('failed to load ' + t));
    publish();
  }, true);
  document.addEventListener('securitypolicyviolation', function (e) {
    errors.push('blocked by the Content-Security-Policy: ' + e.violatedDirective + ' ' + (e.blockedURI || ''));
    publish();
  });
  window.addEventListener('load', function () {
    var imgs = Array.prototype.slice.call(document.images);
    var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
    document.body.setAttribute('data-images-total', String(imgs.length));
    document.body.setAttribute('data-images-ok', String(ok));
    loaded = true;
    publish();
    document.body.setAttribute('data-ready', '1');
  });
})();
"""


def csp_hash(block: str) -> str:
    """The CSP source expression that allows one inline <style> or <script> block: its text, as written between
    the tags, hashed with sha256 (UTF-8)."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(block.encode("utf-8")).digest()).decode("ascii") + "'"


# Images only as data: URIs, the page's one <style> and one <script> by hash, nothing else (no fetch, no frame,
# no form, no <base>); default-src does not cover base-uri and form-action, so they are named.
CSP = (f"default-src 'none'; img-src data:; style-src {csp_hash(CSS)}; script-src {csp_hash(SELF_CHECK)}; "
       "base-uri 'none'; form-action 'none'")


class Markup(str):
    """A string that is already HTML (not escaped again by table())."""


def esc(x: object) -> str:
    return html.escape("" if x is None else str(x))


def fmt(x: object, pct: bool = False) -> str:
    """A number as the page shows it: thousands separators, at most 3 decimals, '-' for null."""
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if pct and isinstance(x, (int, float)):
        return f"{100 * x:.1f}%"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if x.is_integer() and abs(x) < 1e15:
            return f"{int(x):,}"
        return f"{x:,.3f}".rstrip("0").rstrip(".") if abs(x) < 1000 else f"{x:,.1f}"
    return esc(x)


def table(header: Iterable[str], rows: Iterable[Iterable[object]], numeric: Iterable[int] = (),
          cls: str = "") -> str:
    """rows of already-formatted cells (str) or raw values (formatted with fmt); numeric: right-aligned cols."""
    num = set(numeric)
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            text = c if isinstance(c, Markup) else fmt(c) if not isinstance(c, str) else esc(c)
            cells.append(f'<td class="n">{text}</td>' if i in num else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def blocks(items: Iterable[tuple[str, str]]) -> str:
    """Titled small tables side by side (wrapping), instead of one long column."""
    return '<div class="row">' + "".join(f"<div><h3>{esc(t)}</h3>{h}</div>" for t, h in items) + "</div>"


def label_span(label: str) -> Markup:
    return Markup(f'<span class="{esc(label)}">{esc(label)}</span>')


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def img(mime: str, data: bytes, alt: str, cls: str = "fig") -> str:
    return f'<img class="{cls}" alt="{esc(alt)}" src="{data_uri(mime, data)}">'


def names_list(items: list[str], total: int, what: str) -> str:
    """A collapsible list of video names, noting when stats.json holds only the first ones."""
    if not items:
        return ""
    more = f" (first {len(items):,} of {total:,})" if total > len(items) else ""
    inner = "".join(f"<div>{esc(x)}</div>" for x in items)
    return f'<details><summary>{esc(what)}{more}</summary><div class="names">{inner}</div></details>'


def page(title: str, subtitle: str, nav: list[tuple[str, str]], body: str, footer: str) -> str:
    links = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in nav)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title><style>{CSS}</style><script>{SELF_CHECK}</script></head>
<body><header><h1>{esc(title)}</h1><div class="sub">{subtitle}</div></header>
<nav>{links}</nav><main>{body}</main>
<footer>{footer}</footer><pre id="page-errors" hidden></pre></body></html>
"""
