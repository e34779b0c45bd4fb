#!/usr/bin/env python3
"""Scale benchmark: funnelcheck's memory and time versus the number of pages.

    python3 bench/scale.py --scale 10000,20000,50000,100000
    python3 bench/scale.py --scale 200000                  # one-off, bigger
    python3 bench/run.py --scale 10000,20000 --tools funnelcheck   # the same, through run.py
    python3 bench/scale.py --scale 10000,100000,1000000 --workers 2   # issue 21: a million pages on Redis

For each size: generates the synthetic site (../shared/bench/gen_site.py) into a fresh folder
under /dev/shm, serves it with ../shared/bench/serve.sh (nginx), runs `funnelcheck audit` on it
with run.py's flags but `--max-pages 0` (nothing capped) into a fresh `--db` beside the site,
then times `funnelcheck report --db THAT -o /dev/null` (the analysis alone, metrics included), and
removes the folder. Records pages crawled (checked against _facts.json), wall seconds, pages/s,
peak RSS of the whole process tree (summed, polled from /proc) and of each process on its own
(the kernel's high-water mark, VmHWM), and the store's size. Prints a memory-versus-pages
table and the verdict on the scale targets. Stdlib only; reuses run.py's helpers.
Exits 0 unless the harness itself broke (a missed target is reported, not an error).
"""
import argparse
import hashlib
import json
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py: measuring, server and site helpers)

MIB = bench.MIB
SCALE_TARGETS = {"rss_mib_at_100k": 500.0, "rss_growth_10k_to_100k": 1.5, "report_seconds_at_100k": 60.0,
                 # issue 21, at 1,000,000 pages (with as many workers as helps)
                 "crawl_seconds_at_1m": 3600.0, "rss_mib_at_1m": 1024.0, "rate_1m_vs_10k": 0.8,
                 "report_seconds_at_1m": 300.0}
# The processes that crawl: the one-process crawl child, or a cluster's workers and its writer.
CRAWL_ROLES = ("crawl child", "worker", "writer")
ROLES = ("parent", "redis", *CRAWL_ROLES)
log = bench.log


# --------------------------------------------------------------------------- measuring

def _status_kib(pid, *keys):
    """{key: KiB} from /proc/PID/status (VmRSS, VmHWM, ...); {} if the process is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                k, _, v = line.partition(b":")
                k = k.decode()
                if k in keys:
                    out[k] = int(v.split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return out


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def role_of(pid, root, argv):
    """parent (the audit), crawl child (one process), worker / writer (``--workers N``), redis
    (the redis-server the audit starts: its memory is the crawl's too), else the program's name."""
    if pid == root:
        return "parent"
    if "crawler.run" in argv:
        return "crawl child"
    if "crawler.worker" in argv or argv[1:2] == ["worker"]:
        return "worker"
    if "crawler.writer" in argv:
        return "writer"
    if argv and "redis-server" in argv[0]:  # (redis rewrites its title: "redis-server unixsocket:...")
        return "redis"
    return Path(argv[0]).name if argv else f"pid {pid}"


def measure_procs(cmd, stdout_path, stderr_path, cwd, timeout, interval=0.1, sample_every=2.0, env=None):
    """Like run.measure, plus each process's own peak (VmHWM, polled: a process's last
    interval before it exits can be missed), the parent's peak while the crawl child ran and
    after it exited, and a timeline of each process's RSS every sample_every seconds."""
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd,
                                start_new_session=True, env=env)
    root = proc.pid
    peak, peak_at, peak_split, timed_out, status, ru = 0, None, {}, False, None, None
    procs = {}  # pid -> {"role", "argv", "hwm_kib", "rss_kib", "first", "last"}
    parent_hwm_while_child, child_seen, child_exit_t = 0, False, None
    timeline, next_sample = [], 0.0
    try:
        while True:
            pid, status, ru = os.wait4(root, os.WNOHANG)
            if pid:
                break
            now = time.monotonic() - t0
            _, tree = bench.tree_rss(root)
            total, split, child_alive = 0, {}, False
            for p in tree:
                st = _status_kib(p, "VmRSS", "VmHWM")
                if not st:
                    continue
                info = procs.get(p)
                if info is None:
                    argv = _cmdline(p)
                    info = procs[p] = {"pid": p, "role": role_of(p, root, argv), "argv": argv,
                                       "hwm_kib": 0, "rss_kib": 0, "first": now, "last": now}
                elif info["role"] not in ROLES:  # first seen between fork and exec
                    info["argv"] = _cmdline(p)
                    info["role"] = role_of(p, root, info["argv"])
                info["hwm_kib"] = max(info["hwm_kib"], st.get("VmHWM", 0))
                info["rss_kib"], info["last"] = st.get("VmRSS", 0), now
                total += st.get("VmRSS", 0) * 1024
                split[info["role"]] = split.get(info["role"], 0) + st.get("VmRSS", 0) * 1024
                if info["role"] in CRAWL_ROLES:
                    child_alive = child_seen = True
            if child_alive:
                parent_hwm_while_child = max(parent_hwm_while_child, procs.get(root, {}).get("hwm_kib", 0))
            elif child_seen and child_exit_t is None:
                child_exit_t = now
            if total > peak:
                peak, peak_at, peak_split = total, now, split
            if now >= next_sample:
                timeline.append({"t": round(now, 1), **{k: round(v / MIB, 1) for k, v in split.items()}})
                next_sample = now + sample_every
            if now > timeout:
                timed_out = True
                os.killpg(root, signal.SIGKILL)
                _, status, ru = os.wait4(root, 0)
                break
            time.sleep(interval)
        seconds = time.monotonic() - t0
    except BaseException:
        try:
            os.killpg(root, signal.SIGKILL)
        except OSError:
            pass
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    for pid, (_, sid, _) in bench._proc_table().items():  # leftovers in its session, by pid
        if sid == root:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    parent = procs.get(root, {})
    return {"rc": proc.returncode, "seconds": seconds, "peak_rss": peak,
            "peak_at_s": peak_at, "peak_split_mib": {k: v / MIB for k, v in peak_split.items()},
            "cpu_seconds": ru.ru_utime + ru.ru_stime, "timed_out": timed_out,
            "processes": [{**p, "peak_mib": p["hwm_kib"] / 1024, "last_rss_mib": p["rss_kib"] / 1024,
                           "argv": shlex.join(p["argv"])[:200]} for p in procs.values()],
            "parent_peak_mib": parent.get("hwm_kib", 0) / 1024,
            "parent_peak_while_crawling_mib": parent_hwm_while_child / 1024 if child_seen else None,
            "crawl_child_exit_s": child_exit_t, "timeline": timeline}


def normalize(m):
    """Results written before the role of a process first seen between fork and exec was
    re-read: the one other Python process of an audit is the crawl child."""
    others = [p for p in m.get("processes", []) if p["role"] != "parent"]
    if len(others) == 1 and others[0]["role"] == "python" and m.get("command", "").find(" audit ") >= 0:
        others[0]["role"] = "crawl child"
        m["peak_split_mib"] = {("crawl child" if k == "python" else k): v for k, v in m["peak_split_mib"].items()}
        for t in m.get("timeline", []):
            if "python" in t:
                t["crawl child"] = t.pop("python")
        if m.get("parent_peak_while_crawling_mib") is None:  # from the 2-second timeline, not VmHWM
            m["parent_peak_while_crawling_mib"] = max(
                (t.get("parent", 0) for t in m.get("timeline", []) if "crawl child" in t), default=None)
            m["crawl_child_exit_s"] = others[0]["last"]
    return m


def per_role(m):
    """{role: peak MiB} (max over the processes of that role)."""
    out = {}
    for p in normalize(m).get("processes", []):
        out[p["role"]] = max(out.get(p["role"], 0), p["peak_mib"])
    return out


# --------------------------------------------------------------------------- one size

def tree_state():
    """The code measured: HEAD and a digest of the uncommitted changes (others edit the tree)."""
    def git(*a):
        r = subprocess.run(["git", *a], cwd=bench.REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return r.stdout if r.returncode == 0 else b""
    head = git("rev-parse", "--short", "HEAD").decode().strip()
    diff = git("diff", "HEAD", "--", ".", ":(exclude)bench")
    return {"head": head, "dirty_digest": hashlib.sha1(diff).hexdigest()[:10] if diff.strip() else None}


CODE = ("cli.py", "crawler", "analysis")  # what `python -m cli` needs from the repo


def snapshot_code(dest):
    """Copy the code funnelcheck runs from (cli.py, crawler/, analysis/) as it is now into dest,
    so that every size of one scale run measures the same code while others edit the tree.
    Returns the sha1 of the copied files (path and bytes), shortened."""
    h = hashlib.sha1()
    for name in CODE:
        src = bench.REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)
    for f in sorted(q for q in dest.rglob("*") if q.is_file()):
        h.update(str(f.relative_to(dest)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:10]


def interpreter_of(cmd):
    """The Python a `funnelcheck` console script runs with (its #! line), else this one."""
    try:
        with open(cmd[0], "rb") as f:
            first = f.readline().decode().strip()
        if first.startswith("#!") and "python" in first:
            return shlex.split(first[2:])[0]
    except (OSError, UnicodeDecodeError, IndexError):
        pass
    return sys.executable


def store_mib(db):
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()) / MIB


count_pages = bench.count_pages  # (a JSON report read a page at a time)


def report_to_file(args, n):
    """Is the audit's JSON report written to a file (and its pages counted there)? ``auto``: up
    to 200,000 pages (~2 GiB); beyond, to /dev/null (a million pages' report passed 7 GB)."""
    return args.report_to == "file" or (args.report_to == "auto" and n <= 200_000)


def store_pages(db):
    """Owned HTML pages that answered 200, counted in the store (a report not written to a file)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM pages WHERE role = 'page' AND status = 200").fetchone()[0]
    finally:
        conn.close()


def probe_env(args, n, what):
    """Environment for a run under bench/memprobe (tracemalloc in every Python process), or None."""
    if not args.memprobe:
        return args.env
    out = Path(args.memprobe) / f"{n}-{what}"
    out.mkdir(parents=True, exist_ok=True)
    env = dict(args.env or os.environ, FC_MEMPROBE_OUT=str(out))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(bench.BENCH_DIR / "memprobe"), env.get("PYTHONPATH")]))
    return env


def run_size(args, n):
    free = shutil.disk_usage(args.work_dir).free / MIB
    to_file = report_to_file(args, n)
    # MiB: ~7 KiB/page of site, ~3.5 of store, ~10.5 of JSON report (100,000: 2.1 GiB)
    need = n * (0.0105 + (0.0145 if to_file else 0))
    if free < need:
        raise bench.HarnessError(f"{args.work_dir} has {free:.0f} MiB free, {n} pages need about {need:.0f}")
    reuse = Path(args.site_dir) / f"site-{n}" if args.site_dir else None
    if reuse is not None and (reuse / "_facts.json").exists():
        need -= n * 0.007  # the site is there already
    tmp = Path(tempfile.mkdtemp(prefix=f"fc-scale-{n}-", dir=args.work_dir))
    os.chmod(tmp, 0o755)  # nginx workers run unprivileged
    res = {"pages_generated": n, "workers": args.workers, "code": {**tree_state(), "snapshot": args.snapshot_digest},
           "started": datetime.now().isoformat(timespec="seconds"),
           "loadavg_before": os.getloadavg()}
    started = False
    try:
        site = reuse if reuse is not None else tmp / "site"
        t = time.monotonic()
        if reuse is not None and (reuse / "_facts.json").exists():
            log(f"[{n}] reusing the site in {site} (--site-dir)")
        else:
            site.mkdir(parents=True, exist_ok=True)
            log(f"[{n}] generating the site into {site} ...")
            r = subprocess.run([sys.executable, args.gen_site, "--pages", str(n), "--out", str(site),
                                "--base-url", f"http://127.0.0.1:{args.port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if r.returncode:
                raise bench.HarnessError(f"gen_site.py failed: {r.stderr.strip()[-2000:]}")
        facts = json.loads((site / "_facts.json").read_text())
        res.update(expected_pages=facts["pages"], links_total=facts.get("links_total"),
                   gen_seconds=time.monotonic() - t,
                   site_mib=sum(f.stat().st_size for f in site.rglob("*") if f.is_file()) / MIB)
        started = bench.start_server(args.serve, site, args.port)

        db, out = tmp / "fc.sqlite", tmp / "fc.json" if to_file else Path(os.devnull)
        audit = args.fc + ["audit", f"http://127.0.0.1:{args.port}/", "--db", str(db),
                           "--no-check-external", "--no-check-social", "--ignore-robots",
                           "--concurrency", "16", "--max-pages", "0", "--format", "json", "-o", str(out)]
        if args.workers > 1:  # a private redis-server, its workers and writer: children of the audit, measured
            audit += ["--workers", str(args.workers)]
        audit += shlex.split(args.audit_args or "")
        log(f"[{n}] {shlex.join(audit)}")
        m = measure_procs(audit, tmp / "audit.stdout", tmp / "audit.stderr", tmp, args.timeout,
                          interval=args.interval, env=probe_env(args, n, "audit"))
        res["audit"] = {**m, "command": shlex.join(audit)}
        res["loadavg_after_audit"] = os.getloadavg()  # other work on the machine skews the timings
        res["store_mib"] = store_mib(db) if db.exists() else None
        if m["timed_out"]:
            res["audit"]["error"] = f"timed out after {args.timeout} s"
        elif m["rc"] not in (0, 1):
            res["audit"]["error"] = f"exit code {m['rc']}: {bench.tail(tmp / 'audit.stderr')}"
        else:
            try:
                if to_file:
                    res["pages"], res["summary_pages_crawled"] = count_pages(out)
                    res["report_mib"] = out.stat().st_size / MIB
                else:  # (a report of a million pages is written, to /dev/null: the pages are counted in the store)
                    res["pages"] = store_pages(db)
                res["pages_per_s"] = res["pages"] / m["seconds"]
                if m.get("crawl_child_exit_s"):  # the crawl alone, without the analysis after it
                    res["crawl_seconds"] = m["crawl_child_exit_s"]
                    res["crawl_pages_per_s"] = res["pages"] / m["crawl_child_exit_s"]
            except (OSError, ValueError, KeyError, TypeError, AttributeError, sqlite3.Error) as e:
                res["audit"]["error"] = f"cannot read {out.name}: {type(e).__name__}: {e}"
        if started and not args.keep_server:  # the report does not need the server
            bench.serve(args.serve, "stop", args.port)
            started = False

        if db.exists() and "error" not in res["audit"]:
            rep = args.fc + ["report", "--db", str(db), "-o", "/dev/null"]  # the default (terminal) report: the analysis
            log(f"[{n}] {shlex.join(rep)}")
            m = measure_procs(rep, tmp / "report.stdout", tmp / "report.stderr", tmp, args.timeout,
                              interval=args.interval, env=probe_env(args, n, "report"))
            res["report"] = {**m, "command": shlex.join(rep)}
            if m["timed_out"]:
                res["report"]["error"] = f"timed out after {args.timeout} s"
            elif m["rc"] not in (0, 1):
                res["report"]["error"] = f"exit code {m['rc']}: {bench.tail(tmp / 'report.stderr')}"
        return res
    finally:
        if started:
            bench.serve(args.serve, "stop", args.port)
        if args.keep:
            log(f"[{n}] kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- report

def fmt(x, spec=".1f", none="n/a"):
    return none if x is None else format(x, spec)


def code_id(r):
    """Which code a result measured: the snapshot's digest, else HEAD+digest of the diff."""
    c = r.get("code") or {}
    return c.get("snapshot") or f"{c.get('head')}+{c.get('dirty_digest') or 'clean'}"


def row_line(r):
    a, rep = r.get("audit", {}), r.get("report", {})
    roles = per_role(a)
    ok = "error" not in a
    every = ("yes" if r.get("pages") == r.get("expected_pages") else "NO") if ok else "-"
    crawler = max((roles[k] for k in CRAWL_ROLES if k in roles), default=None)
    return (f"{r['pages_generated']:>7} {r.get('workers', 1):>2} {fmt(r.get('pages'), 'd'):>7} {every:>4} "
            f"{fmt(a.get('seconds'), '.1f'):>8} {fmt(r.get('pages_per_s')):>7} {fmt(r.get('crawl_seconds'), '.0f'):>7} "
            f"{fmt(r.get('crawl_pages_per_s')):>7} {fmt(a.get('peak_rss') / MIB if a.get('peak_rss') else None):>9} "
            f"{fmt(roles.get('parent')):>8} {fmt(a.get('parent_peak_while_crawling_mib')):>9} "
            f"{fmt(crawler):>8} {fmt(roles.get('redis')):>6} {fmt(r.get('store_mib')):>7} "
            f"{fmt(rep.get('seconds') if 'error' not in rep else None):>7} "
            f"{fmt(rep.get('peak_rss') / MIB if rep.get('peak_rss') else None):>8}  {code_id(r)}")


HEADER = (f"{'pages':>7} {'w':>2} {'crawled':>7} {'all':>4} {'audit s':>8} {'pages/s':>7} {'crawl s':>7} "
          f"{'crawl/s':>7} {'tree MiB':>9} {'parent':>8} {'(crawl)':>9} {'child':>8} {'redis':>6} {'store':>7} "
          f"{'rep s':>7} {'rep MiB':>8}  code")


def verdict(results):
    by = {r["pages_generated"]: r for r in results}
    if 100000 in by:  # compare 10,000 with 100,000 measured on the same code, if there is one
        same = [r for r in results if r["pages_generated"] == 10000 and code_id(r) == code_id(by[100000])]
        if same:
            by[10000] = same[-1]

    def rss(n):
        a = by.get(n, {}).get("audit", {})
        return a["peak_rss"] / MIB if a.get("peak_rss") and "error" not in a else None
    v = {}
    r100 = rss(100000)
    v["rss_100k"] = {"name": "peak RSS at 100,000 pages", "target": f"< {SCALE_TARGETS['rss_mib_at_100k']:.0f} MiB",
                     "value": r100, "shown": fmt(r100, ".1f") + " MiB" if r100 else "n/a",
                     "pass": None if r100 is None else r100 < SCALE_TARGETS["rss_mib_at_100k"]}
    r10 = rss(10000)
    g = r100 / r10 if r100 and r10 else None
    v["growth"] = {"name": "RSS 100,000 / 10,000", "target": f"<= {SCALE_TARGETS['rss_growth_10k_to_100k']}x",
                   "value": g, "shown": f"{g:.2f}x ({r100:.0f} / {r10:.0f} MiB)" if g else "n/a",
                   "pass": None if g is None else g <= SCALE_TARGETS["rss_growth_10k_to_100k"]}
    rep = by.get(100000, {}).get("report", {})
    s = rep.get("seconds") if rep and "error" not in rep else None
    v["report_100k"] = {"name": "report alone at 100,000", "target": f"< {SCALE_TARGETS['report_seconds_at_100k']:.0f} s",
                        "value": s, "shown": f"{s:.1f} s" if s else "n/a",
                        "pass": None if s is None else s < SCALE_TARGETS["report_seconds_at_100k"]}
    if 1000000 in by:
        v.update(verdict_1m(results, by[1000000]))
    done = [r for r in results if "error" not in r.get("audit", {"error": 1})]
    missed = [f"{r['pages_generated']}: {r.get('pages')}" for r in results if r.get("pages") != r.get("expected_pages")]
    v["all_pages"] = {"name": "every page crawled", "target": "== _facts.json pages",
                      "value": not missed, "shown": "at every size" if not missed else "missed at " + ", ".join(missed),
                      "pass": None if not results else (not missed and len(done) == len(results))}
    return v


def verdict_1m(results, big):
    """Issue 21's targets at 1,000,000 pages: crawled in under an hour, the peak RSS of every
    process (Redis included) under 1 GiB, the crawl rate at least 0.8x the rate at 10,000
    pages (same code, same workers), `report` in under 5 minutes."""
    v, a = {}, big.get("audit", {})
    ok = "error" not in a and a.get("peak_rss")
    crawl = big.get("crawl_seconds")
    v["crawl_1m"] = {"name": "crawl of 1,000,000 pages", "target": f"< {SCALE_TARGETS['crawl_seconds_at_1m'] / 60:.0f} min",
                     "value": crawl, "shown": f"{crawl / 60:.1f} min" if crawl else "n/a",
                     "pass": None if not crawl else crawl < SCALE_TARGETS["crawl_seconds_at_1m"]
                     and big.get("pages") == big.get("expected_pages")}
    rss = a["peak_rss"] / MIB if ok else None
    v["rss_1m"] = {"name": "peak RSS at 1,000,000 (all)", "target": f"< {SCALE_TARGETS['rss_mib_at_1m']:.0f} MiB",
                   "value": rss, "shown": f"{rss:.1f} MiB" if rss else "n/a",
                   "pass": None if rss is None else rss < SCALE_TARGETS["rss_mib_at_1m"]}
    small = [r for r in results if r["pages_generated"] == 10000 and code_id(r) == code_id(big)
             and r.get("workers", 1) == big.get("workers", 1) and r.get("crawl_pages_per_s")]
    rate = big.get("crawl_pages_per_s") / small[-1]["crawl_pages_per_s"] if small and big.get("crawl_pages_per_s") else None
    v["rate_1m"] = {"name": "crawl rate 1,000,000 / 10,000", "target": f">= {SCALE_TARGETS['rate_1m_vs_10k']}x",
                    "value": rate, "shown": f"{rate:.2f}x" if rate else "n/a (needs 10000 in the same run)",
                    "pass": None if rate is None else rate >= SCALE_TARGETS["rate_1m_vs_10k"]}
    rep = big.get("report", {})
    s = rep.get("seconds") if rep and "error" not in rep else None
    v["report_1m"] = {"name": "report alone at 1,000,000", "target": f"< {SCALE_TARGETS['report_seconds_at_1m']:.0f} s",
                      "value": s, "shown": f"{s:.1f} s" if s else "n/a",
                      "pass": None if s is None else s < SCALE_TARGETS["report_seconds_at_1m"]}
    return v


def print_results(results):
    results = sorted(results, key=lambda r: r["pages_generated"])
    print("\nmemory versus pages (MiB; w = --workers; crawl s = until the last crawl process (crawl child, or"
          " workers and writer) exited, crawl/s = pages / crawl s; tree = peak of the summed RSS of the process"
          " tree, redis-server included; parent/child/redis = each process's own peak, VmHWM (child: the largest"
          " crawl process); (crawl) = the parent's peak while the crawl ran; rep = `funnelcheck report` alone)")
    print(HEADER)
    print("-" * len(HEADER))
    for r in results:
        print(row_line(r))
        for key in ("audit", "report"):
            if "error" in r.get(key, {}):
                print(f"{'':>7} {key} failed: {r[key]['error']}")
    print("\nper process (peak MiB, when the tree peaked and how it split):")
    for r in results:
        a = r.get("audit", {})
        if not a.get("processes"):
            continue
        procs = ", ".join(f"{p['role']} {p['peak_mib']:.1f} (alive {p['first']:.0f}-{p['last']:.0f} s)"
                          for p in a["processes"])
        split = ", ".join(f"{k} {v:.1f}" for k, v in a.get("peak_split_mib", {}).items())
        rep = r.get("report", {})
        print(f"  {r['pages_generated']:>7}: audit: {procs}; tree peak at {fmt(a.get('peak_at_s'), '.0f')} s"
              f" = {split}; the crawl ended at {fmt(a.get('crawl_child_exit_s'), '.0f')} s of "
              f"{a.get('seconds', 0):.0f} s")
        if rep.get("processes"):
            print(f"  {'':>7}  report: " + ", ".join(f"{p['role']} {p['peak_mib']:.1f}" for p in rep["processes"])
                  + f", {rep['seconds']:.1f} s, CPU {rep['cpu_seconds']:.1f} s")
    print("\nverdict (scale targets):")
    for v in verdict(results).values():
        mark = {True: "PASS", False: "FAIL", None: "n/a"}[v["pass"]]
        print(f"  {mark:<5} {v['name']:<29} {v['target']:<22} measured {v['shown']}")


# --------------------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:5]))
    ap.add_argument("--scale", help="comma-separated page counts, e.g. 10000,20000,50000,100000")
    ap.add_argument("--from-results", metavar="FILE,...",
                    help="measure nothing: print the table of earlier --results files")
    ap.add_argument("--tools", default="funnelcheck", help="only funnelcheck (accepted for run.py's sake)")
    ap.add_argument("--gen-site", default=str(bench.SHARED / "gen_site.py"), help="path to gen_site.py")
    ap.add_argument("--site-dir", default=None, help="keep each size's site in DIR/site-N and reuse it when it is "
                    "there (generated for the same --port: its sitemap names it)")
    ap.add_argument("--serve", default=None, help="path to serve.sh (default beside gen_site.py)")
    ap.add_argument("--port", type=int, default=8080, help="port to serve the site on (8080)")
    ap.add_argument("--funnelcheck-cmd", help="command to run instead of `funnelcheck`")
    ap.add_argument("--work-dir", default="/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir(),
                    help="where each size's site, store and report go (default /dev/shm)")
    ap.add_argument("--timeout", type=float, default=7200, help="seconds per command (7200)")
    ap.add_argument("--interval", type=float, default=0.1, help="RSS polling interval (0.1 s)")
    ap.add_argument("--results", help="write the results as JSON to this file (rewritten after each size)")
    ap.add_argument("--workers", type=int, default=1,
                    help="`funnelcheck audit ... --workers N` (default 1: one crawl process, no Redis)")
    ap.add_argument("--audit-args", help="more options for `funnelcheck audit`, as one shell-quoted string")
    ap.add_argument("--report-to", choices=("auto", "file", "null"), default="auto",
                    help="the audit's JSON report: to a file (pages counted in it) or to /dev/null (pages "
                         "counted in the store); auto: a file up to 200,000 pages")
    ap.add_argument("--keep", action="store_true", help="keep each size's folder (site, store, logs)")
    ap.add_argument("--keep-server", action="store_true", help="leave nginx up while `report` runs")
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    ap.add_argument("--no-snapshot", dest="snapshot", action="store_false",
                    help="run the installed `funnelcheck` from the live tree (default: copy cli.py, "
                         "crawler/ and analysis/ once at the start and run `python -m cli` from the copy)")
    ap.add_argument("--memprobe", metavar="DIR",
                    help="diagnosis, not a measurement: run every funnelcheck process under tracemalloc "
                         "(bench/memprobe/sitecustomize.py) and write its top allocation sites to "
                         "DIR/SIZE-{audit,report}/PID.txt (slower, and RSS includes tracemalloc's own)")
    args = ap.parse_args(argv)
    if args.from_results:
        return args
    if not args.scale:
        ap.error("--scale N,N,... is required (or --from-results FILE)")
    try:
        args.sizes = [int(s.replace("_", "")) for s in args.scale.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--scale wants page counts, got {args.scale!r}")
    if not args.sizes or min(args.sizes) < 1:
        ap.error("--scale wants positive page counts")
    if args.workers < 1:
        ap.error("--workers wants a number >= 1")
    if [t.strip() for t in args.tools.split(",") if t.strip()] != ["funnelcheck"]:
        ap.error("--scale measures funnelcheck only: use --tools funnelcheck")
    args.serve = Path(args.serve or Path(args.gen_site).resolve().parent / "serve.sh")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.from_results:
        results = [r for f in args.from_results.split(",") for r in json.loads(Path(f).read_text())["results"]]
        for r in results:
            normalize(r.get("audit", {}))
        if args.json:
            print(json.dumps({"results": results, "verdict": verdict(results)}, indent=1))
        else:
            print_results(results)
        return 0
    args.fc = bench.find_funnelcheck(args.funnelcheck_cmd)
    if not args.fc:
        log("funnelcheck command not found; pip install -e . or pass --funnelcheck-cmd")
        return 2
    args.env, args.snapshot_digest, code_dir = None, None, None
    if args.snapshot and not args.funnelcheck_cmd:
        code_dir = Path(tempfile.mkdtemp(prefix="fc-scale-code-", dir=args.work_dir))
        args.snapshot_digest = snapshot_code(code_dir)
        args.fc = [interpreter_of(args.fc), "-m", "cli"]
        args.env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [str(code_dir), os.environ.get("PYTHONPATH")])))
        log(f"measuring a copy of the code in {code_dir} (sha1 {args.snapshot_digest}): {shlex.join(args.fc)}")
    if not args.serve.exists() or not Path(args.gen_site).exists():
        log(f"harness error: need {args.gen_site} and {args.serve}")
        return 2
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
            "funnelcheck": shlex.join(args.fc), "python": sys.version.split()[0], "targets": SCALE_TARGETS,
            "memprobe": args.memprobe, "snapshot": args.snapshot_digest, "workers": args.workers}
    results = []
    try:
        for n in args.sizes:
            r = run_size(args, n)
            results.append(r)
            log(f"[{n}] " + " ".join(HEADER.split()) + "\n[{n}] ".format(n=n) + " ".join(row_line(r).split()))
            if args.results:
                Path(args.results).write_text(json.dumps({**meta, "results": results}, indent=1))
    except bench.HarnessError as e:
        log(f"harness error: {e}")
        if not results:
            return 2
    except KeyboardInterrupt:
        log("interrupted; the sizes measured so far follow")
    finally:
        if code_dir:
            shutil.rmtree(code_dir, ignore_errors=True)
    if args.json:
        print(json.dumps({**meta, "results": results, "verdict": verdict(results)}, indent=1))
    else:
        print_results(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
