"""One audit, start to end: crawl (or resume) a site, watch it, decide how it ended, analyse it,
keep its findings, write the report and e-mail what changed.

:func:`run_audit` is the whole of it, for the command line (``funnelcheck audit`` and
``funnelcheck resume``), the tests and any other caller: it returns an :class:`AuditResult`
(the exit code, the report file written, the warnings said on the way, and what the run did)
or raises :class:`AuditError` (one readable line and its exit code; :class:`AuditInterrupted`
for Ctrl-C or SIGTERM during the crawl). It prints nothing itself: warnings go to the
caller's ``on_warning`` as they happen, the report to ``out`` (or ``output``).
"""
from __future__ import annotations

import logging
import os
import re
import sqlite3
import sys
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

from analysis.findings import at_or_above
from analysis.formats import WRITERS
from analysis.formats.safe import safe
from analysis.report import LiveAudit, unreachable_targets
from analysis.report import audit as analyse
from crawler.store import StoreError, open_store

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
logger = logging.getLogger(__name__)


class AuditError(Exception):
    """An audit that could not go on: ``message`` is the one line to show, ``exit_code`` the
    documented code (2), ``facts`` what the run had done until then (see :class:`AuditResult`).

    >>> e = AuditError("cannot reach https://a.example/: connection refused", facts={"crawl": 4})
    >>> str(e), e.exit_code, e.facts
    ('cannot reach https://a.example/: connection refused', 2, {'crawl': 4})
    """

    exit_code = EXIT_ERROR

    def __init__(self, message: str, facts: dict | None = None):
        super().__init__(message)
        self.message = message
        self.facts = dict(facts or {})


class AuditInterrupted(AuditError):
    """Ctrl-C or SIGTERM during the crawl: what was crawled is kept (``message`` says where)."""

    exit_code = EXIT_INTERRUPTED


@dataclass
class AuditResult:
    """How an audit ended.

    ``facts`` is what the run did, for a log line: ``crawl`` (id), ``targets``, ``status``,
    ``pages`` (read), ``findings`` (count by severity) and ``mail`` (what became of the e-mail).
    ``warnings`` are the lines said on the way (each also given to ``on_warning``).
    """
    exit_code: int
    db_path: str
    crawl_id: int
    output: str | None = None          # the report file written (None: written to ``out``)
    warnings: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)


class _Run:
    """What one audit has said and done so far."""

    def __init__(self, on_warning: Callable[[str], None] | None):
        self.on_warning = on_warning
        self.warnings: list[str] = []
        self.facts: dict = {}
        self.live: list[LiveAudit] = []   # the crawl's graph, built while it runs
        self.how = ""   # how a resume runs it as this run did (" --workers 2 --redis URL"), in the hints

    def warn(self, line: str) -> None:
        self.warnings.append(line)
        if self.on_warning:
            self.on_warning(line)

    def error(self, message: str, kind=AuditError) -> AuditError:
        return kind(message, self.facts)


def run_audit(db_path: str, *, options: dict | None = None, crawl: dict | None = None, resume: bool = False,
              fmt: str = "terminal", output: str | None = None, fail_on: str = "high", severity: str | None = None,
              rules=(), view: dict | None = None, verbose: int = 0, workers: int = 1, redis: str | None = None,
              progress=None, on_warning: Callable[[str], None] | None = None, out=None) -> AuditResult:
    """Audit a site into the store at ``db_path`` and report it.

    What is crawled: ``options`` (validated, :func:`crawler.config.validate`) start a new crawl,
    or with ``resume`` continue the latest interrupted crawl of their targets (a new one if
    there is none); ``crawl`` (a row from :func:`crawler.run.resumable`) is continued. The
    store's lock for the site is held throughout (:class:`crawler.lock.SiteLock`). ``workers``
    and ``redis`` say how (one process, or workers sharing the crawl through Redis).

    ``progress`` is a context manager entered around the crawl; what it gives is called as
    ``(urls_done, urls_queued)`` while the crawl runs (None: not watched), and it is left before
    anything is said or written. ``view`` is how the crawl is shown (``branding``, ``weights``,
    ``entry``, ``baseline``, ``baseline_file``) and ``view["email"]`` the checked e-mail plan
    (None: no e-mail). The report goes to ``output`` (a file) or ``out`` (default stdout).

    A crawl that stopped on an error, reached none of its targets or could not be stored is an
    :class:`AuditError`; Ctrl-C or SIGTERM (raised as KeyboardInterrupt) during the crawl an
    :class:`AuditInterrupted`, the crawl kept and resumable.
    """
    from crawler.config import ConfigError, check_cluster
    from crawler.run import audit_crawl, resume_crawl

    view = view or {}
    run = _Run(on_warning)
    try:
        check_cluster(workers, redis)
    except ConfigError as exc:
        raise run.error(str(exc)) from None
    if redis:
        problem = redis_problem(redis)
        if problem:
            raise run.error(problem)
    elif workers != 1:
        _need_redis_server(run)
    cluster = {"workers": workers, "redis": redis}
    run.how = (f" --workers {workers}" if workers != 1 else "") + (" --redis URL" if redis else "")
    site = crawl["targets"][0] if crawl is not None else _public_targets(options)[0]
    _check_writable(run, db_path)
    with _site_lock(run, db_path, site):
        if crawl is None and resume:
            crawl = _resumable(run, db_path, options)
        if crawl is not None:
            start = lambda *a, **k: resume_crawl(db_path, crawl, *a, **k, **cluster)
        else:
            start = lambda *a, **k: audit_crawl(options, *a, **k, **cluster)
        db_path, crawl_id, code, tail = _crawl(run, start, progress, verbose)
        return _report(run, db_path, crawl_id, code, tail, fmt, output, fail_on, severity, rules, view, out)


def redis_problem(url: str) -> str | None:
    """Why no Redis answers at ``url`` (one line, its password hidden), or None when one does."""
    import redis as redislib

    from crawler.cluster import connect
    from crawler.urls import redact_credentials

    try:
        connect(url).close()
    except (redislib.RedisError, ValueError, OSError) as exc:
        return f"cannot reach Redis at {redact_credentials(url)}: {redact_credentials(str(exc))}"
    return None


def _need_redis_server(run: _Run) -> None:
    """``--workers`` without ``--redis`` starts a private redis-server: there must be one to start
    (checked before the crawl row is made: a machine without it gets no failed crawl)."""
    from crawler.redisserver import RedisMissing, redis_server_path

    try:
        redis_server_path()
    except RedisMissing as exc:
        raise run.error(str(exc)) from None


def _public_targets(options: dict) -> list[str]:
    from crawler.config import public_targets

    return public_targets(options)


def _check_writable(run: _Run, db_path: str) -> None:
    """Before the store's lock is taken: a file that is no store, or a place that cannot hold one,
    is an error with nothing written beside it (:func:`crawler.store.check_writable`)."""
    from crawler.store import check_writable

    try:
        check_writable(db_path)
    except StoreError as exc:
        raise run.error(str(exc)) from None


class _site_lock:
    """Hold the store's lock for ``site`` (an error when another run has it); its file beside the
    store goes with it."""

    def __init__(self, run: _Run, db_path: str, site: str):
        self.run, self.db_path, self.site, self.lock = run, db_path, site, None

    def __enter__(self):
        from crawler.lock import LockError, SiteLock
        from crawler.store import write_error

        try:
            self.lock = SiteLock(self.db_path, self.site).acquire()
        except LockError as exc:
            raise self.run.error(str(exc)) from None
        except OSError as exc:  # (the lock is a file beside the store: its folder takes none, or the disk is full)
            raise self.run.error(write_error(self.db_path, exc)) from None
        return self.lock

    def __exit__(self, *exc_info):
        self.lock.release()
        return False


def _resumable(run: _Run, db_path: str, options: dict) -> dict | None:
    """``audit --resume``: the latest interrupted crawl of these targets (None: start a new one);
    said when the options given now differ from the ones it was started with."""
    from crawler.config import default_site
    from crawler.options import CrawlOptions
    from crawler.run import ResumeError, resumable

    try:
        with open_store(db_path) as store:
            crawl = resumable(store, targets=_public_targets(options))
    except (StoreError, ResumeError) as exc:
        raise run.error(str(exc)) from None
    if crawl is not None:
        given = CrawlOptions.from_validated(options, default_site(options))
        if given != CrawlOptions.from_json(crawl["options"]):  # (where directories are served aside)
            run.warn(f"warning: resuming crawl #{crawl['id']} with the options it was started with; the ones "
                     "given now differ and are not used")
    return crawl


def _crawl(run: _Run, start, progress, verbose: int):
    """Run the crawl (``start(on_progress, on_start, verbose=)``, see :mod:`crawler.run`) inside
    ``progress``, building its graph as it goes; ``(db_path, crawl_id, exit_code, stderr_tail)``."""
    from crawler.run import ResumeError

    live = run.live
    try:
        with (progress if progress is not None else nullcontext(None)) as watch:

            def on_start(db_path: str, crawl_id: int) -> None:
                run.facts["crawl"] = crawl_id
                live.append(LiveAudit(open_store(db_path), crawl_id))
                run.facts["targets"] = live[0].store.crawl(crawl_id)["targets"]

            def on_progress(done: int, queued: int) -> None:
                if watch:
                    watch(done, queued)
                if live:
                    live[0].update()  # build the graph while the crawl runs

            return start(on_progress, on_start, verbose=verbose)
    except KeyboardInterrupt:
        where = (f" in crawl #{live[0].crawl_id} (funnelcheck resume --db {live[0].store.path} {live[0].crawl_id}"
                 f"{run.how} to continue it, funnelcheck report --db {live[0].store.path} --crawl {live[0].crawl_id} to "
                 "report it)") if live else ""
        run.facts["status"] = "interrupted"
        raise run.error(f"interrupted; pages crawled so far are kept{where}", AuditInterrupted) from None
    except (StoreError, ResumeError) as exc:
        raise run.error(str(exc)) from None
    except OSError as exc:
        raise run.error(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from None
    except Exception as exc:
        problem = _cluster_problem(exc)
        if problem is None:
            raise
        raise run.error(problem) from None


def _cluster_problem(exc: Exception) -> str | None:
    """The one line for a crawl on workers that could not go on: no redis-server to start, a
    Redis that went away (None: not such a problem)."""
    import redis as redislib

    from crawler.redisserver import RedisMissing
    from crawler.urls import redact_credentials

    if isinstance(exc, RedisMissing):
        return str(exc)
    if isinstance(exc, redislib.RedisError):
        return f"Redis failed during the crawl: {redact_credentials(str(exc))}"
    return None


def _store_after_crawl(run: _Run, db_path: str):
    """The store a crawl wrote, to report it: for writing (its findings are kept), or for reading
    when it cannot be written any more (a disk remounted read-only mid-crawl)."""
    try:
        return open_store(db_path)
    except StoreError:
        try:
            return open_store(db_path, readonly=True)
        except StoreError as exc:
            raise run.error(str(exc)) from None


def _report(run: _Run, db_path: str, crawl_id: int, code: int, tail: str, fmt: str, output: str | None,
            fail_on: str, severity, rules, view: dict, out) -> AuditResult:
    """Decide how the crawl ended, analyse it, keep its findings, write the report, mail."""
    from crawler.run import STORE_FAILED_EXIT, store_failure
    from crawler.store import UNREACHED, WRITE_FAILED, writes_to

    live = run.live
    with _store_after_crawl(run, db_path) as store:
        crawl = store.crawl(crawl_id)
        run.facts.update(crawl=crawl_id, targets=crawl["targets"], status=crawl["status"],
                         pages=store.count_read(crawl_id))
        failure = crawl["error"] if (crawl["error"] or "").startswith(WRITE_FAILED) else None
        if failure or (code == STORE_FAILED_EXIT and store_failure(tail)):  # a full disk, a store gone read-only
            kept = store.count_pages(crawl_id, None)
            raise run.error(f"{failure or store_failure(tail)}; crawl #{crawl_id} stopped, the {kept} URLs it stored "
                            f"are kept (funnelcheck report --db {db_path} --crawl {crawl_id} reports them, "
                            f"funnelcheck resume --db {db_path} {crawl_id} continues it once the store can be written)")
        if crawl["status"] == "failed":
            last = [line for line in tail.splitlines() if line.strip()][-1:] or [crawl["error"]]
            raise run.error(f"crawl failed: {last[0]} (crawl #{crawl_id}: funnelcheck report --db {db_path} "
                            f"--crawl {crawl_id})")
        if code != 0 and crawl["status"] != "complete":
            kept = store.count_pages(crawl_id, None)
            raise run.error(f"{(crawl['error'] or 'crawl stopped').rstrip('.')}; {kept} URLs kept in crawl #{crawl_id} "
                            f"(funnelcheck resume --db {db_path} {crawl_id}{run.how} to continue it, "
                            f"funnelcheck report --db {db_path} --crawl {crawl_id} to report it)")
        metrics = {"weights": view.get("weights"), "entry": view.get("entry"), "analytics": view.get("analytics")}
        a = live[0].audit(**metrics) if live else analyse(store, crawl_id, **metrics)
        a = replace(a, branding=view.get("branding") or {}, baseline=view.get("baseline") or {},
                    baseline_file=view.get("baseline_file"), links=view.get("links"))
        dead = unreachable_targets(a)
        if dead and len(dead) == len(crawl["targets"]):
            url, why = dead[0]
            mark_failed(store, crawl_id, f"{UNREACHED}{url}: {why}")
            run.facts["status"] = "failed"
            raise run.error(f"cannot reach {url}: {why}")
        run.facts.update(pages=a.summary["pages_crawled"], findings=a.summary["findings"])
        if a.summary.get("network"):
            run.warn(f"warning: {a.summary['network']['message']}")
        for f in a.findings:  # --render auto without a Chromium: said once, here and as an info finding
            if f.rule == "javascript-unrendered" and f.detail.get("kind") == "no-chromium":
                run.warn(f"warning: {f.message}")
        if crawl["status"] == "interrupted":
            run.warn(f"warning: {crawl['error'] or 'crawl stopped early'}: the report covers what was crawled "
                     f"(funnelcheck resume --db {db_path} {crawl_id} to continue)")
        else:
            try:
                with writes_to(store.path):
                    store.save_findings(crawl_id, (f.record() for f in a.findings))  # for comparisons of crawls
                    save_analytics(store, crawl_id, a)  # the money figures diff compares
            except StoreError as exc:
                run.warn(f"warning: {exc}: the findings are reported, not stored for comparisons")
        try:
            exit_code = write_report(a, fmt, output, fail_on, severity, rules, out)
        except AuditError as exc:
            raise run.error(exc.message) from None
        if view.get("email") and crawl["status"] == "complete":
            mail_changes(store, view, crawl_id, run)
        elif view.get("email"):
            run.warn(f"crawl #{crawl_id} is not complete: no e-mail sent yet (funnelcheck resume --db {db_path} "
                     f"{crawl_id} --email-diff … sends it once the crawl is)")
    return AuditResult(exit_code, db_path, crawl_id, output, run.warnings, run.facts)


def save_analytics(store, crawl_id: int, a) -> None:
    """Keep the traffic summary of an audit run with ``--analytics`` (files, period, totals, the
    money of each plan item) with its crawl, for ``diff`` and the e-mail (issue 24)."""
    summary = (a.metrics or {}).get("analytics")
    if summary is not None:
        store.save_analytics(crawl_id, summary)


def mark_failed(store, crawl_id: int, why: str) -> None:
    """A crawl that could not reach any of its targets is ``failed``, not a complete crawl of 0
    pages: no diff, e-mail or baseline ever compares with it (:func:`crawler.store.comparable`)."""
    from crawler.store import writes_to

    try:
        with writes_to(store.path):
            store.finish_crawl(crawl_id, "failed", why)
    except (StoreError, OSError, sqlite3.Error) as exc:  # (gone read-only: an empty crawl is left out anyway)
        logger.info("crawl #%d could not be marked failed: %s", crawl_id, exc)


def silence(stream) -> None:
    """The reader of ``stream`` went away (``funnelcheck diff | head``): the rest of the report goes
    nowhere, quietly, as with other command-line tools; the run itself goes on (its exit code,
    an e-mail)."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def write_report(a, fmt: str, output: str | None, fail_on: str, severity: str | None = None, rules=(),
                 out=None) -> int:
    """Write the report (to the file ``output``, else to ``out``, default stdout) and return the exit
    code for its findings (``--fail-on``, whatever ``--severity`` and ``rules`` leave out of what
    is shown); :class:`AuditError` when it cannot be written."""
    writer = WRITERS[fmt]
    filtered = bool(severity or rules)
    shown = [f for f in a.findings if (not severity or at_or_above(f.severity, severity))
             and (not rules or f.rule in rules)
             and (fmt in ("terminal", "json") or f.id not in a.baseline)]  # accepted: apart, or left out
    out = sys.stdout if out is None else out
    try:
        if output:
            with open(output, "w", encoding="utf-8", newline="") as fh:  # as written (CSV's CRLF kept)
                if fmt == "terminal":
                    writer(a, fh, color=False, shown=shown, filtered=filtered)
                else:
                    writer(replace(a, findings=shown), fh)
        else:
            if fmt == "terminal":
                writer(a, out, shown=shown, filtered=filtered)
            else:
                writer(replace(a, findings=shown), out)
            out.flush()
    except BrokenPipeError:  # `funnelcheck ... | head`: the reader has what it wanted
        silence(out)
    except OSError as exc:
        crawl = a.crawl["id"]
        raise AuditError(f"cannot write {output or 'to stdout'}: {exc.strerror}; the crawl is kept as crawl "
                         f"#{crawl} (funnelcheck report --db {a.store.path} --crawl {crawl})") from None
    return EXIT_FINDINGS if a.failing(fail_on) else EXIT_OK


def with_note(note: str, plain: str, html: str) -> tuple[str, str]:
    r"""The e-mail's two parts with ``note`` (which crawl was compared, and the failed ones left
    out) as their first paragraph.

    >>> with_note("compared with crawl #1; crawl #2 failed: <x>", "diff\n", "<html><body class=a><h1>d</h1>")
    ('Compared with crawl #1; crawl #2 failed: <x>.\n\ndiff\n', '<html><body class=a><p>Compared with crawl #1; crawl #2 failed: &lt;x&gt;.</p><h1>d</h1>')
    """
    import html as htmllib

    if not note:
        return plain, html
    sentence = note[0].upper() + note[1:] + "."
    paragraph = f"<p>{htmllib.escape(sentence, quote=False)}</p>"
    body = re.search(r"<body[^>]*>", html, re.IGNORECASE)
    html = html[:body.end()] + paragraph + html[body.end():] if body else paragraph + html
    return f"{sentence}\n\n{plain}", html


def send_diff(store, plan: dict, old_id: int, new_id: int, view: dict, d: dict | None = None, note: str = "",
              on_warning: Callable[[str], None] | None = None, note_in_summary: bool = True) -> str:
    """Compare two stored crawls (unless ``d`` is their diff already) and e-mail it (unless
    nothing changed and not ``plan["always"]``). ``note`` says which crawl was compared and which
    were left out (:func:`analysis.diff.comparison`). What happened is said to ``on_warning``
    and returned as one phrase (for a log line; with the crawls left out when
    ``note_in_summary``); :class:`AuditError` when the e-mail cannot be sent."""
    from analysis.diff import changed, diff_crawls, headline
    from analysis.formats.diff import html_text, plain_text
    from analysis.mail import MailError, build_message, send

    say = on_warning or (lambda line: None)
    if d is None:
        d = diff_crawls(store, old_id, new_id, weights=view.get("weights"), entry=view.get("entry"))
    subject = headline(d)
    since = f"crawl #{old_id} of {(store.crawl(old_id)['started'] or '')[:10]}"
    left_out = f" ({safe(note.split('; ', 1)[1])})" if note else ""
    if not changed(d) and not plan["always"]:
        say(f"nothing changed since {since}{left_out}: no e-mail sent (--email-always sends it anyway)")
        return f"no e-mail: nothing changed since {since}{left_out if note_in_summary else ''}"
    settings = plan["settings"]
    plain, html = with_note(note, plain_text(d), html_text(d))
    try:
        send(settings, build_message(settings, plan["to"], subject, plain, html), password=plan["password"])
    except MailError as exc:
        raise AuditError(f"{exc}; the crawls are stored (funnelcheck diff --db {store.path} {old_id} {new_id} "
                         "shows the changes)") from None
    to = ", ".join(str(a) for a in plan["to"])
    rest = f"; {safe(note.split('; ', 1)[1])}" if note else ""
    say(f"e-mailed {safe(subject)!r} to {to} (changes since {since}{rest})")
    return f"e-mailed the changes since {since}{left_out if note_in_summary else ''} to {to}"


def mail_changes(store, view: dict, crawl_id: int, run: _Run) -> None:
    """After an audit: e-mail what changed since the site's previous crawl that can be compared
    with (complete, pages read: never a failed, interrupted or empty one)."""
    from analysis.diff import NotEnoughCrawls, comparison

    crawl = store.crawl(crawl_id)
    try:
        pair = comparison(store, new_id=crawl_id)
    except NotEnoughCrawls:
        run.facts["mail"] = "no e-mail: nothing to compare yet"
        run.warn(f"crawl #{crawl_id} is the first complete crawl of {safe(crawl['targets'][0])}: nothing to compare "
                 "yet, no e-mail sent")
        return
    try:
        run.facts["mail"] = send_diff(store, view["email"], pair["old"], crawl_id, view, note=pair["note"],
                                      on_warning=run.warn)
    except AuditError as exc:
        raise run.error(exc.message) from None
