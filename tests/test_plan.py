"""The action plan (issue 19, item 1): problems of every rule ranked by what they cost.

``tests/sites/plan/`` is a small company site: 8 pages (home, product, pricing, legal, a blog
of three posts), every page's navigation links 'Contact us' at /contact/, which answers 404;
every footer links the company's LinkedIn, Instagram and X; the legal page (which few
visitors reach) has a share button in its footer: a problem too small to act on.
"""
from __future__ import annotations

import re

import pytest

from analysis.findings import Finding
from analysis.graph import graph_from
from analysis.metrics import funnel_metrics
from analysis.plan import NOISE_FLOOR, action_plan, fix_line, plan_of
from analysis.rules import FIXES, run_rules
from conftest import SITES, audit_json, run_cli

A = "https://acme.test/"
# (every item on one scale: the last item costs fewer than 1 of 100 visitors, so the list counts per 1,000)
CONTACT = ("8 pages link 'Contact us' (/contact/); it answers 404: of 1,000 visitors who land on the blog or the "
           "home page, about 137 who wanted to talk to you hit a dead end")
ICONS = ("the footer's 3 follow icons (LinkedIn, Instagram, X) on 8 pages: without them, of 1,000 visitors who land "
         "on the blog or the home page, about 140 more would reach an offer")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plan")
    result, report = audit_json(tmp, SITES / "plan", "--base-url", A, "--no-check-external", "--no-check-social")
    assert result.exit_code == 1, result.stderr
    return tmp / "crawls.sqlite", report


def test_broken_contact_comes_first_and_the_footer_icons_are_one_item(site):
    _, report = site
    plan = report["metrics"]["fix_first"]
    ids = {(f["rule"], f["target"]): f["id"] for f in report["findings"]}
    assert [(x["rule"], x["kind"], x["region"], x["severity"], x["measure"]) for x in plan] == [
        ("broken-link", "offer", "header", "high", "repair"),
        ("backward-social", "profile", "footer", "medium", "remove"),
        ("backward-blog", None, "header", "low", "remove"),
        ("backward-blog", None, "main", "low", "remove"),
    ]
    top, icons = plan[0], plan[1]
    assert top["words"] == CONTACT
    assert top["fix"] == FIXES["broken-link:offer"]
    assert top["target"] == A + "contact/" and top["pages"] == 8 and top["cost"] == pytest.approx(13.7388, abs=1e-3)
    # the three platforms' footer icons are one fix, not three copies of it
    assert icons["words"] == ICONS
    assert sorted(icons["ids"]) == sorted(ids["backward-social", t] for t in (
        "https://www.linkedin.com/company/acme", "https://www.instagram.com/acme/", "https://x.com/acme"))
    assert icons["fix"] == FIXES["backward-social:profile:footer"] and "into the footer" not in icons["fix"]
    assert plan[2]["words"] == ("the site's header links the blog on 4 pages: without these links, of 1,000 visitors "
                                "who land on the blog or the home page, about 9 more would reach an offer")
    # one scale for the whole list: "about 14 of 100" above "about 9 of 1,000" read as if they compared
    assert [x["cost"] < 0.5 for x in plan] == [False, False, False, True]
    assert {re.search(r"of ([\d,]+) visitors", x["words"]).group(1) for x in plan} == {"1,000"}
    # the legal page's share button costs less than the noise floor: no item; nor the medium missing
    # anchor, which costs no conversion
    share = ids["backward-social", "https://twitter.com/intent/tweet"]
    assert all(share not in x["ids"] for x in plan)
    assert all(ids["missing-anchor", A + "legal/#terms"] not in x["ids"] for x in plan)
    assert all(x["cost"] >= NOISE_FLOOR or x["severity"] == "high" for x in plan)
    assert set(plan[0]) >= {"id", "rule", "severity", "region", "kind", "target", "pages", "cost", "words", "fix"}


def test_terminal_and_markdown_show_the_plan(site):
    db, _ = site
    text = run_cli("report", "--db", db).stdout
    head = text.split("Fix first:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert head[:4] == [
        f"  1. [high] {CONTACT}",
        f"     fix: {FIXES['broken-link:offer']}",
        f"  2. [medium] {ICONS}",
        f"     fix: {FIXES['backward-social:profile:footer']}",
    ]
    assert len([line for line in head if line[2:3].isdigit()]) == 4
    md = run_cli("report", "--db", db, "--format", "markdown").stdout
    table = md.split("### Fix first\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert table[0] == "| # | Severity | What it costs | Fix | Pages |"
    assert table[2] == (f"| 1 | high | 8 pages link 'Contact us' (/contact/); it answers 404: of 1,000 visitors who land "
                        f"on the blog or the home page, about 137 who wanted to talk to you hit a dead end | "
                        f"{FIXES['broken-link:offer']} | 8 |")
    assert len(table) == 2 + 4


def test_accepting_a_finding_takes_its_item_out(site, tmp_path):
    db, report = site
    top = report["metrics"]["fix_first"][0]["id"]
    baseline = tmp_path / "b.toml"
    assert run_cli("accept", top, "--reason", "moving", "--baseline", baseline, "--db", db).exit_code == 0
    text = run_cli("report", "--db", db, "--baseline", baseline).stdout
    assert text.split("Fix first:\n", 1)[1].splitlines()[0] == f"  1. [medium] {ICONS}"


# -- graphs small enough to work out by hand --------------------------------------------------
S = "https://a.example/"


def page(url, **attrs):
    return {"url": url, "role": "page", "status": 200, "parsed": 1, **attrs}


def plan_of_graph(pages, links):
    g = graph_from(pages, links, site=[S])
    findings = run_rules(g)
    return funnel_metrics(g, findings)["fix_first"], findings


def test_broken_page_asset_and_external_links_get_their_own_words_and_fixes():
    """home links pricing (main 1), a broken /guide/ (main 1), a broken logo image and a broken
    other site (main 1): total 3, the image weighs nothing (not clicked). Repaired, /guide/ is a
    page converting like the site's average page that is not an offer: home itself, b = d/3 =
    0.283333; the repair adds d/3 * 0.283333 = 0.080278 (8.03 per 100). The image is high (owned)
    and costs no click: in the plan at 0; the other site's dead link is medium and costs no
    conversion: not in the plan."""
    plan, _ = plan_of_graph(
        [page(S), {"url": S + "guide/", "role": "page", "status": 404},
         {"url": S + "logo.png", "role": "asset", "status": 404},
         {"url": "https://other.example/x", "role": "external", "status": 404}],
        [(S, S + "pricing/", "main", "other"), (S, S + "guide/", "main", "other"),
         (S, S + "logo.png", "main", "other", "img"), (S, "https://other.example/x", "main", "other")])
    assert [(x["kind"], x["severity"], x["cost"]) for x in plan] == [
        ("page", "high", pytest.approx(8.0278, abs=1e-4)), ("asset", "high", 0.0)]
    assert plan[0]["words"] == ("1 page links /guide/; it answers 404: of 100 visitors who land on the home page, "
                                "about 8 who would have gone on to an offer through it hit a dead end")
    assert plan[0]["fix"] == FIXES["broken-link:page"]
    assert plan[1]["words"] == ("1 page loads the image /logo.png; it answers 404: it shows broken there (no effect "
                                "on the way to an offer)")
    assert plan[1]["fix"] == FIXES["broken-link:asset"]


def test_a_lead_form_posting_nowhere_loses_every_visitor_reaching_it():
    """home links the contact page (nav 0.4) and about (main 1): the contact page's form (a lead
    form: an offer) is reached by d * 0.4/1.4 = 0.242857 of the home page's visitors; its
    thank-you page does not exist, so all of them are lost (24.29 per 100)."""
    g = graph_from([page(S), page(S + "contact/", lead_form=1), page(S + "about/")],
                   [(S, S + "contact/", "nav", "other"), (S, S + "about/", "main", "other")], site=[S])
    findings = run_rules(g)
    lost = Finding("lead-form-target", "high", S + "thanks/", f"the lead form on {S}contact/ sends visitors to "
                   f"{S}thanks/, which answers 404", None, [S + "contact/"])
    findings.insert(0, lost)
    plan = funnel_metrics(g, findings)["fix_first"]
    # the form's missing thank-you page is a broken link too: one item for both
    broken = Finding("broken-link", "high", S + "thanks/", "broken link", None, [S + "contact/"])
    assert [x["ids"] for x in plan if x["rule"] == "lead-form-target"] == [[lost.id]]
    both = funnel_metrics(g, [lost, broken] + findings[1:])["fix_first"]
    assert [(x["rule"], x["ids"]) for x in both][:1] == [("lead-form-target", [lost.id, broken.id])]
    assert all(x["rule"] != "broken-link" for x in both)
    assert [(x["rule"], x["measure"], x["cost"]) for x in plan][:1] == [
        ("lead-form-target", "lead", pytest.approx(24.2857, abs=1e-4))]
    assert plan[0]["words"] == (f"the lead form on {S}contact/ sends visitors to {S}thanks/, which answers 404: of "
                                "100 visitors who land on the home page, about 24 reach this form, and their leads "
                                "never arrive")
    assert plan[0]["fix"] == FIXES["lead-form-target"]


def test_fix_lines_fit_the_region_and_kind():
    assert "into the footer" not in fix_line("backward-social", "profile", "footer")
    assert "into the footer" in fix_line("backward-social", "profile", "header")
    assert "share button" in fix_line("backward-social", "share", "footer")
    assert fix_line("broken-link", "asset") != fix_line("broken-link", "page") != fix_line("broken-link", "offer")
    assert fix_line("backward-social", "profile", "body") == fix_line("backward-social", "profile", "main")


def test_metrics_without_effects_give_their_plan_back():
    items = [{"id": "fc-1", "ids": ["fc-1"], "cost": 1.0}]
    assert action_plan(None, [], {"fix_first": items}) == items

    from analysis.report import Audit
    audit = Audit(None, {}, None, [], {}, {"fix_first": items + [{"id": "fc-2", "ids": ["fc-2"], "cost": 0.5}]},
                  baseline={"fc-2": ""})
    assert plan_of(audit) == audit.plan == items


def test_crawled_anchor_text_is_escaped_in_the_terminal():
    """The plan's words quote a link's anchor text: a terminal gets its control characters escaped."""
    import io

    from analysis.formats import terminal
    from analysis.report import audit
    from crawler.store import Store
    store = Store(":memory:")
    crawl_id = store.create_crawl([S], {"site": [S]})
    store.write_page(crawl_id, {"url": S, "role": "page", "status": 200, "parsed": 1},
                     [(S, S + "contact/", S + "contact/", None, "a", "href", "Contact\x1b]0;pwned\x07", "nav", "", 0,
                       "other", 3), (S, S + "pricing/", S + "pricing/", None, "a", "href", "Pricing", "main", "", 0,
                                     "other", 4)])
    store.write_page(crawl_id, {"url": S + "contact/", "role": "page", "status": 404}, [])
    store.finish_crawl(crawl_id, "complete")
    a = audit(store, crawl_id)
    assert a.plan[0]["words"].startswith("1 page links 'Contact\x1b]0;pwned\x07' (/contact/); it answers 404")
    out = io.StringIO()
    terminal.write(a, out, color=False)
    text = out.getvalue()
    assert "\x1b" not in text and "1. [high] 1 page links 'Contact\\x1b]0;pwned\\x07' (/contact/)" in text


def test_another_sites_contact_page_is_not_an_offer_of_yours():
    """A broken link reading 'Contact' to another company's page costs no lead of yours: it is a
    medium broken link of no measured cost, left out of the plan."""
    plan, findings = plan_of_graph(
        [page(S), {"url": "https://partner.example/contact/", "role": "external", "status": 404}],
        [(S, S + "pricing/", "main", "other"), (S, "https://partner.example/contact/", "main", "other")])
    assert [f.rule for f in findings if f.rule == "broken-link"] == ["broken-link"]
    assert plan == []


@pytest.mark.parametrize("text, first", [("Find out how", "broken-link"), ("technology", "backward-social")])
def test_a_broken_call_to_action_comes_before_the_models_costs(text, first):
    """scantrust's product pages ask 'Find out how' of a case study that answers 404: few visitors
    of the blog reach them (the model costs it at 0.005 of 100), the footer's follow icons cost
    more (1.85), yet a marketer fixes the broken call to action first: every visitor who does what
    the page asks hits it. A broken link in a sentence ('technology') keeps the model's rank; a
    broken 'Contact us' stays above both (issue 13). Effects given by hand: the ranking alone."""
    g = graph_from([page(S), page(S + "product/"), {"url": S + "case/", "role": "page", "status": 404},
                    {"url": S + "contact/", "role": "page", "status": 404}],
                   [(S, S + "product/", "nav", "other"), (S, S + "contact/", "nav", "other"),
                    (S, "https://x.com/acme", "footer", "profile"), (S + "product/", S + "case/", "main", "other"),
                    (S + "product/", "https://x.com/acme", "footer", "profile")], site=[S])
    findings = run_rules(g)
    by = {(f.rule, f.target): f.id for f in findings}
    case, contact, icons = by["broken-link", S + "case/"], by["broken-link", S + "contact/"], by[
        "backward-social", "https://x.com/acme"]
    effects = [{"ids": [icons], "measure": "remove", "cost": 1.85, "links": 2, "flow": 0.1},
               {"ids": [case], "measure": "repair", "cost": 0.005, "links": 1, "offer": None, "text": text,
                "forms": 0, "flow": 0.001, "region": "main"},
               {"ids": [contact], "measure": "repair", "cost": 3.0, "links": 1, "offer": "talk to you",
                "text": "Contact us", "forms": 0, "flow": 0.03, "region": "nav"}]
    plan = action_plan(g, findings, {"entries": [{"tier": "site"}], "effects": effects})
    assert [x["id"] for x in plan] == [contact, *((case, icons) if first == "broken-link" else (icons, case))]
    assert "cta" not in plan[1] and plan[1 if first == "broken-link" else 2]["words"] == (
        f"1 page links '{text}' (/case/); it answers 404: a dead end for every visitor who clicks it")


def test_an_image_a_stylesheet_names_and_links_to_code_are_said_as_they_are():
    """couchdb: /style/doc.css puts the logo behind two pages' text, /image/logo.png answers 404: the
    stylesheet loads it, not "1 page"; and the home page's 'Contribute' links its repositories and
    issue tracker on GitHub: code, where "embed or quote the post" is no fix."""
    css, logo = S + "style/doc.css", S + "image/logo.png"
    g = graph_from([page(S), {"url": css, "role": "asset", "status": 200, "parsed": 1},
                    {"url": logo, "role": "asset", "status": 404}],
                   [(S, css, "head", "other", "link"), (css, logo, None, "other", "css"),
                    (S, S + "pricing/", "main", "other"), (S, "https://github.com/acme/acme", "main", "content"),
                    (S, "https://github.com/acme/acme/issues", "main", "content")], site=[S])
    findings = run_rules(g)
    by = {(f.rule, f.target): f.id for f in findings}
    code = [f.id for f in findings if f.rule == "backward-social"]
    effects = [{"ids": code, "measure": "remove", "cost": 0.4, "links": 2, "flow": 0.1},
               {"ids": [by["broken-link", logo]], "measure": "repair", "cost": 0.0, "links": 0, "offer": None,
                "text": None, "forms": 0, "flow": 0.0, "region": None}]
    plan = action_plan(g, findings, {"entries": [{"tier": "site"}], "effects": effects})
    assert [(x["kind"], x["words"], x["fix"]) for x in plan] == [
        ("content", "links to posts, videos or code on GitHub in the page body on 1 page: without it, of 1,000 "
                    "visitors who land on the home page, about 4 more would reach an offer", FIXES["backward-social:code"]),
        ("asset", "the stylesheet /style/doc.css loads the image /image/logo.png; it answers 404: it shows broken on "
                  "every page styled with it (no effect on the way to an offer)", FIXES["broken-link:stylesheet"])]


def test_a_page_the_head_names_as_an_alternate_is_a_page_visitors_click():
    """answer: every page's head names /zh-CN/… as its hreflang alternate (a <link>: the crawler met
    the URL as a file) and its language menu links it (an <a>); the Chinese pages are missing. A
    broken page in the language menu, not "broken files the pages load"."""
    zh = S + "zh-CN/"
    g = graph_from([page(S), {"url": zh, "role": "asset", "status": 404}],
                   [(S, zh, "head", "other", "link"), (S, zh, "nav", "other"), (S, S + "pricing/", "main", "other")],
                   site=[S])
    findings = run_rules(g)
    [broken] = [f.id for f in findings if f.rule == "broken-link"]
    effects = [{"ids": [broken], "measure": "repair", "cost": 0.01, "links": 1, "offer": None, "text": "简体中文",
                "forms": 0, "flow": 0.001, "region": "nav"}]
    plan = action_plan(g, findings, {"entries": [{"tier": "site"}], "effects": effects})
    assert [(x["kind"], x["words"], x["fix"]) for x in plan] == [
        ("page", "1 page links '简体中文' (/zh-CN/); it answers 404: a dead end for every visitor who clicks it",
         FIXES["broken-link:page"])]
