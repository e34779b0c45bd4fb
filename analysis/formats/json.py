"""JSON report: ``crawl``, ``pages``, ``links``, ``findings``, ``summary`` (schema in the README).

Written as a stream, one page or link per line, never built as one big list.
"""
from __future__ import annotations

import json
import re
from typing import TextIO

from crawler.store import funnelcheck_version

CRAWL_KEYS = ("id", "targets", "started", "finished", "status", "error", "options")

# Characters JSON lets through raw that a terminal still obeys (DEL, the C1 controls such as
# CSI U+009B) or that end a line in JavaScript: written as \u escapes, so `cat report.json` is
# safe while the parsed text stays exact. They can only stand inside strings.
_RAW_CONTROL = re.compile("[\x7f-\x9f\u2028\u2029]")


class Escaping:
    r"""A text stream that writes the characters above as JSON ``\u`` escapes.

    >>> import io; buf = io.StringIO(); Escaping(buf).write(json.dumps("a\x9b1m", ensure_ascii=False))
    11
    >>> buf.getvalue(), json.loads(buf.getvalue()) == "a\x9b1m"
    ('"a\\u009b1m"', True)
    """

    def __init__(self, out: TextIO):
        self.out = out

    def write(self, text: str) -> int:
        return self.out.write(_RAW_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text))





def page_dict(url: str, d: dict) -> dict:
    return {"url": url, "tier": d.get("tier"), "role": d.get("role"), "status": d.get("status"),
            "verdict": d.get("verdict"), "label": d.get("label"), "error_kind": d.get("error_kind"),
            "reason": d.get("reason"), "title": d.get("title"), "depth": d.get("depth"),
            "final_url": d.get("final_url"),
            "redirects": [{"url": u, "status": s} for u, s in d.get("chain") or []],
            "lead_form": bool(d.get("lead_form")), "conversion": d.get("conversion")}


def write(audit, out: TextIO) -> None:
    """Write ``audit`` as one JSON document to ``out``."""
    out = Escaping(out)
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
    nodes = g.node_data
    tiers: dict[str, str] = {}
    for key, text in g.store.link_json(g.crawl_id):  # built by SQLite, streamed, never held
        tier = nodes[key]["tier"]
        tiers[tier] = suffix = tiers.get(tier) or f',"tier":{dumps(tier)}}}'
        out.write(("" if first else ",") + "\n  " + text[:-1] + suffix)
        first = False
    out.write('\n],\n"findings": [')
    for i, f in enumerate(audit.findings):  # one per line (json.dump with indent is pure Python: slow)
        out.write(("," if i else "") + "\n  " + dumps(f.as_dict()))
    out.write("\n]")
    out.write(',\n"baseline": ')  # the accepted findings (still listed above) and the stale entries
    json.dump({"file": audit.baseline_file, "accepted": [{"id": f.id, "reason": audit.baseline[f.id]}
                                                         for f in audit.accepted],
               "stale": [{"id": i, "reason": audit.baseline[i]} for i in audit.stale]}, out, ensure_ascii=False)
    out.write(',\n"metrics": ')
    json.dump(audit.metrics, out)  # site, entries, fix_first, link_score (analysis.metrics)
    out.write(',\n"summary": ')
    json.dump(audit.summary, out, indent=1)
    out.write("}\n")
