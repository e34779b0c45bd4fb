"""Every report format (issue 10, parts 1 and 4), produced from a real crawl and read back the
way its consumers read it: GraphML and GEXF by networkx, SARIF against the official 2.1.0
schema, JUnit by an XML parser, CSV by the csv module, Markdown cell by cell.

Two crawls, one each: the bundled example (examples/acme) and a small hostile site (titles
and anchor texts that are formulas, HTML, pipes and control characters). Each is audited
once through the real command line (the two at once); every format is then rendered from its store by
``funnelcheck report`` in this process (CliRunner), so the module takes a few seconds.

``tests/data/sarif-schema-2.1.0.json`` is the OASIS SARIF 2.1.0 schema (errata01, the
official one), copied unchanged from github.com/oasis-tcs/sarif-spec,
``sarif-2.1/schema/sarif-schema-2.1.0.json`` at commit a560296c.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import jsonschema
import networkx as nx
import pytest
from click.testing import CliRunner

import cli
from conftest import ROOT, run_cli

from analysis.findings import Finding, Location
from analysis.formats import WRITERS
from analysis.formats.graphml import NODE_ATTRS, xml_safe
from analysis.graph import graph_from
from analysis.report import Audit, summarize
from analysis.report import audit as analyse
from analysis.rules import FIXES, RULES
from crawler.config import ConfigError, merge, validate
from crawler.store import Store

A = "https://acme.example/"
E = "https://evil.test/"
FORMATS = ["terminal", "json", "html", "pdf", "markdown", "csv", "csv-links", "graphml", "gexf", "sarif", "junit"]
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
FORMULA = '=HYPERLINK("http://evil.example","x")'
EVIL = "\x1b]0;pwned\x07"


def _report(db, fmt: str, out, *args) -> str:
    """``funnelcheck report --db DB --format FMT -o OUT ARGS`` in this process; the file's text, exact."""
    result = CliRunner().invoke(cli.main, ["report", "--db", str(db), "--format", fmt, "-o", str(out), *args])
    assert result.exit_code in (0, 1), (result.output, result.exception)
    with open(out, encoding="utf-8", newline="") as fh:
        return fh.read()


def _audit(db, out, first: str, *args) -> subprocess.Popen:
    """Start ``funnelcheck audit ARGS --db DB --format FIRST -o OUT`` (as :func:`conftest.run_cli` runs it)."""
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(ROOT), COLUMNS="200")
    return subprocess.Popen([sys.executable, "-m", "cli", "audit", *map(str, args), "--db", str(db), "--format",
                             first, "-o", str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _read(proc: subprocess.Popen, db, tmp, first: str) -> SimpleNamespace:
    """Wait for the audit, render every other format from its store, keep the analysis."""
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode in (0, 1), stderr
    with open(tmp / f"audit.{first}", encoding="utf-8", newline="") as fh:
        texts = {first: fh.read()}
    for fmt in FORMATS:
        if fmt not in texts and fmt != "pdf":  # (binary: tests/test_html_report.py prints it)
            texts[fmt] = _report(db, fmt, tmp / f"report.{fmt}")
    with Store(db, readonly=True) as store:
        a = analyse(store)
        graph = a.graph.aggregated()
    return SimpleNamespace(db=db, tmp=tmp, text=texts, findings=a.findings, summary=a.summary, graph=graph,
                           code=proc.returncode)


def _page(title: str, body: str) -> str:
    return f"<!doctype html>\n<html><head><title>{title}</title></head>\n<body>\n{body}\n</body></html>\n"


def _hostile_site(root) -> None:
    """A site whose titles, anchor texts and fragments attack each format."""
    files = {
        "index.html": _page("Home", '<main><a href="/formula/">@SUM(1+1)</a>\n<a href="/script/">+cmd</a>\n'
                                    '<a href="/pipe/">-2+3</a>\n<a href="/other/#&lt;script&gt;x|y">=1+1</a>\n'
                                    f'<a href="/other/#frag{EVIL}">f</a></main>'),
        "formula/index.html": _page(FORMULA, '<main><a href="https://twitter.com/formula">t</a></main>'),
        "script/index.html": _page("<script>alert(1)</script>", '<main><a href="https://twitter.com/script">t</a></main>'),
        "pipe/index.html": _page(f"a | b {EVIL} `c` [d](e)", '<main><a href="https://twitter.com/pipe">t</a></main>'),
        "other/index.html": _page("Other", "<main>other</main>"),
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def crawls(tmp_path_factory):
    """The two crawls, run at once (each spends most of its time starting Scrapy)."""
    ex, ho = tmp_path_factory.mktemp("example"), tmp_path_factory.mktemp("hostile")
    _hostile_site(ho / "site")
    running = (_audit(ex / "crawls.sqlite", ex / "audit.markdown", "markdown", ROOT / "examples/acme/site",
                      "--config", ROOT / "examples/acme/funnel.toml"),
               _audit(ho / "crawls.sqlite", ho / "audit.csv-links", "csv-links", ho / "site", "--base-url", E,
                      "--no-check-external", "--no-check-social", "--no-sitemaps"))
    try:
        return {"example": _read(running[0], ex / "crawls.sqlite", ex, "markdown"),
                "hostile": _read(running[1], ho / "crawls.sqlite", ho, "csv-links")}
    finally:
        for proc in running:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def example(crawls):
    assert crawls["example"].code == 1  # the example has high findings on purpose
    return crawls["example"]


@pytest.fixture(scope="module")
def hostile(crawls):
    return crawls["hostile"]


# --- one registry, the CLI's choices, the config check ---------------------------------------

def test_every_format_is_registered_once_and_listed_in_help():
    assert list(WRITERS) == FORMATS
    for command in ("audit", "report", "resume"):
        shown = CliRunner().invoke(cli.main, [command, "--help"]).output
        assert "--format [" + "|".join(FORMATS) + "]" in shown, shown


def test_a_bogus_format_is_one_line_and_exit_2(tmp_path):
    line = ("funnelcheck: error: --format must be one of terminal, json, html, pdf, markdown, csv, csv-links, graphml, gexf, "
            "sarif, junit, got 'bogus'\n")
    result = CliRunner().invoke(cli.main, ["report", "--db", str(tmp_path / "c.sqlite"), "--format", "bogus"])
    assert (result.exit_code, result.stderr, result.stdout) == (2, line, "")
    config = tmp_path / "funnel.toml"
    config.write_text('format = "bogus"\n')
    result = CliRunner().invoke(cli.main, ["audit", str(ROOT / "examples/acme/site"), "--config", str(config),
                                           "--db", str(tmp_path / "c.sqlite")])
    assert (result.exit_code, result.stderr) == (2, line)
    assert not (tmp_path / "c.sqlite").exists()  # refused before anything was crawled
    # crawler/ does not know the formats: the caller hands them in
    options = merge({}, {"targets": [str(ROOT / "examples/acme/site")], "format": "bogus"})
    assert validate(options)["format"] == "bogus"
    with pytest.raises(ConfigError, match="--format must be one of terminal, json, html, pdf, markdown"):
        validate(options, formats=WRITERS)


# --- graph formats ---------------------------------------------------------------------------

def _same_graph(read, g: nx.DiGraph, extra_edge=None):
    assert set(read.nodes) == set(g.nodes)
    assert set(read.edges) == set(g.edges)
    for node, data in g.nodes(data=True):
        want = {k: xml_safe(data[k]) if isinstance(data[k], str) else data[k]
                for k in NODE_ATTRS if data.get(k) is not None}
        got = {k: v for k, v in read.nodes[node].items() if k != "label"}
        assert got == want, node
    for u, v, data in g.edges(data=True):
        got = {k: val for k, val in read.edges[u, v].items() if k not in ("id", "weight")}
        assert got == data, (u, v)
        if extra_edge:
            extra_edge(read.edges[u, v], data)


def test_graphml_loads_in_networkx_with_the_same_graph(example):
    path = example.tmp / "report.graphml"
    g = nx.read_graphml(path)
    assert isinstance(g, nx.DiGraph) and g.is_directed()
    _same_graph(g, example.graph)
    assert (g.number_of_nodes(), g.number_of_edges()) == (30, 238)
    assert sum(d["links"] for _, _, d in g.edges(data=True)) == example.summary["links"] == 263
    assert g.nodes[A + "pricing/"] == {"tier": "site", "role": "page", "verdict": "ok", "status": 200,
                                       "title": "Pricing | Acme", "conversion": "purchase"}
    assert g.nodes[A + "products/discontinued/"]["verdict"] == "broken"
    assert g.edges[A, "https://twitter.com/acme"] == {"links": 2, "links_header": 1, "links_head": 1,
                                                       "kind_profile": 1, "kind_identity": 1}
    assert {k: g.graph[k] for k in ("crawl_id", "targets", "funnelcheck_version")} == {
        "crawl_id": 1, "targets": A, "funnelcheck_version": "0.1.0"}


def test_gexf_loads_in_networkx_with_the_same_graph_labelled_and_weighted(example):
    g = nx.read_gexf(example.tmp / "report.gexf")
    assert isinstance(g, nx.DiGraph)

    def weighted(read, data):
        assert read["weight"] == data["links"]

    _same_graph(g, example.graph, weighted)
    assert all(d["label"] == url for url, d in g.nodes(data=True))
    assert g.nodes[A + "contact/"] == {"tier": "site", "role": "page", "verdict": "ok", "status": 200,
                                       "title": "Contact | Acme", "conversion": "lead", "label": A + "contact/"}


def test_graph_formats_survive_control_characters_in_titles(hostile):
    for read, name in ((nx.read_graphml, "graphml"), (nx.read_gexf, "gexf")):
        assert not CONTROL.search(hostile.text[name])
        g = read(hostile.tmp / f"report.{name}")
        _same_graph(g, hostile.graph)
        assert g.nodes[E + "pipe/"]["title"] == "a | b \\x1b]0;pwned\\x07 `c` [d](e)"
        assert g.nodes[E + "formula/"]["title"] == FORMULA


# --- SARIF -----------------------------------------------------------------------------------

def _validate_sarif(text: str) -> dict:
    log = json.loads(text)
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in jsonschema.Draft4Validator(SCHEMA).iter_errors(log)]
    assert errors == []
    return log


def test_sarif_validates_against_the_2_1_0_schema_one_result_per_finding(example):
    log = _validate_sarif(example.text["sarif"])
    assert log["$schema"] == SCHEMA["id"] and log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"], driver["informationUri"]) == (
        "funnelcheck", "0.1.0", "https://github.com/funnelcheck/funnelcheck")
    assert [r["id"] for r in driver["rules"]] == list(RULES)
    rules = {r["id"]: r for r in driver["rules"]}
    for rule_id, r in rules.items():
        assert r["help"]["text"].split("\n")[0] == FIXES[rule_id]
    assert rules["broken-link"]["shortDescription"]["text"] == (
        "A link whose target answered 4xx/5xx or could not be reached (redirect loops have their own rule).")
    assert rules["dead-end"]["shortDescription"]["text"] == (
        "Blog pages with no link forward to the site (no call to action): one finding per blog.")
    levels = {r: rules[r]["defaultConfiguration"]["level"] for r in ("broken-link", "dead-end", "redirect",
                                                                      "skipped-link")}
    assert levels == {"broken-link": "error", "dead-end": "warning", "redirect": "note", "skipped-link": "note"}
    results = run["results"]
    assert [r["partialFingerprints"] for r in results] == [{"funnelcheckId/v1": f.id} for f in example.findings]
    assert len(results) == len(example.findings) == 23
    assert [r["level"] for r in results] == ["error"] * 7 + ["warning"] * 3 + ["note"] * 13
    assert all(driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
    by_id = {r["partialFingerprints"]["funnelcheckId/v1"]: r for r in results}
    broken = next(f for f in example.findings if f.rule == "broken-link")
    assert {k: by_id[broken.id][k] for k in ("ruleId", "level", "message", "locations")} == {
        "ruleId": "broken-link", "level": "error",
        "message": {"text": f"broken link: {A}products/discontinued/ answers 404 (client error)"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": A + "blog/posts/old-news/"},
                                            "region": {"startLine": 21}}}]}
    dead_end = next(f for f in example.findings if f.rule == "dead-end")  # a page without a line: no region
    assert by_id[dead_end.id]["locations"] == [
        {"physicalLocation": {"artifactLocation": {"uri": A + "blog/posts/follow-us/"}}}]
    facebook = by_id["fc-a4cfaa29fe3c"]  # the footer icon on 13 pages: its first 5 pages
    assert [loc["physicalLocation"]["artifactLocation"]["uri"] for loc in facebook["locations"]] == [
        A, A + "about/", A + "blog/", A + "blog/posts/follow-us/", A + "blog/posts/launch/"]
    assert run["invocations"][0]["executionSuccessful"] is True


def test_sarif_keeps_crawled_text_exact_and_valid(hostile):
    log = _validate_sarif(hostile.text["sarif"])
    messages = [r["message"]["text"] for r in log["runs"][0]["results"]]
    assert f"no element with id or name 'frag{EVIL}' on {E}other/" in messages


# --- JUnit -----------------------------------------------------------------------------------

def _suites(text: str) -> tuple[ET.Element, dict[str, ET.Element]]:
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert len(suites) == len(root.findall("testsuite"))
    for s in root.findall("testsuite"):  # the counts are those of the cases
        cases = s.findall("testcase")
        assert int(s.get("tests")) == len(cases)
        assert int(s.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
        assert s.get("errors") == s.get("skipped") == "0"
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in suites.values())
    assert int(root.get("failures")) == sum(int(s.get("failures")) for s in suites.values())
    return root, suites


def test_junit_one_suite_per_rule_one_case_per_finding(example):
    root, suites = _suites(example.text["junit"])
    assert list(suites) == list(RULES)
    found = {rule: [f for f in example.findings if f.rule == rule] for rule in RULES}
    for rule, suite in suites.items():
        cases = suite.findall("testcase")
        assert {c.get("classname") for c in cases} == {f"funnelcheck.{rule}"}
        if found[rule]:
            assert [re.search(r"\[(fc-[0-9a-f]{12})\]$", c.get("name")).group(1) for c in cases] == [
                f.id for f in found[rule]]
            assert [c.find("failure") is not None for c in cases] == [
                f.severity in ("high", "medium") for f in found[rule]]
        else:  # the check ran and found nothing: one passing case
            assert [(c.get("name"), list(c)) for c in cases] == [("no findings", [])]
    assert (root.get("tests"), root.get("failures")) == (str(23 + len(RULES) - 7), "10")
    (case,) = suites["broken-link"].findall("testcase")
    failure = case.find("failure")
    assert case.get("name") == f"{A}products/discontinued/ [{next(f.id for f in found['broken-link'])}]"
    assert failure.get("type") == "high"
    assert failure.get("message") == f"broken link: {A}products/discontinued/ answers 404 (client error)"
    assert failure.text == (f"broken link: {A}products/discontinued/ answers 404 (client error)\n"
                            f"on {A}blog/posts/old-news/:21\n"
                            "fix: fix or remove the link (or restore the page it points to)")
    low = suites["backward-blog"].find("testcase")
    assert low.find("failure") is None and low.find("system-out").text.startswith(
        f"[low] site header links to the blog ({A}blog/) on 9 pages")


def test_junit_leaves_out_the_rules_a_filter_hid(example):
    _, suites = _suites(_report(example.db, "junit", example.tmp / "high.xml", "--severity", "high"))
    with_findings = {f.rule for f in example.findings}
    assert set(suites) == {"backward-social", "broken-link"} | (set(RULES) - with_findings)
    assert int(suites["backward-social"].get("tests")) == 6  # its six high findings, not the low and info


def test_junit_escapes_crawled_text(hostile):
    assert not CONTROL.search(hostile.text["junit"])
    _, suites = _suites(hostile.text["junit"])
    messages = [c.find("failure").get("message") for c in suites["missing-anchor"].findall("testcase")]
    assert f"no element with id or name 'frag\\x1b]0;pwned\\x07' on {E}other/" in messages


# --- CSV -------------------------------------------------------------------------------------

def _rows(text: str) -> list[dict]:
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")  # RFC 4180, one line a row
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_one_row_per_finding(example):
    rows = _rows(example.text["csv"])
    assert list(rows[0]) == ["id", "rule", "severity", "target", "region", "kind", "count", "message", "pages", "fix"]
    assert [r["id"] for r in rows] == [f.id for f in example.findings]
    broken = next(r for r in rows if r["rule"] == "broken-link")
    assert broken == {"id": broken["id"], "rule": "broken-link", "severity": "high",
                      "target": A + "products/discontinued/", "region": "", "kind": "", "count": "1",
                      "message": f"broken link: {A}products/discontinued/ answers 404 (client error)",
                      "pages": A + "blog/posts/old-news/:21", "fix": FIXES["broken-link"]}
    facebook = next(r for r in rows if r["id"] == "fc-a4cfaa29fe3c")
    assert (facebook["count"], len(facebook["pages"].split())) == ("13", 10)
    share = next(r for r in rows if r["kind"] == "share")
    assert share["fix"] == FIXES["backward-social:share"]
    dead_end = next(r for r in rows if r["rule"] == "dead-end")
    assert dead_end["pages"] == A + "blog/posts/follow-us/"  # no line known: the URL alone


def test_csv_links_one_row_per_link(example):
    rows = _rows(example.text["csv-links"])
    assert list(rows[0]) == ["source", "target", "tier", "tag", "region", "kind", "rel", "line", "text", "fragment",
                             "status", "verdict", "title"]
    assert len(rows) == example.summary["links"] == 263
    assert rows[0] == {"source": A, "target": "https://mastodon.social/@acme", "tier": "social", "tag": "link",
                       "region": "head", "kind": "identity", "rel": "me", "line": "7", "text": "", "fragment": "",
                       "status": "200", "verdict": "ok", "title": "Acme (@acme@mastodon.social)"}
    assert {r["verdict"] for r in rows if r["target"] == A + "products/discontinued/"} == {"broken"}


def test_csv_neutralises_formulas_and_control_characters(hostile):
    for name in ("csv", "csv-links"):
        assert not CONTROL.search(hostile.text[name].replace("\r\n", ""))
        for row in _rows(hostile.text[name]):
            for value in row.values():
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (name, row)
    links = {(r["target"], r["text"]): r for r in _rows(hostile.text["csv-links"])}
    assert links[E + "formula/", "'@SUM(1+1)"]["title"] == "'" + FORMULA
    assert links[E + "script/", "'+cmd"]["title"] == "<script>alert(1)</script>"
    assert links[E + "pipe/", "'-2+3"]["title"] == "a | b \\x1b]0;pwned\\x07 `c` [d](e)"
    assert links[E + "other/", "'=1+1"]["fragment"] == "<script>x|y"
    findings = {r["rule"] + " " + r["target"]: r for r in _rows(hostile.text["csv"])}
    assert findings[f"missing-anchor {E}other/#frag\\x1b]0;pwned\\x07"]["message"] == (
        f"no element with id or name 'frag\\x1b]0;pwned\\x07' on {E}other/")


# --- Markdown --------------------------------------------------------------------------------

def _cells(line: str) -> list[str]:
    """A GFM table row's cells (a ``\\|`` is no cell border)."""
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def _tables_hold(text: str) -> None:
    """Every row of every table has as many cells as its header."""
    header = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
        elif header is None:
            header = len(_cells(line))
        else:
            assert len(_cells(line)) == header, line


def test_markdown_job_summary(example):
    text = example.text["markdown"]
    assert _report(example.db, "markdown", example.tmp / "again.md") == text  # audit and report agree
    _tables_hold(text)
    lines = text.splitlines()
    assert lines[:12] == [
        f"## funnelcheck: crawl #1 of {A}", "",
        "| Findings | high | medium | low | info |", "|:--|--:|--:|--:|--:|", "| 23 | 7 | 3 | 3 | 10 |", "",
        "| Pages crawled | blog | site |", "|:--|--:|--:|", "| 13 | 4 | 9 |", "",
        "Crawl complete: 27 URLs checked, 263 links.", ""]
    assert [line for line in lines if line.startswith("### ")] == [
        "### Fix first", "### backward-social: 14 findings (6 high, 2 low, 6 info)", "### broken-link: 1 finding (1 high)",
        "### dead-end: 1 finding (1 medium)",
        "### missing-anchor: 1 finding (1 medium)", "### social-before-offer: 1 finding (1 medium)",
        "### backward-blog: 1 finding (1 low)", "### stranded-social: 4 findings (4 info)"]
    i = lines.index("### broken-link: 1 finding (1 high)")
    broken = next(f for f in example.findings if f.rule == "broken-link")
    assert lines[i + 1:i + 9] == [
        "", "A link whose target answered 4xx/5xx or could not be reached (redirect loops have their own rule).", "",
        "**Fix:** fix or remove the link (or restore the page it points to)", "",
        "| Severity | Finding | Pages | ID |", "|:--|:--|:--|:--|",
        f"| high | broken link: {A}products/discontinued/ answers 404 (client error) | "
        f'[{A}blog/posts/old-news/:21]({A}blog/posts/old-news/ "Old news \\| Acme Blog") | `{broken.id}` |']
    facebook = next(line for line in lines if "`fc-a4cfaa29fe3c`" in line)
    assert facebook.endswith(f'[{A}blog/:30]({A}blog/ "Acme Blog"), … and 10 more | `fc-a4cfaa29fe3c` |')
    share = next(line for line in lines if "sharer.php" in line)
    assert f"(fix: {FIXES['backward-social:share']})" in share


def test_markdown_filtered_says_so(example):
    text = _report(example.db, "markdown", example.tmp / "rule.md", "--rule", "dead-end")
    assert "Showing 1 of 23 findings (filtered by --severity or --rule)." in text.splitlines()
    # the plan's items of the findings shown: the dead end's call to action
    assert [line for line in text.splitlines() if line.startswith("### ")] == [
        "### Fix first", "### dead-end: 1 finding (1 medium)"]
    assert [line.split(" | ")[1] for line in text.split("### Fix first\n\n", 1)[1].split("\n\n")[0].splitlines()[2:]
            ] == ["medium"]


def test_markdown_lets_no_html_or_broken_table_through(hostile):
    text = hostile.text["markdown"]
    assert not re.search(r"<\s*/?\s*script", text, re.I) and not CONTROL.search(text)
    assert "<" not in text and ">" not in text  # every one an entity
    _tables_hold(text)
    rows = {re.search(r"`(fc-[0-9a-f]{12})`", line).group(1): line for line in text.splitlines()
            if line.startswith("| ") and "`fc-" in line}
    by_target = {f.target: f.id for f in hostile.findings}
    # (the two accounts the pages link are someone else's, on one platform: one finding for both)
    assert f'({E}script/ "&lt;script&gt;alert(1)&lt;/script&gt;")' in rows[by_target["https://twitter.com/"]]
    assert (f'({E}pipe/ "a \\| b \\\\x1b\\]0;pwned\\\\x07 \\`c\\` \\[d\\](e)")'
            in rows[by_target["https://twitter.com/"]])
    assert ("no element with id or name '&lt;script&gt;x\\|y' on"
            in rows[by_target[E + "other/#<script>x|y"]])


# --- every format on findings without pages, lines or regions ---------------------------------

def test_every_format_writes_findings_without_pages_lines_or_regions():
    g = graph_from([{"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1, "title": None}],
                   [("https://a.example/", "https://x.com/a", None, "profile")], site=["https://a.example/"])
    findings = [Finding("broken-link", "high", "https://a.example/", "the target answers 404"),
                Finding("dead-end", "medium", "https://a.example/blog/", "no way on", None, ["https://a.example/"],
                        [Location("https://a.example/", None)]),
                Finding("no-such-rule", "low", "", "from a rule this version does not know")]
    a = Audit(g.store, g.graph["crawl"], g, findings, summarize(g, findings, g.graph["crawl"]))
    out = {}
    for fmt, write in WRITERS.items():
        if fmt == "pdf":  # binary: written to the file's byte buffer
            raw = io.BytesIO()
            text = io.TextIOWrapper(raw, encoding="utf-8")
            write(a, text)
            assert raw.getvalue().startswith(b"%PDF-")
            continue
        buf = io.StringIO()
        write(a, buf)
        out[fmt] = buf.getvalue()
    results = _validate_sarif(out["sarif"])["runs"][0]["results"]
    assert [r["locations"] for r in results] == [
        [{"physicalLocation": {"artifactLocation": {"uri": "https://a.example/"}}}],  # the target itself
        [{"physicalLocation": {"artifactLocation": {"uri": "https://a.example/"}}}], []]
    assert [r["id"] for r in _rows(out["csv"])] == [f.id for f in findings]
    _, suites = _suites(out["junit"])
    assert list(suites)[-1] == "no-such-rule"
    assert "| high | the target answers 404 | — |" in out["markdown"]
    assert nx.read_graphml(io.StringIO(out["graphml"])).number_of_edges() == 1


# --- HTML report (issue 10, part 2) ------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"  # Debian's package (installed by .ci/run)


def _chromium(*args, timeout=90) -> subprocess.CompletedProcess:
    assert os.path.exists(CHROMIUM), "Debian's chromium is needed: apt-get install -y chromium (.ci/run does)"
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--no-first-run", "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND",
                           *args], capture_output=True, text=True, timeout=timeout)


def test_html_report_is_self_contained_and_loads_nothing(example):
    html = example.text["html"]
    from analysis.formats.html import CSP
    import lxml.html
    assert lxml.html.document_fromstring(html).xpath('//meta[@http-equiv="Content-Security-Policy"]/@content') == [CSP]
    assert "script-src 'none'" in CSP and "default-src 'none'" in CSP
    assert "<script" not in html.lower() and "<link" not in html.lower() and "@import" not in html
    assert re.findall(r"""\s(?:src|srcset|data|poster)=["']?(?!data:)""", html) == []  # every resource inline
    assert "url(" not in html.replace("url(#", "")  # (SVG's own url(#clip) references only)
    assert html.count("<svg") == 2 and 'id="funnel-picture"' in html and 'id="graph-picture"' in html
    # the scorecard says what the metrics say; the findings table lists every finding
    with Store(example.db, readonly=True) as store:
        a = analyse(store)
    site = a.metrics["site"]
    assert f"{100 * site['conversion']:.1f}%" in html and f"{100 * site['social_leak']:.1f}%" in html
    # every finding: a row of its own, or named in a row of near-identical ones
    alike = [int(n) for n in re.findall(r'<tr class="alike">.*?</td><td>(\d+) more like these', html)]
    assert html.count('<tr><td><span class="badge') + sum(alike) == len(example.findings)
    top = a.metrics["fix_first"][0]  # the action plan's first item, its cost of 100 visitors
    from analysis.formats.html import visitors
    first = re.search(r'<table id="plan">.*?<tbody>\s*<tr>(.*?)</tr>', html, re.S).group(1)
    assert first.endswith(f'<td class="num">{visitors(top["cost"])}</td>')


def test_html_report_escapes_every_crawled_text(hostile):
    html = hostile.text["html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the page title, shown as text
    assert "<script" not in html.lower()
    assert not CONTROL.search(html) and "\\x1b]0;pwned\\x07" in html  # a title's OSC sequence, shown escaped
    assert 'href="javascript:' not in html.lower()


def test_html_report_branding_and_a_bad_logo(example, tmp_path):
    logo = tmp_path / "logo.svg"
    logo.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    html = _report(example.db, "html", tmp_path / "r.html", "--title", "Q4 <b>audit</b>", "--client", "Acme & Co",
                   "--logo", logo)
    assert "<title>Q4 &lt;b&gt;audit&lt;/b&gt;</title>" in html and "Prepared for Acme &amp; Co" in html
    assert '<img src="data:image/svg+xml;base64,' in html
    bad = run_cli("report", "--db", example.db, "--format", "html", "--logo", tmp_path / "logo.txt")
    assert bad.exit_code == 2 and bad.stderr.strip().splitlines() == [
        f"funnelcheck: error: --logo {tmp_path / 'logo.txt'}: not a PNG, JPEG, GIF, WebP or SVG image"]


def test_html_report_renders_in_chromium(example, tmp_path):
    """Headless Chromium draws the report: the DOM has the two pictures and the findings table,
    and the screenshot shows the funnel's colours (forward blue, backward red, the four
    stages) and the severity badges: non-blank, rendered pictures, not an empty page."""
    import matplotlib.image as mpimg
    import numpy as np

    page = tmp_path / "report.html"
    page.write_text(example.text["html"], encoding="utf-8")
    dom = _chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    assert dom.stdout.count("<svg") == 2 and dom.stdout.count("<path") > 20
    assert 'id="findings-table"' in dom.stdout and 'id="entries-table"' in dom.stdout
    shot = tmp_path / "report.png"
    run = _chromium("--window-size=1200,4200", f"--screenshot={shot}", page.as_uri())
    assert run.returncode == 0 and shot.exists(), run.stderr
    img = (mpimg.imread(shot)[:, :, :3] * 255).round().astype(int)
    assert (img < 250).any(axis=2).mean() > 0.05  # not a blank page

    def pixels(hex_colour: str, tolerance: int = 12) -> int:
        rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
        return int((np.abs(img - rgb).max(axis=2) <= tolerance).sum())

    for colour in ("#ff7f0e", "#2ca02c", "#2f6db3", "#b8860b"):  # the four stages' bars and nodes
        assert pixels(colour) > 300, colour
    assert pixels("#b91c1c") > 200  # high-severity badges of the findings table
    red = np.array([0xd6, 0x27, 0x28]) * 0.55 + 255 * 0.45  # a backward band: red at 55% on white
    assert int((np.abs(img - red).max(axis=2) <= 14).sum()) > 500
