"""funnelcheck's command line: parse, call the library, print, exit.

Exit codes: 0 no finding at or above --fail-on; 1 there is; 2 usage, config or
runtime error (one line on stderr); 130 interrupted (what was crawled is kept).
"""
from __future__ import annotations

import logging
import os
import re
import signal
import sys
from contextlib import contextmanager
from dataclasses import replace

import click

from analysis.audit import (EXIT_ERROR, EXIT_FINDINGS, EXIT_INTERRUPTED, EXIT_OK, AuditError, AuditInterrupted,
                            redis_problem, run_audit, send_diff, silence, write_report)
from analysis.findings import SEVERITIES
from analysis.formats import WRITERS
from analysis.formats.safe import safe
from analysis.report import audit as analyse
from analysis.rules import RULES
from crawler.config import FAIL_LEVELS, ConfigError, check_format, load_config, merge, validate
from crawler.store import StoreError, open_store

logger = logging.getLogger("funnelcheck")

# What this run did, for the one line --log-file gets when it ends (see end_line): the command,
# its crawl, what the crawl read and found, the e-mail, the error.
RUN: dict = {}
# The --log-file's own logger: the end line goes to the file only (stderr has said the error already).
END_LOG = logging.Logger("funnelcheck")


def fail(message: str) -> None:
    RUN["error"] = safe(message)
    click.echo(f"funnelcheck: error: {safe(message)}", err=True)
    sys.exit(EXIT_ERROR)


def logged_command(argv: list[str]) -> str:
    """The command line as the --log-file gets it: a password in any argument masked (a URL's,
    and ``user:password@host`` written without a scheme).

    >>> logged_command(["audit", "--redis", "redis://:pw@10.0.0.5/0", "--email-to", "a@b.example"])
    'audit --redis redis://:***@10.0.0.5/0 --email-to a@b.example'
    >>> logged_command(["--redis", "bob:pw@10.0.0.5:6379"])
    '--redis ***@10.0.0.5:6379'
    """
    from crawler.urls import redact_argument

    return " ".join(map(redact_argument, argv))


def end_line(run: dict, code: int) -> str:
    """The log file's line for the end of a run: what ran, its crawl, pages, findings, e-mail,
    exit code and, on failure, the error.

    >>> end_line({"command": "audit", "targets": ["https://a.example/"], "crawl": 4, "status": "failed",
    ...           "pages": 0, "error": "cannot reach https://a.example/: connection refused"}, 2)
    'audit of https://a.example/ ended: crawl #4 failed, 0 pages, exit 2, error: cannot reach https://a.example/: connection refused'
    >>> end_line({"command": "audit", "targets": ["https://a.example/"], "crawl": 5, "status": "complete", "pages": 13,
    ...           "findings": {"high": 2, "medium": 0, "low": 1, "info": 0}, "mail": "no e-mail: nothing changed"}, 1)
    'audit of https://a.example/ ended: crawl #5 complete, 13 pages, findings 2 high 0 medium 1 low 0 info, no e-mail: nothing changed, exit 1'
    >>> end_line({"command": "diff", "compared": (3, 5)}, 0), end_line({"command": "history"}, 0)
    ('diff ended: crawls #3 and #5 compared, exit 0', 'history ended: exit 0')
    """
    what = run.get("command") or "funnelcheck"
    if run.get("targets"):
        what += " of " + safe(" ".join(run["targets"]))
    parts = []
    if run.get("crawl") is not None:
        parts.append(f"crawl #{run['crawl']}" + (f" {run['status']}" if run.get("status") else ""))
        if run.get("pages") is not None:
            parts.append(f"{run['pages']} pages")
        if run.get("findings") is not None:
            parts.append("findings " + " ".join(f"{n} {sev}" for sev, n in run["findings"].items()))
    if run.get("compared"):
        parts.append("crawls #{} and #{} compared".format(*run["compared"]))
    if run.get("skipped"):
        parts.append(f"({run['skipped']})")
    if run.get("mail"):
        parts.append(run["mail"])
    parts.append(f"exit {code}")
    if run.get("error"):
        parts.append(f"error: {run['error']}")
    return f"{what} ended: " + ", ".join(parts)


def _log_end(code) -> None:
    """Write the end line to the --log-file, if one is open."""
    if not END_LOG.handlers:
        return
    code = code if isinstance(code, int) else (0 if code is None else EXIT_ERROR)
    END_LOG.log(logging.ERROR if code not in (EXIT_OK, EXIT_FINDINGS) else logging.INFO, "%s", end_line(RUN, code))


def _closed_stdout() -> None:
    """The reader of stdout went away (``funnelcheck diff | head``): the rest goes nowhere, quietly."""
    silence(sys.stdout)


@contextmanager
def _progress():
    """A rich progress bar on stderr, or nothing when stderr is not a terminal: gives the crawl's
    ``(urls_done, urls_queued)`` callback (None without a bar)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("crawling"), BarColumn(), MofNCompleteColumn(), TextColumn("URLs"),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("crawl", total=None)
        yield lambda done, queued: bar.update(task, completed=done, total=max(queued, done))


def _terminated(signum, frame):
    """SIGTERM (kill, systemd stop, CI cancel) stops the crawl like Ctrl-C: kept, marked interrupted."""
    raise KeyboardInterrupt


def _is_sqlite(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _is_store_file(path: str, db_path: str | None) -> bool:
    """``path`` is an SQLite file (a crawl store, most likely), or the store ``db_path`` (its
    ``-wal``/``-shm`` included) even before it exists."""
    if _is_sqlite(path):
        return True
    if not db_path:
        return False
    target = os.path.realpath(path)
    return any(target == os.path.realpath(db_path + suffix) for suffix in ("", "-wal", "-shm", "-journal"))


def check_output(output: str | None, db_path: str | None = None, fmt: str | None = None) -> None:
    """Refuse an ``-o FILE`` that cannot be written, or that is the crawl store (a typo in a
    cron line must not overwrite the history), and a ``--format pdf`` without ``-o`` or without
    a browser to print it, before anything is crawled."""
    if fmt == "pdf":
        from analysis.formats.pdf import check

        problem = check(output)
        if problem:
            fail(problem)
    if not output:
        return
    if _is_store_file(output, db_path):
        fail(f"-o {output} is the crawl store (an SQLite file): it would be overwritten; write the report elsewhere")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        fail(f"cannot write {output}: no such folder {folder}")
    if os.path.isdir(output):
        fail(f"cannot write {output}: it is a folder")
    if not os.access(output if os.path.exists(output) else folder, os.W_OK):
        fail(f"cannot write {output}: permission denied")


def emit(a, fmt: str, output: str | None, fail_on: str, severity: str | None = None, rules=()) -> int:
    """Write the report and return the exit code for its findings (:func:`analysis.audit.write_report`)."""
    try:
        return write_report(a, fmt, output, fail_on, severity, rules)
    except AuditError as exc:
        fail(exc.message)


class OneLineErrors(click.Group):
    """Usage errors (a bad option value, an unknown option, a missing argument) as one line on
    stderr, exit 2, like every other error of funnelcheck, pointing at the command's --help."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        RUN.clear()
        try:
            self._main(*args, **kwargs)
        except SystemExit as exc:
            try:
                sys.stdout.flush()  # what is left of the report, before the exit's own flush
            except BrokenPipeError:
                _closed_stdout()
            _log_end(exc.code)
            raise
        except BaseException as exc:  # a crash: its traceback follows on stderr
            RUN["error"] = safe(f"{type(exc).__name__}: {exc}")
            _log_end(EXIT_INTERRUPTED if isinstance(exc, KeyboardInterrupt) else 1)
            raise
        finally:
            for handler in END_LOG.handlers[:]:
                END_LOG.removeHandler(handler)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `funnelcheck history | head`: the reader has what it wanted (click
            _closed_stdout()     # would exit 1, funnelcheck's "findings")
            sys.exit(EXIT_OK)

    def _main(self, *args, **kwargs):
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError" and exc.ctx is not None:  # bare `funnelcheck`: the help
                click.echo(exc.ctx.get_help())
                sys.exit(0)
            where = exc.ctx.command_path if exc.ctx else "funnelcheck"
            fail(f"{exc.format_message()} (see {where} --help)")
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog="Exit codes: 0 no finding at or above --fail-on; 1 there is; 2 usage, config or runtime "
                    "error (one line on stderr); 130 interrupted (what was crawled is kept).")
@click.version_option(package_name="funnelcheck", prog_name="funnelcheck")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("--log-file", type=click.Path(dir_okay=False), default=None,
              help="Also write the log, with times, to FILE (appended; for cron and systemd runs).")
@click.pass_context
def main(ctx: click.Context, verbose: int, log_file: str | None) -> None:
    """Audit how a business routes its web visitors, and check every link on the way.

    funnelcheck crawls a company's site, blog and social profiles, builds the link
    graph and reports the links that "row backward" (from owned pages out to social
    platforms), dead ends, stranded profiles and every broken link.
    """
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
                        format="funnelcheck: %(message)s")
    from crawler.malloc import fix_mmap_threshold
    from crawler.urls import redact_logs
    if log_file:
        if _is_sqlite(log_file):
            fail(f"--log-file {log_file} is an SQLite file (a crawl store?): no log is appended to it")
        try:
            handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write the log file {log_file}: {exc.strerror}")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(min(root.level, handler.level))
        for h in root.handlers:  # stderr keeps its -v level
            if h is not handler:
                h.setLevel([logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)])
        END_LOG.addHandler(handler)
    redact_logs()  # (before the first line: the command line may hold a --redis password)
    if log_file:
        logging.getLogger("funnelcheck").info("funnelcheck %s", logged_command(sys.argv[1:]))
    fix_mmap_threshold()  # a big report's freed arrays go back to the system (see crawler.malloc)
    RUN["command"] = ctx.invoked_subcommand
    ctx.obj = {"verbose": verbose}


class FormatChoice(click.Choice):
    """The formats of :data:`analysis.formats.WRITERS`; a wrong one is one line on stderr, exit 2."""

    def __init__(self):
        super().__init__(list(WRITERS))

    def convert(self, value, param, ctx):
        try:
            return check_format(value, WRITERS)
        except ConfigError as exc:
            fail(str(exc))


format_option = click.option("--format", "fmt", type=FormatChoice(), default=None,
                             help="Report format (default terminal).")
output_option = click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
                             help="Write the report to FILE instead of stdout.")
fail_on_option = click.option("--fail-on", type=click.Choice(FAIL_LEVELS), default=None,
                              help="Exit 1 when a finding is at or above this severity (default high).")
severity_option = click.option("--severity", type=click.Choice(SEVERITIES), default=None,
                               help="Show only findings at or above this severity (the exit code still follows "
                                    "--fail-on).")
rule_option = click.option("--rule", "rules", multiple=True, type=click.Choice(sorted(RULES)), metavar="ID",
                           help="Show only findings of this rule (repeatable).")
verbose_option = click.option("-v", "--verbose", "local_verbose", count=True,
                              help="More log output on stderr (-vv for debug); also before the command.")
db_option = click.option("--db", type=click.Path(dir_okay=False), default=None,
                         help="Crawl store (SQLite). Default: crawls.sqlite in the user data directory.")


workers_option = click.option(
    "--workers", type=int, default=None, metavar="N",
    help="Crawl with N processes sharing the crawl through Redis (default 1: one process, no Redis). Without "
         "--redis, funnelcheck starts a private redis-server for the crawl (the Debian package redis-server). "
         "With --redis, 0 only coordinates: workers on other machines join (funnelcheck worker); --workers 0 "
         "without --redis reads $FUNNELCHECK_REDIS_URL, which keeps a password out of the process list.")
redis_option = click.option(
    "--redis", default=None, metavar="URL",
    help="Redis the workers share, e.g. redis://10.0.0.5:6379/0 or unix:///run/redis/redis.sock; "
         "funnelcheck worker --redis URL on other machines joins the crawl there.")


VIEW_OPTIONS = (
    click.option("--title", default=None, help="Title of the HTML report (default: the site)."),
    click.option("--client", default=None, help="Client the HTML report is prepared for."),
    click.option("--logo", type=click.Path(dir_okay=False), default=None,
                 help="Logo (PNG, JPEG, GIF, WebP or SVG) embedded in the HTML report."),
    click.option("--weights", default=None, metavar="REGION=W,...",
                 help="Click weights of links by region for the funnel metrics, e.g. body=1,nav=0.4,footer=0.1 "
                      "(default main/body 1, aside 0.5, nav and header 0.4, footer 0.2, head 0)."),
    click.option("--baseline", type=click.Path(dir_okay=False), default=None,
                 help="Accepted findings (funnelcheck accept): shown apart, never failing the run. Default: "
                      "funnelcheck-baseline.toml next to funnel.toml (or here), if it exists."),
    click.option("--entry", default=None, metavar="REGEX",
                 help="Entry pages of the funnel metrics: owned pages whose URL matches REGEX (default: blog "
                      "pages and the targets' landing pages)."),
    click.option("--links", type=click.Choice(["all", "broken", "none"]), default=None,
                 help="Links the JSON report lists: all, broken (those to broken targets) or none (default: all "
                      "up to 1,000,000 links, the broken ones beyond)."),
    # the site's real traffic (issue 24): analysis.analytics
    click.option("--analytics", "analytics", multiple=True, type=click.Path(dir_okay=False), metavar="FILE",
                 help="An analytics export (Plausible, Matomo, GA4, Umami; CSV or TSV; repeatable): weight the funnel "
                      "metrics by the site's real entries and price the action plan in visits and money a month."),
    click.option("--analytics-host", default=None, metavar="HOST",
                 help="The host the exports' bare paths belong to (default: the site's)."),
    click.option("--analytics-period", "analytics_period", default=None, metavar="DAYS|FROM:TO",
                 help="The period the exports cover, when they do not say it: a number of days (30) or "
                      "2024-11-01:2024-11-30 (default: the dates the exports give, else a month)."),
    click.option("--value", "value", multiple=True, metavar="KEY=AMOUNT",
                 help="Money per conversion of an offer page (/pricing/=1900) or a goal (Signup=120), or "
                      "default=AMOUNT, currency=€ (repeatable; on top of [values] in funnel.toml)."),
)
VIEW_KEYS = ("title", "client", "logo", "weights", "entry", "baseline", "links", "analytics", "analytics_host", "value",
             "analytics_period")


def _analytics_view(files, host, value, config_path, period=None) -> dict | None:
    """``--analytics`` and ``--value`` over ``analytics``, ``analytics_host`` and ``[values]`` of
    funnel.toml: the exports read and checked before anything is crawled (exit 2 on a bad one)."""
    from analysis.analytics import AnalyticsError, load
    from crawler.config import check_values

    config: dict = {}
    try:
        config = load_config(config_path) if config_path else {}
        values = dict(config.get("values") or {})
        for item in value:
            key, sep, amount = item.rpartition("=")
            if not sep or not key.strip():
                raise ConfigError(f"--value takes KEY=AMOUNT (/pricing/=1900, Signup=120), not {item!r}")
            key = key.strip()
            try:
                values[key] = amount.strip() if key == "currency" else float(amount.replace(",", ""))
            except ValueError:
                raise ConfigError(f"--value {item!r}: {amount.strip()!r} is not a number") from None
        values = check_values(values, "--value") if values else None
        named = " and ".join(n for n, on in (("funnel.toml", bool(config.get("values"))), ("--value", bool(value)))
                             if on)
        return load(list(files) or config.get("analytics") or [], host or config.get("analytics_host"), values,
                    period, named or None)
    except (ConfigError, AnalyticsError) as exc:
        text = str(exc)
        if not files and config.get("analytics") and text.startswith("--analytics "):  # (the files of funnel.toml)
            text = f"{config_path}: analytics: {text[len('--analytics '):]}"
        fail(text)


def make_view(title=None, client=None, logo=None, weights=None, entry=None, baseline=None, links=None,
              analytics=(), analytics_host=None, value=(), config_path=None, analytics_period=None) -> dict:
    """The options of how a crawl is analysed and shown, checked (exit 2 on a bad one)."""
    from analysis import baseline as baselines
    from analysis.formats.html import logo_data_uri
    from analysis.metrics import parse_weights

    path = baseline or baselines.default_path(config_path)
    if baseline and not os.path.exists(baseline):
        fail(f"--baseline {baseline}: no such file (funnelcheck accept ID --baseline {baseline} creates it)")
    try:
        accepted = baselines.load(path)
    except baselines.BaselineError as exc:
        fail(str(exc))

    try:
        branding = {"title": title, "client": client, "logo": logo_data_uri(logo) if logo else None}
        parsed = parse_weights(weights) if weights else None
        if entry is not None:
            re.compile(entry)
    except ValueError as exc:
        fail(str(exc) if not isinstance(exc, re.error) else f"--entry {entry!r}: {exc}")
    return {"branding": branding, "weights": parsed, "entry": entry, "baseline": accepted,
            "baseline_file": str(path) if accepted or baseline else None, "links": links,
            "analytics": _analytics_view(analytics, analytics_host, value, config_path, analytics_period)}


def report_options(command):
    """The options of every command that reports a crawl: store, format, output, exit, filters
    and the view (branding, metrics weights and entry pages)."""
    for option in (*VIEW_OPTIONS, rule_option, severity_option, fail_on_option, output_option, format_option,
                   db_option):
        command = option(command)
    return command


@main.command()
@click.argument("targets", nargs=-1, metavar="TARGET...")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Read options from a funnel.toml (command-line options win).")
@click.option("--base-url", multiple=True, metavar="URL", help="Public URL a directory TARGET stands for (repeatable, in order; default: the address its "
              "home page names (canonical link, og:url), CNAME, its own absolute links or robots.txt give, else "
              "http://localhost/).")
@click.option("--site", multiple=True, metavar="URL", help="URL prefix of the business's site (repeatable; default: every "
              "target's origin).")
@click.option("--blog", multiple=True, metavar="URL", help="URL prefix of the blog (repeatable; default: blog.* hosts and "
              "/blog/, /news/, /articles/, /insights/).")
@click.option("--social", multiple=True, metavar="URL", help="The business's own social profile URL (repeatable).")
@click.option("--conversion", multiple=True, metavar="REGEX", help="URLs matching REGEX are conversion pages "
              "(repeatable; added to the built-in cart/checkout/pricing/contact/demo/signup patterns).")
@click.option("--remap", multiple=True, metavar="'REGEX REPLACEMENT'", help="Fetch URLs matching REGEX from "
              "re.sub(REGEX, REPLACEMENT, url) instead; reports keep the public URL (repeatable, first match wins).")
@click.option("--max-pages", type=click.IntRange(0), default=None, help="Stop after this many owned pages: "
              "every owned URL a link opens counts, whatever it answers (a redirect, a 404, a PDF); files a page "
              "only loads (images, scripts) do not (default 10000; 0 = no limit).")
@click.option("--depth", type=click.IntRange(0), default=None, help="Follow links at most this many clicks from "
              "a target (default: no limit).")
@click.option("--max-time", default=None, metavar="DURATION", help="Stop crawling after DURATION, e.g. 90s, 30m, 2h "
              "(the crawl is kept, reported and can be resumed; default: no limit).")
@click.option("--resume", is_flag=True, default=False, help="Continue the latest interrupted crawl of these targets "
              "in the store instead of starting a new one (a new one if there is none).")
@click.option("--check-external/--no-check-external", default=None, help="Check links to other sites (default on).")
@click.option("--check-social/--no-check-social", default=None, help="Fetch the social profiles owned pages link "
              "to, to see whether they link back (default on).")
@click.option("--sitemaps/--no-sitemaps", default=None, help="Seed the crawl from sitemap.xml and robots.txt "
              "Sitemap: lines (default on).")
@click.option("--ignore-robots", is_flag=True, default=None, help="Do not obey robots.txt.")
@click.option("--include", multiple=True, metavar="REGEX", help="Check URLs matching REGEX even if excluded.")
@click.option("--exclude", multiple=True, metavar="REGEX", help="Do not fetch URLs matching REGEX (reported "
              "as skipped).")
@click.option("--exclude-path", multiple=True, metavar="REGEX", help="Do not fetch URLs whose path matches REGEX.")
@click.option("--accept", multiple=True, metavar="CODES", help="Treat these HTTP statuses as working, e.g. 200,403.")
@click.option("--timeout", type=float, default=None, help="Seconds a request may "
              "take in all, retries included (default 20).")
@click.option("--max-size", type=float, default=None, metavar="MIB", help="Read at most MIB mebibytes of a "
              "response, counted after decompression; larger ones are reported as too large (default 10).")
@click.option("--allow-private", multiple=True, metavar="CIDR", help="Also let the crawl connect to this private "
              "network, e.g. 10.0.0.0/8 (repeatable). Without it links to loopback, private, link-local or metadata "
              "addresses are skipped, except a URL target's own address and the port of a directory target's "
              "server, a --remap destination or a --site/--blog/--social prefix.")
@click.option("--concurrency", type=click.IntRange(1), default=None, help="Requests at once per host (default 8).")
@click.option("--user-agent", default=None, help="User-Agent header (default names funnelcheck).")
@click.option("--render", type=click.Choice(["auto", "always", "never"]), default=None,
              help="Render pages built with JavaScript in the system's Chromium: auto (default: the pages whose HTML "
                   "needs it, and a few of each template to compare), always (every owned page) or never.")
@click.option("--chromium", default=None, metavar="PATH", help="The Chromium to render with (default: chromium on "
              "PATH). Nothing is downloaded.")
@click.option("--insecure", is_flag=True, default=None, help="Do not verify TLS certificates.")
@click.option("--email-diff", "email_to", multiple=True, metavar="TO", help="After the audit, e-mail what changed "
              "since the site's previous complete crawl to TO (repeatable; SMTP settings from [email] in funnel.toml, "
              "the password from FUNNELCHECK_SMTP_PASSWORD).")
@click.option("--email-always", is_flag=True, default=False, help="Send the e-mail even when nothing changed.")
@click.option("--cache-age", default=None, metavar="AGE", help="Reuse external link results younger than AGE "
              "from earlier runs in the same store, e.g. 12h, 1d (default 1d; 0 = off). Errors are never cached.")
@workers_option
@redis_option
@report_options
@verbose_option
@click.pass_context
def audit(ctx, targets, config_path, fmt, output, fail_on, db, severity, rules, local_verbose, resume, **cli_options):
    """Crawl TARGET (an http(s) URL, or a directory holding a built static site) and report.

    \b
    Examples:
      funnelcheck audit https://acme.example/
      funnelcheck audit https://acme.example/ --blog https://blog.acme.example/ --format json -o audit.json
      funnelcheck audit public/ --base-url https://acme.example/
      funnelcheck audit examples/acme/site --config examples/acme/funnel.toml
    """
    view = make_view(**{k: cli_options.pop(k) for k in VIEW_KEYS}, config_path=config_path)
    email_to, email_always = cli_options.pop("email_to"), cli_options.pop("email_always")
    cli_options.update(targets=list(targets), format=fmt, output=output, fail_on=fail_on, db=db)
    verbose = (ctx.obj or {}).get("verbose", 0) + local_verbose
    try:
        config = load_config(config_path) if config_path else {}
        options = validate(merge(config, cli_options), formats=WRITERS)
    except ConfigError as exc:
        fail(str(exc))
    for folder, url, where in options.get("base_url_found", ()):
        _say(f"{safe(folder)} is audited as {safe(url)} ({where}; --base-url to change it)")
    from crawler.store import default_path

    db_path = str(options.get("db") or default_path())
    check_output(options["output"], db_path, options["format"])
    view["email"] = _email_plan(options.get("email"), email_to, email_always, config_path, "--email-diff")
    _audit(db_path, options=options, resume=resume, fmt=options["format"], output=options["output"],
           fail_on=options["fail_on"], severity=severity, rules=rules, view=view, verbose=verbose,
           workers=options["workers"], redis=options["redis"])


def _email_plan(table: dict | None, to, always: bool, config_path, option: str) -> dict | None:
    """The checked e-mail settings, recipients and password of ``--email-diff`` / ``--email``
    (None without recipients): every mistake is exit 2 before anything is crawled or sent."""
    if not to:
        return None
    from pathlib import Path

    from analysis.mail import EmailSettings, MailError, parse_addresses, password_for

    if not table:
        fail(f"{option} needs the SMTP settings: an [email] table in funnel.toml (host, port, security, username, "
             "from) given with --config")
    try:
        settings = EmailSettings.from_config(table, base_dir=Path(config_path).parent if config_path else Path.cwd())
        recipients = parse_addresses(to, f"{option} address")
        password = password_for(settings)
    except MailError as exc:
        fail(str(exc))
    return {"settings": settings, "to": recipients, "password": password, "always": always}


def _say(line: str) -> None:
    """A warning or note of the audit, on stderr."""
    click.echo(f"funnelcheck: {line}", err=True)


def _audit(db_path: str, **how) -> None:
    """Run :func:`analysis.audit.run_audit` with a progress bar, say what it says, exit with its code."""
    signal.signal(signal.SIGTERM, _terminated)  # a service manager's stop is a Ctrl-C
    try:
        result = run_audit(db_path, progress=_progress(), on_warning=_say, **how)
    except AuditInterrupted as exc:
        RUN.update(exc.facts, error=safe(exc.message))
        click.echo(f"funnelcheck: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except AuditError as exc:
        RUN.update(exc.facts)
        fail(exc.message)
    RUN.update(result.facts)
    sys.exit(result.exit_code)


@main.command()
@click.argument("crawl_id", type=int, required=False, metavar="[CRAWL_ID]")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="The funnel.toml whose [email] table --email-diff uses, and its workers and redis (the crawl's own "
                   "options are stored).")
@click.option("--email-diff", "email_to", multiple=True, metavar="TO", help="Once the crawl is complete, e-mail "
              "what changed since the site's previous complete crawl to TO (repeatable), as audit --email-diff does.")
@click.option("--email-always", is_flag=True, default=False, help="Send the e-mail even when nothing changed.")
@workers_option
@redis_option
@report_options
@verbose_option
@click.pass_context
def resume(ctx, crawl_id, config_path, email_to, email_always, workers, redis, db, fmt, output, fail_on, severity,
           rules, local_verbose, **view):
    """Continue an interrupted crawl (the latest by default) from where it stopped, and report.

    Pages already stored are kept and not fetched again; the URLs it had queued are
    fetched; the report is that of the whole crawl. A scheduled audit that was cut short
    (--max-time, a reboot) still mails its diff: resume it with the same --email-diff.
    """
    from crawler.config import check_cluster, cluster_redis
    from crawler.run import ResumeError, resumable
    from crawler.store import default_path

    check_output(output, fmt=fmt)
    view = make_view(**view, config_path=config_path)
    try:
        config = load_config(config_path) if config_path else {}
        workers = config.get("workers", 1) if workers is None else workers
        redis = cluster_redis(workers, redis or config.get("redis"))
        check_cluster(workers, redis)
    except ConfigError as exc:
        fail(str(exc))
    view["email"] = _email_plan(config.get("email"), email_to, email_always, config_path, "--email-diff")
    verbose = (ctx.obj or {}).get("verbose", 0) + local_verbose
    db_path = str(db or default_path())
    try:
        with open_store(db_path, readonly=True) as store:
            crawl = resumable(store, crawl_id)
    except (StoreError, ResumeError) as exc:
        fail(str(exc))
    _audit(db_path, crawl=crawl, fmt=fmt or "terminal", output=output, fail_on=fail_on or "high", severity=severity,
           rules=rules, view=view, verbose=verbose, workers=workers, redis=redis)


@main.command()
@click.option("--redis", "redis_url", required=True, metavar="URL", envvar="FUNNELCHECK_REDIS_URL",
              help="The Redis the crawl is announced in, e.g. redis://10.0.0.5:6379/0 (the --redis URL of the "
                   "funnelcheck audit that coordinates; default $FUNNELCHECK_REDIS_URL, which keeps a password "
                   "out of the process list).")
@verbose_option
@click.pass_context
def worker(ctx, redis_url, local_verbose):
    """Join a crawl announced in the Redis at URL and fetch its pages with the other workers.

    \b
    On the machine that coordinates (and writes the crawl store):
      funnelcheck audit https://acme.example/ --redis redis://10.0.0.5:6379/0 --workers 0
    On each other machine:
      funnelcheck worker --redis redis://10.0.0.5:6379/0

    A worker started before any crawl is announced waits for one; it joins the crawl, shares its
    queue, its seen URLs and its politeness limits (--concurrency per host, robots.txt,
    Retry-After) with every other worker, sends what it finds to the coordinator's store, and
    stops when the crawl is done (exit 0). Ctrl-C (or SIGTERM) leaves cleanly (exit 130): the
    requests it had in flight go to the other workers. A worker does one crawl: run it under a
    supervisor (systemd's Restart=always, docker's restart policy) to serve crawl after crawl.
    Workers can join and leave at any time. A crawl that renders pages built with JavaScript
    (--render) renders them in this machine's Chromium: without one, the worker says so and
    exits 2 (the other workers crawl on).
    """
    from crawler.config import check_cluster

    try:
        check_cluster(0, redis_url)
    except ConfigError as exc:
        fail(str(exc))
    problem = redis_problem(redis_url)
    if problem:
        fail(problem)
    from crawler.worker import run_worker

    verbose = (ctx.obj or {}).get("verbose", 0) + local_verbose
    sys.exit(run_worker(redis_url, verbose))


@main.command()
@click.option("--crawl", "crawl_id", type=int, default=None, help="Crawl id (default: the latest).")
@report_options
def report(crawl_id, db, fmt, output, fail_on, severity, rules, **view):
    """Report on a stored crawl again, without crawling."""
    check_output(output, fmt=fmt)
    view = make_view(**view)
    try:
        with open_store(db, readonly=True) as store:
            store.snapshot()  # a crawl still being written is read as of one moment
            a = analyse(store, crawl_id, weights=view["weights"], entry=view["entry"], analytics=view["analytics"])
            a = replace(a, branding=view["branding"], baseline=view["baseline"], baseline_file=view["baseline_file"],
                        links=view["links"])
            RUN.update(crawl=a.crawl["id"], targets=a.crawl["targets"], status=a.crawl["status"],
                       pages=a.summary["pages_crawled"], findings=a.summary["findings"])
            code = emit(a, fmt or "terminal", output, fail_on or "high", severity, rules)
    except StoreError as exc:
        fail(str(exc))
    sys.exit(code)


@main.command()
@db_option
def crawls(db):
    """List the crawls in the store."""
    try:
        with open_store(db, readonly=True) as store:
            for c in store.crawls():
                click.echo(f"{c['id']}\t{c['started']}\t{c['status']}\t{c['pages']} pages\t"
                           f"{safe(' '.join(c['targets']))}")
    except StoreError as exc:
        fail(str(exc))


@main.command()
@click.option("--site", default=None, metavar="URL", help="Only the crawls of this site (one of their targets).")
@click.option("--format", "fmt", type=click.Choice(["terminal", "json"]), default="terminal", show_default=True)
@db_option
def history(site, fmt, db):
    """One row per crawl: id, site, started, duration, pages, findings by severity, status, version."""
    import json as jsonlib

    from analysis.history import history as crawl_history
    from analysis.history import write_terminal

    try:
        with open_store(db, readonly=True) as store:
            rows = crawl_history(store, site)
    except StoreError as exc:
        fail(str(exc))
    if fmt == "json":
        click.echo(jsonlib.dumps(rows, indent=1, ensure_ascii=False))
    else:
        write_terminal(rows, sys.stdout)


@main.command()
@click.option("--keep", type=click.IntRange(1), required=True, metavar="N",
              help="Keep the N latest crawls of each site; delete the older ones.")
@db_option
def prune(keep, db):
    """Delete all but the N latest crawls of each site, then give the space back (VACUUM).
    The latest complete crawl of a site (pages read) is kept too: the next diff compares with it."""
    from crawler.store import comparable, default_path

    path = str(db or default_path())
    if not os.path.exists(path):  # (opening it for writing would make an empty one)
        fail(f"no crawl store at {path}")
    try:
        with open_store(path) as store:
            by_site: dict[tuple, list[dict]] = {}
            for c in store.crawls():
                by_site.setdefault(tuple(c["targets"]), []).append(c)
            last_good = {next((c["id"] for c in reversed(crawls_) if comparable(c)), None)
                         for crawls_ in by_site.values()}  # (weeks of failed runs must not take it)
            doomed = [c for crawls_ in by_site.values() for c in crawls_[:-keep]
                      if c["status"] != "running" and c["id"] not in last_good]
            for c in doomed:
                store.delete_crawl(c["id"])
            store.vacuum()
    except StoreError as exc:
        fail(str(exc))
    click.echo(f"deleted {len(doomed)} crawl{'s' if len(doomed) != 1 else ''}"
               + (f" (#{', #'.join(str(c['id']) for c in doomed)})" if doomed else ""))


@main.command()
@click.argument("crawl_ids", nargs=-1, type=int, metavar="[OLD NEW]")
@click.option("--site", default=None, metavar="URL", help="Compare the last two complete crawls of this site "
              "that read pages (default: of the latest crawl's site).")
@click.option("--format", "fmt", type=click.Choice(["terminal", "json", "markdown", "html"]), default="terminal",
              show_default=True)
@output_option
@click.option("--email", "email_to", multiple=True, metavar="TO", help="Also e-mail the changes to TO (repeatable; "
              "[email] settings from --config).")
@click.option("--email-always", is_flag=True, default=False, help="Send the e-mail even when nothing changed.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="funnel.toml with the [email] settings (default ./funnel.toml if there is one).")
@db_option
def diff(crawl_ids, site, fmt, output, email_to, email_always, config_path, db):
    """What changed between two crawls (default: the latest complete crawl of a site and the last
    one before it that read pages; failed, interrupted or empty crawls in between are left out,
    and said): pages, links, backward links, broken links, findings and funnel metrics, both
    crawls analysed with the current rules."""
    from analysis.diff import NotEnoughCrawls, comparison, diff_crawls
    from analysis.formats.diff import DIFF_WRITERS

    check_output(output)
    if len(crawl_ids) not in (0, 2):
        fail("give two crawl ids (OLD NEW), or none for the last two complete crawls of a site")
    if config_path is None and os.path.exists("funnel.toml") and email_to:
        config_path = "funnel.toml"
    try:
        config = load_config(config_path) if config_path else {}
    except ConfigError as exc:
        fail(str(exc))
    plan = _email_plan(config.get("email"), email_to, email_always, config_path, "--email")
    try:
        with open_store(db, readonly=True) as store:
            store.snapshot()  # both crawls as of one moment
            known = {c["id"]: c for c in store.crawls()}
            if crawl_ids:
                missing = [i for i in crawl_ids if i not in known]
                if missing:
                    fail(f"no crawl #{missing[0]} in {store.path} (funnelcheck history lists them)")
                old_id, new_id = crawl_ids
                note = ""
            else:
                try:
                    pair = comparison(store, site)
                except NotEnoughCrawls as exc:
                    fail(str(exc))
                old_id, new_id, note = pair["old"], pair["new"], pair["note"]
                if note:  # a failed, interrupted or empty crawl in between: said, not compared with
                    click.echo(f"funnelcheck: {safe(note)}", err=True)
            RUN.update(compared=(old_id, new_id), skipped=safe(note))
            d = diff_crawls(store, old_id, new_id)
            try:
                if output:
                    with open(output, "w", encoding="utf-8") as fh:
                        DIFF_WRITERS[fmt](d, fh)
                else:
                    DIFF_WRITERS[fmt](d, sys.stdout)
                    sys.stdout.flush()
            except BrokenPipeError:  # `funnelcheck diff | head`: the reader has what it wanted
                _closed_stdout()
            except OSError as exc:
                fail(f"cannot write {output or 'to stdout'}: {exc.strerror}")
            if plan:
                try:
                    RUN["mail"] = send_diff(store, plan, old_id, new_id, {}, d, note=note, on_warning=_say,
                                            note_in_summary=False)
                except AuditError as exc:
                    fail(exc.message)
    except StoreError as exc:
        fail(str(exc))


@main.command()
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.option("--reason", default=None, help="Why the finding is accepted (kept in the file, shown in reports; "
              "without it, a finding accepted before keeps its reason).")
@click.option("--baseline", type=click.Path(dir_okay=False), default=None,
              help="Baseline file (default funnelcheck-baseline.toml in the current folder).")
@click.option("--db", type=click.Path(dir_okay=False), default=None,
              help="Crawl store whose latest crawl the ids are checked against (default: the user's).")
def accept(ids, reason, baseline, db):
    """Accept findings by id (from a report): later runs show them apart and never fail on them."""
    from analysis import baseline as baselines
    from crawler.store import default_path

    path = baseline or baselines.default_path()
    db_path = str(db or default_path())
    # ids the latest audited crawl does not have are most likely typos: checked against it (never
    # against a failed, interrupted or empty crawl: it has no findings to speak of)
    from crawler.store import comparable, why_not_comparable

    try:
        with open_store(db_path, readonly=True) as store:
            every = store.crawls()
            done = [c for c in every if comparable(c)]
            audited = [c for c in done if store.finding_counts(c["id"]) is not None] or done[-1:]
            if not audited:
                fail(f"{db_path} holds no complete crawl to check the ids against (audit the site first)")
            # (a store older than stored findings cannot say: the ids are taken as given)
            known = {f["id"] for f in store.findings(audited[-1]["id"])} if store.version >= 2 else None
    except StoreError as exc:
        fail(str(exc))
    base = audited[-1]
    later = [why_not_comparable(c) for c in every if c["id"] > base["id"] and c["status"] != "running"
             and not comparable(c) and c["targets"] == base["targets"]]
    if later:
        click.echo(f"funnelcheck: ids checked against crawl #{base['id']} of {(base['started'] or '')[:10]}; "
                   f"{safe('; '.join(later))}", err=True)
    unknown = [i for i in ids if known is not None and i not in known and baselines.ID.match(i)]
    if unknown:
        fail(f"{unknown[0]} is not a finding of crawl #{audited[-1]['id']} (the ids are in the report: "
             "funnelcheck report, or --format json)")
    try:
        entries = baselines.accept(path, list(ids), reason)
    except baselines.BaselineError as exc:
        fail(str(exc))
    click.echo(f"accepted {len(ids)} finding{'s' if len(ids) != 1 else ''} in {path} ({len(entries)} in all)")


if __name__ == "__main__":
    main(prog_name="funnelcheck")
