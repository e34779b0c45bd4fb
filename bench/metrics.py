#!/usr/bin/env python3
"""Time the funnel metrics (analysis/metrics.py) on a stored crawl.

    python3 bench/metrics.py STORE.sqlite [--crawl ID] [--entry REGEX] [--weights SPEC] [--json]

Opens the store read-only and times, one after another, ``build_graph``, ``run_rules`` and
``funnel_metrics`` (with its action plan), then prints each step's wall seconds, the
process's peak RSS (the kernel's high-water mark, ``VmHWM``) and what the metrics step added
on top of the RSS it started from (the high-water mark is reset before it where the kernel
allows, ``/proc/self/clear_refs``). Stdlib only, besides funnelcheck itself.
"""
import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.graph import build_graph
from analysis.metrics import funnel_metrics, parse_weights
from analysis.rules import run_rules
from crawler.store import Store

MIB = 1024 * 1024


def status_kib(field: str) -> int | None:
    """A ``/proc/self/status`` field in KiB (VmRSS, VmHWM), None off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_mib() -> float:
    hwm = status_kib("VmHWM")
    if hwm is not None:
        return hwm / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def reset_peak() -> bool:
    """Reset the high-water mark to the current RSS (Linux 4.0+), if allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", help="a funnelcheck crawl store (.sqlite)")
    ap.add_argument("--crawl", type=int, help="crawl id (default: the latest)")
    ap.add_argument("--entry", help="entry pages regex (default: blog pages and the crawl's targets)")
    ap.add_argument("--weights", help="REGION=W,... (default: analysis.metrics.DEFAULT_WEIGHTS)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    weights = parse_weights(args.weights) if args.weights else None

    steps = {}
    with Store(args.store, readonly=True) as store:
        crawl_id = store.crawl(args.crawl)["id"]
        t = time.perf_counter()
        g = build_graph(store, crawl_id)
        steps["build_graph"] = time.perf_counter() - t
        t = time.perf_counter()
        findings = run_rules(g)
        steps["run_rules"] = time.perf_counter() - t
        peak_before = peak_mib()
        rss_before = (status_kib("VmRSS") or 0) / 1024
        reset = reset_peak()
        t = time.perf_counter()
        m = funnel_metrics(g, findings, weights=weights, entry=args.entry)
        steps["funnel_metrics"] = time.perf_counter() - t
        metrics_peak = peak_mib()
        links = store.count_links(crawl_id)
    result = {
        "store": str(args.store), "crawl": crawl_id, "urls": g.number_of_nodes(), "links": links,
        "pages": m["site"]["pages"], "entries": m["site"]["entries"], "findings": len(findings),
        "fix_first": len(m["fix_first"]), "seconds": {k: round(v, 2) for k, v in steps.items()},
        "total_seconds": round(sum(steps.values()), 2),
        "peak_rss_mib": round(max(peak_before, metrics_peak), 1),
        "rss_before_metrics_mib": round(rss_before, 1),
        "metrics_extra_peak_mib": round(metrics_peak - rss_before, 1) if reset else None,
        "site": {k: v for k, v in m["site"].items() if k not in ("unreachable_posts", "weights")},
        "unreachable_posts": len(m["site"]["unreachable_posts"]),
        "top_fix_first": m["fix_first"][:5],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['store']} crawl {crawl_id}: {result['urls']:,} URLs, {links:,} links, "
          f"{result['pages']:,} pages walked, {result['entries']:,} entries, {len(findings)} findings")
    for name, seconds in steps.items():
        print(f"  {name:<15} {seconds:8.2f} s")
    print(f"  {'total':<15} {result['total_seconds']:8.2f} s")
    print(f"  peak RSS {result['peak_rss_mib']:.0f} MiB; before the metrics {rss_before:.0f} MiB"
          + (f", metrics peak +{result['metrics_extra_peak_mib']:.0f} MiB" if reset else
             " (peak not resettable here: the metrics' own peak is unknown)"))
    site = result["site"]
    print(f"  site: conversion {site['conversion']}, social leak {site['social_leak']}, external "
          f"{site['external']}, exit {site['exit']}, clicks {site['clicks_to_conversion']}, "
          f"depth {site['conversion_depth']}, unreachable posts {result['unreachable_posts']}")
    for x in result["top_fix_first"]:  # the action plan's first items (analysis.plan)
        print(f"  fix: {x['cost']:8.4f} per 100 [{x['severity']}] {x['rule']} {x['kind']} ({x['region']}, "
              f"{x['pages']:,} pages, {x['links']:,} links): {x['words']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
