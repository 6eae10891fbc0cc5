"""Hostile inputs to `dfprep evaluate` and the report page: odd file names in submission.csv and metadata.json
(a leading space, an embedded newline, a comma, Unicode, rich markup), --strict, malformed labels, duplicate
names, and the report's Content-Security-Policy (a hash for every inline block, no 'unsafe-inline').

Every input is a real file written in tmp_path and read through the real readers and the real CLI."""
from __future__ import annotations

import csv
import json
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dfprep.analysis import html as report_html
from dfprep.analysis.run import analyze
from dfprep.cli import app as dfprep_app
from dfprep.inference.evaluate import EvaluateError, SubmissionMismatch, evaluate_submission

runner = CliRunner()
DOCS = Path(__file__).resolve().parents[1] / "docs" / "formats.md"

ODD = {  # name -> label: each name is legal in metadata.json and, quoted where needed, in a CSV
    "plain.mp4": "FAKE",
    " leading.mp4": "REAL",           # a leading space
    "trailing.mp4 ": "FAKE",          # a trailing space
    "new\nline.mp4": "FAKE",          # an embedded newline
    "cr\r\nlf.mp4": "REAL",           # an embedded CRLF
    "comma,name.mp4": "REAL",         # the delimiter
    'quote"d.mp4': "FAKE",            # the quote character
    "vid\u00e9o_\u65e5\u672c.mp4": "REAL",   # Unicode (NFC)
    "[red]markup[/red].mp4": "FAKE",  # rich markup in a name must be printed, not interpreted
    "[/x].mp4": "REAL",               # an unmatched closing tag would make rich raise
}


def _cli(*args: str):
    """`dfprep evaluate ...` as registered (errors through dfprep.cli's one handler)."""
    return runner.invoke(dfprep_app, ["evaluate", *args])


def _part(tmp_path: Path, labels: dict[str, str], raw: str | None = None) -> Path:
    """A DFDC part folder whose metadata.json labels these names (or holds `raw` JSON text as is)."""
    part = tmp_path / "dfdc_train_part_0"
    part.mkdir(exist_ok=True)
    text = raw if raw is not None else json.dumps(
        {n: {"label": lab, "split": "train", **({"original": "plain.mp4"} if lab == "FAKE" else {})}
         for n, lab in labels.items()}, ensure_ascii=False)
    (part / "metadata.json").write_text(text, encoding="utf-8")
    return part


def _submission(path: Path, rows: dict[str, float]) -> Path:
    """Written with the csv module, as any CSV writer (pandas, Kaggle's samples) quotes: minimal quoting."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["filename", "label"])
        for n, p in rows.items():
            w.writerow([n, repr(p)])
    return path


def _probs(names) -> dict[str, float]:
    return {n: round(0.05 + 0.9 * i / max(1, len(names) - 1), 6) for i, n in enumerate(sorted(names))}


# ------------------------------------------------------------------------------------------ odd names

def test_odd_names_round_trip_exactly(tmp_path):
    """Attack: file names with a leading/trailing space, an embedded newline or CRLF, a comma, a quote, Unicode and
    rich markup, in metadata.json and (quoted by the csv module) in submission.csv. What happens: every row
    matches its label exactly (none missing, none extra, --strict passes), and the metrics equal those of the
    same predictions under plain names, so no name was trimmed, split or merged on the way."""
    part = _part(tmp_path, ODD)
    probs = _probs(ODD)
    sub = _submission(tmp_path / "odd.csv", probs)
    out = tmp_path / "metrics.json"
    res = _cli(str(sub), str(part), "--strict", "--out", str(out))
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    assert r["matched"] == len(ODD) and r["missing"] == [] and r["extra"] == [] and r["strict"] is True

    plain = {n: f"v{i:02d}.mp4" for i, n in enumerate(sorted(ODD))}
    (tmp_path / "plain").mkdir()
    part2 = _part(tmp_path / "plain", {plain[n]: lab for n, lab in ODD.items()})
    sub2 = _submission(tmp_path / "plain.csv", {plain[n]: p for n, p in probs.items()})
    assert evaluate_submission(sub2, part2).metrics == r["metrics"]


def test_leading_space_is_part_of_the_name(tmp_path):
    """Attack: a row ` a.mp4` (unquoted leading space) for the labelled `a.mp4`. The old reader stripped it and
    scored the row as `a.mp4`. What happens: the name is kept exactly, so ` a.mp4` is an extra row and `a.mp4` is
    missing, with a warning that they differ only by spaces; a labelled ` b.mp4` (quoted or not) does match."""
    part = _part(tmp_path, {"a.mp4": "FAKE", " b.mp4": "REAL", "c.mp4": "REAL"})
    sub = tmp_path / "sub.csv"
    sub.write_text('filename,label\n a.mp4,0.9\n" b.mp4",0.2\nc.mp4,0.1\n', encoding="utf-8")
    r = evaluate_submission(sub, part)
    assert r.missing == ["a.mp4"] and r.extra == [" a.mp4"] and r.matched == 2
    assert any("' a.mp4'" in w and "a.mp4" in w and "exactly" in w for w in r.warnings), r.warnings

    res = _cli(str(sub), str(part))
    assert res.exit_code == 0, res.output
    assert "1 in the submission, no label: ' a.mp4'" in res.output  # quoted: the space is visible

    sub.write_text('filename,label\n" b.mp4",0.2\na.mp4,0.9\nc.mp4,0.1\n', encoding="utf-8")
    assert evaluate_submission(sub, part, strict=True).matched == 3


def test_embedded_newline_is_one_row(tmp_path):
    """Attack: a quoted name with an embedded newline (`"x\\ny.mp4",0.9`). The old reader split the file into
    lines first, so this record became two broken lines. What happens: the csv module reads one record, it
    matches the metadata key `x\\ny.mp4`, and the line numbers of later errors still count physical lines."""
    part = _part(tmp_path, {"x\ny.mp4": "FAKE", "z.mp4": "REAL"})
    sub = tmp_path / "sub.csv"
    sub.write_text('filename,label\n"x\ny.mp4",0.9\nz.mp4,0.1\n', encoding="utf-8")
    r = evaluate_submission(sub, part, strict=True)
    assert r.matched == 2 and r.missing == [] and r.extra == []

    sub.write_text('filename,label\n"x\ny.mp4",0.9\nz.mp4,oops\n', encoding="utf-8")
    with pytest.raises(EvaluateError, match=r":4: label 'oops' of z.mp4 is not a number"):
        evaluate_submission(sub, part)


def test_comma_in_a_quoted_name(tmp_path):
    """Attack: a name with a comma, quoted (`"a,b.mp4",0.3`), next to the unquoted row `a,b.mp4,0.3` that has three
    fields. What happens: the quoted one is the single name `a,b.mp4` and matches; the unquoted one is an error
    naming its line (3 fields), never silently read as the name `a`."""
    part = _part(tmp_path, {"a,b.mp4": "REAL", "c.mp4": "FAKE"})
    sub = tmp_path / "sub.csv"
    sub.write_text('filename,label\n"a,b.mp4",0.3\nc.mp4,0.8\n', encoding="utf-8")
    assert evaluate_submission(sub, part, strict=True).matched == 2
    sub.write_text("filename,label\nc.mp4,0.8\na,b.mp4,0.3\n", encoding="utf-8")
    with pytest.raises(EvaluateError, match=r":3: expected 2 fields \(filename,label\), got 3"):
        evaluate_submission(sub, part)


def test_unicode_names_compare_exactly(tmp_path):
    """Attack: Unicode names, one written in NFD (e + combining accent) in the submission while metadata.json has
    the NFC form, and a BOM at the start of the CSV. What happens: the BOM is not part of the header, the NFC
    row and a CJK name match exactly, and the NFD row is not silently equated with the NFC key: it is an extra
    row with a warning naming both, and --strict refuses the submission."""
    nfc = "vid\u00e9o.mp4"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    part = _part(tmp_path, {nfc: "FAKE", "\u65e5\u672c.mp4": "REAL"})
    sub = tmp_path / "sub.csv"
    sub.write_text(f"\ufefffilename,label\n{nfc},0.7\n\u65e5\u672c.mp4,0.2\n", encoding="utf-8")
    assert evaluate_submission(sub, part, strict=True).matched == 2

    sub.write_text(f"filename,label\n{nfd},0.7\n\u65e5\u672c.mp4,0.2\n", encoding="utf-8")
    r = evaluate_submission(sub, part)
    assert r.missing == [nfc] and r.extra == [nfd]
    assert any("names are compared exactly" in w for w in r.warnings)
    with pytest.raises(SubmissionMismatch):
        evaluate_submission(sub, part, strict=True)


# --------------------------------------------------------------------------------------- strict / lenient

def test_strict_fails_on_missing_or_extra_rows_lenient_reports_them(tmp_path):
    """Attack: a submission that leaves out 7 labelled videos (one with a newline in its name) and adds a row for
    an unknown video. What happens: lenient (default) scores the 3 matched videos, exit 0, with warnings; --strict
    exits 1 with ONE line giving both counts and the first five names of each (odd names quoted so the line
    stays one line), scores nothing and writes no metrics.json."""
    labels = {f"v{i}.mp4": ("FAKE" if i % 2 else "REAL") for i in range(9)} | {"new\nline.mp4": "FAKE"}
    part = _part(tmp_path, labels)
    kept = ["v0.mp4", "v1.mp4", "v2.mp4"]
    sub = _submission(tmp_path / "sub.csv", {**{n: 0.4 for n in kept}, "stranger.mp4": 0.5})
    out = tmp_path / "metrics.json"

    res = _cli(str(sub), str(part), "--out", str(out))
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    assert r["matched"] == 3 and len(r["missing"]) == 7 and r["extra"] == ["stranger.mp4"]
    assert "7 labelled but not in the submission" in res.output and "1 in the submission, no label" in res.output
    out.unlink()

    res = _cli(str(sub), str(part), "--strict", "--out", str(out))
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1, res.output
    line = lines[0]
    assert line.startswith(f"error: {sub}: --strict:")
    assert "7 labelled videos without a row ('new\\nline.mp4', v3.mp4, v4.mp4, v5.mp4, v6.mp4 ... 2 more)" in line
    assert "1 row without a label (stranger.mp4)" in line
    assert not out.exists()

    with pytest.raises(SubmissionMismatch):
        evaluate_submission(sub, part, strict=True)
    # a bad file is still exit 2 under --strict: misuse, not a mismatch
    (tmp_path / "bad.csv").write_text("filename,label\nv0.mp4,2\n")
    assert _cli(str(tmp_path / "bad.csv"), str(part), "--strict").exit_code == 2


def test_strict_with_only_extra_rows(tmp_path):
    """Attack: every labelled video has a row, plus one row more. What happens: lenient scores all of them; strict
    exits 1 naming only the extra row (no 'without a row' part)."""
    part = _part(tmp_path, {"a.mp4": "FAKE", "b.mp4": "REAL"})
    sub = _submission(tmp_path / "sub.csv", {"a.mp4": 0.9, "b.mp4": 0.1, "c.mp4": 0.5})
    assert evaluate_submission(sub, part).matched == 2
    res = _cli(str(sub), str(part), "--strict")
    assert res.exit_code == 1
    assert "--strict: 1 row without a label (c.mp4)" in res.output and "without a row" not in res.output


# ------------------------------------------------------------------------------------ malformed values

@pytest.mark.parametrize("value,why", [
    ("half", "is not a number"),
    ("", "is not a number"),
    ("nan", "is not a probability in \\[0, 1\\]"),
    ("NaN", "is not a probability in \\[0, 1\\]"),
    ("inf", "is not a probability in \\[0, 1\\]"),
    ("1.5", "is not a probability in \\[0, 1\\]"),
    ("-0.1", "is not a probability in \\[0, 1\\]"),
    ("0x1", "is not a number"),
])
def test_malformed_label_names_the_line(tmp_path, value, why):
    """Attack: a label that is not a probability (text, empty, NaN, infinity, out of [0, 1], hex) on the third row,
    after a quoted name that spans two lines. What happens: exit 2 with `FILE:LINE: label ... of NAME ...`, LINE
    being the physical line the bad record starts on (5), and the name shown quoted when it is odd."""
    part = _part(tmp_path, {"a.mp4": "FAKE"})
    sub = tmp_path / "sub.csv"
    sub.write_text(f'filename,label\na.mp4,0.5\n"two\nlines.mp4",0.5\n" odd.mp4",{value}\n', encoding="utf-8")
    with pytest.raises(EvaluateError, match=f"^{re.escape(str(sub))}:5: label '{value}' of ' odd.mp4' {why}"):
        evaluate_submission(sub, part)
    res = _cli(str(sub), str(part))
    assert res.exit_code == 2 and res.output.startswith(f"error: {sub}:5: label")
    assert len(res.output.strip().splitlines()) == 1


@pytest.mark.parametrize("text,match", [
    ('filename,label\n"a.mp4,0.5\n', ":2: not valid CSV"),                   # a quote that never closes
    ('filename,label\n"a.mp4" ,0.5\n', ":2: not valid CSV"),                 # text after a closing quote
    ("filename;label\na.mp4;0.5\n", ":1: header is 'filename;label'"),        # another delimiter
    ('filename,label\n"",0.5\n', ":2: empty filename"),
])
def test_malformed_csv_names_the_line(tmp_path, text, match):
    """Attack: broken CSV quoting, a semicolon-separated file, a quoted empty name. What happens: exit 2 with one
    line naming the file and line, never a traceback and never a half-read submission."""
    part = _part(tmp_path, {"a.mp4": "FAKE"})
    sub = tmp_path / "sub.csv"
    sub.write_text(text, encoding="utf-8")
    with pytest.raises(EvaluateError, match=re.escape(match)):
        evaluate_submission(sub, part)
    res = _cli(str(sub), str(part))
    assert res.exit_code == 2 and f"error: {sub}" in res.output, res.output


def test_duplicate_name_is_an_error(tmp_path):
    """Attack: the same name twice, once quoted and once not (`"a.mp4",0.1` then `a.mp4,0.9`), which a reader
    keeping the last value would score as 0.9. What happens: exit 2 naming the second line and the first; a
    name that differs only by a leading space is a different name, not a duplicate."""
    part = _part(tmp_path, {"a.mp4": "FAKE", " a.mp4": "REAL"})
    sub = tmp_path / "sub.csv"
    sub.write_text('filename,label\n"a.mp4",0.1\nb.mp4,0.5\na.mp4,0.9\n', encoding="utf-8")
    with pytest.raises(EvaluateError, match=r":4: a.mp4 appears more than once \(first on line 2\)"):
        evaluate_submission(sub, part)
    assert _cli(str(sub), str(part)).exit_code == 2

    sub.write_text('filename,label\na.mp4,0.9\n" a.mp4",0.1\n', encoding="utf-8")
    assert evaluate_submission(sub, part, strict=True).matched == 2


# ------------------------------------------------------------------------------------------- metadata.json

def test_metadata_keys_with_odd_names(tmp_path):
    """Attack: metadata.json keys with a leading space, a newline, a comma, Unicode and rich markup, one key given
    twice with different labels, and one with a label that is neither REAL nor FAKE. What happens: labels are
    read through dfprep.dataset.read_metadata with the keys kept exactly (each matches only its exact row); the
    repeated key keeps its last value and the bad label is skipped, each with a one-line warning quoting the
    name; the CLI prints markup-looking names literally instead of crashing or colouring."""
    raw = ('{" sp.mp4": {"label": "REAL"}, "nl\\nx.mp4": {"label": "FAKE"}, "c,d.mp4": {"label": "REAL"}, '
           '"\\u00fc.mp4": {"label": "FAKE"}, "[/x].mp4": {"label": "REAL"}, "[bold]b.mp4": {"label": "FAKE"}, '
           '"twice.mp4": {"label": "REAL"}, "twice.mp4": {"label": "FAKE"}, "odd\\tlabel.mp4": {"label": "MAYBE"}}')
    part = _part(tmp_path, {}, raw=raw)
    rows = {" sp.mp4": 0.2, "nl\nx.mp4": 0.8, "c,d.mp4": 0.3, "\u00fc.mp4": 0.6, "[/x].mp4": 0.4,
            "[bold]b.mp4": 0.7, "twice.mp4": 0.9}
    sub = _submission(tmp_path / "sub.csv", rows)
    out = tmp_path / "m.json"
    res = _cli(str(sub), str(part), "--strict", "--out", str(out))
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    assert r["matched"] == 7 and r["missing"] == [] and r["extra"] == []
    assert r["metrics"]["n_fake"] == 4 and r["metrics"]["n_real"] == 3  # twice.mp4: the last label, FAKE
    assert any("key twice.mp4 appears more than once; the last one is used" in w for w in r["warnings"])
    assert any("'odd\\tlabel.mp4': label 'MAYBE' is not REAL or FAKE; not scored" in w for w in r["warnings"])

    # the same odd names, missing from the submission: printed literally and quoted, one line each
    sub = _submission(tmp_path / "sub2.csv", {"twice.mp4": 0.9})
    res = _cli(str(sub), str(part))
    assert res.exit_code == 0, res.output
    assert "'[/x].mp4'" not in res.output and "[/x].mp4" in res.output and "[bold]b.mp4" in res.output
    assert "'nl\\nx.mp4'" in res.output and "'c,d.mp4'" in res.output and "' sp.mp4'" in res.output
    res = _cli(str(sub), str(part), "--strict")
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1, res.output


def test_conflicting_labels_across_parts_name_the_key(tmp_path):
    """Attack: the same odd key (with a newline) labelled REAL in part 0 and FAKE in part 1. What happens: exit 2
    with one line naming the key (quoted, newline escaped) and both files."""
    root = tmp_path / "root"
    for i, lab in enumerate(("REAL", "FAKE")):
        (root / f"dfdc_train_part_{i}").mkdir(parents=True)
        (root / f"dfdc_train_part_{i}" / "metadata.json").write_text(json.dumps({"a\nb.mp4": {"label": lab}}))
    sub = _submission(tmp_path / "sub.csv", {"a\nb.mp4": 0.5})
    with pytest.raises(EvaluateError, match=r"^'a\\nb.mp4' is FAKE in .*part_1.* but not in .*part_0"):
        evaluate_submission(sub, root)
    res = _cli(str(sub), str(root))
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output


# ------------------------------------------------------------------------------------ the report's CSP

class _Inline(HTMLParser):
    """The CSP meta tag, the text of every inline <style>/<script> block, and any style=/on...= attribute."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.csp: list[str] = []
        self.blocks: dict[str, list[str]] = {"style": [], "script": []}
        self.attrs: list[tuple[str, str]] = []
        self.external: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp.append(a.get("content") or "")
        for k, v in attrs:
            if k == "style" or k.startswith("on"):
                self.attrs.append((tag, k))
        if tag in self.blocks:
            if tag == "script" and "src" in a:
                self.external.append(a["src"])
            self._open = tag
            self.blocks[tag].append("")

    def handle_endtag(self, tag):
        if tag == self._open:
            self._open = None

    def handle_data(self, data):
        if self._open:
            self.blocks[self._open][-1] += data


def _check_csp(page: str) -> _Inline:
    p = _Inline()
    p.feed(page)
    p.close()
    assert len(p.csp) == 1, p.csp
    directives = {d.split()[0]: d.split()[1:] for d in p.csp[0].split(";") if d.strip()}
    assert "'unsafe-inline'" not in p.csp[0] and "'unsafe-hashes'" not in p.csp[0] and "*" not in p.csp[0]
    assert directives["default-src"] == ["'none'"] and directives["img-src"] == ["data:"]
    for tag, directive in (("style", "style-src"), ("script", "script-src")):
        assert p.blocks[tag], f"no inline <{tag}>"
        for text in p.blocks[tag]:
            assert report_html.csp_hash(text) in directives[directive], (tag, text[:80])
        assert len(directives[directive]) == len(set(p.blocks[tag])), "a hash for a block the page lacks"
    assert not p.attrs, f"inline attributes a hash-only CSP blocks: {p.attrs}"
    assert not p.external
    return p


def test_report_csp_hashes_every_inline_block_with_hostile_names(tmp_path):
    """Attack: a metadata-only report of metadata.json keys that are HTML (`<script>`, `<style>`, a quote that
    closes an attribute, `style=`/`onerror=` text). What happens: the page has exactly one <style> and one
    <script>, the page's own, each allowed by its sha256 in the CSP; there is no 'unsafe-inline', no style= or
    on...= attribute, and the hostile names appear only escaped, so even if one escaped, the CSP would not run
    it."""
    hostile = {"<script>alert(1)</script>.mp4": "REAL", '" style="color:red" onerror="alert(2).mp4': "FAKE",
               "</style><style>body{display:none}</style>.mp4": "FAKE", "plain.mp4": "REAL"}
    part = _part(tmp_path, {})
    (part / "metadata.json").write_text(json.dumps(
        {n: {"label": lab, **({"original": "missing_original.mp4"} if lab == "FAKE" else {})}
         for n, lab in hostile.items()}))
    out = tmp_path / "report"
    analyze(None, out=out, metadata_only_root=part / "metadata.json")
    page = (out / "index.html").read_text(encoding="utf-8")
    p = _check_csp(page)
    assert len(p.blocks["style"]) == 1 and len(p.blocks["script"]) == 1
    assert p.blocks["style"][0] == report_html.CSS and p.blocks["script"][0] == report_html.SELF_CHECK
    assert "alert(1)" not in "".join(p.blocks["script"])


def test_full_report_csp(ingest_work, tmp_path):
    """Attack: none; the full report (galleries, pairs, tables, figures) is the page with the most markup. What
    happens: every inline block is hashed in the CSP and no section writes a style= or on...= attribute."""
    out = tmp_path / "report"
    analyze(ingest_work, out=out)
    _check_csp((out / "index.html").read_text(encoding="utf-8"))


def test_docs_state_the_exact_policy():
    """Attack: docs that promise a stricter policy than the page sends (the old docs said `default-src 'none';
    img-src data:` while the page allowed 'unsafe-inline'). What happens: docs/formats.md states the policy
    with placeholders for the two hashes, and the page's CSP is exactly that with the real hashes filled in."""
    docs = DOCS.read_text(encoding="utf-8")
    stated = ("default-src 'none'; img-src data:; style-src 'sha256-<S>'; script-src 'sha256-<J>'; "
              "base-uri 'none'; form-action 'none'")
    assert stated in docs and "style-src 'unsafe-inline'" not in docs and "script-src 'unsafe-inline'" not in docs
    filled = stated.replace("'sha256-<S>'", report_html.csp_hash(report_html.CSS)) \
                   .replace("'sha256-<J>'", report_html.csp_hash(report_html.SELF_CHECK))
    assert report_html.CSP == filled
    page = report_html.page("t", "s", [("a", "A")], "<p>x</p>", "f")
    assert f'content="{filled}"' in page
