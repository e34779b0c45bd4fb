#!/usr/bin/env python3
"""Benchmark funnelcheck against a plain Scrapy spider and LinkChecker on one synthetic site.

    python3 bench/run.py                      # 5,000 pages, each tool once
    python3 bench/run.py --pages 500 --repeat 3 --tools scrapy,linkchecker
    python3 bench/run.py --json               # machine-readable results on stdout
    python3 bench/run.py --scale 10000,20000,50000,100000 --tools funnelcheck   # see bench/scale.py
    python3 bench/run.py --pages 20000 --workers 1,2,4   # rows `funnelcheck --workers 2` and `4` beside one process
    python3 bench/run.py --pages 1000 --tools funnelcheck --render auto,always   # what rendering costs (issue 23)

Generates the site with ../shared/bench/gen_site.py, serves it with ../shared/bench/serve.sh on
127.0.0.1:8080 (and a copy that sends a "LinkChecker" header on 127.0.0.1:8089, so LinkChecker
lifts its self-imposed rate limit), runs the tools one after another (interleaved when
repeated) and measures each one's wall time and the peak of the summed RSS of its whole
process tree (polled from /proc every 0.1 s; funnelcheck crawls in a child process). Stdlib
only; installs LinkChecker with pip if it is missing. Exits 0 unless the harness itself broke:
a missed target is reported, not an error. See bench/README.md.
"""
import argparse
import csv
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SHARED = REPO.parent / "shared" / "bench"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024
TOOLS = ("funnelcheck", "scrapy", "linkchecker")
LABELS = {"funnelcheck": "funnelcheck", "scrapy": "plain Scrapy", "linkchecker": "LinkChecker"}
TARGETS = {"vs_scrapy": 1.5, "vs_linkchecker": 2.5, "rss_mib": 300.0,  # issue 9, at 5,000 pages
           # issue 21: two workers on Redis against one process and the peers (5,000 pages)
           "w2_vs_one": 1.6, "w2_vs_scrapy": 2.5, "w2_vs_linkchecker": 3.0}


def workers_tool(n):
    """The row of `funnelcheck audit ... --workers n` (n > 1; one worker is the one-process row)."""
    return f"funnelcheck-w{n}"


def render_tool(mode):
    """The row of `funnelcheck audit ... --render mode` (issue 23; the `funnelcheck` row is --render never)."""
    return f"funnelcheck-render-{mode}"


def render_of(tool):
    """The --render mode of a `funnelcheck-render-MODE` row, None for the other rows."""
    return tool[len("funnelcheck-render-"):] if tool.startswith("funnelcheck-render-") else None


def workers_of(tool):
    """1 for the one-process rows, n for `funnelcheck-wN`, None for the other tools."""
    if tool == "funnelcheck" or render_of(tool):
        return 1
    return int(tool[len("funnelcheck-w"):]) if tool.startswith("funnelcheck-w") else None


def label(tool):
    if render_of(tool):
        return f"funnelcheck --render {render_of(tool)}"
    n = workers_of(tool)
    return f"funnelcheck --workers {n}" if n and n > 1 else LABELS[tool]


class HarnessError(Exception):
    """The harness itself could not do its job (as opposed to a tool failing)."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- measuring

def _proc_table():
    """{pid: (ppid, session, rss_bytes)} for every process visible in /proc."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:  # exited meanwhile
            continue
        fields = data[data.rfind(b")") + 2:].split()
        # fields[0] is field 3 of proc(5) (state): ppid=4, session=6, rss=24
        table[int(name)] = (int(fields[1]), int(fields[3]), int(fields[21]) * PAGE_SIZE)
    return table


def tree_rss(root):
    """Summed RSS (bytes) and pids of root, its descendants and anything left in its session."""
    table = _proc_table()
    children = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in tree:
            continue
        tree.add(pid)
        todo.extend(children.get(pid, ()))
    # a daemonized grandchild is re-parented but stays in the session (we start a new one)
    tree.update(pid for pid, (_, sid, _) in table.items() if sid == root)
    return sum(table[p][2] for p in tree if p in table), tree


def tree_pss(pids):
    """Summed PSS (bytes) of ``pids``: each process's share of the memory it shares (Chromium's
    processes share most of theirs: their summed RSS counts it once per process)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                total += next((int(line.split()[1]) * 1024 for line in fh if line.startswith("Pss:")), 0)
        except OSError:
            continue
    return total


def measure(cmd, stdout_path, stderr_path, cwd, timeout, env=None, interval=0.1, pss=False):
    """Run cmd, polling the process tree's RSS (and PSS with ``pss``). Returns a dict with rc,
    seconds, peak_rss, ..."""
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd,
                                env=env, start_new_session=True)
    peak, peak_procs, timed_out, status, ru, peak_pss = 0, 0, False, None, None, 0
    try:
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            rss, tree = tree_rss(proc.pid)
            if rss > peak:
                peak, peak_procs = rss, len(tree)
            if pss:
                peak_pss = max(peak_pss, tree_pss(tree))
            if time.monotonic() - t0 > timeout:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                _, status, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(interval)
        seconds = time.monotonic() - t0
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, tell Popen
    # kill what the tool left behind in its session (a leaked background process), by pid
    for pid, (_, sid, _) in _proc_table().items():
        if sid == proc.pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    # Not wait4's ru_maxrss: it counts the forked child before exec, i.e. this harness's own
    # RSS (about 250 MiB after generating the site), which would floor every tool's figure.
    return {"rc": proc.returncode, "seconds": seconds, "peak_rss": peak,
            "peak_processes": peak_procs, "cpu_seconds": ru.ru_utime + ru.ru_stime,
            "timed_out": timed_out, **({"peak_pss": peak_pss} if pss else {})}


def tail(path, n=400):
    try:
        text = Path(path).read_text(errors="replace").strip()
    except OSError:
        return ""
    text = text[-n:]
    return " ".join(text.split())


# --------------------------------------------------------------------------- tools

def find_funnelcheck(arg):
    if arg:
        return shlex.split(arg)
    exe = shutil.which("funnelcheck")
    return [exe] if exe else None


def find_linkchecker(install):
    exe = shutil.which("linkchecker")
    if exe or not install:
        return exe
    log("linkchecker not found: installing it with `pip install linkchecker` ...")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "linkchecker"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode:
        log(f"pip install linkchecker failed:\n{r.stdout[-2000:]}")
        return None
    scripts = Path(sys.executable).parent
    for cand in (shutil.which("linkchecker"), scripts / "linkchecker"):
        if cand and Path(cand).exists():
            log(f"installed linkchecker: {cand}")
            return str(cand)
    return None


def count_pages(report_path):
    """(owned HTML pages that answered 200, summary.pages_crawled) from a JSON report (redirect
    hops and broken links are rows too). The report is ~10 KiB a page (1 GiB at 100,000): read
    the way it is written, one page per line between '"pages": [' and '],' with the summary
    last, without loading it whole; any other layout is loaded with json.load."""
    pages, section, tail_lines = 0, None, []
    with open(report_path, encoding="utf-8") as f:
        for line in f:
            if section == "summary":
                tail_lines.append(line)
            elif line.startswith('"pages": [') or line.startswith(',\n"pages": ['):
                section = "pages"
            elif line.startswith("],"):
                section = None
            elif line.startswith('"summary": '):
                section, tail_lines = "summary", [line[len('"summary": '):]]
            elif section == "pages" and line.startswith("  {"):
                p = json.loads(line.strip().rstrip(","))
                pages += p.get("role") == "page" and p.get("status") == 200
    try:
        summary = json.loads("".join(tail_lines).rstrip().removesuffix("}")) if tail_lines else None
    except ValueError:
        summary = None
    if section != "summary" or not isinstance(summary, dict):  # not the streamed layout
        report = json.loads(Path(report_path).read_text())
        pages = sum(1 for p in report["pages"] if p.get("role") == "page" and p.get("status") == 200)
        summary = report.get("summary") if isinstance(report.get("summary"), dict) else {}
    return pages, summary.get("pages_crawled")


def run_funnelcheck(ctx, i, workers=1, render=None):
    cmd = ctx["funnelcheck_cmd"]
    if not cmd:
        return {"error": "funnelcheck command not found; pip install -e . or pass --funnelcheck-cmd"}
    tmp = ctx["tmp"]
    name = ("fc" if workers == 1 else f"fc-w{workers}") + (f"-render-{render}" if render else "")
    db, out = tmp / f"{name}-{i}.sqlite", tmp / f"{name}-{i}.json"
    for p in (db, out):
        p.unlink(missing_ok=True)
    args = cmd + ["audit", f"http://127.0.0.1:{ctx['port']}/", "--db", str(db),
                  "--no-check-external", "--no-check-social", "--ignore-robots", "--concurrency", "16",
                  "--max-pages", "1000000", "--format", "json", "-o", str(out)]
    if workers > 1:  # N crawl processes on a private redis-server the audit starts (its RSS counts: a child)
        args += ["--workers", str(workers)]
    # pages built with JavaScript rendered in Chromium (its processes count: children); the
    # `funnelcheck` row reads pages as served, as the peers do (issue 23's rows say what rendering costs)
    args += ["--render", render or "never"]
    m = measure(args, tmp / f"{name}-{i}.stdout", tmp / f"{name}-{i}.stderr", tmp, ctx["timeout"],
                pss=render not in (None, "never"))
    m["command"] = shlex.join(args)
    if m["timed_out"]:
        return {**m, "error": f"timed out after {ctx['timeout']} s"}
    if m["rc"] not in (0, 1):
        return {**m, "error": f"exit code {m['rc']}: {tail(tmp / f'{name}-{i}.stderr')}"}
    try:
        pages, m["summary_pages_crawled"] = count_pages(out)
        if render:  # pages read in Chromium (the JSON summary's read_as)
            m["rendered"] = (json.loads(out.read_text()).get("summary") or {}).get("read_as", {}).get("rendered")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        return {**m, "error": f"cannot read {out.name}: {type(e).__name__}: {e}"}
    return {**m, "pages": pages}


def run_scrapy(ctx, i):
    tmp = ctx["tmp"]
    args = [sys.executable, "-m", "scrapy", "runspider", str(BENCH_DIR / "plain_spider.py"),
            "-a", f"start=http://127.0.0.1:{ctx['port']}/"]
    env = {k: v for k, v in os.environ.items() if k != "SCRAPY_SETTINGS_MODULE"}
    # cwd=tmp: outside any Scrapy project, so no project settings are picked up
    m = measure(args, tmp / f"scrapy-{i}.stdout", tmp / f"scrapy-{i}.stderr", tmp, ctx["timeout"],
                env=env)
    m["command"] = shlex.join(args)
    if m["timed_out"]:
        return {**m, "error": f"timed out after {ctx['timeout']} s"}
    lines = (tmp / f"scrapy-{i}.stdout").read_text(errors="replace").strip().splitlines()
    try:
        result = json.loads(lines[-1])
        m["detail"] = result
        return {**m, "pages": int(result["pages"])} if m["rc"] == 0 else \
            {**m, "error": f"exit code {m['rc']}: {tail(tmp / f'scrapy-{i}.stderr')}"}
    except (IndexError, ValueError, KeyError, TypeError):
        return {**m, "error": f"exit code {m['rc']}, no JSON result: {tail(tmp / f'scrapy-{i}.stderr')}"}


def count_linkchecker_pages(csv_path, origin):
    """Unique HTML pages LinkChecker fetched with 200 on origin (scheme://host:port)."""
    lines = [ln for ln in Path(csv_path).read_text(errors="replace").splitlines(True)
             if not ln.startswith("#")]
    rows = csv.reader(lines, delimiter=";")
    header = next(rows, None)
    if not header or "url" not in header or "result" not in header:
        raise ValueError("no CSV header in LinkChecker output")
    # columns up to "url" are always written; "line"/"column" after it may be missing
    i_url, i_result = header.index("url"), header.index("result")
    pages = set()
    for row in rows:
        if len(row) <= i_url:
            continue
        url, result = row[i_url], row[i_result]
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != origin or not result.startswith("200"):
            continue
        path = parts.path or "/"
        if path.endswith(("/", ".html", ".htm")):
            pages.add(url.split("#")[0])
    return len(pages)


def run_linkchecker(ctx, i):
    exe = ctx["linkchecker"]
    if not exe:
        return {"error": "linkchecker not installed (pip install linkchecker failed?)"}
    tmp, port = ctx["tmp"], ctx["lc_port"]
    origin = f"http://127.0.0.1:{port}"
    args = [exe, "-f", str(ctx["linkcheckerrc"]), "--no-status", "-t", "16", "--no-robots",
            "--no-warnings", "-v", "-o", "csv",
            # only syntax-check anything not on the local site: never touch the network
            "--ignore-url", rf"^(?!{re.escape(origin)}(/|$))",
            f"{origin}/"]
    m = measure(args, tmp / f"lc-{i}.csv", tmp / f"lc-{i}.stderr", tmp, ctx["timeout"])
    m["command"] = shlex.join(args)
    if m["timed_out"]:
        return {**m, "error": f"timed out after {ctx['timeout']} s"}
    if m["rc"] not in (0, 1):  # 1 = invalid links found (the site has 404s)
        return {**m, "error": f"exit code {m['rc']}: {tail(tmp / f'lc-{i}.stderr')}"}
    try:
        return {**m, "pages": count_linkchecker_pages(tmp / f"lc-{i}.csv", origin)}
    except (OSError, ValueError) as e:
        return {**m, "error": f"cannot parse CSV output: {e}"}


RUNNERS = {"funnelcheck": run_funnelcheck, "scrapy": run_scrapy, "linkchecker": run_linkchecker}


def runner(tool):
    if render_of(tool):
        return lambda ctx, i: run_funnelcheck(ctx, i, render=render_of(tool))
    n = workers_of(tool)
    if n and n > 1:
        return lambda ctx, i: run_funnelcheck(ctx, i, workers=n)
    return RUNNERS[tool]


# --------------------------------------------------------------------------- site + server

def serve(serve_sh, action, *args, header=None):
    env = dict(os.environ)
    env.pop("SERVE_HEADER", None)
    if header:
        env["SERVE_HEADER"] = header
    r = subprocess.run(["bash", str(serve_sh), action, *map(str, args)], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return r


def start_server(serve_sh, site, port, header=None):
    status = serve(serve_sh, "status", port)
    already = status.returncode == 0 and status.stdout.split(maxsplit=1)[1:] == [str(site)]
    r = serve(serve_sh, "start", site, port, header=header)
    if r.returncode:
        raise HarnessError(f"serve.sh start {site} {port} failed: {r.stderr.strip()[-1000:]}")
    if r.stderr.strip():
        log(r.stderr.strip()[-1000:])
    log(f"serving {site} on 127.0.0.1:{port}" + (f" with header '{header}'" if header else "")
        + f" (pid {r.stdout.strip()})")
    return not already  # stop it at the end only if we started it


def prepare_site(args, tmp):
    if args.site_dir:
        site = Path(args.site_dir).resolve()
        if (site / "_facts.json").exists():
            log(f"reusing site {site}")
            facts = json.loads((site / "_facts.json").read_text())
            if args.pages_given and facts.get("pages") != args.pages:
                log(f"note: --site-dir has {facts.get('pages')} pages, not --pages {args.pages}")
            return site, facts
    else:
        site = tmp / "site"
    gen = Path(args.gen_site)
    if not gen.exists():
        raise HarnessError(f"gen_site.py not found at {gen} (use --gen-site PATH)")
    log(f"generating {args.pages} pages into {site} ...")
    site.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([sys.executable, str(gen), "--pages", str(args.pages), "--out", str(site)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode:
        raise HarnessError(f"gen_site.py failed: {r.stderr.strip()[-2000:]}")
    return site, json.loads((site / "_facts.json").read_text())


# --------------------------------------------------------------------------- report

def summarize(runs, tools, facts):
    expected = facts["pages"]
    rows = {}
    for tool in tools:
        ok = [r for r in runs[tool] if "error" not in r]
        row = {"tool": tool, "label": label(tool), "runs": runs[tool], "ok_runs": len(ok),
               "expected_pages": expected}
        if ok:
            for r in ok:
                r["pages_per_s"] = r["pages"] / r["seconds"] if r["seconds"] > 0 else None
            row.update(
                pages=min(r["pages"] for r in ok), pages_max=max(r["pages"] for r in ok),
                all_pages=all(r["pages"] == expected for r in ok) and len(ok) == len(runs[tool]),
                seconds=statistics.median(r["seconds"] for r in ok),
                pages_per_s=statistics.median(r["pages_per_s"] for r in ok),
                peak_rss_mib=max(r["peak_rss"] for r in ok) / MIB,
                cpu_seconds=statistics.median(r["cpu_seconds"] for r in ok))
        else:
            row["error"] = runs[tool][-1].get("error", "no run") if runs[tool] else "not run"
        rows[tool] = row

    def ratio(tool, other):
        # per repeat (same round = same machine conditions), then the median
        per_round = []
        for a, b in zip(runs.get(tool, []), runs.get(other, [])):
            if "error" not in a and "error" not in b and a.get("pages_per_s") and b.get("pages_per_s"):
                per_round.append(a["pages_per_s"] / b["pages_per_s"])
        return (statistics.median(per_round) if per_round else None), per_round

    ratios, verdict = {}, {}
    # ratio key -> (tool, the tool it is compared with): one process against the peers (issue 9),
    # each --workers N against one process and the peers (issue 21)
    pairs = {"vs_scrapy": ("funnelcheck", "scrapy"), "vs_linkchecker": ("funnelcheck", "linkchecker")}
    for tool in tools:
        if render_of(tool):  # issue 23: the cost of rendering against the row as served
            pairs[f"render_{render_of(tool)}_vs_never"] = (tool, "funnelcheck")
            continue
        n = workers_of(tool)
        if n and n > 1:
            pairs.update({f"w{n}_vs_one": (tool, "funnelcheck"), f"w{n}_vs_scrapy": (tool, "scrapy"),
                          f"w{n}_vs_linkchecker": (tool, "linkchecker")})
    for key, (tool, other) in pairs.items():
        value, per_round = ratio(tool, other) if tool in rows and other in rows else (None, [])
        ratios[key] = {"median": value, "per_round": per_round, "tool": label(tool), "other": label(other)}
        if key in TARGETS:
            verdict[key] = {"target": f">= {TARGETS[key]:.1f}x", "value": value,
                            "pass": None if value is None else value >= TARGETS[key]}
    fc = rows.get("funnelcheck", {})
    rss = fc.get("peak_rss_mib")
    verdict["rss_mib"] = {"target": f"< {TARGETS['rss_mib']:.0f} MiB", "value": rss,
                          "pass": None if rss is None else rss < TARGETS["rss_mib"]}
    for tool in tools:
        if workers_of(tool):
            row = rows.get(tool, {})
            verdict["all_pages" if tool == "funnelcheck" else f"all_pages_{tool}"] = {
                "target": f"== {expected} pages", "value": row.get("pages"), "label": label(tool),
                "pass": row.get("all_pages") if "pages" in row else None}
    return rows, ratios, verdict


def print_table(rows, ratios, verdict, facts, repeat):
    expected = facts["pages"]
    print(f"\nsite: {expected} pages (facts), repeat={repeat}; medians over runs, peak RSS = max"
          f" of the summed process-tree RSS")
    head = f"{'tool':<24} {'pages':>12} {'all?':>5} {'seconds':>9} {'pages/s':>9} {'peak RSS MiB':>13} {'CPU s':>8}"
    print(head)
    print("-" * len(head))
    for tool, row in rows.items():
        if "error" in row:
            print(f"{row['label']:<24} failed ({row['error']})")
            continue
        pages = str(row["pages"]) if row["pages"] == row["pages_max"] else f"{row['pages']}-{row['pages_max']}"
        print(f"{row['label']:<24} {pages:>12} {'yes' if row['all_pages'] else 'NO':>5} "
              f"{row['seconds']:>9.2f} {row['pages_per_s']:>9.1f} {row['peak_rss_mib']:>13.1f} "
              f"{row['cpu_seconds']:>8.1f}")
        failed = [r for r in row["runs"] if "error" in r]
        if failed:
            print(f"{'':<24} {len(failed)} of {len(row['runs'])} runs failed: {failed[-1]['error']}")
    print()
    for key, r in ratios.items():
        if r["median"] is None and not r["per_round"]:
            continue  # a row that did not run
        rounds = ", ".join(f"{x:.2f}" for x in r["per_round"])
        extra = f" (per round: {rounds})" if len(r["per_round"]) > 1 else ""
        value = "n/a" if r["median"] is None else f"{r['median']:.2f}x"
        print(f"{r['tool']} pages/s / {r['other']} pages/s: {value}{extra}")
    print("\nverdict (funnelcheck targets):")
    names = {"vs_scrapy": "speed vs plain Scrapy", "vs_linkchecker": "speed vs LinkChecker",
             "rss_mib": "peak RSS", "all_pages": "every page crawled",
             "w2_vs_one": "--workers 2 vs one process", "w2_vs_scrapy": "--workers 2 vs plain Scrapy",
             "w2_vs_linkchecker": "--workers 2 vs LinkChecker"}
    for key, v in verdict.items():
        value = v["value"]
        name = names.get(key) or f"every page crawled ({v.get('label', key)})"
        shown = (f"{value:.2f}x" if "vs_" in key else f"{value:.1f} MiB" if key == "rss_mib"
                 else str(value)) if value is not None else "n/a"
        mark = {True: "PASS", False: "FAIL", None: "n/a"}[v["pass"]]
        print(f"  {mark:<5} {name:<46} {v['target']:<16} measured {shown}")


# --------------------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:5]))
    ap.add_argument("--pages", type=int, default=None, help="pages to generate (default 5000)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool, interleaved (default 1)")
    ap.add_argument("--tools", default=",".join(TOOLS),
                    help="comma-separated subset of: " + ", ".join(TOOLS) + " (default all)")
    ap.add_argument("--gen-site", default=str(SHARED / "gen_site.py"), help="path to gen_site.py")
    ap.add_argument("--serve", default=None, help="path to serve.sh (default beside gen_site.py)")
    ap.add_argument("--linkcheckerrc", default=None,
                    help="LinkChecker config (default linkcheckerrc beside gen_site.py)")
    ap.add_argument("--site-dir", help="generate the site here, or reuse it if it has _facts.json")
    ap.add_argument("--port", type=int, default=8080, help="port for funnelcheck/Scrapy (8080)")
    ap.add_argument("--lc-port", type=int, default=8089,
                    help="port for the copy with the LinkChecker header (8089)")
    ap.add_argument("--funnelcheck-cmd", help="command to run instead of `funnelcheck`, "
                                              "e.g. 'python3 -m funnelcheck'")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per tool run (1800)")
    ap.add_argument("--no-install", action="store_true", help="do not pip install linkchecker")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (outputs, logs)")
    ap.add_argument("--json", action="store_true", help="print machine-readable results only")
    ap.add_argument("--workers", metavar="N,N,...",
                    help="also run `funnelcheck audit ... --workers N` for each N > 1 (a row each, beside "
                         "the one-process `funnelcheck` row; 1 is that row), e.g. 1,2,4")
    ap.add_argument("--render", metavar="MODE,...",
                    help="also run `funnelcheck audit ... --render MODE` for each of auto, always (a row each, "
                         "beside the `funnelcheck` row, which reads pages as served: --render never), e.g. auto,always")
    ap.add_argument("--scale", metavar="N,N,...",
                    help="memory versus pages: hand over to bench/scale.py (its options apply)")
    args = ap.parse_args(argv)
    args.pages_given = args.pages is not None
    if args.pages is None:
        args.pages = 5000
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    bad = [t for t in args.tools if t not in TOOLS]
    if bad:
        ap.error(f"unknown tool(s) {bad}; choose from {', '.join(TOOLS)}")
    try:
        workers = sorted({int(w) for w in (args.workers or "").split(",") if w.strip()})
    except ValueError:
        ap.error(f"--workers wants numbers of workers, got {args.workers!r}")
    if workers and workers[0] < 1:
        ap.error("--workers wants numbers >= 1")
    if workers and "funnelcheck" not in args.tools:  # the rows are compared with one process
        args.tools.insert(0, "funnelcheck")
    at = args.tools.index("funnelcheck") + 1 if "funnelcheck" in args.tools else 0
    args.tools[at:at] = [workers_tool(n) for n in workers if n > 1]
    modes = [m.strip() for m in (args.render or "").split(",") if m.strip()]
    if any(m not in ("auto", "always", "never") for m in modes):
        ap.error(f"--render wants modes among never, always, auto, got {args.render!r}")
    if modes and "funnelcheck" not in args.tools:  # the rows are compared with the default row
        args.tools.insert(0, "funnelcheck")
    at = args.tools.index("funnelcheck") + 1 if "funnelcheck" in args.tools else 0
    args.tools[at:at] = [render_tool(m) for m in modes if m != "never"]
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")
    if args.port == args.lc_port:
        ap.error("--port and --lc-port must differ")
    gen_dir = Path(args.gen_site).resolve().parent
    args.serve = Path(args.serve or gen_dir / "serve.sh")
    args.linkcheckerrc = Path(args.linkcheckerrc or gen_dir / "linkcheckerrc")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if any(a == "--scale" or a.startswith("--scale=") for a in argv):
        sys.path.insert(0, str(BENCH_DIR))
        import scale  # bench/scale.py, which imports this module's helpers
        return scale.main(argv)
    args = parse_args(argv)
    # In RAM where the machine has it: a disk-backed site stalls nginx and measures the disk.
    tmp = Path(tempfile.mkdtemp(prefix="funnelcheck-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    os.chmod(tmp, 0o755)  # nginx workers run as an unprivileged user and must read the site
    started = []
    try:
        if not args.serve.exists():
            raise HarnessError(f"serve.sh not found at {args.serve}")
        site, facts = prepare_site(args, tmp)
        ctx = {"tmp": tmp, "port": args.port, "lc_port": args.lc_port, "timeout": args.timeout,
               "linkcheckerrc": args.linkcheckerrc, "funnelcheck_cmd": None, "linkchecker": None}
        if any(workers_of(t) for t in args.tools):
            ctx["funnelcheck_cmd"] = find_funnelcheck(args.funnelcheck_cmd)
            if not ctx["funnelcheck_cmd"]:
                log("funnelcheck: command not found, its row will be reported as failed")
        if "linkchecker" in args.tools:
            if not args.linkcheckerrc.exists():
                raise HarnessError(f"linkcheckerrc not found at {args.linkcheckerrc}")
            ctx["linkchecker"] = find_linkchecker(not args.no_install)
        if any(workers_of(t) or t == "scrapy" for t in args.tools):
            if start_server(args.serve, site, args.port):
                started.append(args.port)
        if "linkchecker" in args.tools:
            if start_server(args.serve, site, args.lc_port, header="LinkChecker 1"):
                started.append(args.lc_port)

        runs = {t: [] for t in args.tools}
        for i in range(1, args.repeat + 1):
            for tool in args.tools:
                log(f"[round {i}/{args.repeat}] {label(tool)} ...")
                res = runner(tool)(ctx, i)
                runs[tool].append(res)
                if "error" in res:
                    log(f"  failed: {res['error']}")
                else:
                    log(f"  {res['pages']} pages in {res['seconds']:.2f} s "
                        f"({res['pages'] / res['seconds']:.1f} pages/s), "
                        f"peak RSS {res['peak_rss'] / MIB:.1f} MiB"
                        + (f", peak PSS {res['peak_pss'] / MIB:.1f} MiB" if "peak_pss" in res else "")
                        + (f", {res['rendered']} pages rendered" if res.get("rendered") is not None else ""))
        rows, ratios, verdict = summarize(runs, args.tools, facts)
        if args.json:
            for row in rows.values():
                for r in row["runs"]:
                    if "peak_rss" in r:
                        r["peak_rss_mib"] = r["peak_rss"] / MIB
            print(json.dumps({"facts_pages": facts["pages"],
                              "site_dir": str(site), "repeat": args.repeat, "tools": rows,
                              "ratios": ratios, "verdict": verdict, "targets": TARGETS,
                              "tmp_dir": str(tmp) if args.keep_tmp else None}, indent=2))
        else:
            print_table(rows, ratios, verdict, facts, args.repeat)
            if args.keep_tmp:
                print(f"\noutputs and logs kept in {tmp}")
        return 0
    except HarnessError as e:
        log(f"harness error: {e}")
        return 2
    finally:
        for port in started:
            r = serve(args.serve, "stop", port)
            if r.returncode:
                log(f"serve.sh stop {port} failed: {r.stderr.strip()}")
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
