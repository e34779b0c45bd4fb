"""Offline audits of the four real built websites in ``../shared/realsites/`` (issue 7).

Each site is audited from its folder as a user would, other sites' links unchecked and the
business's profiles fetched from a closed local port (the machine is offline: funnelcheck must
say so, not call them broken). What each audit reports was read by hand against the sites' HTML; the figures
and what was checked are in ``bench/README.md``. The folders are data kept outside the
repository: where they are missing, these tests are skipped.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT, audit_json, run_cli
from test_real_world import closed_port

REALSITES = ROOT.parent / "shared" / "realsites"
pytestmark = pytest.mark.skipif(not REALSITES.is_dir(), reason=f"real sites not found at {REALSITES}")

SITES = {
    # folder (relative to REALSITES): (public URL, extra options)
    "hop": ("https://hop.apache.org/", ()),
    "answer": ("https://answer.apache.org/", ()),
    "couchdb": ("https://couchdb.apache.org/", ()),
    "datafusion-blog/blog": ("https://datafusion.apache.org/blog/", (
        "--site", "https://datafusion.apache.org/", "--blog", "https://datafusion.apache.org/blog/",
        # the rest of the host is other sites, not in the folder
        "--exclude", r"^https?://datafusion\.apache\.org/(?!blog(/|$))")),
}


# The sites whose own profiles are on one host (nothing else external is fetched): datafusion's posts
# link its GitHub org, github.com/datafusion-contrib; answer's navigation its X (a committer's GitHub
# on the team page is no profile of Answer's)
ONE_PROFILE = {"datafusion-blog/blog": "https://github.com/datafusion-contrib", "answer": "https://twitter.com/answerdev"}


def html_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.suffix.lower() in (".html", ".htm"))


def page_identity(url: str) -> str:
    """A URL with every form a page goes by folded (scheme, www., index file, trailing slash)."""
    url = re.sub(r"^https?://(www\.)?", "", url)
    url = re.sub(r"/index\.html?$", "/", url)
    return url.rstrip("/")


audited_db: dict[str, Path] = {}


@pytest.fixture(scope="module", params=sorted(SITES))
def audited(request, tmp_path_factory):
    folder = request.param
    base, extra = SITES[folder]
    host = re.escape(base.split("/")[2])
    tmp = tmp_path_factory.mktemp(folder.replace("/", "-"))
    audited_db[folder] = tmp / "crawls.sqlite"
    # Other sites' links are left unchecked (tests/test_real_world.py covers an offline machine
    # with them); the business's profiles are fetched, from a closed local port: no network.
    result, report = audit_json(tmp, REALSITES / folder, "--base-url", base, *extra, "--no-check-external",
                                "--remap", rf"^https?://(?!{host}/)[^/]+/.* http://127.0.0.1:{closed_port()}/")
    return folder, base, result, report


def test_every_page_once_and_no_false_alarms_offline(audited):
    folder, base, result, report = audited
    assert result.exit_code == 1, result.stderr  # each site has high findings (header icons, broken links)
    s = report["summary"]
    assert 0 < s["pages_crawled"] <= html_files(REALSITES / folder)
    pages = [p["url"] for p in report["pages"] if p["role"] == "page" and p["status"] == 200]
    assert len({page_identity(u) for u in pages}) == len(pages), "a page was crawled under two names"
    # Offline: said once (where the site links its own profiles on two hosts or more), and no profile is "broken".
    if folder not in ONE_PROFILE:
        assert s["network"]["offline"] and result.stderr.startswith("funnelcheck: warning: external links not checked")
    broken = [t for f in report["findings"] if f["rule"] == "broken-link"
              for t in (f["detail"].get("targets") or [f["target"]])]
    # (a site whose own profiles are on one host: the one profile fetched fails, and one host failing
    # alone is a broken link, not "offline")
    own_profiles = {ONE_PROFILE[folder]} if folder in ONE_PROFILE else set()
    assert all(t.startswith(base) or t in own_profiles for t in broken), [t for t in broken if not t.startswith(base)][:5]
    # No page was fetched from the internet or keyed under a second form of the site's own host.
    own = base.split("/")[2]
    assert not [p for p in report["pages"] if p["url"].startswith(("http://" + own, "https://www." + own))]


# What the audits were read against, by hand (see bench/README.md): one fact per site that a
# regression would break. A directory audit reads every HTML file (issue 20): hop's 404.html
# (its header too), answer's 404.html and datafusion's 25 posts no page links to under their
# dated address (each a <meta refresh> stub, no orphan) are pages of their audits.
FACTS = {
    # an open-source project sells nothing: its download page is its offer (issue: "put a pricing or contact link")
    "hop": lambda r: (
        ("backward-social", "high", "https://twitter.com/ApacheHop", "header", 135) in _rows(r)
        and ("broken-link", "high", "_/js/search-ui.js", None, 133) in _rows(r)
        and _conversion(r, "https://hop.apache.org/download/") == "download"),
    # a committer's GitHub among the team page's 90 contributors is a person's, not Answer's (no high)
    # ... and answer's "Download" in every page's navigation is the offer those pages make: no "111 pages send
    # visitors to social but offer no purchase and no lead capture"
    "answer": lambda r: r["summary"]["pages_crawled"] == 113 and _conversion(
        r, "https://answer.apache.org/download/") == "download" and not [
        f for f in r["findings"] if f["rule"] == "social-before-offer"] and any(
        f["rule"] == "backward-blog" and f["region"] == "nav" for f in r["findings"]) and any(
        f["rule"] == "backward-social" and f["severity"] == "low" and "https://github.com/clr-apache" in
        f["detail"].get("accounts", ()) for f in r["findings"]) and not [
        f for f in r["findings"] if f["target"] == "https://github.com/clr-apache"],
    # "Git Mirrors" (github.com/apache?q=couchdb) is the ASF's GitHub, not CouchDB's profile
    "couchdb": lambda r: [f["target"] for f in r["findings"] if f["rule"] == "missing-anchor"] == [
        "https://couchdb.apache.org/bylaws.html#discussions"] and (
        "backward-social", "low", "https://github.com/apache", "body", 1) in _rows(r),
    "datafusion-blog/blog": lambda r: r["summary"]["pages_crawled"] == 102 and not [
        f for f in r["findings"] if f["rule"] == "missing-anchor"],
}


def _conversion(report, url):
    return next((p.get("conversion") for p in report["pages"] if p["url"] == url), "no such page")


def _rows(report):
    return {(f["rule"], f["severity"], f["target"], f["region"], f["count"]) for f in report["findings"]}


def test_what_was_checked_by_hand(audited):
    folder, _, _, report = audited
    assert FACTS[folder](report)


def test_terminal_report_is_short(audited, tmp_path):
    folder, base, _, report = audited
    result = run_cli("report", "--db", audited_db[folder], "--crawl", str(report["crawl"]["id"]))
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) < 300
