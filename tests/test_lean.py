"""Scrapy's per-page log lines and byte counts (crawler.lean, crawler.settings): made only when a
verbose audit shows them."""
from __future__ import annotations

from conftest import ROOT, run_cli

SITE = ROOT / "examples" / "acme" / "site"


def test_a_very_verbose_audit_shows_scrapys_crawled_lines_and_a_verbose_one_its_byte_counts(tmp_path):
    loud = run_cli("audit", SITE, "-vv", "--db", tmp_path / "a.sqlite", "--format", "json", "-o", tmp_path / "a.json")
    assert loud.exit_code in (0, 1), loud.stderr[-2000:]
    assert "Crawled (200)" in loud.stderr
    assert "downloader/request_count" in loud.stderr   # (the stats Scrapy logs when the crawl closes)
    verbose = run_cli("audit", SITE, "-v", "--db", tmp_path / "b.sqlite", "--format", "json", "-o", tmp_path / "b.json")
    assert verbose.exit_code in (0, 1), verbose.stderr[-2000:]
    assert "Crawled (200)" not in verbose.stderr
    assert "downloader/request_count" in verbose.stderr
    quiet = run_cli("audit", SITE, "--db", tmp_path / "c.sqlite", "--format", "json", "-o", tmp_path / "c.json")
    assert quiet.exit_code in (0, 1), quiet.stderr[-2000:]
    assert "Crawled (200)" not in quiet.stderr and "downloader/" not in quiet.stderr
