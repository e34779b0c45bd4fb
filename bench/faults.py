#!/usr/bin/env python3
"""Faults under load (issue 12, item 7): funnelcheck against a server that resets 2% of
requests' connections and never answers 1%, at 20,000 pages.

    python3 bench/faults.py                          # 20,000 pages, seed 1, --timeout 2
    python3 bench/faults.py --pages 2000 --keep      # quick; keep the folder (site, store, logs)
    python3 bench/faults.py --reset 0 --hang 0       # the same crawl with no faults, to compare

Generates the bench site (../shared/bench/gen_site.py) into a fresh folder under /dev/shm,
serves it with tests/reliability/faulty.py in its own process (seeded faults: a reset before the
answer, a reset mid-answer, a request never answered), runs `funnelcheck audit URL --timeout 2
--no-check-external --no-check-social --concurrency 16 --max-pages 0 --format json` on it into a
fresh `--db`, and measures, as bench/scale.py does, the wall time, pages/s and the peak RSS of the
whole process tree (summed, polled from /proc every 0.1 s), plus the tree's and the crawl child's
RSS when the store holds 25, 50 and 75% of the site's URLs and at the crawl's end (100%: the
last sample before the crawl child exits). Then it checks the crawl
against the site and the server's log: the crawl complete, every URL of the site stored once,
failures by error kind, every failure a URL the server never answered and named after its last
fault, every other URL answered once. Prints the figures (JSON with --json). Runs a copy of the
code (cli.py, crawler/, analysis/) taken at the start, as scale.py does: others edit the tree.
Exit 0 when the harness worked (a failed check is reported, not an error), 2 when it broke.
"""
import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests" / "reliability"))
import run as bench  # noqa: E402  (tree_rss, find_funnelcheck, HarnessError)
import scale  # noqa: E402  (_status_kib, snapshot_code, interpreter_of, tree_state, role_of)
from faulty import ERROR_KINDS, LINK, Hit, by_url, never_answered, site_urls  # noqa: E402

MIB = bench.MIB
FAULTY = BENCH.parent / "tests" / "reliability" / "faulty.py"
log = bench.log


def site_urls_of_page(path):
    """The root-relative URLs one generated page links to, fragments cut."""
    return {h.split("#")[0] for h in LINK.findall(path.read_text(encoding="utf-8"))} - {""}


def start_server(site, args, log_path):
    """faulty.py in its own process: (Popen, URL)."""
    proc = subprocess.Popen([sys.executable, str(FAULTY), str(site), "--port", str(args.port),
                             "--seed", str(args.seed), "--reset", str(args.reset), "--hang", str(args.hang),
                             "--log", str(log_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise bench.HarnessError(f"faulty.py did not start: {line or proc.stderr.read()[-500:]}")
    return proc, line.removeprefix("listening on ")


def stop_server(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise bench.HarnessError("faulty.py did not stop")
    return err.strip()


def stored_rows(db):
    """Rows in the store now (0 while it is being created)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT count(*) FROM pages").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def measure(cmd, db, expected_rows, out_dir, timeout, env, interval=0.1, poll_store=0.5, sample_every=2.0):
    """Run cmd in its own session; poll the tree's RSS (every interval) and the store's row count
    (every poll_store): peak, RSS when the store first holds 25/50/75% of expected_rows and at the
    end of the crawl (the last sample while the crawl child was alive, with the rows then stored), and
    a timeline. The store is read-only here, in WAL mode: the crawl is not held up."""
    with open(out_dir / "audit.stdout", "wb") as out, open(out_dir / "audit.stderr", "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=out_dir,
                                start_new_session=True, env=env)
    root = proc.pid
    marks = [25, 50, 75, 100]
    at, timeline, peak, peak_split, next_store, next_sample, rows, status = {}, [], 0, {}, 0.0, 0.0, 0, None
    crawl_end, seen_child, last_alive = None, False, None
    try:
        while True:
            pid, status, ru = os.wait4(root, os.WNOHANG)
            if pid:
                break
            now = time.monotonic() - t0
            _, tree = bench.tree_rss(root)
            split = {}
            for p in tree:
                rss = scale._status_kib(p, "VmRSS").get("VmRSS")
                if rss is None:
                    continue
                role = scale.role_of(p, root, scale._cmdline(p))
                role = "crawl child" if role == "python" and p != root else role  # between fork and exec
                split[role] = split.get(role, 0) + rss * 1024
            total = sum(split.values())
            if total > peak:
                peak, peak_split = total, {k: round(v / MIB, 1) for k, v in split.items()}
            child = "crawl child" in split
            if now >= next_store or (seen_child and not child and crawl_end is None):
                rows = stored_rows(db)
                next_store = now + poll_store
                sample = {"t": round(now, 1), "rows": rows, "tree_mib": round(total / MIB, 1),
                          "crawl_child_mib": round(split.get("crawl child", 0) / MIB, 1),
                          "parent_mib": round(split.get("parent", 0) / MIB, 1)}
                for m in marks[:-1]:
                    if m not in at and rows >= expected_rows * m / 100:
                        at[m] = sample
                if child:
                    last_alive = sample
            seen_child = seen_child or child
            if seen_child and not child and crawl_end is None:  # the crawl is over: its last sample is 100%
                crawl_end, at[100] = now, {**(last_alive or {"t": round(now, 1)}), "rows": stored_rows(db)}
            if now >= next_sample:
                timeline.append({"t": round(now, 1), "rows": rows, **{k: round(v / MIB, 1) for k, v in split.items()}})
                next_sample = now + sample_every
            if now > timeout:
                os.killpg(root, signal.SIGKILL)
                _, status, ru = os.wait4(root, 0)
                raise bench.HarnessError(f"audit timed out after {timeout} s")
            time.sleep(interval)
    except BaseException:
        try:
            os.killpg(root, signal.SIGKILL)
        except OSError:
            pass
        raise
    return {"rc": os.waitstatus_to_exitcode(status), "seconds": round(time.monotonic() - t0, 1),
            "cpu_seconds": round(ru.ru_utime + ru.ru_stime, 1), "peak_rss_mib": round(peak / MIB, 1),
            "peak_split_mib": peak_split, "at_percent": {str(k): v for k, v in sorted(at.items())},
            "crawl_child_gone_s": crawl_end, "timeline": timeline}


def check(site, base, db, hits, facts):
    """What the store says against the site and the server's log."""
    pages, linked = site_urls(site)
    links_of = {p: site_urls_of_page(site / p.lstrip("/") / "index.html") for p in pages}
    conn = sqlite3.connect(db)
    crawl = conn.execute("SELECT status, error, started, finished FROM crawls").fetchall()
    rows = conn.execute("SELECT u.url, p.role, p.status, p.error_kind, p.reason FROM pages p"
                        " JOIN urls u ON u.id = p.url_id").fetchall()
    conn.close()
    path = lambda u: u[len(base):] if u.startswith(base + "/") else u  # noqa: E731
    urls = Counter(path(u) for u, *_ in rows)
    requests = by_url(hits)
    lost = never_answered(hits)
    failed = {path(u): (kind, reason) for u, _, _, kind, reason in rows if kind}
    wrong_kind = {p: (failed[p][0], [h.fault for h in hs]) for (_, p), hs in lost.items()
                  if p in failed and failed[p][0] != ERROR_KINDS[hs[-1].fault]}
    answered = {p: [h for h in hs if not h.fault] for (_, p), hs in requests.items() if any(not h.fault for h in hs)}
    # A URL can be found only on a page that answered (or in the sitemap, which lists the pages):
    # one linked from failed pages alone is not lost by the crawl, it is out of its sight.
    read = {p for p in pages if p not in failed}
    findable = pages | set().union(*(links_of[p] for p in read))
    first = Counter(hs[0].fault or "answered" for hs in requests.values())
    reset_first = [k for k, hs in requests.items() if hs[0].fault in ("reset", "reset-mid")]
    hang_first = [k for k, hs in requests.items() if hs[0].fault == "hang"]
    started, finished = (datetime.fromisoformat(x) for x in crawl[0][2:]) if crawl and crawl[0][3] else (None, None)
    return {
        "crawls": [list(c[:2]) for c in crawl],
        "crawl_seconds": (finished - started).total_seconds() if started else None,
        "site_pages": len(pages), "site_urls": len(linked), "expected_site_urls": facts["unique_internal_urls"],
        "rows": len(rows), "duplicate_urls": sorted(u for u, n in urls.items() if n > 1),
        "missing_urls": sorted(findable - set(urls))[:50],
        "linked_only_from_failed_pages": sorted(linked - findable)[:50],
        "linked_only_from_failed_pages_stored": sorted((linked - findable) & set(urls))[:50],
        "extra_urls": sorted(set(urls) - linked - {"/sitemap.xml"})[:50],
        "pages_ok": sum(1 for u, role, status, kind, _ in rows if role == "page" and status == 200
                        and path(u) in pages),
        "failures_by_kind": dict(Counter(kind for kind, _ in failed.values())),
        "failures_by_faults": dict(Counter("+".join(h.fault for h in hs) for hs in lost.values())),
        "failed_not_lost": sorted(set(failed) - {p for _, p in lost})[:50],
        "lost_not_failed": sorted({p for _, p in lost} - set(failed))[:50],
        "wrong_kind": dict(list(wrong_kind.items())[:50]),
        "answered_more_than_once": sorted(p for p, hs in answered.items() if len(hs) > 1),
        "requests": len(hits), "urls_requested": len(requests),
        "first_request": dict(first),
        "requests_by_fate": dict(Counter(h.fault or "answered" for h in hits)),
        "resets_first_recovered": sum(1 for k in reset_first if any(not h.fault for h in requests[k])),
        "resets_first": len(reset_first),
        "hangs_first_retried": sum(1 for k in hang_first if len(requests[k]) > 1), "hangs_first": len(hang_first),
        "max_requests_per_url": max(len(hs) for hs in requests.values()),
        "reasons": dict(Counter(reason[:60] for kind, reason in failed.values())),
    }


def verdict(c, audit):
    problems = []
    if c["crawls"] != [["complete", None]]:
        problems.append(f"crawl not complete: {c['crawls']}")
    if audit["rc"] not in (0, 1):
        problems.append(f"exit code {audit['rc']}")
    for key in ("duplicate_urls", "missing_urls", "extra_urls", "failed_not_lost", "lost_not_failed", "wrong_kind"):
        if c[key]:
            problems.append(f"{key}: {c[key]}")
    if c["answered_more_than_once"] != ["/robots.txt"]:
        problems.append(f"answered more than once: {c['answered_more_than_once']}")
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1, help="the server's fault seed (1)")
    ap.add_argument("--reset", type=float, default=0.02)
    ap.add_argument("--hang", type=float, default=0.01)
    ap.add_argument("--timeout", type=float, default=2.0, help="funnelcheck --timeout (2)")
    ap.add_argument("--concurrency", type=int, default=16, help="funnelcheck --concurrency (16, as scale.py)")
    ap.add_argument("--port", type=int, default=0, help="the server's port (0: any free one)")
    ap.add_argument("--gen-site", default=str(bench.SHARED / "gen_site.py"))
    ap.add_argument("--work-dir", default="/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir())
    ap.add_argument("--audit-timeout", type=float, default=3600)
    ap.add_argument("--keep", action="store_true", help="keep the folder (site, store, report, logs)")
    ap.add_argument("--results", help="also write the results as JSON to this file")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--no-snapshot", dest="snapshot", action="store_false", help="run the live tree")
    args = ap.parse_args(argv)

    fc = bench.find_funnelcheck(None)
    if not fc:
        log("funnelcheck command not found; pip install -e .")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix=f"fc-faults-{args.pages}-", dir=args.work_dir))
    env, digest = None, None
    res = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
           "pages": args.pages, "seed": args.seed, "reset": args.reset, "hang": args.hang,
           "timeout": args.timeout, "concurrency": args.concurrency, "code": scale.tree_state(),
           "loadavg_before": os.getloadavg()}
    server = None
    try:
        if args.snapshot:
            code = tmp / "code"
            code.mkdir()
            digest = scale.snapshot_code(code)
            fc = [scale.interpreter_of(fc), "-m", "cli"]
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")])))
            log(f"measuring a copy of the code in {code} (sha1 {digest})")
        res["code"]["snapshot"] = digest
        site = tmp / "site"
        site.mkdir()
        server, url = start_server(site, args, tmp / "server.jsonl")
        log(f"faulty.py serving {site} on {url} (seed {args.seed}, reset {args.reset}, hang {args.hang})")
        r = subprocess.run([sys.executable, args.gen_site, "--pages", str(args.pages), "--out", str(site),
                            "--base-url", url], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode:
            raise bench.HarnessError(f"gen_site.py failed: {r.stderr[-2000:]}")
        facts = json.loads((site / "_facts.json").read_text())
        db, out = tmp / "fc.sqlite", tmp / "fc.json"
        cmd = fc + ["audit", f"{url}/", "--db", str(db), "--timeout", f"{args.timeout:g}",
                    "--no-check-external", "--no-check-social", "--concurrency", str(args.concurrency),
                    "--max-pages", "0", "--format", "json", "-o", str(out)]
        res["command"] = " ".join(cmd)
        log(res["command"])
        expected_rows = facts["unique_internal_urls"] + 1  # + the sitemap
        res["audit"] = measure(cmd, db, expected_rows, tmp, args.audit_timeout, env)
        res["loadavg_after"] = os.getloadavg()
        res["server"] = stop_server(server)
        server = None
        hits = [Hit(**json.loads(line)) for line in (tmp / "server.jsonl").read_text().splitlines()]
        res["pages_per_s"] = round(args.pages / res["audit"]["seconds"], 1)
        res["check"] = check(site, url, db, hits, facts)
        if res["check"]["crawl_seconds"]:
            res["crawl_pages_per_s"] = round(args.pages / res["check"]["crawl_seconds"], 1)
        res["problems"] = verdict(res["check"], res["audit"])
        if res["audit"]["rc"] not in (0, 1):
            res["stderr"] = bench.tail(tmp / "audit.stderr")
    except bench.HarnessError as e:
        log(f"harness error: {e}")
        return 2
    finally:
        if server is not None:
            server.kill()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.results:
        Path(args.results).write_text(json.dumps(res, indent=1))
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print_summary(res)
    return 0


def print_summary(res):
    a, c = res["audit"], res["check"]
    print(f"{res['pages']:,} pages, seed {res['seed']}, reset {res['reset']:.0%}, hang {res['hang']:.0%}, "
          f"--timeout {res['timeout']:g}, --concurrency {res['concurrency']}, code {res['code']}")
    print(f"audit: exit {a['rc']}, {a['seconds']} s wall ({res['pages_per_s']} pages/s; crawl alone "
          f"{c['crawl_seconds']} s, {res.get('crawl_pages_per_s')} pages/s), CPU {a['cpu_seconds']} s, "
          f"peak RSS {a['peak_rss_mib']} MiB {a['peak_split_mib']}")
    print("memory as the store fills:")
    for m, v in a["at_percent"].items():
        print(f"  {m:>3}%  t={v['t']:>6} s  rows {v['rows']:>6}  tree {v['tree_mib']:>6} MiB  "
              f"crawl child {v['crawl_child_mib']:>6} MiB  parent {v['parent_mib']:>6} MiB")
    print(f"server: {c['requests']:,} requests for {c['urls_requested']:,} URLs; by fate {c['requests_by_fate']}; "
          f"first requests {c['first_request']}")
    print(f"store: {c['rows']:,} rows for {c['site_urls']:,} site URLs (+ sitemap); crawl {c['crawls']}; "
          f"{c['pages_ok']:,} of {c['site_pages']:,} pages answered 200; linked only from failed pages "
          f"(so never seen): {c['linked_only_from_failed_pages']}")
    print(f"failures by kind {c['failures_by_kind']}; by the faults of their requests {c['failures_by_faults']}")
    print(f"resets on the first request recovered: {c['resets_first_recovered']} of {c['resets_first']}; "
          f"hangs on the first request retried: {c['hangs_first_retried']} of {c['hangs_first']}; "
          f"at most {c['max_requests_per_url']} requests a URL")
    print(f"reasons: {c['reasons']}")
    print("checks: " + ("all passed" if not res["problems"] else "; ".join(res["problems"])))


if __name__ == "__main__":
    sys.exit(main())
