"""The analysis at scale (issue 21, item 5): what changed so a million-page crawl is analysed flat
gives exactly what it gave before, on crawls small enough to check.

- the JSON report lists every link, the broken ones or none (``Audit.links``; by default all up
  to ``LINKS_MAX`` rows, the broken ones beyond, saying so in ``links_left_out``);
- GraphML and GEXF are streamed (never a networkx graph of the links) and read back as the
  aggregated graph;
- the funnel walk judged a chunk of links at a time gives the per-link walk's arrays;
- node attributes are shared between nodes and copied on write;
- ``bench/synth_store.py`` writes a store the analysis reads like a crawl of the bench site.
"""
from __future__ import annotations

import io
import json
import sys
from dataclasses import replace
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from analysis import graph as graph_module
from analysis import metrics
from analysis.formats import gexf, graphml
from analysis.formats import json as json_format
from analysis.graph import CrawlGraph, NodeData, build_graph, graph_from
from analysis.report import audit
from analysis.rules import run_rules
from crawler.store import Store
from conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
S = "https://a.example/"


@pytest.fixture(scope="module")
def acme(tmp_path_factory):
    """The example site audited once (``examples/acme``: broken links, social, a blog), analysed."""
    tmp = tmp_path_factory.mktemp("acme")
    db = tmp / "crawls.sqlite"
    result = run_cli("audit", ROOT / "examples/acme/site", "--config", ROOT / "examples/acme/funnel.toml",
                     "--db", db, "-o", tmp / "audit.txt")
    assert result.exit_code == 1, result.stderr  # (high findings on purpose)
    store = Store(db, readonly=True)
    yield store, audit(store), tmp
    store.close()


def _json(a) -> tuple[dict, str]:
    buf = io.StringIO()
    json_format.write(a, buf)
    return json.loads(buf.getvalue()), buf.getvalue()


def _stored_links(store, a) -> list[dict]:
    """Every link row as the JSON report writes it, built here from the store's rows."""
    nodes = a.graph.node_data
    return [{**{k: row[k] for k in ("source", "target", "fragment", "tag", "attr")}, "text": row["text"] or "",
             "region": row["region"], "rel": row["rel"] or "", "kind": row["kind"], "line": row["line"],
             "icon": bool(row["icon"]), "tier": nodes[row["target_key"]]["tier"], "_key": row["target_key"]}
            for row in store.links(a.crawl["id"])]


def test_json_lists_every_link_by_default_as_before(acme):
    store, a, tmp = acme
    report, text = _json(a)
    assert list(report) == ["crawl", "pages", "links", "findings", "baseline", "metrics", "summary"]
    want = [{k: v for k, v in link.items() if k != "_key"} for link in _stored_links(store, a)]
    assert report["links"] == want and len(want) == report["summary"]["links"] == 263
    # what `funnelcheck report --format json` writes is this, byte for byte
    result = run_cli("report", "--db", tmp / "crawls.sqlite", "--format", "json", "-o", tmp / "r.json")
    assert result.exit_code == 1 and "links listed" not in result.stderr
    assert json.loads((tmp / "r.json").read_text()) == report


def test_json_links_broken_none_and_the_default_beyond_links_max(acme, monkeypatch, caplog):
    store, a, _ = acme
    every = _stored_links(store, a)
    broken = [{k: v for k, v in link.items() if k != "_key"} for link in every
              if a.graph.nodes[link["_key"]]["verdict"] == "broken"]
    assert [(link["source"], link["target"]) for link in broken] == [
        ("https://acme.example/blog/posts/old-news/", "https://acme.example/products/discontinued/")]

    report, _ = _json(replace(a, links="broken"))
    assert list(report) == ["crawl", "pages", "links", "links_left_out", "findings", "baseline", "metrics", "summary"]
    assert report["links"] == broken
    assert report["links_left_out"] == {
        "listed": "broken", "links": 1, "of": 263,
        "note": "1 of 263 links listed: those to broken targets; --links all lists every one, "
                "funnelcheck report --format csv-links writes them as CSV"}

    report, _ = _json(replace(a, links="none"))
    assert report["links"] == [] and report["links_left_out"]["note"].startswith("none of the 263 links listed;")
    everything, _ = _json(a)
    assert {k: v for k, v in report.items() if k not in ("links", "links_left_out")} == {
        k: v for k, v in everything.items() if k != "links"}  # the rest of the report unchanged

    monkeypatch.setattr(json_format, "LINKS_MAX", 100)  # a crawl past the limit: the broken ones, said so
    with caplog.at_level("WARNING"):
        report, _ = _json(a)
    assert report["links"] == broken
    assert report["links_left_out"]["note"] == (
        "1 of 263 links listed: those to broken targets (more than 100 links); --links all lists every one, "
        "funnelcheck report --format csv-links writes them as CSV")
    assert "JSON report: 1 of 263 links listed" in caplog.text
    report, _ = _json(replace(a, links="all"))  # asked for: every one, whatever the size
    assert len(report["links"]) == 263 and "links_left_out" not in report

    # past LINKS_MAX a finding lists its first PAGES_MAX pages; count stays, pages_listed says so
    monkeypatch.setattr(json_format, "PAGES_MAX", 2)
    caplog.clear()
    with caplog.at_level("WARNING"):
        report, _ = _json(a)
    whole = {f["id"]: f for f in everything["findings"]}
    cut = [f for f in report["findings"] if "pages_listed" in f]
    assert len(cut) == sum(1 for f in whole.values() if f["count"] > 2) >= 3
    for f in report["findings"]:
        full = whole[f["id"]]
        long = {k: v for k, v in (full["detail"] or {}).items() if isinstance(v, list) and len(v) > 2}
        if long:  # (a grouped finding's targets: the first 2, and how many)
            assert {k: f["detail"][k] for k in long} == {k: v[:2] for k, v in long.items()}
            assert {k: f["detail"][k + "_total"] for k in long} == {k: len(v) for k, v in long.items()}
        if f["count"] <= 2:
            assert f == full or (long and "pages_listed" not in f)
            continue
        assert f["sources"] == full["sources"][:2] and f["count"] == full["count"] and f["pages_listed"] == 2
        assert f["locations"] == [loc for loc in full["locations"] if loc["url"] in f["sources"]] != []
        assert list(f) == [*list(full)[:7], "pages_listed", *list(full)[7:]]
        pages = (full["detail"] or {}).get("pages_by_severity")
        if pages:
            assert f["detail"]["pages_by_severity"] == {
                sev: [p for p in ps if p in f["sources"]] for sev, ps in pages.items()}
    changed = [f for f in report["findings"] if f != whole[f["id"]]]
    assert (f"JSON report: {len(changed)} findings listed with the first 2 of their pages (and of their detail's "
            "lists) only (more than 100 links); --links all lists every page") in caplog.text
    report, _ = _json(replace(a, links="all"))
    assert report["findings"] == everything["findings"]
    with pytest.raises(ValueError, match="--links must be one of all, broken, none, got 'some'"):
        _json(replace(a, links="some"))


def test_graph_formats_stream_and_read_back_as_the_aggregated_graph(acme, monkeypatch):
    _, a, _ = acme
    whole = a.graph.aggregated()
    expected = graphml.export_graph(a)
    assert set(expected.edges) == set(whole.edges) and all(
        expected.edges[e] == whole.edges[e] for e in whole.edges)

    def never(*_, **__):
        raise AssertionError("a graph format built the whole graph")

    monkeypatch.setattr(CrawlGraph, "aggregated", never)
    monkeypatch.setattr(nx, "DiGraph", never)  # (the readers below make theirs from nx.DiGraph's own module)
    texts = {}
    for name, module in (("graphml", graphml), ("gexf", gexf)):
        buf = io.StringIO()
        module.write(a, buf)
        texts[name] = buf.getvalue()
    monkeypatch.undo()
    for name, read in (("graphml", nx.read_graphml), ("gexf", nx.read_gexf)):
        g = read(io.StringIO(texts[name]))
        assert dict(g.nodes(data=True)) == {
            n: ({**d, "label": n} if name == "gexf" else d) for n, d in expected.nodes(data=True)}
        assert set(g.edges) == set(expected.edges)
        for u, v, d in expected.edges(data=True):
            got = {k: x for k, x in g.edges[u, v].items() if k not in ("id", "weight")}
            assert got == d
            if name == "gexf":
                assert g.edges[u, v]["weight"] == d["links"]
    assert {k: nx.read_graphml(io.StringIO(texts["graphml"])).graph[k] for k in ("crawl_id", "targets")} == {
        "crawl_id": a.crawl["id"], "targets": a.crawl["targets"][0]}


LINKS = [  # (source, target, region, kind[, tag]): every branch of the walk
    (S, S + "pricing/", "main", "other"), (S, "https://twitter.com/acme", "header", "profile"),
    (S, "https://twitter.com/acme", "footer", "profile"), (S, "https://twitter.com/acme", "head", "identity", "link"),
    (S, S + "blog/p/", "main", "other"), (S, S + "blog/q/", "nav", "other"), (S, S, "main", "other"),
    (S, "https://twitter.com/intent/tweet?url=x", "main", "share"), (S, S + "gone/", "main", "other"),
    (S, "https://www.youtube.com/watch?v=1", "aside", "content"), (S, S + "x/", "sidebar", "other"),
    (S + "blog/p/", S, "main", "other"), (S + "blog/p/", "https://twitter.com/acme", "footer", "profile"),
    (S + "blog/p/", "https://twitter.com/intent/tweet?url=y", "main", "share"),
    (S + "blog/p/", "https://twitter.com/jane", "main", "profile"), (S + "blog/p/", S + "blog/q/", None, "other"),
    (S + "blog/q/", S + "blog/p/", "main", "other"), (S + "blog/q/", "https://linkedin.com/company/acme", "footer",
                                                      "profile"),
]


@pytest.mark.parametrize("chunk", [metrics.CHUNK, 3])
@pytest.mark.parametrize("weights", [None, {"footer": 0.0, "nav": 0.0}])
def test_the_chunked_walk_is_the_per_link_walk(monkeypatch, chunk, weights):
    pages = [{"url": u, "role": "page", "status": 200, "parsed": 1} for u in (S, S + "blog/p/", S + "blog/q/", S + "x/")]
    pages.append({"url": S + "gone/", "role": "page", "status": 404})
    g = graph_from(pages, LINKS, site=[S])
    findings = run_rules(g)
    assert {f.rule for f in findings} >= {"backward-social", "backward-blog"}
    monkeypatch.setattr(metrics, "CHUNK", chunk)
    one, other = metrics.walk_graph(g, findings, weights), metrics.walk_graph(g, findings, weights, chunked=False)
    assert len(one.src) > 10 and len(one.grouped) >= 4
    for name in ("offers", "src", "dst", "region", "grouped", "group", "table"):
        assert np.array_equal(getattr(one, name), getattr(other, name)), name
    assert one.urls == other.urls and one.tiers == other.tiers
    # the funnel metrics' walk: the owned links, the sums and groups taken as it reads, bit for bit
    owned, want = metrics.walk_graph(g, findings, weights, owned=True), metrics.owned_walk(other)
    assert owned.links == want.links == len(other.src) and len(owned.src) < len(other.src)
    for name in ("src", "dst", "region"):
        assert np.array_equal(getattr(owned, name), getattr(want, name)), name
    for got, expected in zip(owned.sums, want.sums):
        assert got.tobytes() == expected.tobytes()
    assert len(owned.removals) == len(want.removals) == len(owned.findings) > 0
    for got, expected in zip(owned.removals, want.removals):
        assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(got, expected))


def test_the_helper_processes_read_what_the_process_reads(tmp_path, monkeypatch):
    """A big crawl's link ends (graph) and clickable links (the funnel metrics' walk) are read by
    helper processes (crawler.store.link_ends_ahead, int_rows_ahead): the same graph, the same
    walk, bit for bit, as read in the process."""
    import crawler.store

    pages = [{"url": u, "role": "page", "status": 200, "parsed": 1} for u in (S, S + "blog/p/", S + "blog/q/", S + "x/")]
    pages.append({"url": S + "gone/", "role": "page", "status": 404})
    g = graph_from(pages, LINKS, site=[S])
    findings = run_rules(g)
    want = metrics.walk_graph(g, findings, owned=True)
    g.store.db.commit()
    g.store.db.backup(dest := __import__("sqlite3").connect(tmp_path / "c.sqlite"))
    dest.close()
    monkeypatch.setattr(crawler.store, "ENDS_AHEAD_MIN", 1)
    monkeypatch.setattr(metrics, "AHEAD_URLS", 1)
    monkeypatch.setattr(graph_module, "AHEAD_URLS", 1)
    offer_links = graph_module.offer_links(g)
    helped = []
    for name in ("link_ends_ahead", "int_rows_ahead", "first_positions_ahead"):
        def spy(self, *args, _read=getattr(Store, name), _name=name, **kwargs):
            got = _read(self, *args, **kwargs)
            helped.append(_name if got is not None else None)
            return got
        monkeypatch.setattr(Store, name, spy)
    with Store(tmp_path / "c.sqlite", readonly=True) as store:
        other = build_graph(store, g.crawl_id)
        assert list(other.node_data) == list(g.node_data)
        assert all(dict(other.nodes[u]) == dict(d) for u, d in g.nodes(data=True))
        graph_module.offer_links_ahead(other)
        assert graph_module.offer_links(other) == offer_links and len(offer_links) >= 1
        got = metrics.walk_graph(other, run_rules(other), owned=True)
    for name in ("src", "dst", "region", "offers"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    assert all(a.tobytes() == b.tobytes() for a, b in zip(got.sums, want.sums)) and got.links == want.links > 5
    assert [[x.tolist() for x in r] for r in got.removals] == [[x.tolist() for x in r] for r in want.removals]
    assert helped == ["link_ends_ahead", "first_positions_ahead", "int_rows_ahead"]


def test_node_attributes_are_shared_and_copied_on_write():
    signals = {"feed": True}
    a = NodeData(tier="site", role="page", parsed=True, signals=signals, title="A")
    b = NodeData(tier="site", role="page", parsed=True, signals=signals, title="B")
    assert a._shared is b._shared and (a["title"], b["title"]) == ("A", "B")
    c = NodeData(tier="site", role="page", parsed=1, signals=signals)  # 1 is not True: not the same
    assert c._shared is not a._shared and c["parsed"] == 1 and a["parsed"] is True
    b["verdict"] = "ok"
    assert "verdict" not in a and b["verdict"] == "ok" and a._shared is not b._shared
    b.update(verdict="ok", chain=(), final_url=None)
    assert dict(b) == {"tier": "site", "role": "page", "parsed": True, "signals": signals, "verdict": "ok",
                       "title": "B", "chain": (), "final_url": None}
    del b["verdict"], b["title"]
    assert "verdict" not in b and b.get("title", "-") == "-" and b._shared is a._shared
    with pytest.raises(KeyError):
        b["depth"]


def test_synth_store_reads_like_a_crawl_of_the_bench_site(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import synth_store
    finally:
        sys.path.remove(str(ROOT / "bench"))
    facts = synth_store.synthesize(120, str(tmp_path / "s.sqlite"), base="http://127.0.0.1:8080")
    # pages 7, 57 and 107 link to 3 missing pages, 3, 43 and 83 to a product without its slash (a 301)
    assert (facts["pages"], facts["page_rows"]) == (120, 120 + 3 + 3 + 2 + 1)  # + the two assets, sitemap.xml
    with Store(tmp_path / "s.sqlite", readonly=True) as store:
        a = audit(store)
    assert a.summary["pages_crawled"] == 120 and a.summary["links"] == facts["links"]
    assert a.summary["verdicts"] == {"broken": 3, "ok": 126}  # (a 301 to a page: ok at the end of its chain)
    assert {f.rule for f in a.findings} >= {"broken-link", "backward-social", "redirect"}
    assert a.metrics["site"]["pages"] == 120  # the owned pages walked (the 404s and the 301s are none)


def test_the_links_option_of_report_and_audit(acme):
    """``--links`` is what a user types: ``report --links none`` lists no link and says so; a
    choice it does not know is exit 2 with click's one line."""
    store, _, tmp = acme
    out = tmp / "none.json"
    result = run_cli("report", "--db", store.path, "--format", "json", "--links", "none", "-o", out)
    assert result.exit_code == 1, result.stderr
    report = json.loads(out.read_text())
    assert report["links"] == [] and report["links_left_out"]["note"].startswith("none of the 263 links listed;")
    assert "links listed" not in result.stderr  # asked for: no note on stderr (the report's own says it)
    result = run_cli("report", "--db", store.path, "--format", "json", "--links", "some")
    assert result.exit_code == 2 and "Invalid value for '--links'" in result.stderr
    assert "--links [all|broken|none]" in run_cli("audit", "--help").stdout


def _walked_graph():
    """The graph of :data:`LINKS` (backward-social, backward-blog, broken-link, dead-end findings)."""
    pages = [{"url": u, "role": "page", "status": 200, "parsed": 1, "title": u[-2:]}
             for u in (S, S + "blog/p/", S + "blog/q/", S + "x/")]
    pages.append({"url": S + "gone/", "role": "page", "status": 404})
    return graph_from(pages, LINKS, site=[S])


@pytest.mark.parametrize("chunk", [None, 1])
def test_a_parked_graph_and_its_findings_come_back_the_same(tmp_path, monkeypatch, chunk):
    """analysis.parking: the nodes (their order, type, attributes, shared attribute dicts) and the
    findings (their pages and locations) written to a file beside the store and read back in place;
    the findings' URLs are the node keys' own strings again. With ``chunk`` 1, every node and every
    list of URLs longer than one goes a chunk at a time (how a million-page finding's pages do)."""
    from analysis import parking
    from analysis.graph import TargetData
    from analysis.parking import Parking

    if chunk is not None:
        monkeypatch.setattr(parking, "CHUNK", chunk)

    g = _walked_graph()
    findings = run_rules(g)
    nodes, found = g.node_data, findings
    before = [(u, type(d), dict(d)) for u, d in g.nodes(data=True)]
    sharing = {u: [v for v, e in g.nodes(data=True) if e._shared is d._shared] for u, d in g.nodes(data=True)}
    want = [(f.as_dict(), list(f.locations)) for f in findings]
    assert {f.rule for f in findings} >= {"backward-social", "backward-blog", "broken-link", "dead-end"}
    assert any(type(d) is TargetData for d in g.node_data.values())
    parking = Parking(g, findings, directory=str(tmp_path))
    parking.park()
    assert len(g) == 0 and findings == [] and parking.bytes > 0
    assert Path(__import__("os").readlink(f"/proc/self/fd/{parking.file.fileno()}")).parent == tmp_path
    parking.unpark()
    assert g.node_data is nodes and findings is found and not parking.parked
    assert [(u, type(d), dict(d)) for u, d in g.nodes(data=True)] == before
    assert {u: [v for v, e in g.nodes(data=True) if e._shared is d._shared] for u, d in g.nodes(data=True)} == sharing
    assert [(f.as_dict(), list(f.locations)) for f in findings] == want
    keys = {u: u for u in g.node_data}
    for f in findings:
        assert all(u is keys[u] for u in (*f.sources, *f.locations.urls)) and f.target is keys.get(f.target, f.target)
    parking.unpark()  # (twice: nothing more)
    assert len(g) == len(before)


def _plain(value):
    """The metrics as plain dicts and lists (whatever mappings and sequences hold them)."""
    from collections.abc import Mapping, Sequence

    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


@pytest.mark.parametrize("visits", [None, {S: 3.0, S + "blog/p/": 1.0}])
def test_the_funnel_metrics_of_a_parked_graph_are_the_same(monkeypatch, visits):
    """A big graph's nodes and findings are parked while the metrics solve (analysis.parking,
    forced here with the threshold at 1): the same metrics, the graph and findings as before."""
    from analysis import parking

    g = _walked_graph()
    findings = run_rules(g)
    values = {"pages": {S + "pricing/": 10.0}, "default": 1.0} if visits else None
    want = metrics.funnel_metrics(g, findings, visits=visits, values=values)
    nodes = [(u, dict(d)) for u, d in g.nodes(data=True)]
    listed = [(f.as_dict(), list(f.locations)) for f in findings]
    parked = []
    monkeypatch.setattr(parking, "PARK_URLS", 1)
    monkeypatch.setattr(parking.Parking, "park", lambda self, _park=parking.Parking.park: (
        parked.append(len(self.g)), _park(self))[1])
    got = metrics.funnel_metrics(g, findings, visits=visits, values=values)
    assert parked == [len(nodes)]
    assert json.dumps(_plain(got)) == json.dumps(_plain(want))
    assert {x["rule"] for x in got["fix_first"]} >= {"backward-social", "backward-blog", "broken-link", "dead-end"}
    assert [(u, dict(d)) for u, d in g.nodes(data=True)] == nodes
    assert [(f.as_dict(), list(f.locations)) for f in findings] == listed


def _link(source, target, tag="a", region="main", kind="other"):
    """A stored link row (LINK_COLUMNS) of ``source`` to ``target`` (its own key)."""
    return (source, target, target, None, tag, "href", "", region, "", 0, kind, 1)


def test_the_link_ends_of_a_crawl_are_its_own_each_once_in_order(tmp_path):
    """Store.link_ends reads a whole crawl's ends by the URL table's index (no sort of every
    link's two ends): each URL a link of that crawl names once, sorted as Python sorts, none of
    another crawl's; a crawl followed as it runs reads the ends of its new links only."""
    with Store(tmp_path / "c.sqlite") as store:
        old = store.create_crawl([S], {"site": [S]})
        store.write_page(old, {"url": S, "role": "page", "status": 200, "parsed": 1},
                         [_link(S, S + "old/"), _link(S, "https://x.com/Acme", kind="profile")])
        new = store.create_crawl([S], {"site": [S]})
        store.write_page(new, {"url": S, "role": "page", "status": 200, "parsed": 1},
                         [_link(S, S + "b/"), _link(S, S + "B/"), _link(S, "mailto:a@a.example")])
        first, ends = store.link_ends(new)
        assert list(ends) == sorted({S, S + "b/", S + "B/", "mailto:a@a.example"})
        store.write_page(new, {"url": S + "b/", "role": "page", "status": 200, "parsed": 1},
                         [_link(S + "b/", S + "c/"), _link(S + "b/", S)])
        last, ends = store.link_ends(new, after=first)
        assert last == first + 2 and list(ends) == [S, S + "b/", S + "c/"]
        last_old, ends = store.link_ends(old)  # (an older crawl: its last link is not the store's last)
        assert last_old == 2 and list(ends) == [S, S + "old/", "https://x.com/Acme"]
        assert list(store.link_ends(new, after=last)[1]) == []


def test_a_graph_read_as_the_crawl_runs_is_the_graph_read_at_once(tmp_path):
    """GraphBuilder.update reads a running crawl's new rows: a target met in an earlier update whose
    page row comes later becomes that page, with the attributes a graph read at once gives it."""
    from analysis.graph import GraphBuilder

    with Store(tmp_path / "c.sqlite") as store:
        cid = store.create_crawl([S], {"site": [S]})
        store.write_page(cid, {"url": S, "role": "page", "status": 200, "parsed": 1, "title": "Home",
                               "signals": '{"feed": true}'},
                         [_link(S, S + "pricing/"), _link(S, S + "b/"), _link(S, "https://x.com/acme", kind="profile")])
        live = GraphBuilder(store, cid)
        live.update()
        assert type(live.g.nodes[S + "b/"]).__name__ == "TargetData"
        store.write_page(cid, {"url": S + "b/", "role": "page", "status": 200, "parsed": 1, "title": "B",
                               "signals": '{"feed": true}'}, [_link(S + "b/", S)])
        store.write_page(cid, {"url": S + "pricing/", "role": "page", "status": 200, "parsed": 1, "title": "P"}, [])
        g = live.finish()
        at_once = build_graph(store, cid)
    assert list(g.node_data) == list(at_once.node_data)
    for url, data in at_once.nodes(data=True):
        assert type(g.nodes[url]) is type(data) and dict(g.nodes[url]) == dict(data), url
    assert g.nodes[S + "b/"]["title"] == "B" and g.nodes[S + "b/"]["signals"] == {"feed": True}
    assert g.nodes[S + "pricing/"]["conversion"] == "purchase" and g.nodes[S]["verdict"] == "ok"


def test_the_metrics_read_every_destination_as_a_click_would_reach_it():
    """read_nodes judges a URL that lands on itself by its shared attributes (once per shared dict):
    every URL's destination is still what _destination follows, through redirects and <meta refresh>
    stubs, to pages, offers, broken targets, profiles and other sites."""
    pages = [{"url": u, "role": "page", "status": 200, "parsed": 1, "title": u[-3:]}
             for u in (S, S + "a/", S + "b/", S + "stub/", S + "pricing/")]
    pages += [{"url": S + "old/", "role": "page", "status": 301, "location": S + "a/"},
              {"url": S + "moved/", "role": "page", "status": 301, "location": S + "pricing/"},
              {"url": S + "gone/", "role": "page", "status": 404}]
    links = [(S, u, "main", "other") for u in (S + "a/", S + "b/", S + "stub/", S + "old/", S + "moved/", S + "gone/",
                                              "https://b.example/", S + "signup")]
    links += [(S, "https://x.com/acme", "footer", "profile"), (S + "stub/", S + "b/", "head", "other", "meta"),
              (S + "a/", S + "a/", "head", "other", "meta")]
    g = graph_from(pages, links, site=[S])
    head, plan = metrics.read_nodes(g, run_rules(g))
    url_of = g.store.url_table(g.node_data)
    index = metrics._SortedIndex(head.urls)
    got = {url: plan.dest[i] for i, url in enumerate(url_of) if url is not None}
    assert got == {url: metrics._destination(g, url, index, head.n) for url in got}
    n = head.n
    assert got[S + "stub/"] == got[S + "b/"] == head.urls.index(S + "b/") and got[S + "old/"] == head.urls.index(S + "a/")
    assert {got[S + "gone/"], got[S + "signup"], got["https://x.com/acme"], got["https://b.example/"]} == {
        n + metrics.EXIT, n + metrics.CONVERSION, n + metrics.SOCIAL_LEAK, n + metrics.EXTERNAL}


def test_the_funnel_metrics_solve_on_one_blas_thread_and_leave_it_as_it_was(monkeypatch):
    """OpenBLAS's threads spin between the solves' many small dots: the funnel metrics hold it to
    one thread (analysis.blas), the same metrics, and give the threads back as they were."""
    from analysis import blas

    g = _walked_graph()
    findings = run_rules(g)
    before = blas.threads()
    seen = []
    monkeypatch.setattr(metrics, "_funnel_metrics", lambda *args, _run=metrics._funnel_metrics: (
        seen.append(blas.threads()), _run(*args))[1])
    got = metrics.funnel_metrics(g, findings)
    assert blas.threads() == before and seen == [[1] * len(before)]
    assert got["site"]["pages"] == 4 and got["fix_first"]
    if before:
        with blas.one_thread():
            assert blas.threads() == [1] * len(before)
        assert blas.threads() == before


def test_a_parked_page_node_keeps_its_unset_attributes_unset(tmp_path):
    """Parking sets a page node's own attributes back a column at a time: one never set stays unset."""
    from analysis.parking import Parking

    g = CrawlGraph(None, 0)
    g.node_data[S] = NodeData(tier="site", role="page", title="Home", depth=0)
    g.node_data[S + "x/"] = NodeData(tier="site", role="page", title=None, final_url=S)
    g.add_target("https://x.com/acme", tier="social", role=None)
    before = [(u, type(d), dict(d)) for u, d in g.nodes(data=True)]
    with Parking(g, directory=str(tmp_path)):
        assert len(g) == 0
    assert [(u, type(d), dict(d)) for u, d in g.nodes(data=True)] == before
    assert "depth" not in g.nodes[S + "x/"] and "final_url" not in g.nodes[S] and g.nodes[S + "x/"]["final_url"] == S


def test_the_solves_give_what_the_plain_products_gave(monkeypatch):
    """Chain's products write into the vectors they make (fewer new page-sized arrays to fault in
    at a million pages): BiCGSTAB's, the transposed one's and the plain iteration's answers are
    the very floats of the products written out as before."""
    from scipy.sparse.linalg import LinearOperator, bicgstab

    g = _walked_graph()
    walk = metrics.walk_graph(g, run_rules(g))
    chain = metrics.Chain(walk, metrics.DAMPING)
    b = chain.ends[:, metrics.CONVERSION].copy()
    b[0] += 0.25  # (every page something to solve for)

    def plain_step(x):
        return chain.scale * (chain.C @ x)
    op = LinearOperator((chain.n, chain.n), matvec=lambda x: np.ravel(x) - plain_step(np.ravel(x)), dtype=float)
    want = bicgstab(op, b, rtol=metrics.TOLERANCE, atol=0.0, maxiter=metrics.MAX_ITERATIONS)[0]
    opt = LinearOperator((chain.n, chain.n), matvec=lambda x: np.ravel(x) - chain.C.T @ (chain.scale * np.ravel(x)),
                         dtype=float)
    want_t = bicgstab(opt, b, rtol=metrics.TOLERANCE, atol=0.0, maxiter=metrics.MAX_ITERATIONS)[0]
    x, bound = b, metrics.TOLERANCE * float(np.abs(b).max()) * (1 - chain.damping)
    for _ in range(metrics.MAX_ITERATIONS * 10):
        nxt = b + plain_step(x)
        if np.abs(nxt - x).max() <= bound:
            break
        x = nxt
    monkeypatch.setattr(metrics, "DIRECT_MAX", 0)  # (the iterative solves, as at more than 2,000 pages)
    assert chain.solve(b).tobytes() == want.tobytes()
    assert chain.solve_transposed(b).tobytes() == want_t.tobytes()
    assert chain._iterate(b, b).tobytes() == nxt.tobytes()


def test_pagerank_gives_what_the_plain_iteration_gave():
    """pagerank's power iteration in vectors it keeps: the very floats of the iteration written out."""
    g = _walked_graph()
    chain = metrics.Chain(metrics.walk_graph(g, run_rules(g)), metrics.DAMPING)
    n, d = chain.n, metrics.DAMPING
    total = np.asarray(chain.C.sum(axis=1)).ravel()
    inv = np.where(total > 0, 1.0 / np.where(total > 0, total, 1.0), 0.0)
    x = np.full(n, 1.0 / n)
    for _ in range(metrics.MAX_ITERATIONS):
        nxt = d * (chain.C.T @ (x * inv))
        nxt += (1.0 - nxt.sum()) / n
        if np.abs(nxt - x).sum() < metrics.PAGERANK_TOLERANCE:
            break
        x = nxt
    assert metrics.pagerank(chain, d).tobytes() == nxt.tobytes()
