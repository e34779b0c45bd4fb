"""funnelcheck diff (issue 11, part 2): two real crawls of a fixture site, compared.

``tests/sites/diff/v1`` is audited, then the same folder is given the content of ``v2`` and
audited again into the same store, under the same public URL (as a weekly job audits a built
site). v2 is v1 with a Twitter link added to the header of the site's pages, the team page
removed (with the only link to /demo/: /demo/ is now reached from the sitemap alone), the
broken /pricng/ link of the first post fixed to /pricing/, and a new post (``q&a_post``, a
name Markdown must escape). A third audit of v2 with another option compares as "no changes"
with the options said.
"""
from __future__ import annotations

import copy
import io
import json
import shutil
from html.parser import HTMLParser

import pytest

from analysis.diff import NotEnoughCrawls, changed, diff_crawls, headline, latest_pair, sentences
from analysis.formats.diff import DIFF_WRITERS, html_text, plain_text, write_markdown
from analysis.rules.fixes import FIXES
from conftest import SITES, run_cli
from crawler.store import Store, funnelcheck_version

A = "https://acme.example"


def _audit(site, db, out, *extra):
    result = run_cli("audit", site, "--base-url", f"{A}/", "--db", db, "--no-check-external", "--no-check-social",
                     "--format", "json", "-o", out, *extra)
    assert result.exit_code == 1, result.stderr  # high findings, on purpose
    return json.loads(out.read_text())


def _replace(folder, version):
    """The folder keeps its path (the crawl's target); its content becomes ``version``'s."""
    folder.mkdir(exist_ok=True)
    for child in folder.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    shutil.copytree(SITES / "diff" / version, folder, dirs_exist_ok=True)


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """A store with crawl 1 (v1), crawl 2 (v2) and crawl 3 (v2 again, with ``--depth 50``)."""
    tmp = tmp_path_factory.mktemp("diff")
    site, db = tmp / "site", tmp / "crawls.sqlite"
    _replace(site, "v1")
    _audit(site, db, tmp / "1.json")
    _replace(site, "v2")
    _audit(site, db, tmp / "2.json")
    _audit(site, db, tmp / "3.json", "--depth", "50")
    store = Store(db, readonly=True)
    yield store, db
    store.close()


@pytest.fixture(scope="module")
def diff(crawled):
    return diff_crawls(crawled[0], 1, 2)


def header(store, crawl_id, pages=8):
    return {"id": crawl_id, "targets": [f"{A}/"], "started": store.crawl(crawl_id)["started"], "status": "complete",
            "version": funnelcheck_version(), "pages": pages}


def finding(fid, rule, severity, target, region, message, pages=1):
    return {"id": fid, "rule": rule, "severity": severity, "target": target, "region": region, "message": message,
            "pages": pages}


TWITTER = finding("fc-30f0aa65fbec", "backward-social", "high", "https://twitter.com/acme", "header",
                  "header links to social profile https://twitter.com/acme on 4 pages: rowing backward", 4)
ORPHAN = finding("fc-2d948d3f75ea", "orphan-page", "low", f"{A}/demo/", None,
                 f"{A}/demo/ is in the sitemap but no crawled page links to it")
PRICNG = finding("fc-4fd73c3758e5", "broken-link", "high", f"{A}/pricng/", None,
                 f"broken link: {A}/pricng/ answers 404 (client error)")


def row(old, new, delta):
    return {"old": old, "new": new, "delta": delta}


def test_both_crawls_are_stored_complete(crawled):
    store, _ = crawled
    assert [(c["id"], c["status"], c["targets"]) for c in store.crawls()] == [
        (1, "complete", [f"{A}/"]), (2, "complete", [f"{A}/"]), (3, "complete", [f"{A}/"])]


PLAN_WORDS = [
    "the header's follow icon (X) on 4 pages: without it, of 100 "
    "visitors who land on the blog or the home page, about 6 more would reach an offer",
    "the footer's follow icon (Facebook) on 4 pages: without it, "
    "of 100 visitors who land on the blog or the home page, about 3 more would reach an offer",
    "the site's header links the blog on 4 pages: without these l"
    "inks, of 1,000 visitors who land on the blog or the home page, about 9 more would reach an offer"]


def test_the_exact_diff(crawled, diff):
    store, _ = crawled
    assert diff == {
        "site": "acme.example",
        "old": header(store, 1),
        "new": header(store, 2),
        "options_differ": [],
        "pages": {"added": {"count": 1, "urls": [f"{A}/blog/q&a_post/"]},
                  "removed": {"count": 1, "urls": [f"{A}/team/"]}},
        "links": {
            "added": {
                "owned": {"count": 2, "links": [{"source": f"{A}/blog/", "target": f"{A}/blog/q&a_post/"},
                                                {"source": f"{A}/blog/first-post/", "target": f"{A}/pricing/"}]},
                "social": {"count": 4, "links": [{"source": f"{A}{p}", "target": "https://twitter.com/acme"}
                                                 for p in ("/", "/about/", "/demo/", "/pricing/")]}},
            "removed": {
                "owned": {"count": 2, "links": [{"source": f"{A}/about/", "target": f"{A}/team/"},
                                                {"source": f"{A}/blog/first-post/", "target": f"{A}/pricng/"}]},
                "social": {"count": 0, "links": []}}},
        "backward": {"new": [TWITTER], "fixed": []},
        "broken": {"new": [], "fixed": [{"target": f"{A}/pricng/", "id": "fc-4fd73c3758e5", "pages": 1,
                                         "message": PRICNG["message"], "now": "no longer linked", "status": None}]},
        "findings": {"new": [TWITTER, ORPHAN], "resolved": [PRICNG], "changed": []},
        "metrics": {
            "site": {"conversion": row(0.35449, 0.559197, 0.204707),
                     "social_leak": row(0.055566, 0.116445, 0.060879),
                     "clicks_to_conversion": row(2.552227, 2.107828, -0.444399),
                     "conversion_depth": row(1.75, 1.4, -0.35),
                     "unreachable_posts": row(0, 0, 0)},
            "blog": {"conversion": row(0.271901, 0.566083, 0.294182),
                     "social_leak": row(0.042621, 0.086887, 0.044266)},
            "landing": [{"url": f"{A}/", "conversion": row(0.602254, 0.531649, -0.070605),
                         "social_leak": row(0.094404, 0.234675, 0.140271)}],
            "unreachable_posts": {"new": [], "fixed": []},
            "conversion_pages": [
                # /demo/ was reached through /about/ -> /team/ from every entry page; now from none
                {"url": f"{A}/demo/", "old": {"entries": 4, "blog": 3}, "new": {"entries": 0, "blog": 0},
                 "lost": {"entries": 4, "blog": 3}, "gained": {"entries": 0, "blog": 0}},
                # the new post reaches /pricing/ too: a new entry page, nothing lost or gained
                {"url": f"{A}/pricing/", "old": {"entries": 4, "blog": 3}, "new": {"entries": 5, "blog": 4},
                 "lost": {"entries": 0, "blog": 0}, "gained": {"entries": 0, "blog": 0}}],
            "conversion_reach": True},
        # the new crawl's action plan: what costs most now, in words
        "fix_first": [
            {"id": "fc-30f0aa65fbec", "severity": "high", "cost": pytest.approx(5.7437, abs=1e-4),
             "words": PLAN_WORDS[0], "fix": FIXES["backward-social:profile:header"]},
            {"id": "fc-a4cfaa29fe3c", "severity": "medium", "cost": pytest.approx(2.564, abs=1e-4),
             "words": PLAN_WORDS[1], "fix": FIXES["backward-social:profile:footer"]},
            {"id": "fc-593be287b36f", "severity": "low", "cost": pytest.approx(0.8674, abs=1e-4),
             "words": PLAN_WORDS[2], "fix": FIXES["backward-blog"]}],
        "sentences": [
            ("New backward link (high): header links to social profile https://twitter.com/acme on 4 pages: "
             "rowing backward."),
            "/demo/ is no longer reachable from 4 entry pages (3 blog pages).",
            "Conversion probability from the home page fell from 60% to 53%.",
            "The leak to social (site-wide) rose from 6% to 12%.",
            "The leak to social from the blog rose from 4% to 9%.",
            "Conversion probability (site-wide) rose from 35% to 56%.",
            "Conversion probability from the blog rose from 27% to 57%.",
            "Clicks to a conversion fell from 2.6 to 2.1.",
            "Broken link fixed: /pricng/ is no longer linked.",
            "1 page added: /blog/q&a_post/.",
            "1 page removed: /team/.",
            "Links to social platforms: 4 added, 0 removed (on pages in both crawls).",
            "Links between owned pages: 2 added, 2 removed (on pages in both crawls).",
            ("New finding (low, orphan-page): https://acme.example/demo/ is in the sitemap but no crawled page "
             "links to it."),
        ],
    }
    assert changed(diff)
    # what a script reads is what --format json writes
    out = io.StringIO()
    DIFF_WRITERS["json"](diff, out)
    assert json.loads(out.getvalue()) == diff


def test_headline(diff):
    assert headline(diff) == "acme.example: 1 new backward link, 1 broken link fixed, conversion 35% to 56%"


def test_the_other_way_round(crawled):
    back = diff_crawls(crawled[0], 2, 1)
    assert back["pages"] == {"added": {"count": 1, "urls": [f"{A}/team/"]},
                             "removed": {"count": 1, "urls": [f"{A}/blog/q&a_post/"]}}
    assert back["links"]["removed"]["social"]["count"] == 4 and back["links"]["added"]["social"]["count"] == 0
    assert back["backward"] == {"new": [], "fixed": [TWITTER]}
    assert back["broken"] == {"new": [{"target": f"{A}/pricng/", "id": "fc-4fd73c3758e5", "severity": "high",
                                       "status": 404, "label": "client error", "pages": 1,
                                       "message": PRICNG["message"], "before_status": None}], "fixed": []}
    assert headline(back) == ("acme.example: 1 backward link fixed, 1 newly broken, conversion 56% to 35%")


MARKDOWN = """\
## funnelcheck diff: crawl #1 → #2 of https://acme.example/

**acme.example: 1 new backward link, 1 broken link fixed, conversion 35% to 56%**

|  | crawl #1 | crawl #2 |
|:--|:--|:--|
| Started | {started1} | {started2} |
| Status | complete | complete |
| Pages | 8 | 8 |
| Crawled by | {version} | {version} |

### What changed

- New backward link (high): header links to social profile https://twitter.com/acme on 4 pages: rowing backward.
- /demo/ is no longer reachable from 4 entry pages (3 blog pages).
- Conversion probability from the home page fell from 60% to 53%.
- The leak to social (site-wide) rose from 6% to 12%.
- The leak to social from the blog rose from 4% to 9%.
- Conversion probability (site-wide) rose from 35% to 56%.
- Conversion probability from the blog rose from 27% to 57%.
- Clicks to a conversion fell from 2.6 to 2.1.
- Broken link fixed: /pricng/ is no longer linked.
- 1 page added: /blog/q&amp;a\\_post/.
- 1 page removed: /team/.
- Links to social platforms: 4 added, 0 removed (on pages in both crawls).
- Links between owned pages: 2 added, 2 removed (on pages in both crawls).
- New finding (low, orphan-page): https://acme.example/demo/ is in the sitemap but no crawled page links to it.

### Fix first (crawl #2)

1. **high** the header's follow icon (X) on 4 pages: without it, of 100 visitors who land on the blog or the home page, about 6 more would reach an offer — fix: move the follow icons out of the header into the footer, and put a pricing or contact link in their place
2. **medium** the footer's follow icon (Facebook) on 4 pages: without it, of 100 visitors who land on the blog or the home page, about 3 more would reach an offer — fix: keep the follow icons in the footer, and give the pages that offer nothing an offer above it (pricing, contact, a demo); or drop the icons there
3. **low** the site's header links the blog on 4 pages: without these links, of 1,000 visitors who land on the blog or the home page, about 9 more would reach an offer — fix: link the site's own pages (product, pricing, contact) where this link stands, or accept it as a mild step

### Backward links: 1 new, 0 fixed

| Change | Severity | Finding | Pages | ID |
|:--|:--|:--|--:|:--|
| new | high | header links to social profile https://twitter.com/acme on 4 pages: rowing backward | 4 | `fc-30f0aa65fbec` |

### Broken links: 0 newly broken, 1 fixed

| Change | Link | Now | Pages | ID |
|:--|:--|:--|--:|:--|
| fixed | [https://acme.example/pricng/](https://acme.example/pricng/) | no longer linked | 1 | `fc-4fd73c3758e5` |

### Funnel metrics

| Metric | crawl #1 | crawl #2 | Change |
|:--|--:|--:|--:|
| Conversion probability (site-wide) | 35.4% | 55.9% | +20.5 pts |
| Leak to social (site-wide) | 5.6% | 11.6% | +6.1 pts |
| Clicks to a conversion | 2.55 | 2.11 | -0.44 |
| Clicks to the nearest offer | 1.75 | 1.40 | -0.35 |
| Blog pages with no path to an offer | 0 | 0 | 0 |
| Conversion probability from the blog | 27.2% | 56.6% | +29.4 pts |
| Leak to social from the blog | 4.3% | 8.7% | +4.4 pts |
| Conversion probability from the home page | 60.2% | 53.2% | -7.1 pts |
| Leak to social from the home page | 9.4% | 23.5% | +14.0 pts |

### Conversion pages

Entry pages that can reach each conversion page by clicking, where that changed.

| Conversion page | crawl #1 | crawl #2 | Lost | Gained |
|:--|--:|--:|--:|--:|
| [https://acme.example/demo/](https://acme.example/demo/) | 4 (3 blog) | 0 | 4 (3 blog) | 0 |
| [https://acme.example/pricing/](https://acme.example/pricing/) | 4 (3 blog) | 5 (4 blog) | 0 | 0 |

### Pages: 1 added, 1 removed

**Added:**

- [https://acme.example/blog/q&amp;a\\_post/](https://acme.example/blog/q&a_post/)

**Removed:**

- [https://acme.example/team/](https://acme.example/team/)

### Links to social platforms: 4 added, 0 removed

On the pages read in both crawls.

| Change | Page | Links to |
|:--|:--|:--|
| added | [https://acme.example/](https://acme.example/) | [https://twitter.com/acme](https://twitter.com/acme) |
| added | [https://acme.example/about/](https://acme.example/about/) | [https://twitter.com/acme](https://twitter.com/acme) |
| added | [https://acme.example/demo/](https://acme.example/demo/) | [https://twitter.com/acme](https://twitter.com/acme) |
| added | [https://acme.example/pricing/](https://acme.example/pricing/) | [https://twitter.com/acme](https://twitter.com/acme) |

### Links between owned pages: 2 added, 2 removed

On the pages read in both crawls.

| Change | Page | Links to |
|:--|:--|:--|
| added | [https://acme.example/blog/](https://acme.example/blog/) | [https://acme.example/blog/q&amp;a\\_post/](https://acme.example/blog/q&a_post/) |
| added | [https://acme.example/blog/first-post/](https://acme.example/blog/first-post/) | [https://acme.example/pricing/](https://acme.example/pricing/) |
| removed | [https://acme.example/about/](https://acme.example/about/) | [https://acme.example/team/](https://acme.example/team/) |
| removed | [https://acme.example/blog/first-post/](https://acme.example/blog/first-post/) | [https://acme.example/pricng/](https://acme.example/pricng/) |

### Findings: 2 new, 1 resolved, 0 changed

| Change | Severity | Rule | Finding | Pages | ID |
|:--|:--|:--|:--|--:|:--|
| new | high | backward-social | header links to social profile https://twitter.com/acme on 4 pages: rowing backward | 4 | `fc-30f0aa65fbec` |
| new | low | orphan-page | https://acme.example/demo/ is in the sitemap but no crawled page links to it | 1 | `fc-2d948d3f75ea` |
| resolved | high | broken-link | broken link: https://acme.example/pricng/ answers 404 (client error) | 1 | `fc-4fd73c3758e5` |
"""


def test_markdown(crawled, diff):
    store, _ = crawled
    out = io.StringIO()
    write_markdown(diff, out)
    assert out.getvalue() == MARKDOWN.format(started1=store.crawl(1)["started"], started2=store.crawl(2)["started"],
                                             version=funnelcheck_version())


def test_terminal_and_plain_text(diff):
    out = io.StringIO()
    DIFF_WRITERS["terminal"](diff, out, color=False)
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[1] == "acme.example: 1 new backward link, 1 broken link fixed, conversion 35% to 56%"
    assert lines[3:5] == ["What changed:", ("  - New backward link (high): header links to social profile "
                                            "https://twitter.com/acme on 4 pages: rowing backward.")]
    # the summary comes before the details, and every section is there
    sections = [line for line in lines if line and not line.startswith(" ")]
    assert sections[2:] == [
        "What changed:", "Fix first (crawl #2):", "Backward links: 1 new, 0 fixed", "Broken links: 0 newly broken, 1 fixed",
        "Funnel metrics (crawl #1 → #2):", "Conversion pages: entry pages that can reach them",
        "Pages: 1 added, 1 removed", "Links to social platforms: 4 added, 0 removed (on pages in both crawls)",
        "Links between owned pages: 2 added, 2 removed (on pages in both crawls)",
        "Findings: 2 new, 1 resolved, 0 changed"]
    from markupsafe import escape
    assert f"<h2>Fix first (crawl #2)</h2>\n<ol>\n<li><span class=\"high\">high</span> {escape(PLAN_WORDS[0])}" in html_text(diff)
    i = lines.index("Fix first (crawl #2):")
    assert lines[i + 1:i + 3] == [f"  1. [high] {PLAN_WORDS[0]}", f"     fix: {FIXES['backward-social:profile:header']}"]
    assert "  /demo/: 4 (3 blog) → 0 (lost 4 (3 blog))" in lines
    assert "  - https://acme.example/pricng/ · no longer linked (was on 1 page) · fc-4fd73c3758e5" in lines
    mail = plain_text(diff)
    assert max(len(line) for line in mail.splitlines()) <= 78
    assert "  - /demo/ is no longer reachable from 4 entry pages (3 blog pages)." in mail.splitlines()


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.hrefs, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"])

    def handle_data(self, data):
        self.text.append(data)


def test_html(diff):
    html = html_text(diff)
    out = io.StringIO()
    DIFF_WRITERS["html"](diff, out)
    assert out.getvalue() == html
    parsed = _Tags()
    parsed.feed(html)
    names = {tag for tag, _ in parsed.tags}
    assert "script" not in names and "link" not in names and "img" not in names and "iframe" not in names
    csp = [a["content"] for tag, a in parsed.tags if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "script-src 'none'" in csp[0] and "default-src 'none'" in csp[0]
    assert all(h.startswith("https://") for h in parsed.hrefs)
    assert f"{A}/blog/q&a_post/" in parsed.hrefs  # (&amp; in the attribute, & once parsed)
    text = " ".join(parsed.text)
    assert "/demo/ is no longer reachable from 4 entry pages (3 blog pages)." in text
    assert "acme.example: 1 new backward link, 1 broken link fixed, conversion 35% to 56%" in text


def test_crawled_text_is_escaped_everywhere(diff):
    """A hostile message or site name (from a crawled page) cannot inject a header, HTML,
    Markdown or terminal escapes."""
    evil = json.loads(json.dumps(diff))
    evil["site"] = "acme.example\r\nBcc: victim@evil.example"
    bad = "<script>alert(1)</script> | *x* \x1b]0;owned\x07 [a](javascript:alert(1))"
    evil["backward"]["new"][0]["message"] = bad
    evil["findings"]["new"][0]["message"] = bad
    evil["pages"]["added"]["urls"] = ["javascript:alert(1)"]
    evil["sentences"] = [bad]
    subject = headline(evil)
    assert "\r" not in subject and "\n" not in subject
    assert subject == "acme.example Bcc: victim@evil.example: 1 new backward link, 1 broken link fixed, conversion 35% to 56%"
    out = io.StringIO()
    DIFF_WRITERS["terminal"](evil, out, color=False)
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue() and "\\x1b]0;owned\\x07" in out.getvalue()
    md = io.StringIO()
    write_markdown(evil, md)
    text = md.getvalue()
    assert "<script>" not in text and "&lt;script&gt;" in text and "\x1b" not in text
    assert "\\| \\*x\\*" in text and "\\[a\\](javascript:" in text and "[a](javascript:" not in text
    assert "- javascript:alert(1)\n" in text  # not a link
    html = html_text(evil)
    assert "<script>" not in html and "&lt;script&gt;" in html and "\x1b" not in html
    assert 'href="javascript:' not in html
    assert "\r\n" not in headline(evil)


def test_no_changes_and_options_said(crawled):
    """v2 crawled again with --depth 50: the same site, other options."""
    store, _ = crawled
    same = diff_crawls(store, 2, 3)
    assert same["options_differ"] == ["depth"]
    assert same["sentences"] == [("The two crawls ran with different options (depth): some of the changes below "
                                  "may come from that.")]
    assert not changed(same)
    assert headline(same) == "acme.example: no changes"
    assert same["pages"]["added"]["count"] == same["links"]["added"]["owned"]["count"] == 0
    assert same["findings"] == {"new": [], "resolved": [], "changed": []}
    md = io.StringIO()
    write_markdown(same, md)
    text = md.getvalue()
    assert ("> **Options differ:** The two crawls ran with different options: depth. Some changes may come from "
            "that.\n") in text
    assert text.endswith("\nNo changes.\n") and "### What changed" not in text
    out = io.StringIO()
    DIFF_WRITERS["terminal"](same, out, color=False)
    assert out.getvalue().splitlines()[1:] == [
        "The two crawls ran with different options: depth. Some changes may come from that.",
        "acme.example: no changes", "No changes."]
    assert "Options differ:" in html_text(same) and "No changes." in html_text(same)


def test_latest_pair(crawled, tmp_path):
    store, _ = crawled
    assert latest_pair(store) == (2, 3)
    assert latest_pair(store, "https://www.acme.example") == (2, 3)
    with pytest.raises(NotEnoughCrawls, match="^no complete crawl of https://other.example/ in the store"):
        latest_pair(store, "https://other.example/")
    one = Store(tmp_path / "one.sqlite")
    first = one.create_crawl([f"{A}/"], {})
    one.finish_crawl(first, "complete")
    one.finish_crawl(one.create_crawl([f"{A}/"], {}), "interrupted")  # an interrupted crawl does not count
    with pytest.raises(NotEnoughCrawls) as err:
        latest_pair(one)
    assert isinstance(err.value, ValueError)
    assert str(err.value) == ("only one complete crawl of https://acme.example/ in the store (#1): a diff needs two "
                              "(audit it again, or name two crawls: funnelcheck diff OLD NEW)")
    assert "\n" not in str(err.value)
    empty = Store(tmp_path / "empty.sqlite")
    with pytest.raises(NotEnoughCrawls, match="^no complete crawl in the store: a diff needs two$"):
        latest_pair(empty)


def test_sentences_and_headline_of_other_changes(diff):
    """What the fixture does not change, said too: on the real diff, edited."""
    d = copy.deepcopy(diff)
    d["new"]["status"] = "interrupted"
    d["broken"]["new"] = [{"target": f"{A}/gone{i}/", "id": f"fc-{i}", "severity": "high", "status": 404,
                           "label": "client error", "pages": 2, "message": "m", "before_status": 200 if i else None}
                          for i in range(7)]
    d["findings"]["changed"] = [{"id": "fc-f", "rule": "backward-social", "target": "https://www.facebook.com/acme",
                                 "region": "footer", "message": "footer links to social profile "
                                 "https://www.facebook.com/acme on 40 pages: rowing backward",
                                 "severity": {"old": "medium", "new": "high"}, "pages": {"old": 4, "new": 40}}]
    d["metrics"]["conversion_pages"].append({"url": f"{A}/signup/", "old": None, "new": {"entries": 2, "blog": 2},
                                             "lost": {"entries": 0, "blog": 0}, "gained": {"entries": 2, "blog": 2}})
    said = sentences(d)
    assert said[0] == "Crawl #2 is interrupted: pages it did not reach show up as changes."
    # a finding that got worse is bad news, said right after the new backward links
    assert said[2] == ("Changed (medium → high, on 40 pages, was 4): footer links to social profile "
                       "https://www.facebook.com/acme on 40 pages: rowing backward.")
    assert said[3:9] == ["Newly broken: /gone0/ answers 404, linked from 2 pages."] + [
        f"Newly broken: /gone{i}/ answers 404 (it worked before), linked from 2 pages." for i in range(1, 5)] + [
        "… and 2 more newly broken links."]
    assert said[said.index("Broken link fixed: /pricng/ is no longer linked.") + 1:][:2] == [
        "New conversion page /signup/, reachable from 2 blog pages.", "1 page added: /blog/q&a_post/."]
    assert headline(d) == "acme.example: 1 new backward link, 7 newly broken, 1 broken link fixed, conversion 35% to 56%"
    # nothing but pages: the headline says so
    quiet = copy.deepcopy(diff)
    quiet["backward"] = {"new": [], "fixed": []}
    quiet["broken"] = {"new": [], "fixed": []}
    quiet["metrics"]["site"]["conversion"] = row(0.5, 0.5, 0.0)
    assert headline(quiet) == "acme.example: 1 page added, 1 removed"


def test_long_lists_are_cut(diff):
    """JSON keeps LIST_MAX pages and links with the exact count; the readable formats fewer."""
    d = copy.deepcopy(diff)
    d["pages"]["added"] = {"count": 300, "urls": [f"{A}/p{i:03}/" for i in range(200)]}
    md = io.StringIO()
    write_markdown(d, md)
    text = md.getvalue()
    assert f"- [{A}/p019/]({A}/p019/)\n\n… and 280 more pages added (`--format json` lists more).\n" in text
    assert f"{A}/p020/" not in text
    out = io.StringIO()
    DIFF_WRITERS["terminal"](d, out, color=False)
    assert "  … and 280 more pages added (--format json lists more)" in out.getvalue().splitlines()
    assert "300 pages added: /p000/, /p001/, /p002/, /p003/, /p004/ and 295 more." in sentences(d)
