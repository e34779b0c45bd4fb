"""JSON report: ``crawl``, ``pages``, ``links``, ``findings``, ``summary`` (schema in the README).

Written as a stream, one page or link per line, never built as one big list.
"""
from __future__ import annotations

import json
from typing import TextIO

from crawler.store import funnelcheck_version

CRAWL_KEYS = ("id", "targets", "started", "finished", "status", "error", "options")





def page_dict(url: str, d: dict) -> dict:
    return {"url": url, "tier": d.get("tier"), "role": d.get("role"), "status": d.get("status"),
            "verdict": d.get("verdict"), "label": d.get("label"), "error_kind": d.get("error_kind"),
            "reason": d.get("reason"), "title": d.get("title"), "depth": d.get("depth"),
            "final_url": d.get("final_url"),
            "redirects": [{"url": u, "status": s} for u, s in d.get("chain") or []],
            "lead_form": bool(d.get("lead_form")), "conversion": d.get("conversion")}


def write(audit, out: TextIO) -> None:
    """Write ``audit`` as one JSON document to ``out``."""
    g = audit.graph
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    out.write('{"crawl": ')
    crawl = {k: audit.crawl.get(k) for k in CRAWL_KEYS}
    # the options the user gave: not where a directory target happened to be served
    crawl["options"] = {k: v for k, v in (crawl["options"] or {}).items() if k not in ("mounts", "directories")}
    crawl["crawled_by"] = audit.crawl.get("version")  # the version that ran the crawl (None: before 0.1.0)
    crawl["funnelcheck_version"] = funnelcheck_version()  # the version that wrote this report
    json.dump(crawl, out)
    out.write(',\n"pages": [')
    first = True
    for url, d in g.nodes(data=True):
        if not d.get("role"):
            continue
        out.write(("" if first else ",") + "\n  " + dumps(page_dict(url, d)))
        first = False
    out.write('\n],\n"links": [')
    first = True
    nodes = g.nodes
    for source, key, e in g.edges(data=True):
        row = {"source": source, "target": e["target"], "fragment": e["fragment"], "tag": e["tag"],
               "attr": e["attr"], "text": e["text"], "region": e["region"], "rel": e["rel"], "kind": e["kind"],
               "line": e["line"], "icon": e["icon"], "tier": nodes[key]["tier"]}
        out.write(("" if first else ",") + "\n  " + dumps(row))
        first = False
    out.write('\n],\n"findings": ')
    json.dump([f.as_dict() for f in audit.findings], out, indent=1)
    out.write(',\n"summary": ')
    json.dump(audit.summary, out, indent=1)
    out.write("}\n")
