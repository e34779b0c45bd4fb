"""A scheduled run end to end (issue 11): the README's crontab command, run as cron would
(`sh -c` in the audit's folder), against the diff fixture site, mailing what changed to a
real local SMTP server (aiosmtpd: STARTTLS required, AUTH, a trustme certificate); and two
real runs at once on one store and site."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from conftest import ROOT, Route, run_cli
from test_mail import PASSWORD, USER, _server_context, _start

from analysis.diff import diff_crawls, headline
from crawler.store import Store

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
SITES = ROOT / "tests" / "sites" / "diff"
CRON = re.search(r"^0 6 \* \* 1  cd /srv/audits/acme && (funnelcheck .+)$", (ROOT / "README.md").read_text(), re.M)


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    import trustme
    ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
    folder = tmp_path_factory.mktemp("acme")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    server = _start(tls_context=_server_context(ca, "127.0.0.1", "localhost"), require_starttls=True)
    yield server, folder
    server.stop()


def _cron(folder):
    """The README's crontab command, exactly, in the audit's folder, with the password in the
    environment as the systemd unit sets it."""
    env = dict(os.environ, FUNNELCHECK_SMTP_PASSWORD=PASSWORD, NO_COLOR="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run(["sh", "-c", CRON.group(1)], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=180)


def _site(folder, version):
    shutil.rmtree(folder / "site", ignore_errors=True)
    shutil.copytree(SITES / version, folder / "site")


def test_the_readme_crontab_command_mails_what_changed(smtp):
    server, folder = smtp
    assert CRON, "the README has no crontab line"
    (folder / "funnel.toml").write_text(
        'targets = ["site"]\nbase_url = ["https://acme.example/"]\ncheck_external = false\ncheck_social = false\n'
        f'[email]\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "starttls"\nusername = "{USER}"\n'
        'from = "funnelcheck <audit@acme.example>"\ncafile = "ca.pem"\n')
    _site(folder, "v1")
    first = _cron(folder)
    assert first.returncode == 0, first.stderr  # --fail-on never: a scheduled run reports, it does not fail
    assert "is the first complete crawl of https://acme.example/: nothing to compare yet" in first.stderr
    assert server.recorder.messages == []
    _site(folder, "v2")
    second = _cron(folder)
    assert second.returncode == 0, second.stderr
    with Store(folder / "crawls.sqlite", readonly=True) as store:
        assert [(c["id"], c["status"]) for c in store.crawls()] == [(1, "complete"), (2, "complete")]
        subject = headline(diff_crawls(store, 1, 2))
    assert subject.startswith("acme.example: ") and subject != "acme.example: no changes"
    [mail] = server.recorder.messages
    assert mail.rcpt_tos == ["marketing@acme.example"] and mail.tls and mail.authenticated
    assert server.recorder.auths[-1][1:] == (True, True)  # accepted, over TLS
    message = mail.message
    assert message["Subject"] == subject and message["To"] == "marketing@acme.example"
    assert message.get_content_type() == "multipart/alternative"
    plain, html = [part.get_content() for part in message.iter_parts()]
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert plain.startswith("funnelcheck diff: crawl #1 (") and "https://acme.example/pricng/" in plain
    assert "<script" not in html.lower() and "pricng" in html
    assert f"funnelcheck: e-mailed '{subject}' to marketing@acme.example" in second.stderr
    for text in (first.stdout, first.stderr, second.stdout, second.stderr, (folder / "audit.log").read_text(),
                 (folder / "last.txt").read_text()):
        assert PASSWORD not in text
    log = (folder / "audit.log").read_text()
    assert "crawl #2 complete" in log and "audit --config funnel.toml" in log
    # nothing changed since: no mail
    third = _cron(folder)
    assert third.returncode == 0
    assert re.search(r"nothing changed since crawl #2 of \d{4}-\d\d-\d\d: no e-mail sent", third.stderr)
    assert len(server.recorder.messages) == 1


def test_a_failed_send_exits_2_and_keeps_the_crawl(smtp, tmp_path):
    server, folder = smtp
    (tmp_path / "funnel.toml").write_text(
        f'[email]\nhost = "127.0.0.1"\nport = {server.port}\nusername = "{USER}"\nfrom = "a@acme.example"\n'
        f'cafile = "{folder / "ca.pem"}"\n')
    db = folder / "crawls.sqlite"
    env = {"FUNNELCHECK_SMTP_PASSWORD": "wrong"}
    log = tmp_path / "diff.log"
    result = run_cli("--log-file", log, "diff", "--db", db, "1", "2", "--email", "x@acme.example", "--config",
                     tmp_path / "funnel.toml", env=env)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"funnelcheck: error: cannot send mail via 127.0.0.1:{server.port}: "
                                    "authentication failed")
    error = result.stderr.removeprefix("funnelcheck: error: ").rstrip("\n")
    assert _end_lines(log)[1:] == [
        f"INFO analysis.mail: sending mail to 1 recipient via 127.0.0.1:{server.port} (starttls)",
        f"ERROR funnelcheck: diff ended: crawls #1 and #2 compared, exit 2, error: {error}"]
    assert "wrong" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    no_password = run_cli("diff", "--db", db, "--email", "x@acme.example", "--config", tmp_path / "funnel.toml",
                          env={"FUNNELCHECK_SMTP_PASSWORD": ""})
    assert no_password.exit_code == 2 and "FUNNELCHECK_SMTP_PASSWORD" in no_password.stderr


def test_two_runs_at_once_on_one_store_and_site(site_server, tmp_path):
    def slow(handler):
        time.sleep(2.5)  # the first run is still crawling when the second starts
        return Route(body="<html><body><main>slow</main></body></html>")

    server = site_server(routes={"*": slow})
    db = tmp_path / "crawls.sqlite"
    args = ["audit", f"{server.url}/", "--db", db, "--no-check-external", "--no-sitemaps", "--ignore-robots"]
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(ROOT))
    first = subprocess.Popen([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the first run holds the lock (its pid in the lock file)
            locks = list(tmp_path.glob("crawls.sqlite.*.lock"))
            if locks and locks[0].read_text().strip() == str(first.pid):
                break
            time.sleep(0.05)
        second = run_cli(*args)
        assert second.exit_code == 2 and re.fullmatch(
            rf"funnelcheck: error: another funnelcheck run is auditing {re.escape(server.url)}/ into this store "
            rf"\(pid {first.pid}\); try again when it has finished\n", second.stderr), second.stderr
    finally:
        first.communicate(timeout=120)
    assert first.returncode == 0
    with Store(db, readonly=True) as store:
        assert [c["status"] for c in store.crawls()] == ["complete"]  # only the first run crawled
    assert not list(tmp_path.glob("*.lock"))  # the lock went with its run


def _slow_copy(version, delay):
    """The fixture site of ``version`` served slowly (``delay`` s an answer): a two-second
    --max-time cuts its crawl short, as a reboot or a time slot cuts a scheduled run."""
    from urllib.parse import unquote, urlsplit

    def handler(h):
        time.sleep(delay)
        path = SITES / version / unquote(urlsplit(h.path).path).lstrip("/")
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            return Route(404, body="<html><body>not found</body></html>")
        ctype = "application/xml" if path.suffix == ".xml" else "text/html; charset=utf-8"
        return Route(headers={"Content-Type": ctype}, body=path.read_bytes())
    return handler


def test_a_scheduled_audit_cut_short_mails_its_diff_when_resumed(smtp, site_server, tmp_path):
    server, folder = smtp
    config = tmp_path / "funnel.toml"
    config.write_text(f'[email]\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "starttls"\n'
                      f'username = "{USER}"\nfrom = "audit@acme.example"\ncafile = "{folder / "ca.pem"}"\n')
    db = tmp_path / "crawls.sqlite"
    env = {"FUNNELCHECK_SMTP_PASSWORD": PASSWORD}
    before = len(server.recorder.messages)
    for version in ("v1", "v2"):
        srv = site_server(routes={"*": _slow_copy(version, 0 if version == "v1" else 0.25)})
        args = ("https://acme.example/", "--remap", rf"^https://acme\.example/ {srv.url}/", "--no-check-external",
                "--no-check-social", "--concurrency", "1", "--db", db, "--fail-on", "never")
        if version == "v1":
            assert run_cli("audit", *args, env=env).exit_code == 0
            continue
        cut = run_cli("audit", *args, "--max-time", "2s", "--config", config, "--email-diff", "team@acme.example",
                      env=env)
        assert cut.exit_code == 0, cut.stderr
        assert "crawl #2 is not complete: no e-mail sent yet" in cut.stderr
        for _ in range(10):
            resumed = run_cli("resume", "--db", db, "2", "--config", config, "--email-diff", "team@acme.example",
                              "--fail-on", "never", env=env)
            assert resumed.exit_code == 0, resumed.stderr
            if "e-mailed" in resumed.stderr:
                break
        assert "e-mailed 'acme.example: " in resumed.stderr
    with Store(db, readonly=True) as store:
        assert [(c["id"], c["status"]) for c in store.crawls()] == [(1, "complete"), (2, "complete")]
        subject = headline(diff_crawls(store, 1, 2))
    [mail] = server.recorder.messages[before:]
    assert mail.message["Subject"] == subject and mail.rcpt_tos == ["team@acme.example"]


def _end_lines(log) -> list[str]:
    """The log file's lines without their times: ``LEVEL name: message``."""
    return [re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", "", line) for line in log.read_text().splitlines()]


def test_a_site_down_at_cron_time_sends_no_false_alarm(smtp, site_server, tmp_path):
    """Issue 20.1, as cron runs it: a complete crawl, a run while the site is down (exit 2, the
    crawl stored as failed), a complete crawl with nothing changed: no e-mail, exit 0, and the
    history, the diff, accept and the log say what happened."""
    server, folder = smtp
    shutil.copy(folder / "ca.pem", tmp_path / "ca.pem")
    site = site_server(SITES / "v1")
    url, port = f"{site.url}/", site.httpd.server_address[1]
    (tmp_path / "funnel.toml").write_text(
        f'targets = ["{url}"]\ncheck_external = false\ncheck_social = false\n'
        f'[email]\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "starttls"\nusername = "{USER}"\n'
        'from = "funnelcheck <audit@acme.example>"\ncafile = "ca.pem"\n')
    before = len(server.recorder.messages)
    first = _cron(tmp_path)
    assert first.returncode == 0, first.stderr
    site.close()  # the site is down at cron time
    down = _cron(tmp_path)
    assert (down.returncode, down.stderr) == (2, f"funnelcheck: error: cannot reach {url}: connection refused\n")
    with Store(tmp_path / "crawls.sqlite", readonly=True) as store:  # accept checks ids against crawl #1
        some = store.findings(1)[0]["id"]
        first_started = store.crawl(1)["started"][:10]
    accepted = run_cli("accept", some, "--db", tmp_path / "crawls.sqlite", "--baseline", tmp_path / "b.toml")
    assert accepted.exit_code == 0 and accepted.stderr == (
        f"funnelcheck: ids checked against crawl #1 of {first_started}; crawl #2 failed: cannot reach {url}: "
        "connection refused\n")
    back = site_server(SITES / "v1", port=port)  # back up, unchanged
    third = _cron(tmp_path)
    assert third.returncode == 0, third.stderr
    with Store(tmp_path / "crawls.sqlite", readonly=True) as store:
        started = [c["started"][:10] for c in store.crawls()]
    why = f"crawl #2 failed: cannot reach {url}: connection refused"
    assert third.stderr == (f"funnelcheck: nothing changed since crawl #1 of {started[0]} ({why}): no e-mail sent "
                            "(--email-always sends it anyway)\n")
    assert len(server.recorder.messages) == before  # no false alarm
    history = run_cli("history", "--db", tmp_path / "crawls.sqlite", "--format", "json").json()
    assert [(r["id"], r["status"], r["pages"], r["error"]) for r in history] == [
        (1, "complete", 8, None), (2, "failed", 0, f"cannot reach {url}: connection refused"), (3, "complete", 8, None)]
    text = run_cli("history", "--db", tmp_path / "crawls.sqlite").stdout.splitlines()
    assert [line.split()[-2] for line in text[1:4]] == ["complete", "failed", "complete"]
    assert text[4:] == [f"{why}"]
    listed = run_cli("crawls", "--db", tmp_path / "crawls.sqlite").stdout.splitlines()
    assert [line.split("\t")[2] for line in listed] == ["complete", "failed", "complete"]
    # `diff` compares the same crawls, and says which
    diff = run_cli("diff", "--db", tmp_path / "crawls.sqlite", "--format", "json")
    assert diff.exit_code == 0 and diff.stderr == f"funnelcheck: compared with crawl #1 of {started[0]}; {why}\n"
    assert (diff.json()["old"]["id"], diff.json()["new"]["id"]) == (1, 3)
    # what the scheduled user reads in the log: one line per run, the failed one with its error
    ends = [line for line in _end_lines(tmp_path / "audit.log") if " ended: " in line]
    assert ends == [
        f"INFO funnelcheck: audit of {url} ended: crawl #1 complete, 8 pages, findings {_counts(tmp_path, 1)}, "
        "no e-mail: nothing to compare yet, exit 0",
        f"ERROR funnelcheck: audit of {url} ended: crawl #2 failed, 0 pages, exit 2, error: cannot reach {url}: "
        "connection refused",
        f"INFO funnelcheck: audit of {url} ended: crawl #3 complete, 8 pages, findings {_counts(tmp_path, 3)}, "
        f"no e-mail: nothing changed since crawl #1 of {started[0]} ({why}), exit 0"]
    # the README's example of these three lines is what they look like (URLs, numbers and dates aside)
    readme = re.search(r"three runs above:\n\n```\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    shown = [re.sub(r"^\S+ \S+ ", "", line) for line in readme.splitlines()]

    def shape(line):
        return re.sub(r"\d+", "N", re.sub(r"https?://\S+?/(?=[:, )]|$)", "URL", line))
    assert [shape(line) for line in shown] == [shape(line) for line in ends]
    # down again, then back with a change: the e-mail compares with the last good crawl, and says so first
    back.close()
    assert _cron(tmp_path).returncode == 2
    site_server(SITES / "v2", port=port)
    changed = _cron(tmp_path)
    assert changed.returncode == 0, changed.stderr
    [mail] = server.recorder.messages[before:]
    plain, html = [part.get_content() for part in mail.message.iter_parts()]
    with Store(tmp_path / "crawls.sqlite", readonly=True) as store:
        assert [c["status"] for c in store.crawls()] == ["complete", "failed", "complete", "failed", "complete"]
        third_started = store.crawl(3)["started"][:10]
    note = f"Compared with crawl #3 of {third_started}; crawl #4 failed: cannot reach {url}: connection refused."
    assert plain.splitlines()[:2] == [note, ""] and plain.splitlines()[2].startswith("funnelcheck diff: crawl #3 (")
    assert f"<p>{note}</p>" in html
    assert changed.stderr.endswith(f" to marketing@acme.example (changes since crawl #3 of {third_started}; "
                                   f"crawl #4 failed: cannot reach {url}: connection refused)\n")


def _counts(folder, crawl_id) -> str:
    with Store(folder / "crawls.sqlite", readonly=True) as store:
        counts = store.finding_counts(crawl_id)
    return " ".join(f"{counts.get(s, 0)} {s}" for s in ("high", "medium", "low", "info"))


def test_the_systemd_unit_runs_the_crontab_command():
    """The README's systemd service runs what its crontab line runs (tested above), where it runs it."""
    readme = (ROOT / "README.md").read_text()
    start = re.search(r"^ExecStart=/usr/local/bin/(funnelcheck .+)$", readme, re.M)
    folder = re.search(r"^WorkingDirectory=(\S+)$", readme, re.M)
    assert CRON and start and folder
    assert start.group(1) == CRON.group(1) and folder.group(1) == "/srv/audits/acme"
    assert re.search(r"^OnCalendar=Mon 06:00$", readme, re.M) and CRON.group(0).startswith("0 6 * * 1 ")
