#!/usr/bin/env python3
"""Benchmark candidate HTML parsers for funnelcheck's extraction hot path.

    python3 bench/parsers.py                       # 1,000 synthetic pages + the real sites, 3 reps
    python3 bench/parsers.py --pages 5000          # every page of the synthetic site
    python3 bench/parsers.py --only lxml,selectolax --reps 5
    python3 bench/parsers.py --python /tmp/h5p-venv/bin/python   # parsers missing here run there
    python3 bench/parsers.py --json > parsers.json

Parsers (a missing one is skipped with a note):

    lxml          lxml.etree.HTMLParser(recover=True, huge_tree=False), what crawler/extract.py uses
                  today (libxml2's HTML4 recovery parser, not HTML5-conformant) - the baseline
    selectolax    selectolax.lexbor.LexborHTMLParser(bytes, encoding=True)        (lexbor, C)
    resiliparse   resiliparse.parse.html.HTMLTree.parse_from_bytes(bytes)           (lexbor, C)
    markupever    markupever.parse(bytes)                                           (html5ever, Rust)
    html5-parser  html5_parser.parse(bytes), builds an lxml tree            (gumbo fork, C)
    html5lib      html5lib.parse(bytes, treebuilder="lxml"), an lxml tree          (pure Python)
    justhtml      justhtml.JustHTML(bytes, sanitize=False)                          (pure Python)

html5-parser needs lxml compiled against the system libxml2, which cannot share a virtualenv
with the lxml wheel. Build it in a separate venv and pass its interpreter with --python: every
parser that does not import here is then run in a child process of that interpreter (the same
script, same files, same reps), together with that interpreter's own lxml as a second baseline.

Corpora: a sample of --pages pages of the synthetic site made by ../shared/bench/gen_site.py
(generated into --site-dir, or into a temp dir under /dev/shm that is removed at the end), and
every .html/.htm file of the real sites in ../shared/realsites/ (hop, answer, couchdb,
datafusion-blog; only read). All files are read into memory as bytes before timing.

Per parser and corpus, median of --reps timed passes (reps interleaved across parsers):
    parse   parse every file's bytes into a tree
    +work   parse, then what the crawler does per page: every element with a URL attribute
            (a/area/link[href], img[src|srcset], script/iframe[src], source[src|srcset], video,
            audio, embed, object[data], form[action]), read its URL attributes and walk its
            ancestors up to <html> reading tag, id and class; plus collect every id attribute
Rates are pages/s and MB/s of input (1 MB = 10^6 bytes); "x lxml" is pages/s / lxml's pages/s.
An untimed pass first (the warm-up, and the totals that show whether the parsers found the same
elements); a fast parser then loops over the files until each measurement lasts about 1 s.

Checks, yes/no per parser:
    footer  <body><section><div><a href=/x>x</a></section><footer>...: footer's parent is body
    deep    300 unclosed <div> then <footer><a href="/deep">: /deep is found (also 5,000 and
            100,000; the pure-Python parsers only up to 5,000)
    lines   elements expose their source line (lxml .sourceline)
    enc     bytes input: a windows-1251 page with <meta charset> / a UTF-8 page without one;
            the href printed is what the parser decoded ("/Привет" and "/café" are right)
"""
from __future__ import annotations

import argparse
import gc
import glob
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_GEN = os.path.normpath(os.path.join(REPO, "..", "shared", "bench", "gen_site.py"))
DEFAULT_REAL = os.path.normpath(os.path.join(REPO, "..", "shared", "realsites"))
REAL_SITES = ("hop", "answer", "couchdb", "datafusion-blog")
MIN_PASS_S = 1.0  # each timed measurement loops over the files for at least about this long

# crawler/extract.py's URL_ATTRS, restricted to what the brief lists.
URL_ATTRS = {
    "a": ("href",), "area": ("href",), "link": ("href",), "img": ("src", "srcset"),
    "script": ("src",), "iframe": ("src",), "source": ("src", "srcset"),
    "video": ("src", "poster"), "audio": ("src",), "embed": ("src",), "object": ("data",),
    "form": ("action",),
}
# Elements that count: the tag alone for video/audio/embed, else one of the attributes present.
ANY_ATTR = frozenset({"video", "audio", "embed"})
URL_SELECTOR = ", ".join(
    tag if tag in ANY_ATTR else ", ".join(f"{tag}[{a}]" for a in attrs)
    for tag, attrs in URL_ATTRS.items())

CASE_FOOTER = b"<body><section><div><a href=/x>x</a></section><footer><a href=/f>f</a></footer>"
LINES_DOC = b"<!doctype html>\n<html>\n<body>\n<p>\n<a href=/x>x</a>"  # the <a> is on line 5
ENC_CASES = {
    "cp1251+meta": '<!doctype html><meta charset="windows-1251"><a href="/Привет">x</a>'.encode("cp1251"),
    "utf8 no meta": '<!doctype html><title>t</title><a href="/café">x</a>'.encode("utf-8"),
}


def deep_doc(n: int) -> bytes:
    return b"<!doctype html><body>" + b"<div>" * n + b'<footer><a href="/deep">deep</a></footer>'


# --------------------------------------------------------------------------- adapters
# Each adapter: parse(bytes) -> doc; work(doc) -> (url elements, ancestor steps, ids, checksum);
# links(doc) -> [(href, parent tag)] for the checks; line(doc) -> line of the first <a> or None.

class Adapter:
    name = ""
    note = ""
    pure_python = False
    lines_note = ""

    def parse(self, data: bytes):
        raise NotImplementedError


class LxmlLike(Adapter):
    """Anything that produces an lxml tree: lxml itself, html5-parser, html5lib(lxml)."""

    def work(self, root):
        n = steps = marks = 0
        for el in root.iter(*URL_ATTRS):
            tag = el.tag
            vals = [el.get(a) for a in URL_ATTRS[tag]]
            if tag not in ANY_ATTR and all(v is None for v in vals):
                continue
            n += 1
            for anc in el.iterancestors():
                steps += 1
                if anc.tag in ("header", "footer", "nav") or anc.get("id") or anc.get("class"):
                    marks += 1
        ids = [i for i in root.xpath("//@id") if i]
        return n, steps, len(ids), marks

    def links(self, root):
        return [(a.get("href"), a.getparent().tag) for a in root.iter("a") if a.get("href")]

    def line(self, root):
        for a in root.iter("a"):
            return a.sourceline
        return None


class Lxml(LxmlLike):
    name = "lxml"

    def __init__(self):
        from lxml import etree
        self.etree = etree
        ver = ".".join(map(str, etree.LIBXML_VERSION))
        self.note = f"libxml2 {ver}, HTML4 recovery"
        self.lines_note = ".sourceline"

    def parse(self, data):
        return self.etree.fromstring(data, self.etree.HTMLParser(recover=True, huge_tree=False))


class Html5Parser(LxmlLike):
    name = "html5-parser"
    lines_note = ".sourceline (lxml tree); or line_number_attr="

    def __init__(self):
        import html5_parser
        from lxml import etree
        self.parse_ = html5_parser.parse
        self.note = f"gumbo, lxml tree (libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))})"

    def parse(self, data):
        return self.parse_(data)


class Html5lib(LxmlLike):
    name = "html5lib"
    pure_python = True
    lines_note = "no (lxml tree without .sourceline)"

    def __init__(self):
        import html5lib
        self.parse_ = html5lib.parse
        self.note = f"{html5lib.__version__}, pure Python, lxml treebuilder"

    def parse(self, data):
        return self.parse_(data, treebuilder="lxml", namespaceHTMLElements=False)


class Selectolax(Adapter):
    name = "selectolax"
    lines_note = "no"

    def __init__(self):
        import selectolax
        from selectolax.lexbor import LexborHTMLParser
        self.P = LexborHTMLParser
        self.note = f"{selectolax.__version__}, lexbor, encoding=True"

    def parse(self, data):
        return self.P(data, encoding=True)

    def work(self, doc):
        n = steps = marks = 0
        for el in doc.css(URL_SELECTOR):
            attrs = el.attrs
            for a in URL_ATTRS[el.tag]:
                attrs.get(a)
            n += 1
            anc = el.parent
            while anc is not None and anc.is_element_node:
                steps += 1
                if anc.tag in ("header", "footer", "nav") or anc.id or anc.attrs.get("class"):
                    marks += 1
                anc = anc.parent
        ids = [el.id for el in doc.css("[id]")]
        return n, steps, len([i for i in ids if i]), marks

    def links(self, doc):
        return [(a.attrs.get("href"), a.parent.tag) for a in doc.css("a[href]")]

    def line(self, doc):
        return None


class Resiliparse(Adapter):
    name = "resiliparse"
    lines_note = "no"

    def __init__(self):
        from importlib.metadata import version
        from resiliparse.parse.html import HTMLTree, NodeType
        self.T, self.ELEMENT = HTMLTree, NodeType.ELEMENT
        self.note = f"{version('resiliparse')}, lexbor, encoding='utf-8' (default), tree walked in Python"

    def parse(self, data):
        return self.T.parse_from_bytes(data)

    def elements(self, tree):
        """Every element in document order, by first_element_child / next_element_sibling.

        Not query_selector_all(): iterating the ElementNodeList it returns costs time
        proportional to the list's length per item in resiliparse 2.0.1 (1,000 links: 5 s)."""
        ELEMENT = self.ELEMENT
        node = tree.document.first_element_child
        while node is not None:
            yield node
            child = node.first_element_child
            if child is not None:
                node = child
                continue
            while node is not None:
                sib = node.next_element_sibling
                if sib is not None:
                    node = sib
                    break
                node = node.parent
                if node is not None and node.type != ELEMENT:
                    node = None

    def work(self, tree):
        n = steps = marks = ids = 0
        ELEMENT = self.ELEMENT
        for el in self.elements(tree):
            if el.id:
                ids += 1
            attrs = URL_ATTRS.get(el.tag)
            if attrs is None:
                continue
            vals = [el.getattr(a) for a in attrs]
            if el.tag not in ANY_ATTR and all(v is None for v in vals):
                continue
            n += 1
            anc = el.parent
            while anc is not None and anc.type == ELEMENT:
                steps += 1
                if anc.tag in ("header", "footer", "nav") or anc.id or anc.class_name:
                    marks += 1
                anc = anc.parent
        return n, steps, ids, marks

    def links(self, tree):
        return [(a.getattr("href"), a.parent.tag) for a in self.elements(tree)
                if a.tag == "a" and a.getattr("href") is not None]

    def line(self, tree):
        return None


class Markupever(Adapter):
    name = "markupever"
    lines_note = "no"

    def __init__(self):
        from importlib.metadata import version
        import markupever
        from markupever.dom import Element
        self.mp, self.Element = markupever, Element
        self.note = f"{version('markupever')}, html5ever"

    def parse(self, data):
        return self.mp.parse(data)

    def work(self, dom):
        n = steps = marks = 0
        Element = self.Element
        for el in dom.select(URL_SELECTOR):
            attrs = el.attrs
            for a in URL_ATTRS[el.name.local]:
                attrs.get(a)
            n += 1
            anc = el.parent
            while isinstance(anc, Element):
                steps += 1
                if anc.name.local in ("header", "footer", "nav") or anc.id or anc.attrs.get("class"):
                    marks += 1
                anc = anc.parent
        ids = [el.id for el in dom.select("[id]")]
        return n, steps, len([i for i in ids if i]), marks

    def links(self, dom):
        return [(a.attrs.get("href"), a.parent.name.local) for a in dom.select("a[href]")]

    def line(self, dom):
        return None


class JustHTML(Adapter):
    name = "justhtml"
    pure_python = True
    lines_note = ".origin_line, only with track_node_locations=True (~10% slower)"

    def __init__(self):
        from importlib.metadata import version
        import justhtml
        self.J = justhtml.JustHTML
        self.note = f"{version('justhtml')}, pure Python, sanitize=False"

    def parse(self, data):
        # sanitize=False: JustHTML sanitizes the tree by default, which drops markup.
        return self.J(data, sanitize=False).root

    def work(self, root):
        n = steps = marks = 0
        for el in root.query(URL_SELECTOR):
            attrs = el.attrs
            for a in URL_ATTRS[el.name]:
                attrs.get(a)
            n += 1
            anc = el.parent
            while anc is not None and not anc.name.startswith("#"):
                steps += 1
                aa = anc.attrs
                if anc.name in ("header", "footer", "nav") or aa.get("id") or aa.get("class"):
                    marks += 1
                anc = anc.parent
        ids = [el.attrs.get("id") for el in root.query("[id]")]
        return n, steps, len([i for i in ids if i]), marks

    def links(self, root):
        return [(a.attrs.get("href"), a.parent.name) for a in root.query("a[href]")]

    def line(self, root):
        a = self.J(LINES_DOC, sanitize=False, track_node_locations=True).root.query_one("a")
        return a.origin_line if a is not None else None


ADAPTERS = {"lxml": Lxml, "selectolax": Selectolax, "resiliparse": Resiliparse,
            "markupever": Markupever, "html5-parser": Html5Parser, "html5lib": Html5lib,
            "justhtml": JustHTML}


# --------------------------------------------------------------------------- corpora

def load_corpora(site_dir: str, pages: int, realsites: str) -> dict[str, list[bytes]]:
    synth = sorted(p for p in glob.glob(os.path.join(site_dir, "**", "*.html"), recursive=True))
    if not synth:
        sys.exit(f"no .html files under {site_dir}")
    if pages < len(synth):
        synth = sorted(random.Random(1).sample(synth, pages))
    real = []
    for site in REAL_SITES if realsites else ():
        for dirpath, _dirs, files in os.walk(os.path.join(realsites, site)):
            real += [os.path.join(dirpath, f) for f in files if f.lower().endswith((".html", ".htm"))]
    corpora = {"synthetic": synth}
    if real:
        corpora["realsites"] = sorted(real)
    out = {}
    for name, paths in corpora.items():
        data = []
        for p in paths:
            with open(p, "rb") as fh:
                data.append(fh.read())
        out[name] = data
    return out


# --------------------------------------------------------------------------- measuring

def checks(ad: Adapter) -> dict:
    res = {}
    try:
        links = ad.links(ad.parse(CASE_FOOTER))
        res["footer"] = "yes" if ("/f", "footer") in links and _footer_parent(ad) == "body" else "no"
    except Exception as e:  # noqa: BLE001
        res["footer"] = f"error {e!r:.60}"
    for n in (300, 5000, 100000):
        if n > 5000 and ad.pure_python:
            continue
        try:
            t0 = time.perf_counter()
            found = any(h == "/deep" for h, _ in ad.links(ad.parse(deep_doc(n))))
            secs = time.perf_counter() - t0
            res[f"deep{n}"] = ("yes" if found else "no") + (f" ({secs:.1f} s)" if secs >= 0.5 else "")
        except RecursionError:
            res[f"deep{n}"] = "RecursionError"
        except Exception as e:  # noqa: BLE001
            res[f"deep{n}"] = f"error {e!r:.60}"
    try:
        line = ad.line(ad.parse(LINES_DOC))
        res["lines"] = "yes" if line == 5 else ("no" if line is None else f"wrong ({line})")
    except Exception as e:  # noqa: BLE001
        res["lines"] = f"error {e!r:.60}"
    res["lines_note"] = ad.lines_note
    for k, b in ENC_CASES.items():
        try:
            hrefs = [h for h, _ in ad.links(ad.parse(b))]
            res[k] = hrefs[0] if hrefs else "(no link)"
        except Exception as e:  # noqa: BLE001
            res[k] = f"error {e!r:.60}"
    return res


def _footer_parent(ad: Adapter) -> str:
    """Tag of the parent of <footer> in CASE_FOOTER, by way of its link's grandparent."""
    doc = ad.parse(CASE_FOOTER)
    if isinstance(ad, LxmlLike):
        for a in doc.iter("a"):
            if a.get("href") == "/f":
                return a.getparent().getparent().tag
    elif isinstance(ad, Selectolax):
        return doc.css_first('a[href="/f"]').parent.parent.tag
    elif isinstance(ad, Resiliparse):
        return doc.document.query_selector('a[href="/f"]').parent.parent.tag
    elif isinstance(ad, Markupever):
        return doc.select_one('a[href="/f"]').parent.parent.name.local
    elif isinstance(ad, JustHTML):
        return doc.query_one('a[href="/f"]').parent.parent.name
    return "?"


def verify(ad: Adapter, files: list[bytes]) -> dict:
    """One untimed pass with per-file error handling: totals to compare parsers, and crashes."""
    tot = [0, 0, 0, 0]
    errors = []
    for i, b in enumerate(files):
        try:
            for k, v in enumerate(ad.work(ad.parse(b))):
                tot[k] += v
        except Exception as e:  # noqa: BLE001
            errors.append(f"file {i}: {e!r:.80}")
    return {"url_elements": tot[0], "ancestor_steps": tot[1], "ids": tot[2], "marked_ancestors": tot[3],
            "errors": errors}


def time_pass(ad: Adapter, files: list[bytes], mode: str, loops: int = 1) -> float:
    """Seconds for ``loops`` passes over ``files``: parse only, or parse + work."""
    parse = ad.parse
    gc.collect()
    if mode == "parse":
        t0 = time.perf_counter()
        for _ in range(loops):
            for b in files:
                parse(b)
        return time.perf_counter() - t0
    work = ad.work
    t0 = time.perf_counter()
    for _ in range(loops):
        for b in files:
            work(parse(b))
    return time.perf_counter() - t0


def run(names: list[str], corpora: dict[str, list[bytes]], reps: int, log) -> dict:
    adapters, skipped = {}, {}
    for name in names:
        try:
            adapters[name] = ADAPTERS[name]()
        except ImportError as e:
            skipped[name] = f"not installed ({e.name or e})"
        except Exception as e:  # noqa: BLE001 - e.g. html5-parser refusing a mismatched libxml2
            skipped[name] = f"cannot load: {e!r:.120}"
    results = {"python": sys.executable, "skipped": skipped, "parsers": {}}
    for name, ad in adapters.items():
        log(f"checking {name} ...")
        results["parsers"][name] = {"note": ad.note, "checks": checks(ad), "corpora": {}}
        for cname, files in corpora.items():
            t0 = time.perf_counter()
            v = verify(ad, files)  # also the warm-up
            t_work = time.perf_counter() - t0
            t_parse = time_pass(ad, files, "parse") if not v["errors"] else 1.0
            # A fast parser goes over the files several times per measurement, so that each
            # one lasts about MIN_PASS_S (short timings are noisy on these machines).
            loops = {"parse": max(1, math.ceil(MIN_PASS_S / max(t_parse, 1e-6))),
                     "work": max(1, math.ceil(MIN_PASS_S / max(t_work, 1e-6)))}
            results["parsers"][name]["corpora"][cname] = {
                "files": len(files), "bytes": sum(map(len, files)), "verify": v, "loops": loops,
                "parse_s": [], "work_s": []}
    for r in range(reps):  # interleaved: every parser once per round
        for cname, files in corpora.items():
            for name, ad in adapters.items():
                c = results["parsers"][name]["corpora"][cname]
                if c["verify"]["errors"]:
                    continue
                c["parse_s"].append(time_pass(ad, files, "parse", c["loops"]["parse"]) / c["loops"]["parse"])
                c["work_s"].append(time_pass(ad, files, "work", c["loops"]["work"]) / c["loops"]["work"])
                log(f"round {r + 1}/{reps} {cname:9} {name:12} parse {c['parse_s'][-1]:7.2f}s"
                    f"  +work {c['work_s'][-1]:7.2f}s")
    return results


# --------------------------------------------------------------------------- report

def table(results: dict, corpora_names: list[str]) -> str:
    parsers = results["parsers"]
    lines = []
    for cname in corpora_names:
        base = parsers.get("lxml", {}).get("corpora", {}).get(cname)
        first = next((p["corpora"][cname] for p in parsers.values() if cname in p["corpora"]), None)
        if first is None:
            continue
        lines.append(f"\n{cname}: {first['files']} files, {first['bytes'] / 1e6:.1f} MB")
        lines.append("| parser | parse pages/s | parse MB/s | parse × lxml | +work pages/s | +work MB/s "
                     "| +work × lxml | URL elements | ids |")
        lines.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
        for name, p in parsers.items():
            c = p["corpora"].get(cname)
            if c is None:
                continue
            v = c["verify"]
            if v["errors"]:
                lines.append(f"| {name} | failed on {len(v['errors'])} files: {v['errors'][0]} |||||||")
                continue
            cells = [name]
            for key in ("parse_s", "work_s"):
                med = statistics.median(c[key])
                pps, mbs = c["files"] / med, c["bytes"] / 1e6 / med
                ratio = ""
                if base and base[key] and not base["verify"]["errors"]:
                    ratio = f"{statistics.median(base[key]) / med:.2f}"
                cells += [f"{pps:,.0f}", f"{mbs:.1f}", ratio]
            cells += [f"{v['url_elements']:,}", f"{v['ids']:,}"]
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("\nchecks (footer: footer is a child of body; deepN: /deep found after N open <div>;"
                 " lines: source line of elements; encoding: href decoded from bytes)")
    lines.append("| parser | footer | deep300 | deep5000 | deep100000 | lines | cp1251+meta "
                 "(/Привет) | utf8 no meta (/café) | engine |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for name, p in parsers.items():
        ch = p["checks"]
        lines.append("| " + " | ".join([
            name, ch["footer"], ch.get("deep300", ""), ch.get("deep5000", ""),
            ch.get("deep100000", "not run"), f"{ch['lines']}: {ch['lines_note']}",
            ch["cp1251+meta"], ch["utf8 no meta"], p["note"]]) + " |")
    for name, why in results["skipped"].items():
        lines.append(f"skipped {name}: {why}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=1000, help="synthetic pages sampled (default 1000)")
    ap.add_argument("--gen-pages", type=int, default=5000, help="size of a generated site (default 5000)")
    ap.add_argument("--site-dir", help="synthetic site: reused if it has _facts.json, else generated "
                                       "there and kept (default: a temp dir, removed at the end)")
    ap.add_argument("--gen-site", default=DEFAULT_GEN, help="gen_site.py (default %(default)s)")
    ap.add_argument("--realsites", default=DEFAULT_REAL, help="real sites (default %(default)s); "
                                                              "'' to leave them out")
    ap.add_argument("--reps", type=int, default=3, help="timed passes per parser and corpus (median)")
    ap.add_argument("--only", default=",".join(ADAPTERS), help="comma-separated parsers")
    ap.add_argument("--python", help="interpreter for parsers that do not import here (html5-parser)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the tables")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    log = (lambda msg: print(msg, file=sys.stderr, flush=True))
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in ADAPTERS]
    if unknown:
        ap.error(f"unknown parser(s) {unknown}; known: {', '.join(ADAPTERS)}")

    tmp = None
    site = args.site_dir
    if site is None:
        tmp = site = tempfile.mkdtemp(prefix="fc-parsers-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        if not os.path.exists(os.path.join(site, "_facts.json")):
            log(f"generating {args.gen_pages} pages into {site} ...")
            subprocess.run([sys.executable, args.gen_site, "--pages", str(args.gen_pages), "--out", site],
                           check=True, stdout=subprocess.DEVNULL)
        corpora = load_corpora(site, args.pages, args.realsites)
        for cname, files in corpora.items():
            log(f"{cname}: {len(files)} files, {sum(map(len, files)) / 1e6:.1f} MB")
        results = run(names, corpora, args.reps, log)
        if args.python and not args.worker and results["skipped"]:
            results = _merge_child(args, site, results, log)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json or args.worker:
        json.dump(results, sys.stdout, indent=1, ensure_ascii=False)
        print()
    else:
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, reps={args.reps} (median)")
        print(table(results, list(corpora)))
    return 0


def _merge_child(args, site: str, results: dict, log) -> dict:
    """Run the skipped parsers (and that interpreter's lxml, as "lxml@child") in --python."""
    missing = list(results["skipped"])
    cmd = [args.python, os.path.abspath(__file__), "--worker", "--only", ",".join(["lxml"] + missing),
           "--pages", str(args.pages), "--site-dir", site, "--realsites", args.realsites,
           "--reps", str(args.reps)]
    log(f"running {', '.join(missing)} in {args.python} ...")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        log(f"child failed with exit code {proc.returncode}")
        return results
    child = json.loads(proc.stdout)
    merged = {"python": results["python"], "skipped": {}, "parsers": dict(results["parsers"])}
    for name, p in child["parsers"].items():
        label = "lxml@child" if name == "lxml" else name
        p["note"] += f"; run in {args.python}"
        merged["parsers"][label] = p
    for name in missing:
        if name in child["skipped"]:
            merged["skipped"][name] = f"{results['skipped'][name]}; in {args.python}: {child['skipped'][name]}"
    # Ratios of child rows are against this process's lxml (the production wheel); lxml@child
    # shows how far the two runs (and the two lxml builds) differ.
    return merged


if __name__ == "__main__":
    sys.exit(main())
