"""Track the money (issue 24): analytics exports weight the funnel with the site's real traffic.

The readers are tested on small exports written here in each tool's real column layout, and on
broken ones (a wrong delimiter, missing columns, a BOM, thousands separators, a formula cell).
The audit is the plan site of ``test_plan.py`` (``tests/sites/plan/``: home, product, pricing,
legal, a blog of three posts; every page links 'Contact us' at /contact/, which answers 404, and
the company's LinkedIn, Instagram and X in its footer), crawled twice, each time with a month
of traffic: November's Plausible export (through funnel.toml) and December's GA4 report.
"""
from __future__ import annotations

import io
import json
import sqlite3

import pytest

from analysis.analytics import (AnalyticsError, Export, Traffic, conversion_values, load, match,
                                read_export)
from analysis.graph import graph_from
from analysis.metrics import funnel_metrics
from analysis.report import audit
from crawler.store import Store
from conftest import SITES, run_cli

A = "https://acme.test/"
FORMULA = '=HYPERLINK("http://evil.example","x")\x1b[2J'
NOVEMBER = ("name,unique_entrances,total_entrances,visit_duration\n"
            '/,"9,000","10,000",31\n'
            "/blog/widgets-101/,1500,2000,40\n"
            "/blog/roadmap,300,400,20\n"
            "/old-page/,50,60,3\n"
            '"=HYPERLINK(""http://evil.example"",""x"")\x1b[2J",1,1,1\n')
GOALS = "name,unique_conversions,total_conversions,total_revenue\nSignup,40,50,\"$6,000.00\"\n"
DECEMBER = ("# ----------------------------------------\n"
            "# Landing page\n# Account: Acme\n# Property: acme.test\n"
            "# ----------------------------------------\n#\n# All users\n"
            "# Start date: 20241201\n# End date: 20241231\n"
            "Landing page + query string,Sessions,Key events,Total revenue\n"
            '/,"9,000",270,"$3,000.00"\n'
            "/blog/widgets-101/?utm_source=news,2000,10,0\n"
            "(not set),12,0,0\n")
# GA4's BigQuery export: 100 sessions land on the home page; 60 go on to the blog, 20 to pricing
# (10 of them buy), 20 to the product page; one session elsewhere
EVENTS = ["event_date,event_timestamp,event_name,user_pseudo_id,ga_session_id,page_location,page_referrer,"
          "purchase_revenue"]
for _i in range(100):
    _next = "/blog/" if _i < 60 else "/pricing/" if _i < 80 else "/product/"
    _t = 1733011200000000 + _i * 1000
    EVENTS.append(f"20241201,{_t + 5},page_view,u{_i},{_i},https://acme.test{_next},https://acme.test/,")
    EVENTS.append(f"20241201,{_t},page_view,u{_i},{_i},https://www.acme.test/?utm_source=x,,")  # (rows unordered)
    if 60 <= _i < 70:
        EVENTS.append(f"20241201,{_t + 9},purchase,u{_i},{_i},https://acme.test/pricing/,,19.00")
EVENTS.append("20241231,1735603200000000,page_view,u999,999,https://other.example/x,,")


def _write(path, text: str, encoding: str = "utf-8", bom: bool = False):
    data = text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


# -- the readers ---------------------------------------------------------------------------------
READERS = [
    ("entry_pages.csv", "name,unique_entrances,total_entrances,visit_duration\n/,\"12,400\",\"12,400\",31\n",
     ("Plausible", "entry pages", "entries"), {("", "/"): [12400.0, None, None]}),
    ("entry_pages.csv", "name,visitors,visits,visit_duration\n/pricing/,80,95,31\n",
     ("Plausible", "entry pages", "entries"), {("", "/pricing/"): [95.0, None, None]}),
    ("imported_entry_pages_20241101_20241130.csv",
     "date,entry_page,visitors,entrances,visit_duration,bounces,pageviews\n2024-11-01,/,10,12,300,4,20\n"
     "2024-11-02,/,5,6,100,1,9\n", ("Plausible", "entry pages (CSV export)", "entries"),
     {("", "/"): [18.0, None, None]}),
    ("Actions_getEntryPageUrls.tsv",
     "label\tentry_nb_visits\tentry_nb_actions\tentry_bounce_count\tnb_conversions\trevenue\turl\n"
     "/pricing\t1 234\t2000\t100\t12\t$1,140.50\thttps://acme.test/pricing\n",
     ("Matomo", "entry pages", "entries"), {("", "https://acme.test/pricing"): [1234.0, 12.0, 1140.5]}),
    ("landing.csv", DECEMBER, ("GA4", "landing pages", "entries"),
     {("", "/"): [9000.0, 270.0, 3000.0], ("", "/blog/widgets-101/?utm_source=news"): [2000.0, 10.0, 0.0],
      ("", "(not set)"): [12.0, 0.0, 0.0]}),
]


@pytest.mark.parametrize("name, text, what, entries", READERS, ids=[r[0] + ":" + r[2][0] for r in READERS])
def test_each_tools_entry_pages_are_read_by_their_columns(tmp_path, name, text, what, entries):
    # Matomo's TSV is UTF-16 with a BOM (for Excel)
    path = _write(tmp_path / name, text, "utf-16" if name.endswith(".tsv") else "utf-8")
    e = read_export(str(path))
    assert (e.tool, e.report, e.kind) == what
    assert e.entries == entries


def test_periods_come_from_ga4_comments_and_plausible_file_names(tmp_path):
    e = read_export(str(_write(tmp_path / "landing.csv", DECEMBER)))
    assert (str(e.start), str(e.end)) == ("2024-12-01", "2024-12-31")
    e = read_export(str(_write(tmp_path / "imported_entry_pages_20241101_20241130.csv", READERS[2][1])))
    assert (str(e.start), str(e.end)) == ("2024-11-01", "2024-11-30")  # (not only the days with rows)


def test_goals_of_plausible_matomo_and_ga4(tmp_path):
    e = read_export(str(_write(tmp_path / "conversions.csv", GOALS)))
    assert (e.tool, e.report, e.goals) == ("Plausible", "goal conversions", {"Signup": [50.0, 6000.0]})
    e = read_export(str(_write(tmp_path / "goals.csv", "label,nb_conversions,nb_visits_converted,revenue,"
                                                        "conversion_rate\nDemo request,30,28,0,1.2%\n")))
    assert (e.tool, e.report, e.goals) == ("Matomo", "goals", {"Demo request": [30.0, 0.0]})
    e = read_export(str(_write(tmp_path / "events.csv", "Event name,Event count,Key events,Total revenue\n"
                                                         "purchase,40,40,\"1.234,50 €\"\n")))
    assert (e.tool, e.report, e.goals) == ("GA4", "key events", {"purchase": [40.0, 1234.5]})


def test_event_rows_are_sessions_in_time_order(tmp_path):
    e = read_export(str(_write(tmp_path / "bq.csv", "\n".join(EVENTS) + "\n")))
    assert (e.tool, e.report, e.kind, e.rows) == ("GA4", "BigQuery event rows", "events", 211)
    assert e.sessions[0] == ("", ["https://www.acme.test/?utm_source=x", "https://acme.test/blog/"], 0, 0.0)
    assert e.sessions[60][2:] == (1, 19.0) and e.goals == {"purchase": [10.0, 190.0]}
    umami = ("website_id,session_id,visit_id,event_id,hostname,url_path,url_query,referrer_path,page_title,"
             "event_type,event_name,created_at\n"
             "w,s1,v1,e2,acme.test,/pricing/,,/,Pricing,1,,2024-12-01 10:00:05\n"
             "w,s1,v1,e1,acme.test,/,,,Home,1,,2024-12-01 10:00:00\n"
             "w,s1,v1,e3,acme.test,/pricing/,,,Pricing,2,Signup,2024-12-01 10:00:09\n")
    e = read_export(str(_write(tmp_path / "umami.csv", umami)), conversion_events=["Signup"])
    assert (e.tool, e.sessions) == ("Umami", [("acme.test", ["/", "/pricing/"], 1, 0.0)])
    assert (str(e.start), str(e.end)) == ("2024-12-01", "2024-12-01")


def test_malformed_exports(tmp_path):
    # a semicolon file with German thousands separators is read (the delimiter is sniffed) ...
    e = read_export(str(_write(tmp_path / "semi.csv", "name;unique_entrances;total_entrances\n/;9.000;12.400\n")))
    assert e.entries == {("", "/"): [12400.0, None, None]}
    # ... and so is a BOM before the header, and a no-break space as the thousands separator
    e = read_export(str(_write(tmp_path / "bom.csv", "name,visitors,visits\n/,1,\"12\u00a0400\"\n", bom=True)))
    assert (e.tool, e.entries) == ("Plausible", {("", "/"): [12400.0, None, None]})
    errors = {
        "spaces.csv": ("name visitors visits\n/ 1 2\n",
                       "{p}: one column only (name visitors visits): not comma, semicolon, tab or pipe separated; "
                       "expected an export of Plausible (name,visitors,visits or name,unique_entrances,"
                       "total_entrances; name,unique_conversions,total_conversions), Matomo (label,entry_nb_visits; "
                       "label,nb_conversions), GA4 (Landing page + query string,Sessions,Key events; event_name,"
                       "page_location,ga_session_id) or Umami (session_id,url_path,event_type)"),
        "missing.csv": ("name,unique_entrances,visit_duration\n/,1,2\n",
                        "{p}: looks like a Plausible entry pages export but has no total_entrances column (its "
                        "columns: name,unique_entrances,visit_duration; expected name,unique_entrances,"
                        "total_entrances)"),
        "unknown.csv": ("Date,Clicks,Impressions\n2024-11-01,3,40\n",
                        "{p}: not an analytics export funnelcheck knows (its columns: Date,Clicks,Impressions); "
                        "expected Plausible (name,visitors,visits or name,unique_entrances,total_entrances; "
                        "name,unique_conversions,total_conversions), Matomo (label,entry_nb_visits; label,"
                        "nb_conversions), GA4 (Landing page + query string,Sessions,Key events; event_name,"
                        "page_location,ga_session_id) or Umami (session_id,url_path,event_type)"),
        "words.csv": ("name,visitors,visits\n/,1,lots\n", "{p} line 2: 'lots' in column 'visits' is not a number"),
        "empty.csv": ("\n\n", "{p}: empty (no header row)"),
    }
    for name, (text, message) in errors.items():
        path = _write(tmp_path / name, text)
        with pytest.raises(AnalyticsError) as exc:
            read_export(str(path))
        assert str(exc.value) == message.format(p=path)
    # a number that is none, in GA4's export: the line of the file (its comment lines counted)
    path = _write(tmp_path / "ga4.csv", DECEMBER.replace("news,2000,", "news,many,"))
    with pytest.raises(AnalyticsError) as exc:
        read_export(str(path))
    assert str(exc.value) == f"{path} line 12: 'many' in column 'Sessions' is not a number"
    # a Windows-1252 file (Excel's CSV) is read; a binary one is not
    e = read_export(str(_write(tmp_path / "excel.csv", "name,visitors,visits\n/caf\u00e9/,1,2\n", "cp1252")))
    assert e.entries == {("", "/caf\u00e9/"): [2.0, None, None]}
    path = tmp_path / "export.xlsx"
    path.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(AnalyticsError) as exc:
        read_export(str(path))
    assert str(exc.value) == f"{path}: not a text file (expected a CSV or TSV export)"
    with pytest.raises(AnalyticsError) as exc:
        read_export(str(tmp_path / "nowhere.csv"))
    assert str(exc.value) == f"--analytics {tmp_path / 'nowhere.csv'}: no such file"


def test_a_formula_cell_is_kept_as_text(tmp_path):
    e = read_export(str(_write(tmp_path / "november.csv", NOVEMBER)))
    assert ("", FORMULA) in e.entries  # one cell, read as the page it claims to be: never evaluated


# -- the metrics, by hand ---------------------------------------------------------------------------
def test_visit_weights_and_values_worked_out_by_hand():
    """Two entry pages: the home page (300 entries) links pricing (body, weight 1) and X (header,
    0.4); a blog post (100 entries) links the home page and contact (body, 1 each) and X (footer,
    0.2). Pricing is worth 1900 a conversion, contact 50. With damping 0.85:

    - from home: conversion 0.85 * 1/1.4 = 0.607143 (all of it at pricing), leak 0.85 * 0.4/1.4 = 0.242857;
    - from the post: contact 0.85 * 1/2.2 = 0.386364, pricing through home 0.386364 * 0.607143
      = 0.234578: conversion 0.620942; leak 0.85 * 0.2/2.2 + 0.386364 * 0.242857 = 0.077273 + 0.093831
      = 0.171104;
    - weighted 3:1 (not 1:1): conversion 0.75 * 0.607143 + 0.25 * 0.620942 = 0.610593 (equal: 0.614042),
      leak 0.75 * 0.242857 + 0.25 * 0.171104 = 0.224919;
    - an entry visit reaches pricing with 0.75 * 0.607143 + 0.25 * 0.234578 = 0.514002 and contact
      with 0.25 * 0.386364 = 0.096591: worth 0.514002 * 1900 + 0.096591 * 50 = 976.6038 + 4.8295
      = 981.43, 981.43 / 0.610593 = 1607.33 a conversion.
    - the header's X link on the home page: the home page has 0.75 + 0.25 * 0.386364 = 0.846591
      visits per entry visitor (its own entries and the post's clicks), 0.85 * 0.4/1.4 of them click
      it: flow 0.846591 * 0.242857 = 0.205601 clicks per entry visitor.
    """
    home, post = A, A + "blog/post/"
    g = graph_from([{"url": u, "role": "page", "status": 200, "parsed": 1}
                    for u in (home, post, A + "pricing/", A + "contact/")],
                   [(home, A + "pricing/", "main", "other"), (home, "https://x.com/acme", "header", "profile"),
                    (post, home, "main", "other"), (post, A + "contact/", "main", "other"),
                    (post, "https://x.com/acme", "footer", "profile")], site=[home], blog=[A + "blog/"])
    from analysis.rules import run_rules
    findings = run_rules(g)
    equal = funnel_metrics(g, findings)
    assert (equal["site"]["weighted"], equal["site"]["conversion"]) == ("equal", 0.614042)
    m = funnel_metrics(g, findings, visits={home: 300, post: 100, A + "gone/": 9},
                       values={"pages": {A + "pricing/": 1900.0, A + "contact/": 50.0}, "default": None})
    site = m["site"]
    assert (site["weighted"], site["entries"], site["conversion"], site["social_leak"]) == (
        "visits", 2, 0.610593, 0.224919)
    assert (site["value_per_visit"], site["value_per_conversion"]) == (pytest.approx(981.4333, abs=1e-3),
                                                                       pytest.approx(1607.34, abs=0.01))
    assert [(x["url"], x["conversion"]) for x in m["entries"]] == [(home, 0.607143), (post, 0.620942)]
    header = next(x for x in m["fix_first"] if x["region"] == "header")
    assert header["flow"] == pytest.approx(0.205601, abs=1e-6)


# -- the audits ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def crawls(tmp_path_factory):
    """Crawl #1 with November's Plausible exports (from funnel.toml, with [values]); crawl #2 with
    December's GA4 report (from the command line)."""
    tmp = tmp_path_factory.mktemp("money")
    _write(tmp / "entry_pages_20241101_20241130.csv", NOVEMBER)
    _write(tmp / "conversions.csv", GOALS)
    december = _write(tmp / "landing.csv", DECEMBER)
    _write(tmp / "bq.csv", "\n".join(EVENTS) + "\n")
    (tmp / "funnel.toml").write_text('analytics = ["entry_pages_20241101_20241130.csv", "conversions.csv"]\n'
                                     '[values]\n"/pricing/" = 1900\n"/contact/" = 50\n')
    db = tmp / "crawls.sqlite"
    common = (SITES / "plan", "--base-url", A, "--no-check-external", "--no-check-social", "--db", db,
              "--format", "json")
    first = run_cli("audit", *common, "--config", tmp / "funnel.toml", "-o", tmp / "1.json")
    assert first.exit_code == 1, first.stderr
    second = run_cli("audit", *common, "--analytics", december, "--analytics", tmp / "conversions.csv",
                     "--value", "/pricing/=1900", "--value", "/contact/=50", "-o", tmp / "2.json")
    assert second.exit_code == 1, second.stderr
    return tmp, db, json.loads((tmp / "1.json").read_text()), json.loads((tmp / "2.json").read_text())


PLAN = [("broken-link", "header"), ("backward-social", "footer"), ("backward-blog", "header"),
        ("backward-blog", "main")]


def test_real_entries_weight_the_funnel_and_the_plan_is_ranked_by_money(crawls):
    tmp, db, first, _ = crawls
    a = first["metrics"]["analytics"]
    assert a["files"] == [{"name": "entry_pages_20241101_20241130.csv", "tool": "Plausible", "report": "entry pages",
                           "rows": 5},
                          {"name": "conversions.csv", "tool": "Plausible", "report": "goal conversions", "rows": 1}]
    assert a["period"] == {"start": "2024-11-01", "end": "2024-11-30", "days": 30.0, "assumed": False}
    # 12,400 entries on three pages the crawl read (/blog/roadmap is /blog/roadmap/), in 30 days
    assert (a["entry_pages"], a["monthly_entries"]) == (3, round(12400 * 30.4375 / 30, 1))
    assert a["unmatched"] == {"rows": 2, "visits": round(61 * 30.4375 / 30, 1), "examples": ["/old-page/", FORMULA]}
    site = first["metrics"]["site"]
    assert (site["weighted"], site["entries"]) == ("visits", 3)
    # money per conversion: pricing 1900 ([values]); off the walk, the default: Signup's 6,000 / 50 = 120
    assert a["currency"] == "$" and a["values_from"] == "funnel.toml and the export"
    # without analytics: the broken contact link first (lead plumbing), then the footer icons ...
    with Store(db, readonly=True) as store:
        plain = audit(store, 1).metrics["fix_first"]
    assert [(x["rule"], x["region"]) for x in plain] == PLAN
    # ... with them, by money a month. The model sends ~5,800 visits a month to an offer; the export
    # observed 50 signups ($6,000) in 30 days: 0.87% of the visits reaching an offer convert, at $120
    # each. The icons cost conversions at that rate; the repaired contact link is worth 50 a lead
    plan = first["metrics"]["fix_first"]
    assert [(x["rule"], x["region"]) for x in plan] == [PLAN[1], PLAN[0], PLAN[2], PLAN[3]]
    icons, contact = plan[0], plan[1]
    monthly = a["monthly_entries"]
    assert a["observed"] == {"conversions": 50.0, "revenue": 6000.0, "goals": [["Signup", 50.0]], "from": "goals"}
    assert a["rate"] == pytest.approx(50 * 30.4375 / 30 / a["monthly_conversions"], rel=1e-4)
    assert a["monthly_value"] == pytest.approx(6000 * 30.4375 / 30, abs=0.5)  # the export's revenue, a month
    for x in plan:
        assert x["conversions"] == pytest.approx(x["cost"] / 100 * monthly * a["rate"], abs=0.051)
        assert x["visits"] == round(x["flow"] * monthly, 1)
    assert contact["money"] == round(contact["conversions"] * 50, 2)
    assert icons["money"] == round(icons["conversions"] * 120, 2)
    assert icons["money"] > contact["money"]
    assert icons["words"] == (
        "the footer's 3 follow icons (LinkedIn, Instagram, X) on 8 pages: without them, of 1,000 visitors who land on "
        "the blog or the home page, about 143 more would reach an offer; in your traffic: ~2,560 visits a month click "
        "them, without them ~16 more conversions a month, worth about $1,880 a month")
    assert contact["words"].endswith("; in your traffic: ~1,710 clicks a month hit it, ~15 conversions a month "
                                     "lost, worth about $740 a month")


def test_model_against_reality_per_entry_page(crawls):
    _, _, _, second = crawls
    a = second["metrics"]["analytics"]
    assert a["period"]["days"] == 31.0 and a["entry_pages"] == 2
    assert a["values_from"] == "--value and the export"  # (the values of the command line, said as such)
    # GA4's key events by landing page: observed conversion, a stricter event than reaching an offer
    home, post = a["entries"]
    assert (home["url"], home["sessions"], home["observed"], home["basis"]) == (A, 9000.0, 0.03, "converted")
    assert (post["url"], post["observed"]) == (A + "blog/widgets-101/", 0.005)
    assert home["error"] == round(home["predicted"] - 0.03, 4)
    # GA4's (not set) is no page: counted with the rows that match none
    assert a["unmatched"] == {"rows": 1, "visits": round(12 * 30.4375 / 31, 1), "examples": ["(not set)"]}
    assert a["sentence"] == ("of your ~10,800 monthly entries (on 2 pages), the model sends 46% to an offer: ~4,980 "
                             "visits a month reach one; observed in 31 days: Signup 50, $6,000, so 1.0% of the visits "
                             "reaching an offer convert: worth about $5,890 a month; 1 row (~12 entries a month) "
                             "matches no page the crawl read")


def test_real_clicks_against_the_model_and_the_weights_they_fit(crawls):
    """From the home page the model sends a click to pricing (body, 1), the product page (an offer
    too: it shows a price) and the blog (header, 0.4 each) and the legal page (footer, 0.2): 70%
    to an offer, 20% to the blog, 10% to the rest of the site. The 100 real sessions send 60 to the
    blog (3.0x, the largest gap) and 40 to an offer (20 pricing, 20 product). Per link, the header's
    two links were expected to get 50 clicks (2 of the 4 links to pages) and got 80; the body's one
    25, got 20; the footer's one 25, got none: weights header 80/50 = 1.6, main 20/25 = 0.8,
    footer 0, relative to the body: main 1, header 2, footer 0."""
    tmp, db, _, _ = crawls
    with Store(db, readonly=True) as store:
        a = audit(store, 1, analytics=load([str(tmp / "bq.csv")])).metrics["analytics"]
    [home] = a["behaviour"]
    assert home["words"] == ("visitors go from / to the blog 3.0x as often as its links suggest (60% of their "
                             "clicks on, the model 20%)")
    assert (home["clicks"], home["observed_shares"], home["model_shares"]) == (
        100, {"an offer": 0.4, "the blog": 0.6, "the site": 0}, {"an offer": 0.7, "the blog": 0.2, "the site": 0.1})
    # the footer's links to pages went unclicked, but it links the company's profiles too, and clicks out
    # to social are no page views: its weight is not suggested at 0
    assert a["fitted_weights"] == {
        "weights": {"main": 1.0, "header": 2.0, "footer": 0.0}, "clicks": 100, "option": "--weights header=2",
        "kept": ["footer"], "note": "clicks out to other sites (social profiles) are not page views: the fit sees only "
                                    "clicks between your pages; footer also links off the site, so its weight stays "
                                    "as it is"}
    from analysis.analytics import traffic_lines
    assert traffic_lines(a)[-1] == ("Link weights the real clicks fit (100 clicks): main 1, header 2, footer 0 (try "
                                    "--weights header=2)", [a["fitted_weights"]["note"]])
    # the sessions give the entries (one each) and what really reached an offer: 40 of 100, pricing or product
    [entry] = a["entries"]
    assert (entry["sessions"], entry["observed"], entry["basis"]) == (100, 0.4, "reached an offer")
    assert a["unmatched"]["examples"] == ["https://other.example/x"]
    # event rows: what does not match is a session, said as one
    assert a["unmatched"]["sessions"] == 1 and a["sentence"].endswith(
        "; 1 session (~1 entry a month) starts on no page the crawl read")


def test_terminal_and_html_reports_show_visits_and_money(crawls):
    from analysis.formats.html import render
    from analysis.formats.terminal import write

    tmp, db, _, _ = crawls
    analytics = load([str(tmp / "entry_pages_20241101_20241130.csv"), str(tmp / "conversions.csv")],
                     values={"/pricing/": 1900.0, "/contact/": 50.0})
    with Store(db, readonly=True) as store:
        a = audit(store, 1, analytics=analytics)
        out = io.StringIO()
        write(a, out, color=False)
        html = render(a)
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[4] == ("Funnel: 46.1% of visitors from 3 entry pages (weighted by their real entries) reach an offer "
                        "(in 1.3 clicks), 20.5% leak to social")
    assert lines[5] == ("Traffic (entry_pages_20241101_20241130.csv, conversions.csv; 2024-11-01 to 2024-11-30): of "
                        "your ~12,600 monthly entries (on 3 pages), the model sends 46% to an offer: ~5,800 visits a "
                        "month reach one; observed in 30 days: Signup 50, $6,000, so 0.9% of the visits reaching an "
                        "offer convert: worth about $6,090 a month; 2 rows (~62 entries a month) match no page the "
                        "crawl read")
    # the export's cells are shown, never obeyed: the escape sequence is written as text
    assert lines[6] == '  not matched: /old-page/, =HYPERLINK("http://evil.example","x")\\x1b[2J'
    assert "\x1b" not in text
    assert lines[9].startswith("  1. [medium] the footer's 3 follow icons") and lines[9].endswith(
        "worth about $1,880 a month")
    assert lines[11].startswith("  2. [high] 8 pages link 'Contact us'")
    # HTML: the traffic section, the money cards, and two more columns in the plan
    assert '<section id="traffic">' in html and "\x1b" not in html
    assert "=HYPERLINK(&#34;http://evil.example&#34;,&#34;x&#34;)\\x1b[2J" in html
    assert ('<div class="card"><div class="value">~12,600</div><div class="label">entries a month (your analytics)'
            '</div></div>') in html
    assert '<th class="num">Visits a month</th><th class="num">Money a month</th>' in html
    assert ('<div class="value">$6,090</div><div class="label">a month: what the conversions are worth (the model, '
            'at the conversions your exports observed)</div>') in html
    assert '<td class="num">~2,560</td><td class="num">$1,880</td>' in html
    assert '<td class="num">~1,710</td><td class="num">$740</td>' in html
    # where 100 visitors go: split as the real entries are (2,400 of the 12,400 land on the blog), never each
    # entry page alike (the blog's two posts were 67 of the 100); each tier's pages weighted so too
    assert ('<tr><td>the blog</td><td class="num">19 of 100</td><td class="num">45</td><td class="num">20</td>'
            in html)
    assert "<tr><td>the site</td><td class=\"num\">81 of 100</td>" in html
    assert "conversions.csv (Plausible goal conversions, 1 row), 2024-11-01 to 2024-11-30." in html
    # without analytics: neither
    with Store(db, readonly=True) as store:
        plain = render(audit(store, 1))
    assert '<section id="traffic">' not in plain and "Money a month" not in plain


def test_the_traffic_summary_is_kept_with_the_crawl(crawls):
    _, db, first, _ = crawls
    with Store(db, readonly=True) as store:
        kept = store.analytics(1)
    assert kept["files"] == first["metrics"]["analytics"]["files"]
    assert (kept["period_start"], kept["period_end"], kept["days"], kept["period_assumed"]) == (
        "2024-11-01", "2024-11-30", 30.0, False)
    assert (kept["monthly_entries"], kept["monthly_value"], kept["currency"]) == (
        first["metrics"]["analytics"]["monthly_entries"], first["metrics"]["analytics"]["monthly_value"], "$")
    assert [x["id"] for x in kept["plan"]] == [x["id"] for x in first["metrics"]["fix_first"]]
    assert kept["plan"][0]["money"] == first["metrics"]["fix_first"][0]["money"]
    columns = {r[1] for r in sqlite3.connect(db).execute("PRAGMA table_info(analytics)")}
    assert {"crawl_id", "files", "monthly_entries", "monthly_value", "plan"} <= columns


def test_diff_and_the_email_carry_the_money(crawls):
    from test_mail import _start

    tmp, db, _, _ = crawls
    result = run_cli("diff", "--db", db)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    # November's Plausible exports against December's GA4 report: the exports changed, not only the site
    assert lines[1] == "acme.test: worth $6,090 to $5,890 a month (other analytics inputs)"
    assert lines[4] == ("  - What the visits reaching an offer are worth went from $6,090 to $5,890 a month (your "
                        "entries: ~12,600 to ~10,800 a month), but the analytics inputs changed, not only the site: the "
                        "analytics exports (entry_pages_20241101_20241130.csv (Plausible), conversions.csv (Plausible) "
                        "to landing.csv (GA4), conversions.csv (Plausible)). Compare crawls audited with the same "
                        "exports and values.")
    # the site-wide conversion is the one weighted by the real entries when both crawls had them
    assert "  Conversion probability (site-wide, your entries)    46.1% →   46.1%  0" in lines
    assert "  Entries a month (your analytics)                  ~12,600 → ~10,800  -1,780" in lines
    assert "  Visits reaching an offer a month (the model)       ~5,800 →  ~4,980  -820" in lines
    assert "  Money a month (the model)                          $6,090 →  $5,890  -$200" in lines
    assert lines[7].endswith("worth about $1,820 a month")  # the plan of crawl #2, in its money
    from analysis.diff import diff_crawls, headline
    from analysis.formats.diff import plain_text

    with Store(db, readonly=True) as store:
        d = diff_crawls(store, 1, 2)  # (what --format json writes)
    assert d["money"]["monthly_value"] == {"old": 6087.5, "new": 5891.13, "delta": -196.37}
    assert [x["money"] for x in d["fix_first"]] == [1824.0, 725.0, 288.0]
    server = _start(auth=False)
    try:
        (tmp / "mail.toml").write_text(f'[email]\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "none"\n'
                                      'from = "funnelcheck <audit@acme.test>"\n')
        sent = run_cli("diff", "--db", db, "--email", "team@acme.test", "--config", tmp / "mail.toml")
        assert sent.exit_code == 0, sent.stderr
        [received] = server.recorder.messages
    finally:
        server.stop()
    message = received.message
    assert message["Subject"] == headline(d) == "acme.test: worth $6,090 to $5,890 a month (other analytics inputs)"
    plain = message.get_body(("plain",)).get_content()
    assert plain.replace("\r\n", "\n").strip() == plain_text(d).strip()
    assert "Money a month (the model)" in plain and "$5,890" in plain
    assert "<td>Money a month (the model)</td>" in message.get_body(("html",)).get_content()


def test_a_bad_export_stops_before_the_crawl(tmp_path):
    bad = _write(tmp_path / "export.csv", "Date,Clicks,Impressions\n2024-11-01,3,40\n")
    result = run_cli("audit", SITES / "plan", "--base-url", A, "--analytics", bad, "--db", tmp_path / "c.sqlite")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"funnelcheck: error: {bad}: not an analytics export funnelcheck knows (its columns: Date,Clicks,Impressions); "
        "expected Plausible (name,visitors,visits or name,unique_entrances,total_entrances; name,unique_conversions,"
        "total_conversions), Matomo (label,entry_nb_visits; label,nb_conversions), GA4 (Landing page + query string,"
        "Sessions,Key events; event_name,page_location,ga_session_id) or Umami (session_id,url_path,event_type)"]
    assert not (tmp_path / "c.sqlite").exists()  # nothing crawled
    # an export funnel.toml lists that is not there: funnel.toml says so
    (tmp_path / "funnel.toml").write_text('analytics = ["exports/missing.csv"]\n')
    result = run_cli("audit", SITES / "plan", "--base-url", A, "--config", tmp_path / "funnel.toml",
                     "--db", tmp_path / "c.sqlite")
    assert (result.exit_code, result.stderr) == (2, f"funnelcheck: error: {tmp_path / 'funnel.toml'}: analytics: "
                                                    f"{tmp_path / 'exports' / 'missing.csv'}: no such file\n")
    result = run_cli("report", "--db", tmp_path / "c.sqlite", "--value", "/pricing/=lots", "--analytics", bad)
    assert (result.exit_code, result.stderr) == (
        2, "funnelcheck: error: --value '/pricing/=lots': 'lots' is not a number\n")
    # (TSV too: Matomo's)
    assert "An analytics export (Plausible, Matomo, GA4, Umami; CSV or TSV;" in " ".join(
        run_cli("report", "--help").stdout.split())


def test_bare_paths_belong_to_the_site_unless_the_export_or_analytics_host_names_another():
    site, blog = "https://a.example/", "https://blog.a.example/"
    g = graph_from([{"url": u, "role": "page", "status": 200, "parsed": 1}
                    for u in (site, site + "post/", blog, blog + "post/")],
                   [(site, blog, "main", "other")], site=[site], blog=[blog])
    e = Export("x.csv", "Plausible", "entry pages", "entries",
               entries={("", "/post"): [10.0, None, None], ("blog.a.example", "/"): [5.0, None, None],
                        ("", "http://www.a.example/?gclid=1"): [2.0, None, None]})
    assert match([e], g).entries == {site + "post/": 10.0, blog: 5.0, site: 2.0}
    assert match([e], g, "blog.a.example").entries == {blog + "post/": 10.0, blog: 5.0, site: 2.0}
    t = match([e], g, "https://shop.a.example/")
    assert (t.entries, t.unmatched) == ({blog: 5.0, site: 2.0}, {"rows": 1, "visits": 10.0, "examples": ["/post"]})
    # [values]: an offer path or URL values that page; goal names give the default
    # (/post/ is no offer page: it values nothing, and a warning says so)
    worth = conversion_values(g, Traffic([], 30, False, goals={"Demo": [4.0, 400.0]}), {"/post/": 7})
    assert worth == {"pages": {}, "default": 100.0, "currency": "$", "source": "funnel.toml and the export"}


# -- the trial's findings (money2) ------------------------------------------------------------------
def test_without_observed_conversions_the_money_assumes_every_visit_reaching_an_offer_converts(crawls, tmp_path):
    """Entries on pricing and the product page are entry pages too (not only the blog and the home
    page), and the Funnel and Traffic lines count the same pages. With no conversions in the
    exports, what is counted is visits reaching an offer, and the money says what it assumes."""
    from analysis.formats.terminal import write

    _, db, _, _ = crawls
    entries = _write(tmp_path / "entry_pages.csv", "name,visitors,visits\n/,900,1000\n/pricing/,90,100\n"
                                                   "/product/,45,50\n/blog/widgets-101/,10,10\n")
    with Store(db, readonly=True) as store:
        a = audit(store, 1, analytics=load([str(entries)], values={"/pricing/": 100.0, "/product/": 100.0}))
    m = a.metrics
    assert [e["url"] for e in m["entries"]] == [A, A + "blog/widgets-101/", A + "pricing/", A + "product/"]
    t = m["analytics"]
    assert (t["entry_pages"], t["observed"], t["rate"]) == (4, None, None)
    out = io.StringIO()
    write(a, out, color=False)
    lines = out.getvalue().splitlines()
    assert lines[4].startswith("Funnel: ") and " from 4 entry pages (weighted by their real entries)" in lines[4]
    assert lines[5].startswith("Traffic (entry_pages.csv): of your ~1,160 monthly entries (on 4 pages), the model "
                               "sends ")
    assert (" to an offer: ~" in lines[5] and "visits a month reach one, worth about $" in lines[5]
            and lines[5].endswith("a month if every one converts (the exports give no conversions) (the exports do "
                                  "not say their period: taken as one month)"))
    icons = next(x for x in m["fix_first"] if x["rule"] == "backward-social")
    assert "more visits a month would reach an offer, worth about $" in icons["words"]
    assert icons["words"].endswith(" a month if every one converted") and "conversions" not in icons["words"]
    # entry pages limited with --entry: only those
    with Store(db, readonly=True) as store:
        only = audit(store, 1, entry="/blog/", analytics=load([str(entries)])).metrics
    assert [e["url"] for e in only["entries"]] == [A + "blog/widgets-101/"]


def test_observed_conversions_scale_the_money_to_the_exports():
    from analysis.analytics import observed_conversions, sentence

    t = Traffic([], 30, False, goals={"Signup": [140.0, None], "Visit /checkout/": [70.0, None],
                                      "Purchase": [70.0, 8400.0], "Visit /pricing/": [1200.0, None],
                                      "Outbound Link: Click": [520.0, None]})
    o = observed_conversions(t)
    # a visit to pricing is reaching an offer, an outbound click no conversion: neither is counted
    assert o == {"conversions": 280.0, "revenue": 8400.0, "from": "goals",
                 "goals": [("Signup", 140.0), ("Purchase", 70.0), ("Visit /checkout/", 70.0)]}
    # GA4's key events: generate_lead has no revenue in the export (0): the value you give it counts
    t = Traffic([], 30, False, goals={"generate_lead": [150.0, 0.0], "purchase": [80.0, 9600.0]})
    assert observed_conversions(t, {"generate_lead": 40, "purchase": 120})["revenue"] == 9600 + 150 * 40
    a = {"monthly_entries": 9000.0, "entry_pages": 7, "conversion": 0.484, "monthly_conversions": 4356.0,
         "rate": 0.0643, "monthly_value": 8400.0, "currency": "$", "unmatched": {"rows": 0}, "period": {},
         "observed": {**o, "goals": [list(g) for g in o["goals"]]}}
    assert sentence(a) == ("of your ~9,000 monthly entries (on 7 pages), the model sends 48% to an offer: ~4,360 "
                           "visits a month reach one; observed: Signup 140, Purchase 70, Visit /checkout/ 70, $8,400, "
                           "so 6.4% of the visits reaching an offer convert: worth about $8,400 a month")
    # more conversions than the model's visits reaching an offer: said, never a rate above 100%
    assert sentence({**a, "monthly_conversions": 200.0, "rate": 1.0}).endswith(
        "observed: Signup 140, Purchase 70, Visit /checkout/ 70, $8,400, as many as or more than the model's visits "
        "reaching an offer (the model undercounts them), taken as every one converting: worth about $8,400 a month")


def test_diff_money_in_each_crawls_currency_and_inputs_changed():
    from analysis.diff import _money_items, money_changes
    from analysis.formats.diff import metric_rows

    old = {"monthly_entries": 1000.0, "conversion": 0.4, "monthly_conversions": 400.0, "monthly_value": 6000.0,
           "value_per_conversion": 120.0, "currency": "$", "files": [{"name": "e.csv", "tool": "Plausible"}],
           "plan": []}
    new = {**old, "monthly_value": 5000.0, "currency": "€"}
    d = money_changes(old, new, [])
    [item] = _money_items(d)
    assert item["words"] == ("What the visits reaching an offer are worth went from $6,000 to €5,000 a month, but the "
                             "analytics inputs changed, not only the site: the currency ($ to €). Compare crawls "
                             "audited with the same exports and values.")
    none = {"old": None, "new": None, "delta": None}
    rows = metric_rows({"metrics": {"site": dict.fromkeys(("conversion", "social_leak", "clicks_to_conversion",
                                                           "conversion_depth", "unreachable_posts"), none),
                                    "blog": dict.fromkeys(("conversion", "social_leak"), none), "landing": []},
                        "new": {"targets": [A]}, **d})
    assert ("Money a month (the model)", "$6,000", "€5,000", "—") in rows
    assert ("Conversion probability (site-wide, your entries)", "40.0%", "40.0%", "0") in rows
    # the same inputs: the site's doing (fewer visits reach an offer, at the same rate)
    [item] = _money_items(money_changes(old, {**old, "monthly_conversions": 333.3, "monthly_value": 5000.0}, []))
    assert item["words"] == "What the visits reaching an offer are worth fell from $6,000 to $5,000 a month."


def test_diff_of_a_site_fix_with_the_same_exports_shows_the_gain():
    """The trial's case: home (1,000 entries) links pricing, about (500 entries, a dead end) and
    X in its header; the exports observed 50 purchases ($5,000). Removing the X link takes home
    from 35.4% to 42.5% and the entries' conversion from 23.6% to 28.3% (+4.7 points); the
    conversions observed pin each audit's money at $5,000, so the new crawl is priced at crawl
    #1's rate (50 of ~354 visits reaching an offer): ~425 such visits are worth ~$6,000."""
    from analysis.diff import _money_items, headline, money_changes
    from analysis.formats.diff import metric_rows

    old = {"monthly_entries": 1500.0, "conversion": 0.236111, "monthly_conversions": 354.2, "monthly_value": 5000.0,
           "value_per_conversion": 100.0, "currency": "$", "files": [{"name": "e.csv", "tool": "Plausible"}],
           "plan": []}
    new = {**old, "conversion": 0.283333, "monthly_conversions": 425.0}
    d = {"site": "acme.test", "old": {"id": 1, "targets": [A]}, "new": {"id": 2, "targets": [A]},
         "backward": {"new": [], "fixed": []}, "broken": {"new": [], "fixed": []}, "findings": {"changed": []},
         "metrics": {"site": {"conversion": {"old": 0.354167, "new": 0.425, "delta": 0.070833},
                              **dict.fromkeys(("social_leak", "clicks_to_conversion", "conversion_depth",
                                               "unreachable_posts"), {"old": None, "new": None, "delta": None})},
                     "blog": dict.fromkeys(("conversion", "social_leak"), {"old": None, "new": None, "delta": None}),
                     "landing": [], "conversion_pages": [], "unreachable_posts": {"new": [], "fixed": []}},
         **money_changes(old, new, [])}
    assert d["money"]["conversion"]["delta"] == 0.047222  # (never rounded to 0.05 before the subtraction)
    assert d["money"]["monthly_value"] == {"old": 5000.0, "new": 5999.44, "delta": 999.44}
    assert (d["money"]["rate"], d["money"]["kept"]) == (0.141163, 5000.0)
    rows = metric_rows(d)
    assert ("Conversion probability (site-wide, your entries)", "23.6%", "28.3%", "+4.7 pts") in rows
    assert ("Money a month (the model, at #1's rate)", "$5,000", "$6,000", "+$1,000") in rows
    [item] = _money_items(d)
    assert item["words"] == ("What the visits reaching an offer are worth rose from $5,000 to $6,000 a month (the "
                             "model at the same traffic, at the 14% of the visits reaching an offer that converted "
                             "with crawl #1).")
    # the headline and the summary say the entries' conversion, not the home page's alone
    assert headline(d) == "acme.test: conversion 24% to 28%, worth $5,000 to $6,000 a month"


MATOMO_UI = ("Label\tUnique Entrances\tEntrances\tEntry actions\tBounces\tBounce Rate\tMetadata: url\n"
             "/index\t3000\t3900\t9000\t1700\t44%\thttps://acme.test/\n"
             "blog\t2730\t3170\t5200\t2150\t68%\t\n"
             "pricing\t800\t1000\t2500\t300\t30%\t\n")


def test_matomos_real_exports(tmp_path, caplog):
    # the dashboard's Export button: translated column names, UTF-16; folder rows left out, and said
    path = _write(tmp_path / "Entry pages.tsv", MATOMO_UI, "utf-16")
    with caplog.at_level("WARNING", logger="analysis.analytics"):
        [e] = load([str(path)])["exports"]
    assert (e.tool, e.report, e.entries, e.folders) == (
        "Matomo", "entry pages", {("", "https://acme.test/"): [3900.0, None, None]}, ["blog", "pricing"])
    assert caplog.messages == ["warning: Entry pages.tsv: 2 folder rows of Matomo's report left out (blog, pricing): each sums "
                               "the pages under it, not one page; export the report flattened (flat=1) to count "
                               "every page"]
    # the flat API export: its metadata_url, not its label; the goals view's entry columns
    e = read_export(str(_write(tmp_path / "flat.csv",
                               "label,entry_nb_visits,nb_conversions_entry,revenue_entry,metadata_url,metadata_segment\n"
                               "pricing/index,1000,90,10800,https://acme.test/pricing/,x\n"
                               "blog/widgets-101/index,200,1,0,,x\n")))
    assert e.entries == {("", "https://acme.test/pricing/"): [1000.0, 90.0, 10800.0],
                         ("", "blog/widgets-101/index"): [200.0, 1.0, 0.0]}
    g = graph_from([{"url": u, "role": "page", "status": 200, "parsed": 1}
                    for u in (A, A + "pricing/", A + "blog/widgets-101/")], [], site=[A], blog=[A + "blog/"])
    assert match([e], g).entries == {A + "pricing/": 1000.0, A + "blog/widgets-101/": 200.0}


def test_the_same_export_twice_or_two_of_the_same_period_count_once(tmp_path, caplog):
    entries = _write(tmp_path / "entry_pages.csv", "name,visitors,visits\n/,900,1000\n")
    copy = _write(tmp_path / "copy.csv", "name,visitors,visits\n/,900,1000\n")
    with caplog.at_level("WARNING", logger="analysis.analytics"):
        exports = load([str(entries), str(entries), str(copy), str(_write(tmp_path / "landing.csv", DECEMBER))])[
            "exports"]
    assert [x.name for x in exports] == ["entry_pages.csv", "landing.csv"]
    # December's GA4 report has its conversions by entry page: kept, with them (Plausible's entries left out)
    assert exports[0].entries == {}
    assert caplog.messages == [
        f"warning: --analytics {entries}: given twice: read once",
        f"warning: --analytics {copy}: the same export as {entries}: read once",
        "warning: entry_pages.csv and landing.csv both count entry pages (a period one of them does not say): kept "
        "landing.csv, left out entry_pages.csv's (landing.csv has conversions by entry page) (give one export of "
        "each report per period)"]
    g = graph_from([{"url": A, "role": "page", "status": 200, "parsed": 1}], [], site=[A])
    t = match(exports, g)
    assert (t.entries, t.observed[A]["conversions"], t.days, t.assumed) == ({A: 9000.0}, 270.0, 31.0, False)
    # without conversions the first is kept, and the period of the one left out is no period of the counts
    plain = _write(tmp_path / "landing_plain.csv", DECEMBER.replace(",270,", ",0,").replace(",10,", ",0,"))
    exports = load([str(entries), str(plain)])["exports"]
    t = match(exports, g)
    assert (exports[1].entries, t.entries, t.assumed) == ({}, {A: 1000.0}, True)


def test_the_period_stated_read_from_plausibles_visitors_or_said_when_the_exports_differ(tmp_path, caplog):
    g = graph_from([{"url": A, "role": "page", "status": 200, "parsed": 1}], [], site=[A])
    entries = str(_write(tmp_path / "entry_pages.csv", "name,visitors,visits\n/,900,1000\n"))
    # --analytics-period: 15 days of entries are half a month's
    t = match(load([entries], period="2024-11-01:2024-11-15")["exports"], g, period=load(
        [entries], period="2024-11-01:2024-11-15")["period"])
    assert (t.days, t.start, t.end, t.assumed, round(t.monthly(1000))) == (15.0, "2024-11-01", "2024-11-15", False, 2029)
    for bad, message in (("soon", "give a number of days (30) or FROM:TO (2024-11-01:2024-11-30)"),
                         ("2024-11-30:2024-11-01", "the period ends before it starts")):
        with pytest.raises(AnalyticsError) as exc:
            load([entries], period=bad)
        assert str(exc.value) == f"--analytics-period {bad!r}: {message}"
    # Plausible's visitors.csv (a row a day) gives the period
    visitors = _write(tmp_path / "visitors.csv", "date,visitors,pageviews,visits,views_per_visit\n"
                                                 "2024-11-01,300,700,320,2.19\n2024-11-30,300,700,320,2.19\n")
    t = match(load([entries, str(visitors)])["exports"], g)
    assert (t.days, t.start, t.end, t.assumed, t.entries) == (30.0, "2024-11-01", "2024-11-30", False, {A: 1000.0})
    # a zip: unzip it first
    z = tmp_path / "Plausible export.zip"
    z.write_bytes(b"PK\x03\x04\x14\x00zipped")
    with pytest.raises(AnalyticsError) as exc:
        load([str(z)])
    assert str(exc.value) == f"{z}: a zip archive: unzip it first: funnelcheck reads the CSV files inside"
    # exports of different periods: each a month's worth of its own, and said
    october = _write(tmp_path / "imported_entry_pages_20241001_20241130.csv",
                     "date,entry_page,visitors,entrances\n2024-10-01,/,10,600\n")
    goals = _write(tmp_path / "key_events.csv", "# Start date: 20241101\n# End date: 20241130\n"
                                                "Event name,Key events\nsign_up,30\n")
    with caplog.at_level("WARNING", logger="analysis.analytics"):
        exports = load([str(october), str(goals)])["exports"]
    assert caplog.messages == ["warning: the exports cover different periods (imported_entry_pages_20241001_20241130.csv "
                               "2024-10-01 to 2024-11-30; key_events.csv 2024-11-01 to 2024-11-30): each is counted "
                               "as a month's worth of its own"]
    t = match(exports, g)
    assert (t.days, t.entries, t.goals) == (61.0, {A: 600.0}, {"sign_up": [61.0, None]})


NUMBERS = [("1e9", "'1e9' in column 'total_entrances' is not a number"),
           ("12:30", "'12:30' in column 'total_entrances' is not a number"),
           ("1.2K", "'1.2K' in column 'total_entrances' is not a number"),
           ("0.500", "'0.500' in column 'total_entrances' is not a whole number"),
           ("3 of 4", "'3 of 4' in column 'total_entrances' is not a number"),
           ("\x1b[31m5\x1b[0m", "'\\x1b[31m5\\x1b[0m' in column 'total_entrances' is not a number"),
           ("-4200", "'-4200' in column 'total_entrances' is negative"),
           ("999999999999999999999999", "'999999999999999999999999' in column 'total_entrances' is too large to be "
                                        "real")]


@pytest.mark.parametrize("cell, message", NUMBERS, ids=[n[0].replace("\x1b", "ESC") for n in NUMBERS])
def test_a_number_that_is_none_is_an_error_never_a_misread(tmp_path, cell, message):
    path = _write(tmp_path / "entry_pages.csv", f'name,unique_entrances,total_entrances\n/,1,"{cell}"\n')
    with pytest.raises(AnalyticsError) as exc:
        read_export(str(path))
    assert str(exc.value) == f"{path} line 2: {message}"


def test_negative_revenue_and_misaligned_rows_are_errors_and_valid_numbers_still_read(tmp_path):
    path = _write(tmp_path / "conversions.csv", 'name,unique_conversions,total_conversions,total_revenue\n'
                                                'Purchase,10,12,"-$1,500.00"\n')
    with pytest.raises(AnalyticsError) as exc:
        read_export(str(path))
    assert str(exc.value) == f"{path} line 2: '-$1,500.00' in column 'total_revenue' is negative"
    path = _write(tmp_path / "entry_pages.csv", "name,unique_entrances,total_entrances\n/,3,100,4,200\n")
    with pytest.raises(AnalyticsError) as exc:
        read_export(str(path))
    assert str(exc.value) == (f"{path} line 2: 5 fields but the header has 3 (a number with an unquoted thousands "
                              "separator? quote it, or export without separators)")
    e = read_export(str(_write(tmp_path / "ok.csv", "name,unique_conversions,total_conversions,total_revenue\n"
                                                    'A,1,"12,400","1.234,56 €"\nB,1,12 400,$99.50\nC,1,12.400,"£1,900"\n')))
    assert e.goals == {"A": [12400.0, 1234.56], "B": [12400.0, 99.5], "C": [12400.0, 1900.0]}


def test_a_value_that_values_nothing_is_said_and_the_host_is_checked(caplog):
    g = graph_from([{"url": u, "role": "page", "status": 200, "parsed": 1} for u in (A, A + "about/", A + "pricing/")],
                   [(A, A + "pricing/", "main", "other"), (A, A + "about/", "main", "other")], site=[A])
    t = Traffic([], 30, False, goals={"Signup": [10.0, None]})
    with caplog.at_level("WARNING", logger="analysis.analytics"):
        worth = conversion_values(g, t, {"/about/": 5, "/gone/": 3, "Demo": 40, "/pricing/": 100}, None, "--value")
    assert worth == {"pages": {A + "pricing/": 100.0}, "default": 40.0, "currency": "$", "source": "--value"}
    assert caplog.messages == [
        "warning: value of /about/ ($5): not an offer page (pricing, checkout, contact, a form): the model values only the "
        "offers visitors reach, so it values nothing; value an offer page or a goal",
        "warning: value of /gone/ ($3): no page the crawl read has this address: it values nothing",
        "warning: value of goal 'Demo' ($40): no export has this goal (theirs: Signup): it values no conversion, only offers "
        "without a value of their own"]
    for bad in ("my site", "https://", "acme_example.com"):
        with pytest.raises(AnalyticsError) as exc:
            load([], host=bad)
        assert str(exc.value) == f"--analytics-host {bad!r}: not a host name (acme.example or https://acme.example/)"
    assert load([], host="blog.acme.test") is None


def test_attribution_parameters_fold_in_the_matching_only():
    g = graph_from([{"url": u, "role": "page", "status": 200, "parsed": 1} for u in (A, A + "pricing/")], [], site=[A])
    e = Export("landing.csv", "GA4", "landing pages", "entries",
               entries={("", "/?srsltid=AfmBOoq123"): [50.0, None, None], ("", "/pricing/?ref=producthunt"): [9.0, None, None],
                        ("", "/pricing/?hsa_cam=1&hsa_grp=2"): [4.0, None, None],
                        ("", "/pricing/?_gl=1*abc*_ga*MTIz"): [100.0, None, None], ("", "(not set)"): [7.0, None, None]})
    t = match([e], g)
    assert t.entries == {A: 50.0, A + "pricing/": 113.0}
    assert t.unmatched == {"rows": 1, "visits": 7.0, "examples": ["(not set)"]}


def test_a_report_without_the_exports_shows_the_traffic_kept_and_markdown_the_traffic_line(crawls):
    from analysis.formats.markdown import write as markdown
    from analysis.formats.terminal import write

    tmp, db, _, _ = crawls
    kept = ("Traffic (kept with the audit of this crawl: entry_pages_20241101_20241130.csv, conversions.csv; "
            "2024-11-01 to 2024-11-30): of ~12,600 monthly entries, the model sent 46% to an offer (~5,800 visits a "
            "month), worth about $6,090 a month (at the 0.9% of them the exports saw convert); give --analytics again "
            "to weight this report by it")
    with Store(db, readonly=True) as store:
        a = audit(store, 1)
        out, md = io.StringIO(), io.StringIO()
        write(a, out, color=False)
        markdown(a, md)
        b = audit(store, 1, analytics=load([str(tmp / "entry_pages_20241101_20241130.csv"),
                                            str(tmp / "conversions.csv")], values={"/pricing/": 1900.0}))
        md2 = io.StringIO()
        markdown(b, md2)
    assert out.getvalue().splitlines()[5] == kept
    assert "**" + kept.replace("_", "\\_").replace("~", "\\~").replace("$", "\\$") + "**" in md.getvalue()
    assert ("**Traffic (entry\\_pages\\_20241101\\_20241130.csv, conversions.csv; 2024-11-01 to 2024-11-30): of "
            "your \\~12,600 monthly entries (on 3 pages), the model sends 46% to an offer") in md2.getvalue()


def test_the_words_of_one_link_of_sessions_and_of_long_pages():
    from analysis.analytics import as_often, traffic_lines
    from analysis.plan import priced

    one = {"id": "a", "rule": "backward-social", "severity": "high", "measure": "remove", "kind": "profile",
           "target": "https://x.com/a", "cost": 0.6, "flow": 0.025, "pages": 1, "links": 1,
           "words": "the page body's follow link (X) on 1 page: without it, …"}
    [x] = priced([one], 10000, 120.0, rate=0.1)
    assert x["words"].endswith("; in your traffic: ~250 visits a month click it, without it ~6 more conversions a "
                               "month, worth about $720 a month")
    assert (as_often(1 / 1.7), as_often(0.5)) == ("0.6x as often", "about half as often")
    a = {"files": [{"name": "bq.csv"}], "period": {"assumed": False}, "sentence": "…",
         "unmatched": {"rows": 1, "visits": 1.0, "examples": ["/" + "very-long-slug-" * 8 + "end/"]},
         "entries": [{"url": A, "visits": 2220.0, "sessions": 73, "predicted": 0.49, "observed": 0.4,
                      "basis": "reached an offer", "error": 0.09}]}
    lines = traffic_lines(a)
    assert lines[0][1] == ["not matched: /very-long-slug-very-long-slug-very…slug-very-long-slug-end/"]
    assert lines[1][1] == ["/ (~2,220 entries a month): model 49%, observed 40% reached an offer (of 73 sessions in "
                           "the event rows)"]


def test_a_valued_offer_behind_another_offer_values_nothing_and_is_said():
    g = graph_from([{"url": u, "role": "page", "status": 200, "parsed": 1} for u in (A, A + "pricing/", A + "checkout/")],
                   [(A, A + "pricing/", "main", "other"), (A + "pricing/", A + "checkout/", "main", "other")], site=[A])
    m = funnel_metrics(g, (), visits={A: 100.0}, values={"pages": {A + "checkout/": 120.0}, "default": None})
    # the walk ends at pricing, the first offer: checkout is never reached first
    assert (m["site"]["value_per_visit"], m["site"]["unvalued_offers"]) == (0.0, [A + "checkout/"])


def test_ga4_with_its_chart_data_first_and_in_german(tmp_path):
    chart = DECEMBER.replace("Landing page + query string,", "Nth day,Sessions\n0000,290\n0001,305\n\n"
                             "# Landing page table\nLanding page + query string,", 1)
    e = read_export(str(_write(tmp_path / "chart_first.csv", chart)))
    assert (e.report, str(e.start), e.entries[("", "/")]) == ("landing pages", "2024-12-01", [9000.0, 270.0, 3000.0])
    path = _write(tmp_path / "chart_first_bad.csv", chart.replace('"9,000"', "viele"))
    with pytest.raises(AnalyticsError) as exc:
        read_export(str(path))
    assert str(exc.value) == f"{path} line 16: 'viele' in column 'Sessions' is not a number"  # (its line in the file)
    e = read_export(str(_write(tmp_path / "ga4_de.csv", "Landingpage + Suchstring,Sitzungen,Aktive Nutzer,"
                                                         "Schlüsselereignisse,Gesamtumsatz\n/,3.800,3.100,76,\"4.560,00 €\"\n")))
    assert (e.tool, e.entries) == ("GA4", {("", "/"): [3800.0, 76.0, 4560.0]})


def _trial():
    """The trial's site: home links pricing and about (body) and X (header); about is a dead end.
    Entries: 1,000 on home, 500 on about."""
    g = graph_from([{"url": u, "role": "page", "status": 200, "parsed": 1} for u in (A, A + "about/", A + "pricing/")],
                   [(A, A + "pricing/", "main", "other"), (A, A + "about/", "main", "other"),
                    (A, "https://x.com/acme", "header", "profile")], site=[A])
    entries = Export("entries.csv", "Plausible", "entry pages", "entries",
                     entries={("", "/"): [1000.0, None, None], ("", "/about/"): [500.0, None, None]})
    return g, entries


def test_a_value_the_exports_revenue_overrides_or_that_is_no_observation_is_said(caplog):
    from analysis.analytics import traffic_metrics
    from analysis.rules import run_rules

    g, entries = _trial()
    findings = run_rules(g)
    revenue = Export("goals.csv", "Plausible", "goal conversions", "goals", goals={"Purchase": [50.0, 5000.0]})
    with caplog.at_level("WARNING", logger="analysis.analytics"):
        a = traffic_metrics(g, findings, {"exports": [entries, revenue], "values": {"/pricing/": 300.0}})["analytics"]
    # the exports' revenue prices the money ($5,000 for 50: $100 each), and a warning says your value does not
    assert (a["monthly_value"], a["value_per_conversion"]) == (5000.0, 100.0)
    assert caplog.messages == [
        "warning: value of /pricing/ ($300): the exports' revenue wins ($5,000 for 50 conversions: $100 each): it "
        "prices the money a month and the action plan; a page's value prices only the repair of a broken link to "
        "that page"]
    # a goal without revenue in the export, valued with --value: the money is yours, not observed
    caplog.clear()
    counted = Export("goals.csv", "Plausible", "goal conversions", "goals", goals={"Purchase": [50.0, None]})
    with caplog.at_level("WARNING", logger="analysis.analytics"):
        a = traffic_metrics(g, findings, {"exports": [entries, counted], "values": {"Purchase": 80.0}})["analytics"]
    assert caplog.messages == []
    assert a["observed"]["valued"] == a["observed"]["revenue"] == 4000.0
    assert "; observed: Purchase 50 (worth $4,000 at your values: no export gives their revenue), so 14.1% of the " \
           "visits reaching an offer convert: worth about $4,000 a month" in a["sentence"]
