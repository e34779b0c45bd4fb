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
import trustme

from analysis.diff import NotEnoughCrawls, changed, diff_crawls, headline, latest_pair, sentences, summary
from analysis.formats.diff import DIFF_WRITERS, html_text, plain_text, write_markdown
from analysis.rules.fixes import FIXES
from conftest import ROOT, SITES, run_cli
from test_mail import PASSWORD, USER, _server_context, _start
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


def item(kind, impact, change, words, short=None, **detail):
    return {"kind": kind, "impact": impact, "change": change, "words": words, "short": short, **detail}


HEADLINE = ("acme.example: /demo/ out of reach, conversion 35% to 56%, blog conversion 27% to 57%, Twitter link added "
            "to every site page (4), 1 broken link fixed")
TWITTER_ADDED = ("The header's Twitter link (https://twitter.com/acme) was added to every site page (4): a new backward "
                 "link (high).")
SUMMARY = [
    item("offer-unreachable", "offer", "worse", "The offer /demo/ can no longer be reached from any entry page: "
         "4 entry pages (3 blog pages) reached it.", "/demo/ out of reach", target=f"{A}/demo/", entries=4),
    item("conversion", "conversion", "worse", "Conversion from the home page fell from 60% to 53%.",
         old=0.602254, new=0.531649, of=f"{A}/"),
    item("conversion", "conversion", "better", "Conversion site-wide rose from 35% to 56%.", "conversion 35% to 56%",
         old=0.35449, new=0.559197, of="site"),
    item("conversion", "conversion", "better", "Conversion from the blog rose from 27% to 57%.",
         "blog conversion 27% to 57%", old=0.271901, new=0.566083, of="blog"),
    item("clicks", "conversion", "better", "Clicks to a conversion fell from 2.6 to 2.1.", old=2.552227, new=2.107828,
         of="site"),
    # the Twitter link added to the header of every site page, with the backward-link finding it makes
    item("social-link-added", "backward", "worse", TWITTER_ADDED, "Twitter link added to every site page (4)",
         target="https://twitter.com/acme", pages=4, findings=["fc-30f0aa65fbec"]),
    item("social-leak", "backward", "worse", "The leak to social site-wide rose from 6% to 12%.", old=0.055566,
         new=0.116445, of="site"),
    item("social-leak", "backward", "worse", "The leak to social from the blog rose from 4% to 9%.", old=0.042621,
         new=0.086887, of="blog"),
    item("broken-fixed", "links", "better", "Broken link fixed: /pricng/ is no longer linked.", target=f"{A}/pricng/")]


PLAN_WORDS = [
    # the second post's text links nothing of the company's (content-dead-end)
    "1 of 3 posts links to nothing of yours in its text; the template's nav is its only way on: with a call to "
    "action in each one's text, of 100 visitors who land on the blog or the home page, about 7 more would reach an "
    "offer",
    "the header's follow icon (X) on 4 pages: without it, of 100 "
    "visitors who land on the blog or the home page, about 6 more would reach an offer",
    "the footer's follow icon (Facebook) on 4 pages: without it, "
    "of 100 visitors who land on the blog or the home page, about 3 more would reach an offer"]


def test_the_exact_diff(crawled, diff):
    store, _ = crawled
    assert diff == {
        "site": "acme.example",
        "old": header(store, 1),
        "new": header(store, 2),
        "options_differ": [],
        "headline": HEADLINE,
        "summary": SUMMARY,
        "pages": {"added": {"count": 1, "urls": [f"{A}/blog/q&a_post/"]},
                  "removed": {"count": 1, "urls": [f"{A}/team/"]}},
        "links": {
            "added": {
                "owned": {"count": 2, "grouped": 0,
                          "links": [{"source": f"{A}/blog/", "target": f"{A}/blog/q&a_post/"},
                                    {"source": f"{A}/blog/first-post/", "target": f"{A}/pricing/"}]},
                # one template change: counted, not listed pair by pair
                "social": {"count": 4, "grouped": 4, "links": []},
                "offer": {"count": 0, "grouped": 0, "links": []}},
            "removed": {
                "owned": {"count": 2, "grouped": 0,
                          "links": [{"source": f"{A}/about/", "target": f"{A}/team/"},
                                    {"source": f"{A}/blog/first-post/", "target": f"{A}/pricng/"}]},
                "social": {"count": 0, "grouped": 0, "links": []},
                "offer": {"count": 0, "grouped": 0, "links": []}},
            "groups": [{"change": "added", "class": "social", "target": "https://twitter.com/acme", "pages": 4,
                        "by_class": {"site": 4}, "of": {"site": 4, "blog-post": 2, "blog-page": 1}, "section": None,
                        "section_of": None, "region": "header",
                        "text": "Twitter", "icon": False, "offer": None, "platform": "twitter"}]},
        "backward": {"new": [TWITTER], "fixed": []},
        "broken": {"new": [], "fixed": [{"target": f"{A}/pricng/", "id": "fc-4fd73c3758e5", "pages": 1,
                                         "message": PRICNG["message"], "now": "no longer linked", "status": None,
                                         "offer": None}]},
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
            {"id": "fc-69287d17d7ce", "severity": "medium", "cost": pytest.approx(7.1052, abs=1e-4),
             "words": PLAN_WORDS[0], "fix": FIXES["content-dead-end"]},
            {"id": "fc-30f0aa65fbec", "severity": "high", "cost": pytest.approx(5.7437, abs=1e-4),
             "words": PLAN_WORDS[1], "fix": FIXES["backward-social:profile:header"]},
            {"id": "fc-a4cfaa29fe3c", "severity": "medium", "cost": pytest.approx(2.564, abs=1e-4),
             "words": PLAN_WORDS[2], "fix": FIXES["backward-social:profile:footer"]}],
        # the summary's words, then the rest
        "sentences": [x["words"] for x in SUMMARY] + [
            "1 page added: /blog/q&a_post/.",
            "1 page removed: /team/.",
            "Links to social platforms: 4 added, 0 removed (on pages in both crawls; 4 of them in the template "
            "changes above).",
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
    assert headline(diff) == HEADLINE
    # what does not fit is counted
    assert headline(diff, 80) == "acme.example: /demo/ out of reach, conversion 35% to 56%, +3 more"


def test_the_other_way_round(crawled):
    back = diff_crawls(crawled[0], 2, 1)
    assert back["pages"] == {"added": {"count": 1, "urls": [f"{A}/team/"]},
                             "removed": {"count": 1, "urls": [f"{A}/blog/q&a_post/"]}}
    assert back["links"]["removed"]["social"]["count"] == 4 and back["links"]["added"]["social"]["count"] == 0
    assert back["backward"] == {"new": [], "fixed": [TWITTER]}
    assert back["broken"] == {"new": [{"target": f"{A}/pricng/", "id": "fc-4fd73c3758e5", "severity": "high",
                                       "status": 404, "label": "client error", "pages": 1,
                                       "message": PRICNG["message"], "before_status": None, "offer": None}],
                             "fixed": []}
    assert [x["words"] for x in back["summary"]][:2] == [
        "The offer /demo/ can now be reached from 4 more entry pages (3 blog pages).",
        "Conversion site-wide fell from 56% to 35%."]
    assert ("The header's Twitter link (https://twitter.com/acme) was removed from every site page (4): a backward "
            "link fixed (high).") in back["sentences"]
    assert headline(back) == ("acme.example: /demo/ reachable from 4 more entry pages, conversion 56% to 35%, "
                              "blog conversion 57% to 27%, +2 more")


MARKDOWN = """\
## funnelcheck diff: crawl #1 → #2 of https://acme.example/

**acme.example: /demo/ out of reach, conversion 35% to 56%, blog conversion 27% to 57%, Twitter link added to every site page (4), 1 broken link fixed**

|  | crawl #1 | crawl #2 |
|:--|:--|:--|
| Started | {started1} | {started2} |
| Status | complete | complete |
| Pages | 8 | 8 |
| Crawled by | {version} | {version} |

### What changed for the funnel

- The offer /demo/ can no longer be reached from any entry page: 4 entry pages (3 blog pages) reached it.
- Conversion from the home page fell from 60% to 53%.
- Conversion site-wide rose from 35% to 56%.
- Conversion from the blog rose from 27% to 57%.
- Clicks to a conversion fell from 2.6 to 2.1.
- The header's Twitter link (https://twitter.com/acme) was added to every site page (4): a new backward link (high).
- The leak to social site-wide rose from 6% to 12%.
- The leak to social from the blog rose from 4% to 9%.
- Broken link fixed: /pricng/ is no longer linked.

### Also changed

- 1 page added: /blog/q&amp;a\\_post/.
- 1 page removed: /team/.
- Links to social platforms: 4 added, 0 removed (on pages in both crawls; 4 of them in the template changes above).
- Links between owned pages: 2 added, 2 removed (on pages in both crawls).
- New finding (low, orphan-page): https://acme.example/demo/ is in the sitemap but no crawled page links to it.

### Fix first (crawl #2)

1. **medium** 1 of 3 posts links to nothing of yours in its text; the template's nav is its only way on: with a call to action in each one's text, of 100 visitors who land on the blog or the home page, about 7 more would reach an offer — fix: in each post's text, link the product, pricing, demo or sign-up page the post is about (a call to action in the content, not only the menu)
2. **high** the header's follow icon (X) on 4 pages: without it, of 100 visitors who land on the blog or the home page, about 6 more would reach an offer — fix: move the follow icons out of the header into the footer, and put a link to your offer (pricing, contact, a demo, or a project's download) in their place
3. **medium** the footer's follow icon (Facebook) on 4 pages: without it, of 100 visitors who land on the blog or the home page, about 3 more would reach an offer — fix: put an offer (pricing, contact, a demo) above the footer on the pages that have none, or drop the follow icons from those pages; below an offer they cost little

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
| added (one template change) | every site page (4) | [https://twitter.com/acme](https://twitter.com/acme) |

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
    assert lines[1] == HEADLINE
    assert lines[3:5] == ["What changed for the funnel:", ("  - The offer /demo/ can no longer be reached from any "
                                                           "entry page: 4 entry pages (3 blog pages) reached it.")]
    # the summary comes before the details, and every section is there
    sections = [line for line in lines if line and not line.startswith(" ")]
    assert sections[2:] == [
        "What changed for the funnel:", "Also changed:", "Fix first (crawl #2):", "Backward links: 1 new, 0 fixed",
        "Broken links: 0 newly broken, 1 fixed", "Funnel metrics (crawl #1 → #2):",
        "Conversion pages: entry pages that can reach them", "Pages: 1 added, 1 removed",
        "Links to social platforms: 4 added, 0 removed (on pages in both crawls)",
        "Links between owned pages: 2 added, 2 removed (on pages in both crawls)",
        "Findings: 2 new, 1 resolved, 0 changed"]
    from markupsafe import escape
    assert f"<h2>Fix first (crawl #2)</h2>\n<ol>\n<li><span class=\"medium\">medium</span> {escape(PLAN_WORDS[0])}" in html_text(diff)
    i = lines.index("Fix first (crawl #2):")
    assert lines[i + 1:i + 3] == [f"  1. [medium] {PLAN_WORDS[0]}", f"     fix: {FIXES['content-dead-end']}"]
    assert "  /demo/: 4 (3 blog) → 0 (lost 4 (3 blog))" in lines
    assert "  - https://acme.example/pricng/ · no longer linked (was on 1 page) · fc-4fd73c3758e5" in lines
    # the Twitter link added to four pages is one line in the details, not four
    social = lines.index("Links to social platforms: 4 added, 0 removed (on pages in both crawls)")
    assert lines[social + 1:social + 3] == [
        "  + https://twitter.com/acme added to every site page (4) (one template change)", ""]
    mail = plain_text(diff)
    assert max(len(line) for line in mail.splitlines()) <= 78
    assert mail.splitlines()[5:9] == [
        "What changed for the funnel:",
        "  - The offer /demo/ can no longer be reached from any entry page: 4 entry",
        "    pages (3 blog pages) reached it.",
        "  - Conversion from the home page fell from 60% to 53%."]


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
    assert ("The offer /demo/ can no longer be reached from any entry page: 4 entry pages (3 blog pages) reached it."
            in parsed.text)
    assert HEADLINE in parsed.text and TWITTER_ADDED in parsed.text
    assert html.index("What changed for the funnel") < html.index("Also changed") < html.index("Backward links:")


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
    # a template's link text is crawled text too, and it is said first and in the subject
    evil["links"]["groups"].insert(0, {
        "change": "removed", "class": "owned", "target": f"{A}/signup/?<b>\x1b[2J", "pages": 4, "by_class": {"site": 4},
        "of": {"site": 4}, "region": "main", "text": "Sign\r\nBcc: <i>*up*</i>\x1b]0;x\x07",
        "icon": False, "offer": "lead", "platform": None})
    subject = headline(evil)
    assert "\r" not in subject and "\n" not in subject and "\x1b" not in subject
    assert subject == ("acme.example Bcc: victim@evil.example: Sign Bcc: <i>*up*</i> ]0;x link removed from every site "
                       "page (4), /demo/ out of reach, +4 more")
    out = io.StringIO()
    DIFF_WRITERS["terminal"](evil, out, color=False)
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue() and "\\x1b]0;owned\\x07" in out.getvalue()
    assert out.getvalue().splitlines()[4] == ("  - The Sign Bcc: <i>*up*</i>\\x1b]0;x\\x07 link (/signup/?<b>\\x1b[2J) was "
                                              "removed from every site page (4).")
    md = io.StringIO()
    write_markdown(evil, md)
    text = md.getvalue()
    assert "<script>" not in text and "&lt;script&gt;" in text and "\x1b" not in text
    assert "\\| \\*x\\*" in text and "\\[a\\](javascript:" in text and "[a](javascript:" not in text
    assert "<i>" not in text and "&lt;i&gt;\\*up\\*&lt;/i&gt;" in text
    assert "- javascript:alert(1)\n" in text  # not a link
    html = html_text(evil)
    assert "<script>" not in html and "&lt;script&gt;" in html and "\x1b" not in html
    assert "<i>" not in html and "<b>" not in html and "&lt;i&gt;*up*&lt;/i&gt;" in html
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
    out = io.StringIO()
    DIFF_WRITERS["terminal"](d, out, color=False)
    assert out.getvalue().splitlines()[1:3] == ["Crawl #2 is interrupted: pages it did not reach show up as changes.",
                                                headline(d)]  # said at the top, not among the changes
    # offers first (a new one too), then conversion, then backward routes: a finding that got worse with them
    assert said[1:3] == ["The offer /demo/ can no longer be reached from any entry page: 4 entry pages (3 blog pages) "
                         "reached it.", "New offer /signup/, reachable from 2 blog pages."]
    assert said[said.index(TWITTER_ADDED) + 1] == (
        "Changed (medium → high, on 40 pages, was 4): footer links to social profile https://www.facebook.com/acme on "
        "40 pages: rowing backward.")
    # the plain link check last, the first five named
    broken = said.index("Newly broken: /gone0/ answers 404, linked from 2 pages.")
    assert said[broken:broken + 7] == ["Newly broken: /gone0/ answers 404, linked from 2 pages."] + [
        f"Newly broken: /gone{i}/ answers 404 (it worked before), linked from 2 pages." for i in range(1, 5)] + [
        "… and 2 more newly broken links.", "Broken link fixed: /pricng/ is no longer linked."]
    assert said[broken - 1] == "The leak to social from the blog rose from 4% to 9%."
    assert headline(d) == ("acme.example: /demo/ out of reach, new offer /signup/, conversion 35% to 56%, blog "
                           "conversion 27% to 57%, +3 more")
    assert headline(d, 400).endswith(", Twitter link added to every site page (4), 7 newly broken, 1 broken link fixed")
    # nothing but pages: the headline says so
    quiet = copy.deepcopy(diff)
    quiet["backward"] = {"new": [], "fixed": []}
    quiet["broken"] = {"new": [], "fixed": []}
    quiet["links"]["groups"] = []
    quiet["metrics"]["conversion_pages"], quiet["metrics"]["landing"] = [], []
    for rows in (quiet["metrics"]["site"], quiet["metrics"]["blog"]):
        for name in rows:
            rows[name] = row(0.5, 0.5, 0.0)
    assert summary(quiet) == []
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
    # what changed for the funnel: the first twelve said, the rest counted (all in JSON)
    d["backward"]["new"] = [dict(TWITTER, id=f"fc-{i}", target=f"https://twitter.com/acme{i}", message=f"m{i}")
                            for i in range(10)]
    assert len(summary(d)) == 19
    out = io.StringIO()
    DIFF_WRITERS["terminal"](d, out, color=False)
    lines = out.getvalue().splitlines()
    head = lines.index("What changed for the funnel:")
    assert lines[head + 13:head + 15] == ["  … and 7 more (in the details below)", ""]


# -- a template-wide change (issue 20, item 3) -----------------------------------------------------
POSTS = 40
LINKEDIN = "https://www.linkedin.com/company/acme"


def _page(title: str, main: str, footer: str = "", nav: str = "") -> str:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title} | Acme</title></head>\n<body>\n'
            f'<header><nav><a href="/">Acme</a> {nav}<a href="/blog/">Blog</a></nav></header>\n'
            f"<main>{main}</main>\n<footer>{footer}</footer>\n</body></html>\n")


def template_site(folder, version: int) -> None:
    """A generated site of a few site pages and a blog of :data:`POSTS` posts, in two versions:
    v2 removes the Signup call to action from the post template, adds a LinkedIn icon to the
    footer of every page, a "Contact us" link to /contact/ (a page that does not exist) and a
    Status link to the sidebar of the five pages under /docs/."""
    if folder.exists():
        shutil.rmtree(folder)
    icon = (f'<a href="{LINKEDIN}" aria-label="LinkedIn"><svg width="16" height="16"><rect width="16" height="16"/>'
            '</svg></a>') if version == 2 else ""
    site_nav = '<a href="/pricing/">Pricing</a> <a href="/about/">About</a> '
    pages = {
        "": _page("Acme", '<h1>Acme</h1><p>Tools for teams. <a href="/signup/">Sign up free</a> or '
                  '<a href="/pricing/">see pricing</a>. <a href="/docs/">Docs</a>, <a href="/status/">status</a>.</p>',
                  icon, site_nav),
        "pricing/": _page("Pricing", '<h1>Pricing</h1><p>$19/mo. <a href="/signup/">Start now</a>.</p>', icon, site_nav),
        "signup/": _page("Sign up", "<h1>Sign up</h1><form method=post action=/signup/><input type=email name=email>"
                         "<button>Sign up</button></form>", icon, site_nav),
        "about/": _page("About", "<h1>About us</h1><p>A small team.</p>"
                        + ('<p><a href="/contact/">Contact us</a></p>' if version == 2 else ""), icon, site_nav),
        "status/": _page("Status", "<h1>All systems normal</h1>", icon, site_nav),
        "blog/": _page("Blog", "<h1>Blog</h1>" + "".join(
            f'<article><a href="/blog/post-{i:02}/">Post {i}</a></article>' for i in range(1, POSTS + 1)), icon),
    }
    # a docs section of five pages, whose sidebar gains a Status link in v2
    aside = '<aside><a href="/status/">Status</a></aside>' if version == 2 else ""
    for name in ("", "a/", "b/", "c/", "d/"):
        pages[f"docs/{name}"] = _page(f"Docs {name}", f"<h1>Docs</h1><p>How it works.</p>{aside}"
                                      + "".join(f'<a href="/docs/{n}/">{n}</a> ' for n in "abcd"), icon, site_nav)
    for i in range(1, POSTS + 1):
        cta = '<p><a href="/signup/">Signup</a></p>' if version == 1 else ""
        pages[f"blog/post-{i:02}/"] = _page(f"Post {i}", f"<article><h1>Post {i}</h1><p>Some advice.</p>{cta}"
                                            f'<p><a href="/blog/post-{i % POSTS + 1:02}/">Next post</a></p></article>',
                                            icon)
    for path, html in pages.items():
        (folder / path).mkdir(parents=True, exist_ok=True)
        (folder / path / "index.html").write_text(html)


@pytest.fixture(scope="module")
def template_change(tmp_path_factory):
    """A store with crawl 1 (the generated site, v1) and crawl 2 (v2), and its path."""
    tmp = tmp_path_factory.mktemp("template")
    site, db = tmp / "site", tmp / "crawls.sqlite"
    for version in (1, 2):
        template_site(site, version)
        result = run_cli("audit", site, "--base-url", f"{A}/", "--db", db, "--no-check-external",
                         "--no-check-social", "--format", "json", "-o", tmp / f"{version}.json")
        assert result.exit_code in (0, 1), result.stderr
    store = Store(db, readonly=True)
    yield store, db
    store.close()




SIGNUP_GONE = "The Signup link (/signup/) was removed from every blog post (40)."
CONTACT_BROKEN = "The link to the offer /contact/ is broken: it answers 404, on 1 page."
ICON_ADDED = (f"The footer's LinkedIn icon ({LINKEDIN}) was added to every page (51): a new backward link (high).")
STATUS_ADDED = "The sidebar's Status link (/status/) was added to every page under /docs/ (5)."
FUNNEL_HEAD = [SIGNUP_GONE, CONTACT_BROKEN, "Conversion site-wide fell from 64% to 21%.",
               "Conversion from the blog fell from 64% to 20%.", "Conversion from the home page fell from 64% to 51%.",
               "Clicks to a conversion rose from 2.3 to 4.2.", ICON_ADDED,
               "The leak to social site-wide rose from 0% to 23%.",
               "The leak to social from the blog rose from 0% to 24%.", STATUS_ADDED]
TEMPLATE_HEADLINE = ("acme.example: Signup link removed from every blog post (40), /contact/ link broken, "
                     "conversion 64% to 21%, blog conversion 64% to 20%, +2 more")
PAGE_KINDS = {"site": 10, "blog-post": 40, "blog-page": 1}


@pytest.fixture(scope="module")
def template_diff(template_change):
    return diff_crawls(template_change[0], 1, 2)


def test_a_template_change_leads_the_diff_in_words(template_diff):
    """The Signup call to action removed from the post template: one sentence first, not 40
    link pairs; then the offer link that broke, conversion, the backward route, in that order."""
    d = template_diff
    assert d["headline"] == headline(d) == TEMPLATE_HEADLINE
    assert [item["words"] for item in d["summary"]] == FUNNEL_HEAD
    assert [(item["kind"], item["impact"], item["change"]) for item in d["summary"]] == [
        ("offer-link-removed", "offer", "worse"), ("offer-broken", "offer", "worse"),
        ("conversion", "conversion", "worse"), ("conversion", "conversion", "worse"),
        ("conversion", "conversion", "worse"), ("clicks", "conversion", "worse"),
        ("social-link-added", "backward", "worse"), ("social-leak", "backward", "worse"),
        ("social-leak", "backward", "worse"), ("link-added", "links", "neutral")]
    assert d["summary"][0] == {"kind": "offer-link-removed", "impact": "offer", "change": "worse",
                               "words": SIGNUP_GONE, "short": "Signup link removed from every blog post (40)",
                               "target": f"{A}/signup/", "pages": 40}
    assert d["sentences"][:len(FUNNEL_HEAD)] == FUNNEL_HEAD
    # the 40 pairs are one template change: counted, not listed
    assert d["links"]["removed"]["owned"] == {"count": 40, "grouped": 40, "links": []}
    assert d["links"]["groups"][0] == {
        "change": "removed", "class": "owned", "target": f"{A}/signup/", "pages": 40, "by_class": {"blog-post": 40},
        "of": PAGE_KINDS, "section": None, "section_of": None, "region": "main", "text": "Signup", "icon": False,
        "offer": "lead", "platform": None}
    assert d["broken"]["new"][0]["offer"] == "lead" and d["broken"]["new"][0]["target"] == f"{A}/contact/"


def test_a_footer_icon_added_to_every_page(template_diff):
    """The same LinkedIn icon added to the footer of all 51 pages: one line, said with the
    backward-link finding it makes (not again as a finding of its own)."""
    d = template_diff
    [icon] = [item for item in d["summary"] if item["kind"] == "social-link-added"]
    [finding] = d["backward"]["new"]
    assert icon == {"kind": "social-link-added", "impact": "backward", "change": "worse", "words": ICON_ADDED,
                    "short": "LinkedIn icon added to every page (51)", "target": LINKEDIN, "pages": 51,
                    "findings": [finding["id"]]}
    assert not [item for item in d["summary"] if item["kind"] == "backward-new"]
    assert d["links"]["added"]["social"] == {"count": 51, "grouped": 51, "links": []}
    assert d["links"]["groups"][1] == {
        "change": "added", "class": "social", "target": LINKEDIN, "pages": 51, "by_class": PAGE_KINDS,
        "of": PAGE_KINDS, "section": None, "section_of": None, "region": "footer", "text": "LinkedIn", "icon": True,
        "offer": None, "platform": "linkedin"}
    # the one link added by hand is listed as before; the sidebar's of one section is a template change
    assert d["links"]["added"]["owned"] == {"count": 6, "grouped": 5,
                                            "links": [{"source": f"{A}/about/", "target": f"{A}/contact/"}]}
    assert d["links"]["groups"][2] == {
        "change": "added", "class": "owned", "target": f"{A}/status/", "pages": 5, "by_class": {"site": 5},
        "of": PAGE_KINDS, "section": "/docs/", "section_of": 5, "region": "aside", "text": "Status", "icon": False,
        "offer": None, "platform": None}
    assert d["summary"][-1] == {"kind": "link-added", "impact": "links", "change": "neutral", "words": STATUS_ADDED,
                                "short": "Status link added to every page under /docs/ (5)",
                                "target": f"{A}/status/", "pages": 5}


def test_the_diff_command_says_it_first(template_change, template_diff):
    """``funnelcheck diff`` as a user runs it: the template change is the first thing said,
    and in the details the 40 removed links are one line."""
    store, db = template_change
    result = run_cli("diff", "--db", db)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    started = [store.crawl(i)["started"] for i in (1, 2)]
    assert lines[:4 + len(FUNNEL_HEAD)] == [
        f"funnelcheck diff: crawl #1 ({started[0]}) → #2 ({started[1]}) of https://acme.example/",
        TEMPLATE_HEADLINE, "", "What changed for the funnel:"] + [f"  - {s}" for s in FUNNEL_HEAD]
    start = lines.index("Links between owned pages: 6 added, 40 removed (on pages in both crawls)")
    assert lines[start + 1:start + 5] == [
        "  + https://acme.example/status/ added to every page under /docs/ (5) (one template change)",
        "  + https://acme.example/about/ → https://acme.example/contact/",
        "  - https://acme.example/signup/ removed from every blog post (40) (one template change)", ""]
    # the sentence and the detail line: no pair repeated (the sign-up page, now linked from 2 pages, is also
    # a new buried-offer finding)
    assert sum("/signup/" in line and "few visitors" not in line for line in lines) == 2
    # the README shows this very output
    readme = (ROOT / "README.md").read_text().split("```\nWhat changed for the funnel:\n", 1)[1].split("```", 1)[0]
    assert readme.splitlines() and all(line in lines for line in readme.splitlines())
    # JSON: the headline and the summary, with stable keys
    as_json = run_cli("diff", "--db", db, "--format", "json")
    data = json.loads(as_json.stdout)
    assert list(data)[:6] == ["site", "old", "new", "options_differ", "headline", "summary"]
    assert data["headline"] == TEMPLATE_HEADLINE and data["summary"] == template_diff["summary"]
    # Markdown and HTML say it first too
    md = run_cli("diff", "--db", db, "--format", "markdown").stdout
    head = md.split("### What changed for the funnel\n\n", 1)[1].split("\n\n", 1)[0]
    assert head.splitlines() == [f"- {s}".replace("(high)", "(high)") for s in FUNNEL_HEAD]
    assert md.index("### What changed for the funnel") < md.index("### Also changed") < md.index("### Backward links")
    assert (f"| removed (one template change) | every blog post (40) | [{A}/signup/]({A}/signup/) |") in md
    html = html_text(template_diff)
    parsed = _Tags()
    parsed.feed(html)
    text = [t.strip() for t in parsed.text if t.strip()]
    first = text.index("What changed for the funnel")
    assert text[first + 1:first + 1 + len(FUNNEL_HEAD)] == FUNNEL_HEAD


def test_the_diff_email_says_it_first(template_change, tmp_path):
    """``funnelcheck diff --email`` to a real SMTP server (STARTTLS, AUTH): the subject and
    the first lines of both parts say the template change in words."""
    store, db = template_change
    ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    server = _start(tls_context=_server_context(ca, "127.0.0.1", "localhost"), require_starttls=True)
    try:
        (tmp_path / "funnel.toml").write_text(
            f'[email]\nhost = "127.0.0.1"\nport = {server.port}\nusername = "{USER}"\n'
            f'from = "funnelcheck <audit@acme.example>"\ncafile = "ca.pem"\n')
        result = run_cli("diff", "--db", db, "--email", "team@acme.example", "--config", tmp_path / "funnel.toml",
                         env={"FUNNELCHECK_SMTP_PASSWORD": PASSWORD})
        assert result.exit_code == 0, result.stderr
        [mail] = server.recorder.messages
    finally:
        server.stop()
    message = mail.message
    assert message["Subject"] == TEMPLATE_HEADLINE
    plain, html = [part.get_content() for part in message.iter_parts()]
    started = [store.crawl(i)["started"] for i in (1, 2)]
    assert plain.splitlines()[:19] == [
        f"funnelcheck diff: crawl #1 ({started[0]}) → #2",
        f"  ({started[1]}) of https://acme.example/",
        "acme.example: Signup link removed from every blog post (40), /contact/ link",
        "  broken, conversion 64% to 21%, blog conversion 64% to 20%, +2 more",
        "",
        "What changed for the funnel:",
        "  - The Signup link (/signup/) was removed from every blog post (40).",
        "  - The link to the offer /contact/ is broken: it answers 404, on 1 page.",
        "  - Conversion site-wide fell from 64% to 21%.",
        "  - Conversion from the blog fell from 64% to 20%.",
        "  - Conversion from the home page fell from 64% to 51%.",
        "  - Clicks to a conversion rose from 2.3 to 4.2.",
        "  - The footer's LinkedIn icon (https://www.linkedin.com/company/acme) was",
        "    added to every page (51): a new backward link (high).",
        "  - The leak to social site-wide rose from 0% to 23%.",
        "  - The leak to social from the blog rose from 0% to 24%.",
        "  - The sidebar's Status link (/status/) was added to every page under /docs/",
        "    (5).",
        ""]
    parsed = _Tags()
    parsed.feed(html)
    text = [t.strip() for t in parsed.text if t.strip()]
    assert text[text.index("What changed for the funnel") + 1:][:2] == [SIGNUP_GONE, CONTACT_BROKEN]
    assert html.index("What changed for the funnel") < html.index("Backward links:")
