#!/usr/bin/env python3
"""Time `funnelcheck report`'s analysis stage by stage, rule by rule, on a stored crawl.

    python3 bench/rule_times.py STORE.sqlite [--crawl ID] [--dump FILE] [--code DIR]

Opens the store read-only and times ``build_graph``, each rule of ``analysis.rules.RULES``
(in ``run_rules``' order, so each rule pays for the caches it is the first to fill),
``summarize`` and ``funnel_metrics``; prints the seconds of each stage and of every rule
over 0.05 s, and the process's RSS after each stage and its peak so far (``VmRSS`` and
``VmHWM`` from ``/proc/self/status``, MiB; Linux only). ``--dump FILE`` writes the findings (``Finding.as_dict``, sorted as
``run_rules`` sorts them), the summary and the metrics as JSON, key order kept: two dumps
of the same store by two versions of the code compare with ``cmp`` (byte for byte).
``--code DIR`` imports funnelcheck from DIR (a copy of another commit: ``git archive HEAD
cli.py crawler analysis | tar -x -C DIR``) instead of this tree. Stdlib only, besides
funnelcheck itself.
"""
import argparse
import json
import sys
import time
from pathlib import Path


def memory() -> tuple[float, float]:
    """(RSS, peak RSS) of this process in MiB, or (0, 0) without ``/proc``."""
    from scale import _status_kib  # (bench/scale.py, beside this file)

    kb = _status_kib("self", "VmRSS", "VmHWM")
    return kb.get("VmRSS", 0) / 1024, kb.get("VmHWM", 0) / 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", help="a funnelcheck crawl store (.sqlite)")
    ap.add_argument("--crawl", type=int, help="crawl id (default: the latest)")
    ap.add_argument("--dump", help="write findings, summary and metrics as JSON to this file")
    ap.add_argument("--code", help="import funnelcheck from this folder (default: this tree)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(args.code).resolve() if args.code else Path(__file__).resolve().parent.parent))

    from analysis.findings import Finding
    from analysis.graph import build_graph
    from analysis.metrics import funnel_metrics
    from analysis.report import summarize
    from analysis import rules as rules_module
    from analysis.rules import RULES
    try:
        from crawler.malloc import fix_mmap_threshold, release_free_memory
    except ImportError:  # --code: a copy from before crawler/malloc.py
        def fix_mmap_threshold():
            return False
        release_free_memory = fix_mmap_threshold
    from crawler.store import Store

    fix_mmap_threshold()  # as the command line does (analysis.report.audit trims after each stage)

    stages, rules, mem = {}, {}, {"(start)": memory()}
    with Store(args.store, readonly=True) as store:
        crawl_id = store.crawl(args.crawl)["id"]
        t = time.perf_counter()
        g = build_graph(store, crawl_id)
        stages["build_graph"] = time.perf_counter() - t
        release_free_memory()
        mem["build_graph"] = memory()
        findings = []
        for rule_id, fn in RULES.items():
            t = time.perf_counter()
            findings.extend(fn(g))
            rules[rule_id] = time.perf_counter() - t
        t = time.perf_counter()
        if hasattr(rules_module, "settle"):  # as run_rules does (--code: an older copy sorts inline)
            rules_module.settle(g, findings)
        else:
            for f in findings:
                f.sources.sort()
                f.locations.sort(key=lambda loc: (loc["url"], loc["line"] or 0))
            findings.sort(key=Finding.sort_key)
        rules["(sort)"] = time.perf_counter() - t
        stages["run_rules"] = sum(rules.values())
        mem["run_rules"] = memory()
        t = time.perf_counter()
        summary = summarize(g, findings, g.graph["crawl"])
        stages["summarize"] = time.perf_counter() - t
        release_free_memory()
        mem["summarize"] = memory()
        t = time.perf_counter()
        metrics = funnel_metrics(g, findings, None, None)
        stages["funnel_metrics"] = time.perf_counter() - t
        release_free_memory()
        mem["funnel_metrics"] = memory()
    print(f"{args.store} crawl {crawl_id}: {g.number_of_nodes():,} URLs, {len(findings)} findings")
    print(f"  {'(imports)':<22} {'':>9} {mem['(start)'][0]:7.1f} MiB  peak {mem['(start)'][1]:7.1f} MiB")
    for name, seconds in stages.items():
        print(f"  {name:<22} {seconds:7.2f} s {mem[name][0]:7.1f} MiB  peak {mem[name][1]:7.1f} MiB")
        if name == "run_rules":
            for rule_id, s in sorted(rules.items(), key=lambda kv: -kv[1]):
                if s >= 0.05:
                    print(f"    {rule_id:<20} {s:7.2f} s")
    print(f"  {'total':<22} {sum(stages.values()):7.2f} s")
    if args.dump:
        with open(args.dump, "w") as fh:
            json.dump({"findings": [f.as_dict() for f in findings], "summary": summary, "metrics": metrics}, fh,
                      default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
