"""The bundled example and its funnel.toml, run exactly as the README says."""
from __future__ import annotations

import json
import re
import tomllib

import pytest

from conftest import ROOT, audit_json, findings_set, run_cli

from crawler.config import load_config, merge, validate

A = "https://acme.example/"


@pytest.fixture(scope="module")
def example_json(tmp_path_factory):
    """One JSON audit of the example with its funnel.toml, shared by the tests that read it."""
    return audit_json(tmp_path_factory.mktemp("example"), ROOT / "examples/acme/site", "--config",
                      ROOT / "examples/acme/funnel.toml")


def test_example_config_loads_and_command_line_wins():
    config = load_config(ROOT / "examples" / "acme" / "funnel.toml")
    options = validate(merge(config, {"targets": [str(ROOT / "examples/acme/site")], "fail_on": "never"}))
    assert options["base_url"] == [A]
    assert options["blog"] == [A + "blog/"] and options["fail_on"] == "never"
    assert options["check_external"] is False and len(options["remap"]) == 1


def test_readme_audit_command_prints_findings():
    """The README's first command (after the install) audits the example offline."""
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"funnelcheck (audit examples/acme/site [^\n`]*)", readme).group(1).split()
    result = run_cli(*command)
    assert result.exit_code == 1, result.stderr
    out = result.stdout
    for text in ("backward-social", "dead-end", "stranded-social", "broken-link", "social-before-offer",
                 "https://acme.example/products/discontinued/",
                 "not checkable on LinkedIn (login wall: LinkedIn shows company pages and profiles only to its members)",
                 "Profiles: 0 of your 6 profiles send visitors to your blog; 2 send them to the site, skipping the blog; "
                 "Facebook, Instagram, LinkedIn and X could not be read"):
        assert text in out


def test_example_findings(example_json):
    result, report = example_json
    assert result.exit_code == 1
    got = findings_set(report, rules={"dead-end", "broken-link", "stranded-social", "untracked-inbound",
                                      "social-before-offer", "missing-anchor"})
    follow_us = A + "blog/posts/follow-us/"
    assert {(r, s, t, reg) for r, s, t, reg, _ in got} == {
        ("dead-end", "medium", A + "blog/", None),
        ("social-before-offer", "medium", "https://twitter.com/acme", "main"),
        ("broken-link", "high", A + "products/discontinued/", None),
        # the login walls (a 999; X, Facebook and Instagram answer 200 with a login page and no link of
        # the profile's own): one "not checkable" line per platform, never "links to neither"
        ("stranded-social", "info", "https://twitter.com/acme", None),
        ("stranded-social", "info", "https://www.facebook.com/acme", None),
        ("stranded-social", "info", "https://www.instagram.com/acme", None),
        ("stranded-social", "info", "https://www.linkedin.com/company/acme", None),
        ("missing-anchor", "medium", A + "pricing/#enterprise", None),
    }
    assert "127.0.0.1" not in str(report["findings"])
    groups = {f["rule"]: f["sources"] for f in report["findings"] if f["rule"] in ("dead-end", "social-before-offer")}
    assert groups == {"dead-end": [follow_us], "social-before-offer": [follow_us]}


def test_setup_cfg_declares_console_script():
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert "funnelcheck = cli:main" in cfg["options.entry_points"]["console_scripts"]
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["build-backend"]


def test_readme_json_example_matches_real_output(example_json):
    """Every object of the README's JSON example has the keys a real report has, no more, no less."""
    readme = (ROOT / "README.md").read_text()
    example = json.loads(re.search(r"```json\n(.*?)\n```", readme, re.S).group(1))
    _, report = example_json
    assert list(example) == list(report)
    for key in ("crawl", "summary"):
        assert set(example[key]) == set(report[key]), key
    for key in ("pages", "links", "findings"):
        assert set(example[key][0]) == set(report[key][0]), key
    assert example["baseline"] == report["baseline"] == {"file": None, "accepted": [], "stale": []}
    assert list(example["metrics"]) == list(report["metrics"]) == ["site", "entries", "fix_first", "link_score",
                                                                     "social"]
    assert set(example["metrics"]["social"]) == set(report["metrics"]["social"])
    assert set(example["metrics"]["site"]) == set(report["metrics"]["site"])
    for key in ("entries", "fix_first"):
        assert set(example["metrics"][key][0]) == set(report["metrics"][key][0]), key
    assert report["metrics"]["site"]["entries"] == len(report["metrics"]["entries"]) == 5
    tiers = {p["tier"] for p in report["pages"]} | {l["tier"] for l in report["links"]}
    regions = {l["region"] for l in report["links"]}
    assert tiers <= {"site", "blog", "social", "external", "contact", "other"}
    assert regions <= {"header", "nav", "main", "aside", "footer", "body", "head", "", None}
