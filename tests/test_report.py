"""The report a person reads (issue 8): findings grouped by cause on a 300-post site, the
terminal layout at 80 and 120 columns, filters, and crawled control characters escaped."""
from __future__ import annotations

import io
import re

import pytest

from conftest import audit_json, findings_set, run_cli

from analysis.formats import terminal
from analysis.report import audit as analyse
from crawler.store import Store

T = "https://tmpl.test/"
TW = "https://twitter.com/tmpl"
POSTS = 300
OFFERING = 100  # the first posts link to the contact page: their footer icon is medium
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _page(body: str, title: str = "Page") -> str:
    return f"<!doctype html>\n<html><head><title>{title}</title></head>\n<body>\n{body}\n</body></html>\n"


@pytest.fixture(scope="module")
def template_site(tmp_path_factory):
    """A site whose 300 posts share one template: a footer icon, an /about link without its slash."""
    root = tmp_path_factory.mktemp("tmpl") / "site"
    files = {
        "index.html": _page('<nav><a href="/pricing/">Pricing</a></nav>\n<main>'
                            + "".join(f'<a href="/blog/p{i}/">Post {i}</a>\n' for i in range(POSTS)) + "</main>"),
        "pricing/index.html": _page("<main>Plans</main>"),
        "about/index.html": _page('<main><a href="/">Home</a></main>'),
        "contact/index.html": _page('<main><form><input type="email" name="email"></form></main>'),
        "blog/index.html": _page("<main>" + "".join(f'<a href="/blog/p{i}/">{i}</a>' for i in range(POSTS)) + "</main>"),
    }
    for i in range(POSTS):
        offer = ' <a href="/contact/">Contact us</a>' if i < OFFERING else ""
        files[f"blog/p{i}/index.html"] = _page(f'<main><p>Post {i}. <a href="/about">About</a>{offer}</p></main>\n'
                                               f'<footer><a href="{TW}">Twitter</a></footer>', f"Post {i}")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    tmp = root.parent
    result, report = audit_json(tmp, root, "--base-url", T, "--no-check-external", "--no-check-social")
    return result, report, tmp / "crawls.sqlite"


def test_a_template_is_one_finding_not_three_hundred(template_site):
    result, report, _ = template_site
    posts = tuple(sorted(f"{T}blog/p{i}/" for i in range(POSTS)))
    lacking = tuple(sorted(f"{T}blog/p{i}/" for i in range(OFFERING, POSTS)))
    assert findings_set(report) == {
        # the same footer icon on every post: one finding, high (200 posts offer nothing)
        ("backward-social", "high", TW, "footer", posts),
        ("social-before-offer", "medium", TW, "footer", lacking),
        ("backward-blog", "low", T + "blog/", "main", (T,)),
        # 300 posts link /about: one trailing-slash redirect finding
        ("redirect", "low", T, None, posts),
        # blog/index.html is a file of the folder no page links to (a directory audit reads every
        # file), and links nowhere on the site
        ("orphan-page", "low", T + "blog/", None, (T + "blog/",)),
        ("dead-end", "medium", T + "blog/", None, (T + "blog/",)),
        # the pricing page is linked from the home page's nav alone: 1 of 305 pages
        ("buried-offer", "medium", T + "pricing/", None, (T,)),
    }
    by_rule = {f["rule"]: f for f in report["findings"]}
    footer = by_rule["backward-social"]
    assert footer["message"] == (f"footer links to social profile {TW} on 300 pages: high on 200 pages that offer no "
                                 "purchase and no lead capture; medium on 100 pages that offer something too")
    assert len(footer["detail"]["pages_by_severity"]["medium"]) == OFFERING
    assert len(footer["locations"]) == POSTS  # the JSON keeps every page
    assert by_rule["redirect"]["detail"]["redirects"] == [{"url": T + "about", "final_url": T + "about/"}]
    assert len(by_rule["backward-blog"]["detail"]["targets"]) == POSTS


def _terminal(db, **kw) -> str:
    with Store(db, readonly=True) as store:
        out = io.StringIO()
        terminal.write(analyse(store), out, **kw)
        return out.getvalue()


@pytest.mark.parametrize("width", [80, 120])
def test_terminal_report_wraps_between_words(template_site, width):
    _, report, db = template_site
    text = _terminal(db, color=False, width=width)
    lines = text.splitlines()
    assert len(lines) < 85  # (7 findings, the Blog line; the plan's items wrap to 3-4 lines at 80 columns)
    assert lines[0] == f"funnelcheck crawl #1 of {T} — complete"
    assert "Fix first:" in text and "… and 297 more" in text
    words = set(text.split())
    for f in report["findings"]:  # every word of every message is whole on some line
        assert set(f["message"].split()) <= words, f["message"]
    assert all(len(line) <= width or " " not in line.strip() for line in lines)
    # in a terminal, long URLs are shortened in the middle to fit
    shown = ANSI.sub("", _terminal(db, color=True, width=width))
    assert all(len(line) <= width for line in shown.splitlines()), max(shown.splitlines(), key=len)


def test_filters_change_what_is_shown_not_the_exit_code(template_site):
    _, _, db = template_site
    high = run_cli("report", "--db", db, "--severity", "high")
    assert high.exit_code == 1
    assert "HIGH (1)" in high.stdout and "MEDIUM (" not in high.stdout and "LOW (" not in high.stdout
    assert "Showing 1 of 7 findings (filtered)." in high.stdout
    only = run_cli("report", "--db", db, "--rule", "redirect", "--fail-on", "medium")
    assert only.exit_code == 1  # the hidden high finding still fails the run
    assert "redirect ·" in only.stdout and "backward-social ·" not in only.stdout
    js = run_cli("report", "--db", db, "--rule", "redirect", "--format", "json")
    assert [f["rule"] for f in js.json()["findings"]] == ["redirect"]
    assert js.json()["summary"]["findings"] == {"high": 1, "medium": 3, "low": 3, "info": 0}


EVIL = "\x1b]0;pwned\x07\x1b]52;c;aGk=\x07\x1b[2J\r\x9b"


def test_crawled_control_characters_never_reach_the_terminal(tmp_path, site_server):
    page = _page(f'<main><a href="/missing{EVIL}/">x{EVIL}</a> <a href="/other/#frag{EVIL}">o</a>'
                 f'<a href="https://twitter.com/ev\x1bil">t</a></main><footer>'
                 f'<a href="https://twitter.com/evil">{EVIL}</a></footer>', title=f"Evil{EVIL}")
    (tmp_path / "site" / "other").mkdir(parents=True)
    (tmp_path / "site" / "index.html").write_text(page)
    (tmp_path / "site" / "other" / "index.html").write_text(_page("<main>other</main>"))
    out = tmp_path / "report.txt"
    result = run_cli("audit", tmp_path / "site", "--base-url", "https://evil.test/", "--no-check-external",
                     "--no-check-social", "--db", tmp_path / "c.sqlite", "-o", out)
    assert result.exit_code == 1, result.stderr
    shown = run_cli("report", "--db", tmp_path / "c.sqlite")
    for text in (out.read_text(encoding="utf-8"), shown.stdout, shown.stderr, result.stderr):
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", text), repr(text)
    assert "\\x1b]52;c;aGk=\\x07" in shown.stdout  # shown, escaped: the missing anchor's fragment
    js = run_cli("report", "--db", tmp_path / "c.sqlite", "--format", "json").json()
    assert any("\x1b]52;c;aGk=\x07" in (f["target"] or "") for f in js["findings"])  # JSON stays exact


def test_output_file_is_checked_before_the_crawl(tmp_path, cli):
    result = cli("audit", "https://acme.example/", "--db", tmp_path / "c.sqlite", "-o", tmp_path / "no" / "r.json")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"funnelcheck: error: cannot write {tmp_path / 'no' / 'r.json'}: no such folder " \
                                    f"{tmp_path / 'no'}"
    assert not (tmp_path / "c.sqlite").exists()  # nothing crawled


def test_verbose_after_the_command_and_version_in_json(template_site, tmp_path):
    _, report, _ = template_site
    assert report["crawl"]["funnelcheck_version"] == report["crawl"]["crawled_by"] == "0.1.0"
    assert "mounts" not in report["crawl"]["options"]
    assert all(re.fullmatch(r"fc-[0-9a-f]{12}", f["id"]) for f in report["findings"])
    site = tmp_path / "s"
    site.mkdir()
    (site / "index.html").write_text(_page("<main>hi</main>"))
    result = run_cli("audit", site, "-v", "--no-sitemaps", "--db", tmp_path / "c.sqlite")
    assert result.exit_code == 0 and "Spider opened" in result.stderr


def test_a_report_that_cannot_be_written_names_the_stored_crawl(tmp_path, cli):
    site = tmp_path / "s"
    site.mkdir()
    (site / "index.html").write_text(_page("<main>hi</main>"))
    db = tmp_path / "c.sqlite"
    result = cli("audit", site, "--no-sitemaps", "--db", db, "-o", "/dev/full")  # the disk is full
    assert result.exit_code == 2
    assert result.stderr.strip() == ("funnelcheck: error: cannot write /dev/full: No space left on device; the crawl "
                                     f"is kept as crawl #1 (funnelcheck report --db {db} --crawl 1)")
    assert cli("report", "--db", db).exit_code == 0


def test_a_big_crawl_is_analysed_after_it_ends_not_held_twice(tmp_path):
    """Past its limit the live graph lets go (the parent must not hold a big graph while the
    crawl process holds its own); the report after the crawl is the same."""
    from analysis.report import LiveAudit, audit
    from crawler.store import Store

    store = Store(tmp_path / "c.sqlite")
    site = "https://a.example/"
    cid = store.create_crawl([site], {"site": [site]})
    for n in range(5):
        url = f"{site}p{n}/"
        store.write_page(cid, {"url": url, "role": "page", "status": 200, "parsed": 1},
                         [(url, "https://x.com/a", "https://x.com/a", None, "a", "href", "X", "header", "", 1,
                           "profile", 2)])
    live = LiveAudit(store, cid, interval=0, limit=3)
    live.update()
    assert live.builder is None
    expected = audit(store, cid)
    got = live.audit()
    assert [(f.id, f.sources) for f in got.findings] == [(f.id, f.sources) for f in expected.findings]
    assert got.summary["pages_crawled"] == 5
