"""Funnel metrics (issue 10, part 3) on graphs small enough to work out by hand.

Every test's docstring shows the arithmetic; ``d`` is the damping, 0.85: at each page a
visitor clicks on with 0.85 and leaves with 0.15. Weights are the defaults (main/body 1,
aside 0.5, nav/header 0.4, footer 0.2, head 0). ``/pricing/`` is a conversion page by its
address, ``https://twitter.com/acme`` the business's profile (linked from its chrome).
"""
from __future__ import annotations

import gc
import io
import json
import re
import tracemalloc

import numpy as np
import pytest

from analysis import metrics
from analysis.formats.json import write_json
from analysis.graph import build_graph, dedupe_key, graph_from
from analysis.metrics import funnel_metrics, parse_weights
from analysis.rules import run_rules
from crawler.store import Store
from crawler.urls import origin_aliases

S = "https://a.example/"
PRICING, ABOUT, TW = S + "pricing/", S + "about/", "https://twitter.com/acme"
D = 0.85


def page(url: str, **attrs) -> dict:
    return {"url": url, "role": "page", "status": 200, "parsed": 1, **attrs}


def graph(pages, links):
    return graph_from([p if isinstance(p, dict) else page(p) for p in pages], links, site=[S])


def run(g, **kw) -> dict:
    return funnel_metrics(g, run_rules(g), **kw)


def json_text(value) -> str:
    out = io.StringIO()
    write_json(value, out)
    return out.getvalue()


def entry(m: dict, url: str) -> dict:
    return next(e for e in m["entries"] if e["url"] == url)


def test_two_page_chain():
    """home -> about -> pricing, one body link each; home (the crawl's target) is the entry.

    conversion = d * d = 0.7225 (a click from home, one from about); exit = 1 - 0.7225 = 0.2775
    (0.15 at home, 0.85 * 0.15 at about). Converting takes exactly 2 clicks; the nearest
    conversion page is 2 clicks away.
    """
    m = run(graph([S, ABOUT, PRICING], [(S, ABOUT, "main", "other"), (ABOUT, PRICING, "main", "other")]))
    home = entry(m, S)
    assert [e["url"] for e in m["entries"]] == [S]
    assert home == {"url": S, "tier": "site", "conversion": pytest.approx(0.7225), "social_leak": 0.0,
                    "external": 0.0, "exit": pytest.approx(0.2775), "clicks_to_conversion": pytest.approx(2.0),
                    "conversion_depth": 2}
    assert m["site"]["pages"] == 3 and m["site"]["entries"] == 1
    assert m["site"]["conversion"] == pytest.approx(0.7225)
    assert m["site"]["clicks_to_conversion"] == pytest.approx(2.0)
    assert set(m) == {"site", "entries", "fix_first", "link_score"}
    assert json.loads(json_text(m)) == m  # JSON-ready: plain numbers, no numpy types (as the JSON report writes it)


def test_footer_icon_and_body_pricing_link_weights_matter():
    """home links pricing in its body (weight 1) and twitter in its footer (0.2): total 1.2.

    conversion = 0.85 * 1/1.2 = 0.708333; social leak = 0.85 * 0.2/1.2 = 0.141667; exit 0.15.
    With --weights footer=1 the two links weigh the same: 0.85/2 = 0.425 each.
    """
    g = graph([S], [(S, PRICING, "main", "other"), (S, TW, "footer", "profile")])
    site = run(g)["site"]
    assert (site["conversion"], site["social_leak"], site["external"], site["exit"]) == pytest.approx(
        (0.708333, 0.141667, 0.0, 0.15), abs=1e-6)
    even = run(g, weights=parse_weights("footer=1"))["site"]
    assert (even["conversion"], even["social_leak"]) == pytest.approx((0.425, 0.425))
    assert even["weights"]["footer"] == 1.0 and even["weights"]["main"] == 1.0


def test_links_add_up_and_unclickable_links_weigh_nothing():
    """home: two body links to pricing, one to twitter, and what a visitor cannot click: a
    ``<link>`` in the head to twitter, identity markup (rel=me) to twitter, a link to itself.

    conversion = 0.85 * 2/3 = 0.566667; social leak = 0.85 * 1/3 = 0.283333.
    """
    g = graph([S], [(S, PRICING, "main", "other"), (S, PRICING, "body", "other"), (S, TW, "main", "profile"),
                    (S, TW, "head", "other", "link"), (S, TW, "aside", "identity"), (S, S, "main", "other")])
    site = run(g)["site"]
    assert (site["conversion"], site["social_leak"]) == pytest.approx((0.566667, 0.283333), abs=1e-6)


def test_closed_loop_never_converts_and_is_not_singular():
    """home <-> about and nothing else. Without damping the walk would never end (I - Q
    singular); with it every visitor leaves: exit = 1, conversion 0, no clicks to count and
    no conversion page within reach."""
    m = run(graph([S, ABOUT], [(S, ABOUT, "main", "other"), (ABOUT, S, "main", "other")]))
    assert entry(m, S) == {"url": S, "tier": "site", "conversion": 0.0, "social_leak": 0.0, "external": 0.0,
                           "exit": 1.0, "clicks_to_conversion": None, "conversion_depth": None}
    assert m["site"]["clicks_to_conversion"] is None and m["site"]["conversion_depth"] is None
    assert m["site"]["unreachable_entries"] == 1


def test_loop_with_a_way_out_expected_clicks():
    """home links pricing and the post p (body, 1/2 each); p links only home.

    b_home = d (1/2 + 1/2 b_p), b_p = d b_home  =>  b_home = d / (2 - d^2) = 0.665362,
    b_p = 0.565558; site-wide conversion = their mean, 0.615460.
    Given a conversion, the walk from home goes round the loop m times with q = d^2/2 = 0.36125
    each: clicks = sum (2m+1) q^m (1-q) = (1+q)/(1-q) = 2.131115; from p one click more,
    2/(1-q) = 3.131115. Site-wide, the converting visitors' mean:
    (b_home * 2.131115 + b_p * 3.131115) / (b_home + b_p) = (1+q+2d) / ((1-q)(1+d)) = 2.590575.
    """
    post = S + "blog/p/"
    m = run(graph([S, post], [(S, PRICING, "main", "other"), (S, post, "main", "other"), (post, S, "main", "other")]))
    home, p = entry(m, S), entry(m, post)
    assert (home["conversion"], p["conversion"]) == pytest.approx((0.665362, 0.565558), abs=1e-6)
    assert (home["clicks_to_conversion"], p["clicks_to_conversion"]) == pytest.approx((2.131115, 3.131115), abs=1e-6)
    assert (home["conversion_depth"], p["conversion_depth"]) == (1, 2)
    assert m["site"]["conversion"] == pytest.approx(0.615460, abs=1e-6)
    assert m["site"]["clicks_to_conversion"] == pytest.approx(2.590575, abs=1e-6)
    assert m["site"]["conversion_depth"] == pytest.approx(1.5)


def test_expected_clicks_differ_from_depth():
    """home links pricing and about; about links pricing. Paths: home -> pricing (1 click,
    probability d/2 = 0.425), home -> about -> pricing (2 clicks, d/2 * d = 0.36125).
    conversion = 0.78625; clicks = (0.425 * 1 + 0.36125 * 2) / 0.78625 = 1.459459; depth 1."""
    m = run(graph([S, ABOUT], [(S, PRICING, "main", "other"), (S, ABOUT, "main", "other"),
                               (ABOUT, PRICING, "main", "other")]))
    home = entry(m, S)
    assert (home["conversion"], home["clicks_to_conversion"], home["conversion_depth"]) == (
        pytest.approx(0.78625), pytest.approx(1.459459, abs=1e-6), 1)


def test_click_depth_counts_clickable_links_and_hosted_forms():
    """home -> a -> b -> calendly.com/acme (a hosted booking form: a conversion off the site):
    3 clicks. home's head <link> to pricing is not clickable and does not shorten it; the
    footer link a -> contact (a page with a lead form) does, to 2 (footer links are clickable,
    weight 0.2). A page that is an offer is 0 clicks from one, and converts with probability 1."""
    a, b, contact = S + "a/", S + "b/", S + "team/"
    links = [(S, a, "main", "other"), (a, b, "main", "other"), (b, "https://calendly.com/acme", "main", "other"),
             (S, PRICING, "head", "other", "link")]
    m = run(graph([S, a, b], links), entry="/[ab]/$")
    assert [(e["url"], e["conversion_depth"]) for e in m["entries"]] == [(a, 2), (b, 1)]
    assert entry(run(graph([S, a, b], links)), S)["conversion_depth"] == 3
    m = run(graph([S, a, b, page(contact, lead_form=1)], links + [(a, contact, "footer", "other")]),
            entry=r"\.example/(team/)?$")
    assert [(e["url"], e["conversion_depth"]) for e in m["entries"]] == [(S, 2), (contact, 0)]
    offer = entry(m, contact)
    assert (offer["conversion"], offer["clicks_to_conversion"], offer["exit"]) == (1.0, 0.0, 0.0)


def test_post_with_no_path_to_conversion_is_unreachable():
    """home links pricing and post 1; posts 1 and 2 link each other only: no path from either
    to an offer, so both are listed (home is not: it links pricing)."""
    p1, p2 = S + "blog/one/", S + "blog/two/"
    m = run(graph([S, p1, p2], [(S, PRICING, "nav", "other"), (S, p1, "main", "other"),
                                (p1, p2, "main", "other"), (p2, p1, "main", "other")]))
    assert m["site"]["unreachable_posts"] == [p1, p2]
    assert m["site"]["unreachable_entries"] == 2
    assert entry(m, p1)["conversion"] == 0.0 and entry(m, p1)["conversion_depth"] is None


def test_redirects_stubs_and_broken_links_are_followed():
    """A link to a 301 that lands on about, and from there pricing: d * d = 0.7225, as if about
    were linked. A link to a <meta refresh> stub that lands on pricing: d = 0.85. A link to a
    404 is an exit: with pricing beside it, conversion = d/2 = 0.425, exit = 1 - 0.425."""
    go, old, gone = S + "go", S + "old/", S + "gone/"
    pages = [S, ABOUT, PRICING, page(go, status=301, location=ABOUT), page(old), page(gone, status=404, parsed=0)]
    stub_links = [(old, PRICING, "head", "other", "meta"), (ABOUT, PRICING, "main", "other")]
    assert run(graph(pages, [(S, go, "main", "other")] + stub_links))["site"]["conversion"] == pytest.approx(0.7225)
    assert run(graph(pages, [(S, old, "main", "other")] + stub_links))["site"]["conversion"] == pytest.approx(0.85)
    site = run(graph(pages, [(S, gone, "main", "other"), (S, PRICING, "main", "other")]))["site"]
    assert (site["conversion"], site["exit"]) == pytest.approx((0.425, 0.575))


def test_dead_profiles_exit_blocked_ones_leak():
    """A profile that answers 404 is a broken link: an exit (d/2 = 0.425 beside pricing). One the
    platform would not let us check (LinkedIn's 999) is still a leak to social: 0.425."""
    dead = {"url": TW, "role": "profile", "status": 404, "parsed": 0}
    site = run(graph([S, dead], [(S, TW, "main", "profile"), (S, PRICING, "main", "other")]))["site"]
    assert (site["conversion"], site["social_leak"], site["exit"]) == pytest.approx((0.425, 0.0, 0.575))
    li = "https://www.linkedin.com/company/acme"
    blocked = {"url": li, "role": "profile", "status": 999, "parsed": 0}
    site = run(graph([S, blocked], [(S, li, "main", "profile"), (S, PRICING, "main", "other")]))["site"]
    assert (site["conversion"], site["social_leak"], site["exit"]) == pytest.approx((0.425, 0.425, 0.15))


def test_external_links_leave_and_hosted_forms_convert():
    """home links example.org (external), calendly (a hosted form: conversion) and twitter,
    all in the body: 0.85/3 = 0.283333 each way, exit 0.15."""
    m = run(graph([S], [(S, "https://example.org/", "main", "other"), (S, "https://calendly.com/acme", "main", "other"),
                        (S, TW, "main", "profile")]))
    site = m["site"]
    assert (site["conversion"], site["social_leak"], site["external"], site["exit"]) == pytest.approx(
        (0.283333, 0.283333, 0.283333, 0.15), abs=1e-6)


REMOVAL = [(S, PRICING, "main", "other"), (S, S + "blog/p/", "main", "other"), (S, TW, "header", "profile"),
           (S + "blog/p/", S, "main", "other"), (S + "blog/p/", TW, "footer", "profile")]


def test_removal_effect_ranks_what_to_fix_first():
    """home: pricing (main 1), the post p (main 1), twitter (header 0.4): total 2.4.
    p: home (main 1), twitter (footer 0.2): total 1.2. Entries: home and p.
    With a = d/2.4 = 0.354167 and c = d/1.2 = 0.708333: b_home = a + a c b_home, b_p = c b_home,
    so b_home = a / (1 - a c) = 0.472769, b_p = 0.334878, site = 0.403824.

    - without the header icon (home's total 2): a = d/2 = 0.425; b_home = 0.425 / (1 - 0.425 c)
      = 0.608047, b_p = 0.430700, site 0.519374: gain 0.115550;
    - without the site -> blog link (home's total 1.4): b_home = d/1.4 = 0.607143, b_p = c b_home
      = 0.430060, site 0.518601: gain 0.114777;
    - without the post's footer icon (p's total 1): c = d; b_home = a / (1 - a d) = 0.506706,
      b_p = 0.430700, site 0.468703: gain 0.064880;
    - the post offers nothing and links social (social-before-offer): with an offer link in its
      body (p's total 2.2, e = d/2.2 = 0.386364): b_p = e + e b_home, b_home = a + a b_p, so
      b_home = a (1 + e) / (1 - a e) = 0.568843, b_p = 0.606143, site 0.587493: gain 0.183669.

    Per 100 entry visitors, the plan's cost is the gain times 100, the costliest first.
    """
    g = graph([S, S + "blog/p/"], REMOVAL)
    findings = run_rules(g)
    m = funnel_metrics(g, findings)
    assert m["site"]["conversion"] == pytest.approx(0.403824, abs=1e-6)
    ids = {(f.rule, f.region): f.id for f in findings if f.rule in ("backward-social", "backward-blog")}
    # the action plan: what each costs per 100 entry visitors (the gain in points), the costliest first
    assert [(x["rule"], x["region"], x["cost"], x["pages"], x["links"], x["measure"]) for x in m["fix_first"]] == [
        ("social-before-offer", "footer", pytest.approx(18.3669, abs=1e-4), 1, 1, "reach"),
        ("backward-social", "header", pytest.approx(11.5550, abs=1e-4), 1, 1, "remove"),
        ("backward-social", "footer", pytest.approx(6.4880, abs=1e-4), 1, 1, "remove"),
        # a mild step (plan.MILD_RULES): after the others, though the model gains more by it
        ("backward-blog", "main", pytest.approx(11.4777, abs=1e-4), 1, 1, "remove"),
    ]
    assert [x["id"] for x in m["fix_first"][1:]] == [ids["backward-social", "header"], ids["backward-social", "footer"],
                                                 ids["backward-blog", "main"]]
    assert m["fix_first"][1]["severity"] == "high" and m["fix_first"][1]["target"] == TW
    assert [x["words"] for x in m["fix_first"]] == [
        "1 page sends visitors to social but offers no purchase and no lead capture: with an offer on each, of 100 "
        "visitors who land on the blog or the home page, about 18 more would reach one",
        "the header's follow icon (X) on 1 page: without it, of 100 visitors who land on the blog or the home "
        "page, about 12 more would reach an offer",
        "the footer's follow icon (X) on 1 page: without it, of 100 visitors who land on the blog or the home "
        "page, about 6 more would reach an offer",
        "the site's page body links the blog on 1 page: without these links, of 100 visitors who land on the blog or the "
        "home page, about 11 more would reach an offer"]


def test_iterative_solver_gives_the_factorised_answer(monkeypatch):
    """The same removal graph solved without a factorisation (BiCGSTAB, as past DIRECT_MAX pages)."""
    g = graph([S, S + "blog/p/"], REMOVAL)
    direct = funnel_metrics(g, run_rules(g))
    monkeypatch.setattr(metrics, "DIRECT_MAX", 0)
    iterative = funnel_metrics(g, run_rules(g))
    assert iterative == direct


BROKEN_CONTACT = REMOVAL + [(S, S + "contact/", "nav", "other"), (S + "blog/p/", S + "contact/", "nav", "other")]


@pytest.mark.parametrize("direct_max", [metrics.DIRECT_MAX, 0])
def test_repair_cost_is_the_conversion_the_repaired_site_has(monkeypatch, direct_max):
    """A broken /contact/ in both pages' nav: its plan item costs exactly what the site gains when
    the page is there (solved again from scratch, the contact page an offer by its address), by the
    transposed solve factorised or iterative (BiCGSTAB, past DIRECT_MAX pages)."""
    monkeypatch.setattr(metrics, "DIRECT_MAX", direct_max)
    broken = graph([S, S + "blog/p/", {"url": S + "contact/", "role": "page", "status": 404}], BROKEN_CONTACT)
    m = funnel_metrics(broken, run_rules(broken))
    repaired = graph([S, S + "blog/p/", page(S + "contact/")], BROKEN_CONTACT)
    gain = funnel_metrics(repaired, run_rules(repaired))["site"]["conversion"] - m["site"]["conversion"]
    item = m["fix_first"][0]
    assert (item["rule"], item["kind"], item["measure"], item["pages"]) == ("broken-link", "offer", "repair", 2)
    assert item["cost"] == pytest.approx(100 * gain, abs=1e-4) and gain > 0.05


def test_fallback_iteration_when_bicgstab_gives_up(monkeypatch):
    """Should BiCGSTAB not converge, the plain iteration x = b + Qx (a contraction: |Q| <= d)
    reaches the same answer."""
    g = graph([S, S + "blog/p/"], REMOVAL)
    direct = funnel_metrics(g, run_rules(g))
    monkeypatch.setattr(metrics, "DIRECT_MAX", 0)
    monkeypatch.setattr(metrics, "bicgstab", lambda op, b, **kw: (np.zeros_like(b), 1))
    assert funnel_metrics(g, run_rules(g)) == direct
    broken = graph([S, S + "blog/p/", {"url": S + "contact/", "role": "page", "status": 404}], BROKEN_CONTACT)
    iterated = funnel_metrics(broken, run_rules(broken))["fix_first"]
    monkeypatch.setattr(metrics, "DIRECT_MAX", 2_000)
    assert iterated == funnel_metrics(broken, run_rules(broken))["fix_first"]  # the repair's transposed solve too


def test_pagerank_link_score_scaling():
    """home -> about -> pricing; pricing links nowhere (its rank spreads over all three).
    PageRank: with c = 0.05 + d * pr(pricing)/3 the ranks are c, c(1+d), c(1+d+d^2), i.e. in the
    ratio 1 : 1.85 : 2.5725. On the log scale home (least) is 0, pricing (most) 100, and about
    100 * ln 1.85 / ln 2.5725 = 65.1. A two-page loop ranks both the same: 100 each."""
    m = run(graph([S, ABOUT, PRICING], [(S, ABOUT, "main", "other"), (ABOUT, PRICING, "main", "other")]))
    assert m["link_score"] == {S: 0.0, ABOUT: 65.1, PRICING: 100.0}
    chain = metrics.Chain(metrics.walk_graph(graph([S, ABOUT, PRICING], [(S, ABOUT, "main", "other"),
                                                                       (ABOUT, PRICING, "main", "other")])), D)
    pr = metrics.pagerank(chain)
    assert pr.tolist() == pytest.approx([1 / 5.4225, 1.85 / 5.4225, 2.5725 / 5.4225])
    loop = run(graph([S, ABOUT], [(S, ABOUT, "main", "other"), (ABOUT, S, "main", "other")]))
    assert loop["link_score"] == {S: 100.0, ABOUT: 100.0}


def test_entry_regex_overrides_and_no_entry():
    """--entry picks the entry pages; one that matches nothing leaves the site values empty."""
    g = graph([S, ABOUT], [(S, ABOUT, "main", "other"), (ABOUT, PRICING, "main", "other")])
    m = run(g, entry="about")
    assert [e["url"] for e in m["entries"]] == [ABOUT] and m["site"]["conversion"] == pytest.approx(0.85)
    none = run(g, entry="nothing-matches")
    assert none["entries"] == [] and none["fix_first"] == []
    assert none["site"]["entries"] == 0 and none["site"]["conversion"] is None
    with pytest.raises(ValueError, match="--entry: not a regular expression"):
        run(g, entry="(")


def test_entry_rows_and_link_scores_read_as_before_held_as_columns():
    """A blog of 5,000 posts in a ring, each linking the next: the odd ones also link pricing
    (body, 1) and the profile (footer, 0.2). From an odd post a visitor converts at once with
    p = d / 2.2, or goes on to the even post and back to an odd one with q = d * d / 2.2:
    conversion d / (2.2 - d^2) = 0.85 / 1.4775, social leak 0.17 / 1.4775, and converting takes
    1 + 2q / (1 - q) clicks. Every odd post reads the same row, the JSON report writes the rows
    and scores as the list and dict they read as, and they are held as columns: well under 100
    bytes a page (a dict per entry row and a dict entry per page held ~300)."""
    site, blog = [S], [S + "blog/"]
    store = Store(":memory:")  # (graph_from reads every link per page: 5,000 pages a few seconds)
    crawl_id = store.create_crawl(site, {"site": site, "blog": blog})
    aliases = origin_aliases(site + blog)
    store.set_origins(crawl_id, aliases)
    posts = [f"{S}blog/p{i:05d}/" for i in range(5000)]
    pages = {S: [(PRICING, "main", "other"), (posts[0], "main", "other")]}
    for i, url in enumerate(posts):
        pages[url] = [(posts[(i + 1) % 5000], "main", "other")] + (
            [(PRICING, "main", "other"), (TW, "footer", "profile")] if i % 2 else [])
    for url, links in pages.items():
        store.write_page(crawl_id, page(url), [(url, t, dedupe_key(t, aliases), None, "a", "href", "", region, "", 0,
                                                kind, 1) for t, region, kind in links])
    g = build_graph(store, crawl_id)
    tracemalloc.start()
    try:
        m = funnel_metrics(g)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
        rows, scores = m["entries"], m["link_score"]
        q = D * D / 2.2
        odd = {"url": posts[1], "tier": "blog", "conversion": pytest.approx(0.85 / 1.4775, abs=1e-6),
               "social_leak": pytest.approx(0.17 / 1.4775, abs=1e-6), "external": 0.0,
               "exit": pytest.approx(0.4575 / 1.4775, abs=1e-6),
               "clicks_to_conversion": pytest.approx(1 + 2 * q / (1 - q), abs=1e-6), "conversion_depth": 1}
        assert len(rows) == m["site"]["entries"] == 5001 and len(scores) == 5001
        assert [rows[0]["url"], rows[1]["url"], rows[-1]["url"]] == [S, posts[0], posts[-1]]
        assert rows[2] == odd and rows[1]["conversion_depth"] == 2
        assert rows[1]["conversion"] == pytest.approx(D * 0.85 / 1.4775, abs=1e-6)
        assert all(e == {**rows[2], "url": e["url"]} for e in rows[2::2]) and len(rows[2::2]) == 2500
        assert [e["url"] for e in rows] == [S, *posts] == list(scores)
        assert json.loads(json_text({"entries": rows, "link_score": scores})) == {"entries": list(rows),
                                                                                "link_score": dict(scores.items())}
        assert json_text(rows) == json.dumps(list(rows)) and json_text(scores) == json.dumps(dict(scores.items()))
        assert scores[posts[1]] == dict(scores.items())[posts[1]] and posts[1] + "x" not in scores
        del m["entries"], m["link_score"], rows, scores
        gc.collect()
        assert (held - tracemalloc.get_traced_memory()[0]) / 5001 < 100
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("text, message", [
    ("sidebar=1", "unknown region 'sidebar'"),
    ("footer=-0.1", "'footer' must be a finite number >= 0, not -0.1"),
    ("footer=nan", "'footer' must be a finite number >= 0, not nan"),
    ("nav=inf", "'nav' must be a finite number >= 0, not inf"),
    ("nav=lots", "the weight of 'nav' is not a number: 'lots'"),
    ("footer", "expected REGION=WEIGHT, not 'footer'"),
    ("body=1,,nav=1", "expected REGION=WEIGHT, not ''"),
    ("nav=1,nav=2", "region 'nav' given twice"),
])
def test_parse_weights_errors(text, message):
    with pytest.raises(ValueError, match=f"^--weights: .*{re.escape(message)}"):
        parse_weights(text)




def test_parse_weights_and_bad_arguments():
    assert parse_weights(" Body = 2 ,head=0.5") == {**metrics.DEFAULT_WEIGHTS, "body": 2.0, "head": 0.5}
    g = graph([S], [(S, PRICING, "main", "other")])
    with pytest.raises(ValueError, match="unknown region 'banner'"):
        funnel_metrics(g, [], weights={"banner": 1})
    with pytest.raises(ValueError, match="damping"):
        funnel_metrics(g, [], damping=1.0)


def test_empty_graph():
    """No owned page was read: nothing to walk, every list empty."""
    m = funnel_metrics(graph([], []), [])
    assert m["entries"] == [] and m["fix_first"] == [] and m["link_score"] == {}
    assert m["site"]["pages"] == 0 and m["site"]["conversion"] is None


def test_a_mailing_lists_unsubscribe_address_is_no_conversion():
    """Seen on couchdb.apache.org: each list's ``-subscribe@`` and ``-unsubscribe@`` mailto
    links stand side by side. Home links both (body, weight 1 each): only the subscribe
    address is a signup, so conversion = d * 1/2 = 0.425 and the unsubscribe click leaves
    the site, external d * 1/2 = 0.425 (it was 0.85, every click a "conversion")."""
    m = run(graph([S], [(S, "mailto:user-subscribe@a.example", "main", "other"),
                        (S, "mailto:user-unsubscribe@a.example", "main", "other")]))
    assert entry(m, S)["conversion"] == pytest.approx(0.425)
    assert entry(m, S)["external"] == pytest.approx(0.425)


def test_the_chain_is_built_as_scipy_builds_it_to_the_last_bit():
    """The memory-saving construction of the chain (runs sorted rather than links, per-page sums
    in chunks) gives what ``np.argsort``, ``np.bincount`` and ``csr_matrix((w, (rows, cols)))``
    give, array for array, on links stored page by page (runs) and on shuffled ones."""
    import scipy.sparse as sp

    from analysis.metrics import Walk, _csr, _page_sums, _stable_order

    rng = np.random.default_rng(7)
    table = np.array([1.0, 0.4, 0.2, 0.1, 0.7])
    for case in range(40):
        n = int(rng.integers(1, 50))
        runs = rng.integers(0, n, int(rng.integers(0, 80)))
        rows = np.repeat(runs, rng.integers(1, 6, len(runs))).astype(np.int32)
        if case % 2:
            rng.shuffle(rows)
        cols = rng.integers(0, n, len(rows)).astype(np.int32)
        regions = rng.integers(0, len(table), len(rows)).astype(np.uint8)
        assert np.array_equal(_stable_order(rows, np.int32), np.argsort(rows, kind="stable"))
        walk = Walk([str(i) for i in range(n)], ["site"] * n, np.zeros(n, bool), rows, cols, regions, table)
        count, total = _page_sums(walk, chunk=7)
        assert np.array_equal(count, np.bincount(rows, minlength=n))
        assert np.array_equal(total, np.bincount(rows, weights=table[regions], minlength=n))
        want = sp.csr_matrix((table[regions], (rows, cols)), shape=(n, n))
        got = _csr([rows.copy(), cols.copy(), regions.copy()], table, n)
        assert (np.array_equal(got.indptr, want.indptr) and np.array_equal(got.indices, want.indices)
                and np.array_equal(got.data, want.data)), case
