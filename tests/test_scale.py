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
