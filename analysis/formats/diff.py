"""The renderings of a crawl diff (:func:`analysis.diff.diff_crawls`): terminal, JSON,
Markdown, HTML, and the two parts of the e-mail (:func:`plain_text`, :func:`html_text`).

Each says first how the crawls differ in options (when they do), then the headline, then
what changed for the funnel in words (:func:`analysis.diff.summary`: offers, conversion,
backward routes, the link check, a template's link added to or removed from many pages
said once), then the other changes, then the details: backward links, broken links,
funnel metrics, conversion pages, pages, links (a template change one line, not a line
per page), findings. Crawled text is escaped the way the
audit's formats escape it: control characters shown as ``\\x1b`` on a terminal and in
plain text (:func:`analysis.formats.safe.safe`), Markdown escaped like
:mod:`analysis.formats.markdown`, HTML through Jinja2's autoescaping under the same strict
Content-Security-Policy as :mod:`analysis.formats.html` (no script, inline CSS, nothing
loaded); the JSON keeps the text exact.
"""
from __future__ import annotations

import io
import json
from typing import TextIO

from jinja2 import Environment

from analysis.diff import EMPTY, LINK_WORDS, changed, headline, notes, short, summary, where_words
from analysis.formats.html import CSP
from analysis.formats.markdown import link as md_link
from analysis.formats.markdown import md
from analysis.formats.safe import safe
from analysis.formats.terminal import STYLES, _Console, _Writer, plan_lines

SHOWN = 20  # items listed per section in the terminal, Markdown and HTML renderings (JSON: LIST_MAX)
SUMMARY_SHOWN = 12  # changes for the funnel said at the top (the rest are in the details)
HEAD = "What changed for the funnel"
ALSO = "Also changed"


# -- what every rendering shows -----------------------------------------------------------------
def _pct(p) -> str:
    return "—" if p is None else f"{100 * p:.1f}%"


def _points(d) -> str:
    return "—" if d is None else ("0" if abs(d) < 0.0005 else f"{100 * d:+.1f} pts")  # (never "+0.0 pts")


def _clicks(x) -> str:
    return "—" if x is None else f"{x:.2f}"


def _plus(d) -> str:
    return "—" if d is None else ("0" if d == 0 else f"{d:+.2f}")


def _count(x) -> str:
    return "—" if x is None else str(x)


def _signed(d) -> str:
    return "—" if d is None else ("0" if d == 0 else f"{d:+d}")


def metric_rows(diff: dict) -> list[tuple[str, str, str, str]]:
    """``(what, old, new, change)`` for the table of funnel metrics (rows with no value in
    either crawl left out)."""
    m = diff["metrics"]
    base = (diff["new"]["targets"] or [None])[0]
    table = [("Conversion probability (site-wide)", m["site"]["conversion"], _pct, _points),
             ("Leak to social (site-wide)", m["site"]["social_leak"], _pct, _points),
             ("Clicks to a conversion", m["site"]["clicks_to_conversion"], _clicks, _plus),
             ("Clicks to the nearest offer", m["site"]["conversion_depth"], _clicks, _plus),
             ("Blog pages with no path to an offer", m["site"]["unreachable_posts"], _count, _signed),
             ("Conversion probability from the blog", m["blog"]["conversion"], _pct, _points),
             ("Leak to social from the blog", m["blog"]["social_leak"], _pct, _points)]
    for row in m["landing"]:
        where = short(row["url"], base)
        where = "the home page" if where == "/" else where
        table.append((f"Conversion probability from {where}", row["conversion"], _pct, _points))
        table.append((f"Leak to social from {where}", row["social_leak"], _pct, _points))
    money = diff.get("money")
    if money:  # both crawls audited with --analytics: the model's figures on the exports' traffic
        from analysis.analytics import about
        from analysis.analytics import money as amount

        cur = money["currency"]
        currencies = money.get("currencies") or {"old": cur, "new": cur}
        if (money.get("conversion") or {}).get("old") is not None and money["conversion"].get("new") is not None:
            table[0] = ("Conversion probability (site-wide, your entries)", money["conversion"], _pct, _points)
        same = currencies["old"] == currencies["new"]
        table += [("Entries a month (your analytics)", money["monthly_entries"], lambda x: "—" if x is None else about(x),
                   lambda d: "—" if d is None else ("0" if d == 0 else f"{d:+,.0f}")),
                  ("Visits reaching an offer a month (the model)", money["monthly_conversions"],
                   lambda x: "—" if x is None else about(x),
                   lambda d: "—" if d is None else ("0" if d == 0 else f"{d:+,.0f}")),
                  ("Money a month (the model)" if money.get("rate") is None else
                   f"Money a month (the model, at #{diff['old']['id']}'s rate)", money["monthly_value"], None,
                   lambda d: "—" if d is None or not same else ("0" if d == 0 else ("+" if d > 0 else "-")
                                                                 + amount(abs(d), cur)))]
        rows = []
        for what, r, fmt, change in table:
            if r["old"] is None and r["new"] is None:
                continue
            if fmt is None:  # (each crawl's money in its own currency)
                rows.append((what, amount(r["old"], currencies["old"]), amount(r["new"], currencies["new"]),
                             change(r["delta"])))
            else:
                rows.append((what, fmt(r["old"]), fmt(r["new"]), change(r["delta"])))
        return rows
    return [(what, fmt(r["old"]), fmt(r["new"]), change(r["delta"])) for what, r, fmt, change in table
            if r["old"] is not None or r["new"] is not None]


def _reach(c) -> str:
    if c is None:
        return "—"
    return f"{c['entries']} ({c['blog']} blog)" if c["blog"] else str(c["entries"])


def _title(diff: dict) -> str:
    old, new = diff["old"], diff["new"]
    return (f"crawl #{old['id']} ({old['started']}) → #{new['id']} ({new['started']}) of "
            + " ".join(new["targets"] or old["targets"]))


def _options_note(diff: dict) -> str | None:
    names = diff["options_differ"]
    if not names:
        return None
    return f"The two crawls ran with different options: {', '.join(names)}. Some changes may come from that."


def _notes(diff: dict) -> list[str]:
    """The notes on a crawl that is not complete (said at the top, under the options note)."""
    return notes(diff)[1:] if diff["options_differ"] else notes(diff)


def _head(diff: dict) -> tuple[list[dict], int, list[str], str]:
    """What the renderings say first: the changes for the funnel (the first
    :data:`SUMMARY_SHOWN`), how many more there are, then the other sentences (what the
    summary does not say; the notes are said at the top), and the headline (all from one
    :func:`summary`)."""
    items = summary(diff)
    said = {item["words"] for item in items} | set(notes(diff))
    rest = [s for s in diff["sentences"] if s not in said]
    return items[:SUMMARY_SHOWN], max(0, len(items) - SUMMARY_SHOWN), rest, headline(diff, items=items)


def _group_line(grp: dict) -> str:
    """A template change in the details: ``https://acme.example/signup/ removed from every blog post (40)``."""
    verb = "added to" if grp["change"] == "added" else "removed from"
    return f"{grp['target']} {verb} {_where(grp)}"


def _where(grp: dict) -> str:
    return where_words(grp["by_class"], grp["of"], grp.get("section"), grp.get("section_of"))


def _groups(diff: dict, kind: str, change: str) -> list[dict]:
    return [g for g in (diff["links"].get("groups") or ()) if g["class"] == kind and g["change"] == change]


def _now(r: dict) -> str:
    if r["now"] == "works":
        return f"works ({r['status']})" if r["status"] else "works"
    return r["now"]


def _status(r: dict) -> str:
    return f"{r['status']} ({r['label']})" if r["status"] else (r["label"] or "error")


# -- terminal and plain text --------------------------------------------------------------------
def write_terminal(diff: dict, out: TextIO, color: bool | None = None, width: int | None = None) -> None:
    """The diff for a person at a terminal: the summary first, then every section that has
    something in it. ``color=None`` lets rich decide (NO_COLOR, not a tty); piped or written
    to a file, each item is one line unless ``width`` is given."""
    console = _Console(file=out, force_terminal=color, no_color=True if color is False else None, width=width,
                       highlight=False, soft_wrap=True)
    terminal = console.is_terminal
    w = _Writer(console, width or (console.width if terminal else 0), shorten_urls=terminal)
    w.line("funnelcheck diff: " + safe(_title(diff)), "bold")
    note = _options_note(diff)
    if note:
        w.line(safe(note), "yellow")
    for note in _notes(diff):
        w.line(safe(note), "yellow")
    items, hidden, rest, head = _head(diff)
    w.line(safe(head), "bold")
    if not changed(diff):
        w.line("No changes.", "green")
        return
    if items:
        w.line()
        w.line(HEAD + ":", "bold")
        for item in items:
            w.line("- " + safe(item["words"]), {"worse": "red", "better": "green"}.get(item["change"]), indent=2)
        if hidden:
            w.line(f"… and {hidden} more (in the details below)", "dim", indent=2)
    if rest:
        w.line()
        w.line(ALSO + ":", "bold")
        for sentence in rest:
            w.line("- " + safe(sentence), indent=2)
    plan_lines(w, f"Fix first (crawl #{diff['new']['id']}):",  # the new crawl's plan: what costs most now
               [(x["severity"], x["words"], x["fix"]) for x in diff.get("fix_first") or ()])
    base = (diff["new"]["targets"] or diff["old"]["targets"] or [None])[0]

    def more(total: int, shown: int, what: str) -> None:
        if total > shown:
            w.line(f"… and {total - shown} more {what} (--format json lists more)", "dim", indent=2)

    def findings(sign: str, rows: list, what: str) -> None:
        """Finding rows, new (``+``) or gone (``-``): rule, region, pages and id, then the message."""
        for r in rows[:SHOWN]:
            where = f" · {r['region']}" if r["region"] else ""
            w.line(f"{sign} [{r['severity']}] {r['rule']}{where} · {r['pages']} page{'s' if r['pages'] != 1 else ''}"
                   f" · {r['id']}", STYLES[r["severity"]] if sign == "+" else "green", indent=2)
            w.line(safe(r["message"]), indent=4)
        more(len(rows), SHOWN, what)

    b = diff["backward"]
    if b["new"] or b["fixed"]:
        w.line()
        w.line(f"Backward links: {len(b['new'])} new, {len(b['fixed'])} fixed", "bold")
        for sign, rows in (("+", b["new"]), ("-", b["fixed"])):
            findings(sign, rows, "backward links")
    k = diff["broken"]
    if k["new"] or k["fixed"]:
        w.line()
        w.line(f"Broken links: {len(k['new'])} newly broken, {len(k['fixed'])} fixed", "bold")
        for r in k["new"][:SHOWN]:
            w.line(f"+ {safe(r['target'])} · {safe(_status(r))} · {r['pages']} page{'s' if r['pages'] != 1 else ''}"
                   f" · {r['id']}", STYLES[r["severity"]], indent=2)
        more(len(k["new"]), SHOWN, "newly broken links")
        for r in k["fixed"][:SHOWN]:
            w.line(f"- {safe(r['target'])} · {safe(_now(r))} (was on {r['pages']} page{'s' if r['pages'] != 1 else ''})"
                   f" · {r['id']}", "green", indent=2)
        more(len(k["fixed"]), SHOWN, "fixed links")
    rows = metric_rows(diff)
    if rows:
        w.line()
        w.line(f"Funnel metrics (crawl #{diff['old']['id']} → #{diff['new']['id']}):", "bold")
        wide = max(len(r[0]) for r in rows)
        for what, a, b_, d in rows:
            w.line(f"{safe(what).ljust(wide)}  {a.rjust(7)} → {b_.rjust(7)}  {d}", indent=2)
    pages = diff["metrics"]["conversion_pages"]
    if pages:
        w.line()
        w.line("Conversion pages: entry pages that can reach them", "bold")
        for r in pages[:SHOWN]:
            extra = []
            if r["lost"]["entries"]:
                extra.append(f"lost {_reach(r['lost'])}")
            if r["gained"]["entries"]:
                extra.append(f"gained {_reach(r['gained'])}")
            w.line(f"{safe(short(r['url'], base))}: {_reach(r['old'])} → {_reach(r['new'])}"
                   + (f" ({', '.join(extra)})" if extra else ""), indent=2)
        more(len(pages), SHOWN, "conversion pages")
    p = diff["pages"]
    if p["added"]["count"] or p["removed"]["count"]:
        w.line()
        w.line(f"Pages: {p['added']['count']} added, {p['removed']['count']} removed", "bold")
        for sign, name in (("+", "added"), ("-", "removed")):
            for url in p[name]["urls"][:SHOWN]:
                w.line(f"{sign} {safe(url)}", indent=2)
            more(p[name]["count"], min(SHOWN, len(p[name]["urls"])), f"pages {name}")
    for kind, what in LINK_WORDS:
        a, r = diff["links"]["added"].get(kind) or EMPTY, diff["links"]["removed"].get(kind) or EMPTY
        if not (a["count"] or r["count"]):
            continue
        w.line()
        w.line(f"{what}: {a['count']} added, {r['count']} removed (on pages in both crawls)", "bold")
        for sign, change, group in (("+", "added", a), ("-", "removed", r)):
            for grp in _groups(diff, kind, change):
                w.line(f"{sign} {safe(_group_line(grp))} (one template change)", indent=2)
            for x in group["links"][:SHOWN]:
                w.line(f"{sign} {safe(x['source'])} → {safe(x['target'])}", indent=2)
            more(group["count"] - group.get("grouped", 0), min(SHOWN, len(group["links"])), "links")
    f = diff["findings"]
    if f["new"] or f["resolved"] or f["changed"]:
        w.line()
        w.line(f"Findings: {len(f['new'])} new, {len(f['resolved'])} resolved, {len(f['changed'])} changed", "bold")
        for sign, group in (("+", f["new"]), ("-", f["resolved"])):
            findings(sign, group, "findings")
        for r in f["changed"][:SHOWN]:
            sev, n = r["severity"], r["pages"]
            w.line(f"~ [{sev['old']} → {sev['new']}] {r['rule']} · {n['old']} → {n['new']} pages · {r['id']}",
                   STYLES[sev["new"]], indent=2)
            w.line(safe(r["message"]), indent=4)
        more(len(f["changed"]), SHOWN, "changed findings")


def plain_text(diff: dict, width: int = 78) -> str:
    """The e-mail's plain-text part: the terminal rendering, no colour, wrapped at ``width``
    between words (a URL is never split)."""
    buf = io.StringIO()
    write_terminal(diff, buf, color=False, width=width)
    return buf.getvalue()


# -- JSON ---------------------------------------------------------------------------------------------
def write_json(diff: dict, out: TextIO) -> None:
    """The diff as one JSON document (the text exact, keys in the order :func:`diff_crawls` gives)."""
    json.dump(diff, out, indent=1, ensure_ascii=False)
    out.write("\n")


# -- Markdown ---------------------------------------------------------------------------------------
def _md_row(cells) -> str:
    return "| " + " | ".join(cells) + " |\n"


def write_markdown(diff: dict, out: TextIO) -> None:
    """The diff in GitHub-flavoured Markdown (a job summary, a pull-request comment): every
    crawled string escaped (:func:`analysis.formats.markdown.md`), links only to http(s)."""
    w = out.write
    old, new = diff["old"], diff["new"]
    w(f"## funnelcheck diff: crawl #{old['id']} → #{new['id']} of "
      f"{' '.join(md(t) for t in new['targets'] or old['targets'])}\n\n")
    note = _options_note(diff)
    if note:
        w(f"> **Options differ:** {md(note)}\n\n")
    for note in _notes(diff):
        w(f"> **Note:** {md(note)}\n\n")
    items, hidden, rest, head = _head(diff)
    w(f"**{md(head)}**\n\n")
    w(_md_row(["", f"crawl #{old['id']}", f"crawl #{new['id']}"]) + "|:--|:--|:--|\n")
    for label, key in (("Started", "started"), ("Status", "status"), ("Pages", "pages"), ("Crawled by", "version")):
        w(_md_row([label, md(old[key]), md(new[key])]))
    if not changed(diff):
        w("\nNo changes.\n")
        return
    if items:
        w(f"\n### {HEAD}\n\n")
        for item in items:
            w(f"- {md(item['words'])}\n")
        if hidden:
            w(f"\n… and {hidden} more (in the details below).\n")
    if rest:
        w(f"\n### {ALSO}\n\n")
        for sentence in rest:
            w(f"- {md(sentence)}\n")
    if diff.get("fix_first"):
        w(f"\n### Fix first (crawl #{diff['new']['id']})\n\n")
        for i, x in enumerate(diff["fix_first"], 1):
            w(f"{i}. **{x['severity']}** {md(x['words'])}" + (f" — fix: {md(x['fix'])}" if x["fix"] else "") + "\n")

    def more(total: int, shown: int, what: str) -> None:
        if total > shown:
            w(f"\n… and {total - shown} more {what} (`--format json` lists more).\n")

    b = diff["backward"]
    if b["new"] or b["fixed"]:
        w(f"\n### Backward links: {len(b['new'])} new, {len(b['fixed'])} fixed\n\n")
        w(_md_row(["Change", "Severity", "Finding", "Pages", "ID"]) + "|:--|:--|:--|--:|:--|\n")
        for change, rows in (("new", b["new"]), ("fixed", b["fixed"])):
            for r in rows[:SHOWN]:
                w(_md_row([change, r["severity"], md(r["message"]), str(r["pages"]), f"`{r['id']}`"]))
        more(len(b["new"]) + len(b["fixed"]), min(SHOWN, len(b["new"])) + min(SHOWN, len(b["fixed"])),
             "backward links")
    k = diff["broken"]
    if k["new"] or k["fixed"]:
        w(f"\n### Broken links: {len(k['new'])} newly broken, {len(k['fixed'])} fixed\n\n")
        w(_md_row(["Change", "Link", "Now", "Pages", "ID"]) + "|:--|:--|:--|--:|:--|\n")
        for r in k["new"][:SHOWN]:
            w(_md_row(["newly broken", md_link(r["target"]), md(_status(r)), str(r["pages"]), f"`{r['id']}`"]))
        for r in k["fixed"][:SHOWN]:
            w(_md_row(["fixed", md_link(r["target"]), md(_now(r)), str(r["pages"]), f"`{r['id']}`"]))
        more(len(k["new"]) + len(k["fixed"]), min(SHOWN, len(k["new"])) + min(SHOWN, len(k["fixed"])), "broken links")
    rows = metric_rows(diff)
    if rows:
        w("\n### Funnel metrics\n\n")
        w(_md_row(["Metric", f"crawl #{old['id']}", f"crawl #{new['id']}", "Change"]) + "|:--|--:|--:|--:|\n")
        for what, a, b_, d in rows:
            w(_md_row([md(what), a, b_, d]))
    pages = diff["metrics"]["conversion_pages"]
    if pages:
        w("\n### Conversion pages\n\nEntry pages that can reach each conversion page by clicking, where that changed.\n\n")
        w(_md_row(["Conversion page", f"crawl #{old['id']}", f"crawl #{new['id']}", "Lost", "Gained"])
          + "|:--|--:|--:|--:|--:|\n")
        for r in pages[:SHOWN]:
            w(_md_row([md_link(r["url"]), _reach(r["old"]), _reach(r["new"]), _reach(r["lost"]), _reach(r["gained"])]))
        more(len(pages), SHOWN, "conversion pages")
    p = diff["pages"]
    if p["added"]["count"] or p["removed"]["count"]:
        w(f"\n### Pages: {p['added']['count']} added, {p['removed']['count']} removed\n")
        for name in ("added", "removed"):
            if p[name]["count"]:
                w(f"\n**{name.capitalize()}:**\n\n")
                for url in p[name]["urls"][:SHOWN]:
                    w(f"- {md_link(url)}\n")
                more(p[name]["count"], min(SHOWN, len(p[name]["urls"])), f"pages {name}")
    for kind, what in LINK_WORDS:
        a, r = diff["links"]["added"].get(kind) or EMPTY, diff["links"]["removed"].get(kind) or EMPTY
        if not (a["count"] or r["count"]):
            continue
        w(f"\n### {what}: {a['count']} added, {r['count']} removed\n\nOn the pages read in both crawls.\n\n")
        w(_md_row(["Change", "Page", "Links to"]) + "|:--|:--|:--|\n")
        for change, group in (("added", a), ("removed", r)):
            for grp in _groups(diff, kind, change):
                w(_md_row([f"{change} (one template change)", md(_where(grp)),
                           md_link(grp["target"])]))
            for x in group["links"][:SHOWN]:
                w(_md_row([change, md_link(x["source"]), md_link(x["target"])]))
        more(a["count"] + r["count"] - a.get("grouped", 0) - r.get("grouped", 0),
             min(SHOWN, len(a["links"])) + min(SHOWN, len(r["links"])), "links")
    f = diff["findings"]
    if f["new"] or f["resolved"] or f["changed"]:
        w(f"\n### Findings: {len(f['new'])} new, {len(f['resolved'])} resolved, {len(f['changed'])} changed\n\n")
        w(_md_row(["Change", "Severity", "Rule", "Finding", "Pages", "ID"]) + "|:--|:--|:--|:--|--:|:--|\n")
        for change, group in (("new", f["new"]), ("resolved", f["resolved"])):
            for r in group[:SHOWN]:
                w(_md_row([change, r["severity"], md(r["rule"]), md(r["message"]), str(r["pages"]), f"`{r['id']}`"]))
        for r in f["changed"][:SHOWN]:
            sev, n = r["severity"], r["pages"]
            w(_md_row(["changed", md(f"{sev['old']} → {sev['new']}"), md(r["rule"]), md(r["message"]),
                       f"{n['old']} → {n['new']}", f"`{r['id']}`"]))
        shown = sum(min(SHOWN, len(f[k])) for k in ("new", "resolved", "changed"))
        more(sum(len(f[k]) for k in ("new", "resolved", "changed")), shown, "findings")


# -- HTML ------------------------------------------------------------------------------------------------
_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_TEMPLATE = _env.from_string("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ headline }}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330; margin: 2em auto;
       max-width: 60em; padding: 0 1em; }
h1 { font-size: 1.4em; margin-bottom: .2em; } h2 { font-size: 1.1em; margin-top: 1.8em; border-bottom: 1px solid #dde; }
.sub { color: #667; margin-top: 0; } .note { background: #fff4d6; border-left: 4px solid #e0a800; padding: .5em .8em; }
.headline { font-weight: 600; font-size: 1.1em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; } th, td { text-align: left; padding: .3em .5em;
border-bottom: 1px solid #eef; vertical-align: top; } td.n, th.n { text-align: right; white-space: nowrap; }
.high { color: #b00020; font-weight: 600; } .medium { color: #a05a00; } .low { color: #00607a; } .info { color: #667; }
.new { color: #b00020; } .fixed { color: #137333; } code { font-size: .9em; color: #556; white-space: nowrap; }
a { color: #1a56c4; word-break: break-all; } .more { color: #667; font-style: italic; }
@media print { body { margin: 0; max-width: none; } a { color: inherit; } }
</style>
</head>
<body>
<h1>funnelcheck diff: {{ site }}</h1>
<p class="sub">{{ title }}</p>
{% if note %}<p class="note"><strong>Options differ:</strong> {{ note }}</p>{% endif %}
{% for n in notes %}<p class="note"><strong>Note:</strong> {{ n }}</p>
{% endfor %}
<p class="headline">{{ headline }}</p>
<table>
<tr><th></th><th>crawl #{{ old.id }}</th><th>crawl #{{ new.id }}</th></tr>
{% for label, a, b in crawl_rows %}<tr><th>{{ label }}</th><td>{{ a }}</td><td>{{ b }}</td></tr>
{% endfor %}
</table>
{% if not changed %}
<p>No changes.</p>
{% else %}
{% if items %}
<h2>{{ head }}</h2>
<ul class="summary">
{% for item in items %}<li class="{{ item.css }}">{{ item.words }}</li>
{% endfor %}
</ul>
{% if hidden %}<p class="more">… and {{ hidden }} more (in the details below)</p>{% endif %}
{% endif %}
{% if sentences %}
<h2>{{ also }}</h2>
<ul>
{% for s in sentences %}<li>{{ s }}</li>
{% endfor %}
</ul>
{% endif %}
{% if plan %}
<h2>Fix first (crawl #{{ new.id }})</h2>
<ol>
{% for x in plan %}<li><span class="{{ x.severity }}">{{ x.severity }}</span> {{ x.words }}{% if x.fix %}<br>fix: {{ x.fix }}{% endif %}</li>
{% endfor %}
</ol>
{% endif %}
{% if backward %}
<h2>Backward links: {{ counts.backward_new }} new, {{ counts.backward_fixed }} fixed</h2>
<table><tr><th>Change</th><th>Severity</th><th>Finding</th><th class="n">Pages</th><th>ID</th></tr>
{% for r in backward %}<tr><td class="{{ r.change }}">{{ r.change }}</td><td class="{{ r.severity }}">{{ r.severity }}</td>
<td>{{ r.message }}</td><td class="n">{{ r.pages }}</td><td><code>{{ r.id }}</code></td></tr>
{% endfor %}</table>
{% endif %}
{% if broken %}
<h2>Broken links: {{ counts.broken_new }} newly broken, {{ counts.broken_fixed }} fixed</h2>
<table><tr><th>Change</th><th>Link</th><th>Now</th><th class="n">Pages</th><th>ID</th></tr>
{% for r in broken %}<tr><td class="{{ r.css }}">{{ r.change }}</td><td>{{ link(r.target) }}</td><td>{{ r.now }}</td>
<td class="n">{{ r.pages }}</td><td><code>{{ r.id }}</code></td></tr>
{% endfor %}</table>
{% endif %}
{% if metrics %}
<h2>Funnel metrics</h2>
<table><tr><th>Metric</th><th class="n">crawl #{{ old.id }}</th><th class="n">crawl #{{ new.id }}</th><th class="n">Change</th></tr>
{% for what, a, b, d in metrics %}<tr><td>{{ what }}</td><td class="n">{{ a }}</td><td class="n">{{ b }}</td><td class="n">{{ d }}</td></tr>
{% endfor %}</table>
{% endif %}
{% if reach %}
<h2>Conversion pages</h2>
<p>Entry pages that can reach each conversion page by clicking, where that changed.</p>
<table><tr><th>Conversion page</th><th class="n">crawl #{{ old.id }}</th><th class="n">crawl #{{ new.id }}</th><th class="n">Lost</th><th class="n">Gained</th></tr>
{% for r in reach %}<tr><td>{{ link(r.url) }}</td><td class="n">{{ r.old }}</td><td class="n">{{ r.new }}</td>
<td class="n">{{ r.lost }}</td><td class="n">{{ r.gained }}</td></tr>
{% endfor %}</table>
{% endif %}
{% for section in page_sections %}
<h2>{{ section.title }}</h2>
<ul>{% for url in section.urls %}<li>{{ link(url) }}</li>{% endfor %}</ul>
{% if section.more %}<p class="more">… and {{ section.more }} more</p>{% endif %}
{% endfor %}
{% for section in link_sections %}
<h2>{{ section.title }}</h2>
<p>On the pages read in both crawls.</p>
<table><tr><th>Change</th><th>Page</th><th>Links to</th></tr>
{% for change, where, target in section.groups %}<tr><td class="{{ section.css[change] }}">{{ change }} (one template change)</td>
<td>{{ where }}</td><td>{{ link(target) }}</td></tr>
{% endfor %}
{% for change, x in section.links %}<tr><td class="{{ section.css[change] }}">{{ change }}</td>
<td>{{ link(x.source) }}</td><td>{{ link(x.target) }}</td></tr>
{% endfor %}</table>
{% if section.more %}<p class="more">… and {{ section.more }} more</p>{% endif %}
{% endfor %}
{% if findings %}
<h2>Findings: {{ counts.findings_new }} new, {{ counts.findings_resolved }} resolved, {{ counts.findings_changed }} changed</h2>
<table><tr><th>Change</th><th>Severity</th><th>Rule</th><th>Finding</th><th class="n">Pages</th><th>ID</th></tr>
{% for r in findings %}<tr><td class="{{ r.css }}">{{ r.change }}</td><td class="{{ r.severity_css }}">{{ r.severity }}</td>
<td>{{ r.rule }}</td><td>{{ r.message }}</td><td class="n">{{ r.pages }}</td><td><code>{{ r.id }}</code></td></tr>
{% endfor %}</table>
{% endif %}
{% endif %}
</body>
</html>
""")


def _a(url: str):
    """A link to ``url`` when it is a printable http(s) URL, else the text (both escaped)."""
    from markupsafe import Markup, escape

    text = escape(safe(url))
    if url.startswith(("http://", "https://")) and url.isprintable():
        return Markup(f'<a href="{escape(url)}">{text}</a>')
    return text


def html_text(diff: dict) -> str:
    """The diff as one self-contained HTML document (the e-mail's HTML part, and ``--format html``)."""
    old, new = diff["old"], diff["new"]
    b, k, f, p = diff["backward"], diff["broken"], diff["findings"], diff["pages"]
    backward = [{**r, "change": change, "message": safe(r["message"])}
                for change, rows in (("new", b["new"]), ("fixed", b["fixed"])) for r in rows[:SHOWN]]
    broken = ([{**r, "change": "newly broken", "css": "new", "now": safe(_status(r))} for r in k["new"][:SHOWN]]
              + [{**r, "change": "fixed", "css": "fixed", "now": safe(_now(r))} for r in k["fixed"][:SHOWN]])
    page_sections = [{"title": f"Pages {name}: {p[name]['count']}", "urls": p[name]["urls"][:SHOWN],
                      "more": p[name]["count"] - min(SHOWN, len(p[name]["urls"]))}
                     for name in ("added", "removed") if p[name]["count"]]
    link_sections = []
    for kind, what in LINK_WORDS:
        a, r = diff["links"]["added"].get(kind) or EMPTY, diff["links"]["removed"].get(kind) or EMPTY
        if a["count"] or r["count"]:
            shown = [("added", x) for x in a["links"][:SHOWN]] + [("removed", x) for x in r["links"][:SHOWN]]
            groups = [(change, safe(_where(grp)), grp["target"])
                      for change in ("added", "removed") for grp in _groups(diff, kind, change)]
            link_sections.append({"title": f"{what}: {a['count']} added, {r['count']} removed", "links": shown,
                                  "groups": groups,
                                  "more": (a["count"] + r["count"] - a.get("grouped", 0) - r.get("grouped", 0)
                                           - len(shown)),
                                  # more links to social is worse, fewer better; owned links are neither
                                  "css": {"added": "new", "removed": "fixed"} if kind == "social" else {}})
    findings = [{**r, "change": change, "css": "new" if change == "new" else "fixed", "severity_css": r["severity"],
                 "message": safe(r["message"]), "rule": safe(r["rule"])}
                for change, rows in (("new", f["new"]), ("resolved", f["resolved"])) for r in rows[:SHOWN]]
    findings += [{**r, "change": "changed", "css": "", "severity_css": r["severity"]["new"],
                  "severity": f"{r['severity']['old']} → {r['severity']['new']}", "rule": safe(r["rule"]),
                  "message": safe(r["message"]), "pages": f"{r['pages']['old']} → {r['pages']['new']}"}
                 for r in f["changed"][:SHOWN]]
    reach = [{"url": r["url"], "old": _reach(r["old"]), "new": _reach(r["new"]), "lost": _reach(r["lost"]),
              "gained": _reach(r["gained"])} for r in diff["metrics"]["conversion_pages"][:SHOWN]]
    items, hidden, rest, head = _head(diff)
    items = [{"words": safe(item["words"]), "css": {"worse": "new", "better": "fixed"}.get(item["change"], "")}
             for item in items]
    crawl_rows = [(label, safe(old[key]), safe(new[key])) for label, key in
                  (("Started", "started"), ("Status", "status"), ("Pages", "pages"), ("Crawled by", "version"))]
    return _TEMPLATE.render(
        csp=CSP, site=safe(diff["site"]), title=safe(_title(diff)), headline=safe(head),
        note=safe(_options_note(diff)) if diff["options_differ"] else None, notes=[safe(n) for n in _notes(diff)],
        old=old, new=new, crawl_rows=crawl_rows,
        changed=changed(diff), items=items, hidden=hidden, head=HEAD, also=ALSO, sentences=[safe(s) for s in rest],
        backward=backward, broken=broken,
        metrics=metric_rows(diff), reach=reach, page_sections=page_sections, link_sections=link_sections,
        findings=findings, link=_a, plan=[{**x, "words": safe(x["words"])} for x in diff.get("fix_first") or ()],
        counts={"backward_new": len(b["new"]), "backward_fixed": len(b["fixed"]), "broken_new": len(k["new"]),
                "broken_fixed": len(k["fixed"]), "findings_new": len(f["new"]), "findings_resolved": len(f["resolved"]),
                "findings_changed": len(f["changed"])})


def write_html(diff: dict, out: TextIO) -> None:
    """The diff as one self-contained HTML file: inline CSS, no script, nothing loaded."""
    out.write(html_text(diff))


DIFF_WRITERS = {"terminal": write_terminal, "json": write_json, "markdown": write_markdown, "html": write_html}
