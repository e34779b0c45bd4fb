"""Scheduled runs (issue 11, parts 1, 3 and 5): history, retention, the baseline of accepted
findings, one run per site and store at a time, a log file. Two real audits of the bundled
example into one store, then the commands a cron job or CI would run."""
from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT, run_cli
from crawler.lock import SiteLock

EXAMPLE = (ROOT / "examples/acme/site", "--config", ROOT / "examples/acme/funnel.toml")
SITE = "https://acme.example/"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store with two complete audits of the example, and the second one's JSON report."""
    tmp = tmp_path_factory.mktemp("history")
    db = tmp / "crawls.sqlite"
    for n in (1, 2):
        result = run_cli("--log-file", tmp / "run.log", "audit", *EXAMPLE, "--db", db, "--format", "json",
                         "-o", tmp / f"r{n}.json")
        assert result.exit_code == 1, result.stderr  # the example has high findings on purpose
    return tmp, db, json.loads((tmp / "r2.json").read_text())


def test_history_lists_every_crawl(store):
    tmp, db, report = store
    rows = json.loads(run_cli("history", "--db", db, "--format", "json").stdout)
    assert [(r["id"], r["site"], r["status"], r["pages"], r["version"]) for r in rows] == [
        (1, SITE, "complete", 13, "0.1.0"), (2, SITE, "complete", 13, "0.1.0")]
    assert rows[1]["findings"] == {k: v for k, v in report["summary"]["findings"].items() if v}
    assert all(r["duration"] is not None and r["duration"] >= 0 for r in rows)  # (whole seconds: a 13-page crawl can take 0)
    text = run_cli("history", "--db", db).stdout.splitlines()
    assert text[0].split() == ["id", "site", "started", "duration", "pages", "findings", "(h/m/l/i)", "status",
                               "version"]
    counts = "/".join(str(report["summary"]["findings"][s]) for s in ("high", "medium", "low", "info"))
    assert re.match(rf"^2\s+{re.escape(SITE)}\s+\S+ \S+\s+\d+s\s+13\s+{counts}\s+complete\s+0\.1\.0$", text[2])
    assert run_cli("history", "--db", db, "--site", "https://other.example/").stdout.splitlines()[-1] == "no crawls"


def test_log_file_has_the_runs_with_times(store):
    tmp, _, report = store
    lines = (tmp / "run.log").read_text().splitlines()
    audits = [line for line in lines if " audit " in line]
    assert len(audits) == 4 and re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO ", audits[0])
    found = " ".join(f"{n} {sev}" for sev, n in report["summary"]["findings"].items())
    ends = [line.split(": ", 1)[1] for line in lines if " ended: " in line]
    assert ends == [f"audit of {SITE} ended: crawl #1 complete, 13 pages, findings {found}, exit 1",
                    f"audit of {SITE} ended: crawl #2 complete, 13 pages, findings {found}, exit 1"]


def _lines(log) -> list[str]:
    """A log file's lines without their times."""
    text = log.read_text().splitlines()
    assert all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", line) for line in text), text
    return [line.split(" ", 2)[2] for line in text]


def test_the_log_lines_of_failed_runs(site_server, tmp_path):
    """Issue 20.2: every run ends with one line in --log-file, a failed one with its error: an
    unreachable site (the crawl failed), a usage error after the log is open."""
    down = site_server()
    url = f"{down.url}/"
    down.close()  # nothing listens there any more: connection refused
    log, db = tmp_path / "audit.log", tmp_path / "crawls.sqlite"
    unreachable = run_cli("--log-file", log, "audit", url, "--db", db)
    assert (unreachable.exit_code, unreachable.stderr) == (2, f"funnelcheck: error: cannot reach {url}: "
                                                               "connection refused\n")
    usage = run_cli("--log-file", log, "audit", url, "--db", db, "--max-pages", "-1")
    assert usage.exit_code == 2
    assert _lines(log) == [
        f"INFO funnelcheck: funnelcheck --log-file {log} audit {url} --db {db}",
        "INFO analysis.metrics: funnel metrics: no entry page",
        f"ERROR funnelcheck: audit of {url} ended: crawl #1 failed, 0 pages, exit 2, error: cannot reach {url}: "
        "connection refused",
        f"INFO funnelcheck: funnelcheck --log-file {log} audit {url} --db {db} --max-pages -1",
        "ERROR funnelcheck: audit ended: exit 2, error: Invalid value for '--max-pages': -1 is not in the range x>=0. "
        "(see funnelcheck audit --help)"]
    assert [(r["status"], r["error"]) for r in run_cli("history", "--db", db, "--format", "json").json()] == [
        ("failed", f"cannot reach {url}: connection refused")]
    # nothing of it to resume: a resume would fetch nothing again
    assert run_cli("resume", "--db", db).stderr == f"funnelcheck: error: no interrupted crawl to resume in {db}\n"


def test_accepted_findings_are_apart_and_never_fail_the_run(store, tmp_path):
    _, db, report = store
    high = [f["id"] for f in report["findings"] if f["severity"] == "high"]
    baseline = tmp_path / "funnelcheck-baseline.toml"
    done = run_cli("accept", *high, "--reason", "brand guidelines", "--baseline", baseline, "--db", db)
    assert done.exit_code == 0 and done.stdout == f"accepted {len(high)} findings in {baseline} ({len(high)} in all)\n"
    text = baseline.read_text()
    assert text.count("[[accepted]]") == len(high) and f'id = "{high[0]}"' in text
    assert 'reason = "brand guidelines"' in text
    # with every high finding accepted, --fail-on high passes; without the baseline it fails
    assert run_cli("report", "--db", db, "--fail-on", "high").exit_code == 1
    shown = run_cli("report", "--db", db, "--fail-on", "high", "--baseline", baseline)
    assert shown.exit_code == 0, shown.stdout
    assert f"ACCEPTED ({len(high)}) in {baseline}: listed apart, never failing the run" in shown.stdout
    assert "reason: brand guidelines" in shown.stdout
    out = tmp_path / "r.json"
    run_cli("report", "--db", db, "--baseline", baseline, "--format", "json", "-o", out)
    data = json.loads(out.read_text())["baseline"]
    assert data == {"file": str(baseline), "accepted": [{"id": i, "reason": "brand guidelines"}
                                                        for f in report["findings"] for i in [f["id"]] if i in high],
                    "stale": []}
    # an entry that matches nothing any more is said to be stale
    text = baseline.read_text() + '[[accepted]]\nid = "fc-000000000000"\nreason = "old header"\n'
    baseline.write_text(text)
    stale = run_cli("report", "--db", db, "--baseline", baseline)
    assert "1 stale baseline entry" in stale.stdout and "fc-000000000000 (old header)" in stale.stdout


def test_with_every_finding_accepted_there_is_nothing_to_fix_first(store, tmp_path):
    _, db, report = store
    baseline = tmp_path / "funnelcheck-baseline.toml"
    assert run_cli("accept", *[f["id"] for f in report["findings"]], "--baseline", baseline, "--db", db).exit_code == 0
    shown = run_cli("report", "--db", db, "--baseline", baseline)
    assert shown.exit_code == 0
    assert "Fix first:" not in shown.stdout and f"ACCEPTED ({len(report['findings'])})" in shown.stdout


def test_accept_refuses_what_is_not_a_finding(store, tmp_path):
    _, db, _ = store
    baseline = tmp_path / "b.toml"
    bad = run_cli("accept", "nonsense", "--baseline", baseline, "--db", db)
    assert bad.exit_code == 2 and bad.stderr.startswith("funnelcheck: error: not a finding id: 'nonsense'")
    unknown = run_cli("accept", "fc-0123456789ab", "--baseline", baseline, "--db", db)
    assert unknown.exit_code == 2 and unknown.stderr == (
        "funnelcheck: error: fc-0123456789ab is not a finding of crawl #2 (the ids are in the report: "
        "funnelcheck report, or --format json)\n")
    assert not baseline.exists()
    missing = run_cli("report", "--db", db, "--baseline", tmp_path / "none.toml")
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_a_second_run_of_the_same_site_and_store_is_refused(store, tmp_path):
    db = tmp_path / "crawls.sqlite"
    with SiteLock(str(db), SITE):  # a run still crawling the site into this store
        second = run_cli("audit", *EXAMPLE, "--db", db)
    assert second.exit_code == 2
    assert re.fullmatch(r"funnelcheck: error: another funnelcheck run is auditing https://acme\.example/ into this "
                        r"store \(pid \d+\); try again when it has finished\n", second.stderr)
    assert not db.exists()  # refused before anything was crawled
    assert run_cli("audit", *EXAMPLE, "--db", db).exit_code == 1  # the lock went with its holder


def test_prune_keeps_the_latest_and_vacuums(store, tmp_path):
    import shutil
    _, db, _ = store
    copy = tmp_path / "copy.sqlite"
    shutil.copy(db, copy)
    before = copy.stat().st_size
    pruned = run_cli("prune", "--keep", "1", "--db", copy)
    assert (pruned.exit_code, pruned.stdout) == (0, "deleted 1 crawl (#1)\n")
    assert [r["id"] for r in json.loads(run_cli("history", "--db", copy, "--format", "json").stdout)] == [2]
    assert copy.stat().st_size < before
    again = run_cli("report", "--db", copy, "--format", "json", "-o", tmp_path / "r.json")
    assert again.exit_code == 1 and json.loads((tmp_path / "r.json").read_text())["summary"]["pages_crawled"] == 13
    # two failed runs since: --keep 1 keeps the latest (failed) and the last good crawl, the base of the next diff
    from crawler.store import Store
    with Store(copy) as writable:
        for _ in range(2):
            writable.finish_crawl(writable.create_crawl([SITE], {}), "failed", f"cannot reach {SITE}: timed out")
    assert run_cli("prune", "--keep", "1", "--db", copy).stdout == "deleted 1 crawl (#3)\n"
    assert [(r["id"], r["status"]) for r in json.loads(run_cli("history", "--db", copy, "--format", "json").stdout)] == [
        (2, "complete"), (4, "failed")]


def test_prune_and_accept_need_a_store_that_is_there(tmp_path):
    """A wrong --db is said, not answered with an empty store made on the spot (prune) or an id
    written unchecked (accept)."""
    from click.testing import CliRunner

    import cli

    missing = tmp_path / "typo.sqlite"
    baseline = tmp_path / "funnelcheck-baseline.toml"
    runner = CliRunner()
    pruned = runner.invoke(cli.main, ["prune", "--keep", "1", "--db", str(missing)])
    assert (pruned.exit_code, pruned.stderr) == (2, f"funnelcheck: error: no crawl store at {missing}\n")
    accepted = runner.invoke(cli.main, ["accept", "fc-0123456789ab", "--baseline", str(baseline), "--db", str(missing)])
    assert (accepted.exit_code, accepted.stderr) == (2, f"funnelcheck: error: no crawl store at {missing}\n")
    assert not missing.exists() and not baseline.exists()


def test_accept_without_a_reason_keeps_the_one_given_before(store, tmp_path):
    _, db, report = store
    first, second = [f["id"] for f in report["findings"]][:2]
    baseline = tmp_path / "funnelcheck-baseline.toml"
    assert run_cli("accept", first, "--reason", "brand guidelines", "--baseline", baseline, "--db", db).exit_code == 0
    again = run_cli("accept", first, second, "--baseline", baseline, "--db", db)
    assert (again.exit_code, again.stdout) == (0, f"accepted 2 findings in {baseline} (2 in all)\n")
    shown = json.loads(run_cli("report", "--db", db, "--baseline", baseline, "--format", "json").stdout)["baseline"]
    assert sorted((e["id"], e["reason"]) for e in shown["accepted"]) == sorted(
        [(first, "brand guidelines"), (second, "")])
    assert run_cli("accept", first, "--reason", "changed my mind", "--baseline", baseline, "--db", db).exit_code == 0
    assert 'reason = "changed my mind"' in baseline.read_text()


def _closed_stdout(*args, cwd=ROOT):
    """Run the CLI with a stdout whose reader has gone (``funnelcheck … | head`` after head quit)."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "cli", *map(str, args)], cwd=cwd, stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120,
                              env=dict(os.environ, NO_COLOR="1", PYTHONPATH=str(ROOT)))
    finally:
        os.close(write)
    return proc.returncode, proc.stderr


def test_a_closed_stdout_is_a_quiet_exit(store, tmp_path):
    """Issue 20.9: `funnelcheck diff | head` and the like: no "cannot write to stdout", the exit
    code the command has anyway (its findings' for a report)."""
    _, db, _ = store
    for args, code in ((("diff", "--db", db), 0), (("diff", "--db", db, "--format", "json"), 0),
                       (("report", "--db", db), 1),
                       (("report", "--db", db, "--format", "json", "--fail-on", "never"), 0),
                       (("history", "--db", db), 0), (("crawls", "--db", db), 0),
                       (("audit", *EXAMPLE, "--db", tmp_path / "c.sqlite", "--fail-on", "never"), 0)):
        assert _closed_stdout(*args) == (code, ""), args


def test_no_lock_file_is_left_beside_the_store(store, tmp_path):
    """Issue 20.9: the run's lock file goes with it (the overlap protection is tested in
    test_a_second_run_of_the_same_site_and_store_is_refused and test_schedule)."""
    tmp, db, _ = store
    assert sorted(p.name for p in tmp.iterdir() if p.name.startswith("crawls.sqlite")) == [
        "crawls.sqlite"] + [n for n in ("crawls.sqlite-shm", "crawls.sqlite-wal") if (tmp / n).exists()]
    assert not list(tmp.glob("*.lock"))
    with SiteLock(str(tmp_path / "c.sqlite"), SITE) as held:
        assert [p.name for p in tmp_path.iterdir()] == [held.path.rsplit("/", 1)[1]]
    assert list(tmp_path.iterdir()) == []


def test_a_lock_file_removed_as_it_was_opened_is_not_taken(tmp_path, monkeypatch):
    """The removal is safe: a run that opened the lock file just as its holder let go of it and
    removed it gets a lock on a file no longer at the path; it sees that and takes the one at the
    path (else a third run, making a new file there, would hold "the" lock at the same time)."""
    import fcntl
    import os

    import crawler.lock
    from crawler.lock import LockError

    db = str(tmp_path / "c.sqlite")
    first = SiteLock(db, SITE).acquire()
    real_flock, calls = fcntl.flock, []

    def holder_lets_go_first(fd, op):  # the race, made to happen: between the second's open and flock
        if not calls:
            first.release()
        real_flock(fd, op)
        calls.append(os.fstat(fd).st_nlink)  # 0: the file locked is no longer at any path

    monkeypatch.setattr(crawler.lock.fcntl, "flock", holder_lets_go_first)
    second = SiteLock(db, SITE).acquire()
    monkeypatch.setattr(crawler.lock.fcntl, "flock", real_flock)
    assert calls == [0, 1]  # the removed file, then the one at the path
    assert open(second.path).read() == str(os.getpid())
    with pytest.raises(LockError):
        SiteLock(db, SITE).acquire()  # one lock at the path, held by the second run
    second.release()
    assert list(tmp_path.iterdir()) == []


def test_the_tests_never_write_the_users_data_directory(tmp_path):
    """Issue 20.9: runs without --db, in a subprocess and in process, write the test session's
    own data directory (conftest sets XDG_DATA_HOME), never the user's: a crawl of a site name
    made for this test is in the one and not in the other."""
    import uuid

    from click.testing import CliRunner

    import cli
    from conftest import TEST_DATA_HOME, USER_STORE_DIR
    from crawler.store import Store, default_path

    ours, users = TEST_DATA_HOME / "funnelcheck" / "crawls.sqlite", USER_STORE_DIR / "crawls.sqlite"
    assert default_path() == ours and ours != users and not str(ours).startswith(str(USER_STORE_DIR) + "/")
    site = f"https://{uuid.uuid4().hex}.example/"
    args = ("audit", ROOT / "examples/acme/site", "--base-url", site, "--no-check-external", "--no-check-social",
            "--fail-on", "never", "-o", tmp_path / "r.txt")
    assert run_cli(*args).exit_code == 0  # a subprocess
    assert CliRunner().invoke(cli.main, list(map(str, args))).exit_code == 0  # in process
    with Store(ours, readonly=True) as store:
        assert [c["targets"] for c in store.crawls()].count([site]) == 2
    if users.exists():  # (read as it is: whatever funnelcheck wrote it)
        import sqlite3
        from contextlib import closing

        with closing(sqlite3.connect(f"file:{users}?mode=ro", uri=True)) as db:
            assert not [t for (t,) in db.execute("SELECT targets FROM crawls") if site in t]
    listed = CliRunner().invoke(cli.main, ["crawls"])
    assert listed.exit_code == 0 and listed.stdout.splitlines()[-1].endswith(f"\t{site}")


def _agrees(shown, real, where="$") -> list[str]:
    """Where the README's JSON example (``shown``) says something the real report does not:
    ``"…"`` stands for anything; an object's keys are checked, a list item must be one of the
    real list's (a list without ``"…"`` and without objects is the whole list)."""
    if shown == "…":
        return []
    if isinstance(shown, dict):
        if not isinstance(real, dict):
            return [f"{where}: the report has {real!r}"]
        return [line for k, v in shown.items() if k != "…"
                for line in (_agrees(v, real[k], f"{where}.{k}") if k in real else [f"{where}.{k}: not in the report"])]
    if isinstance(shown, list):
        if not isinstance(real, list):
            return [f"{where}: the report has {real!r}"]
        if "…" not in shown and not any(isinstance(x, dict) for x in shown):
            return [] if shown == real else [f"{where}: README {shown!r}, report {real!r}"]
        out = []
        for i, item in enumerate(shown):
            if item != "…" and all(_agrees(item, r) for r in real):
                closest = min((_agrees(item, r) for r in real), key=len, default=["the list is empty"])
                out.append(f"{where}[{i}]: no such item in the report (the closest differs: {closest})")
        return out
    return [] if shown == real else [f"{where}: README {shown!r}, report {real!r}"]


def test_the_readme_json_example_is_the_examples_real_output(store):
    """Issue 20.9: every value the README's JSON example shows is the bundled example's (a real
    audit of examples/acme, as its "Two commands" section runs it)."""
    tmp, _, _ = store
    report = json.loads((tmp / "r1.json").read_text())  # the store's first crawl: crawl 1, as in the README
    block = re.search(r"^## JSON report.*?^```json\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)
    shown = json.loads(block.group(1))
    assert shown["summary"]["pages_crawled"] == report["summary"]["pages_crawled"]  # (the comparison compares)
    assert _agrees(shown, report) == []
    assert _agrees({"summary": {"links": -1}}, report) == [f"$.summary.links: README -1, report "
                                                           f"{report['summary']['links']}"]


LOOKUPS = '''\
"""Records every host name this process looks up (not literal addresses) in $FUNNELCHECK_LOOKUPS."""
import ipaddress
import os
import socket

_getaddrinfo = socket.getaddrinfo


def _recording(host, *args, **kwargs):
    try:
        ipaddress.ip_address(str(host).strip("[]"))
    except ValueError:
        with open(os.environ["FUNNELCHECK_LOOKUPS"], "a", encoding="utf-8") as fh:
            fh.write(f"{host}\\n")
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _recording
'''


def test_the_bundled_example_looks_nothing_up_in_dns(tmp_path):
    """Issue 20.9: the README says nothing of the example's audit leaves the machine; its
    social stand-ins are remapped under its own public URL (https://acme.example/_social/…),
    which is its served directory, never a host to look up. Every process of the run (the CLI
    and the crawl) records the host names it resolves (a sitecustomize on PYTHONPATH)."""
    import subprocess
    import sys

    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(LOOKUPS)
    lookups = tmp_path / "lookups.txt"
    env = {"PYTHONPATH": f"{hooks}:{ROOT}", "FUNNELCHECK_LOOKUPS": str(lookups)}
    # the recorder records (else this test could not fail)
    subprocess.run([sys.executable, "-c", "import socket; socket.getaddrinfo('localhost', 80)"], check=True,
                   env={**__import__("os").environ, **env})
    assert lookups.read_text() == "localhost\n"
    lookups.unlink()
    result = run_cli("audit", *EXAMPLE, "--db", tmp_path / "c.sqlite", "--format", "json", "-o", tmp_path / "r.json",
                     env=env)
    assert result.exit_code == 1, result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["pages_crawled"] == 13
    assert not lookups.exists(), lookups.read_text()
