"""The command line of a crawl on several workers: `audit/resume --workers N --redis URL`,
`funnelcheck worker`, their errors (one line on stderr, exit 2) and help, and one audit with
two workers through the real CLI. (The cluster itself, kills and resumes included, is
tests/test_cluster.py's.)"""
from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import pytest
from conftest import ROOT, findings_set, run_cli

ACME = ROOT / "examples" / "acme"
SITE = ["audit", str(ACME / "site"), "--config", str(ACME / "funnel.toml")]


def error_line(result) -> str:
    """The one line on stderr of a failed run (and there is only one)."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def crawls_in(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        return con.execute("SELECT COUNT(*) FROM crawls").fetchone()[0]


@pytest.mark.parametrize("args, line", [
    (["--workers", "0"], "--workers 0 only coordinates: give --redis URL (or $FUNNELCHECK_REDIS_URL) where workers join"),
    (["--workers", "-1"], "--workers must be >= 0, got -1"),
    (["--workers", "2", "--redis", "localhost:6379"],
     "--redis takes a URL like redis://host:6379/0 or unix:///path/redis.sock, got 'localhost:6379'"),
    (["--workers", "two"], ("Invalid value for '--workers': 'two' is not a valid integer. "
                           "(see funnelcheck audit --help)")),
])
def test_audit_refuses_workers_and_redis_that_do_not_go_together(tmp_path, args, line):
    db = tmp_path / "crawls.sqlite"
    result = run_cli(*SITE, "--db", db, *args)
    assert result.exit_code == 2
    assert error_line(result) == f"funnelcheck: error: {line}"
    assert result.stdout == "" and crawls_in(db) == 0


def test_funnel_toml_workers_and_redis_are_checked_like_the_options(tmp_path):
    config = tmp_path / "funnel.toml"
    base = (ACME / "funnel.toml").read_text().replace('base_url = "https://acme.example"',
                                                      'base_url = "https://acme.example"\ntargets = ["site"]')
    (tmp_path / "site").symlink_to(ACME / "site")
    cases = [("workers = 0", "--workers 0 only coordinates: give --redis URL (or $FUNNELCHECK_REDIS_URL) where workers join"),
             ("workers = -3", "--workers must be >= 0, got -3"),
             ('workers = "two"', f"{config}: workers must be a whole number, got 'two'"),
             ('redis = "10.0.0.5"',
              "--redis takes a URL like redis://host:6379/0 or unix:///path/redis.sock, got '10.0.0.5'")]
    for key, line in cases:
        config.write_text(f"{key}\n{base}")
        result = run_cli("audit", "--config", config, "--db", tmp_path / "crawls.sqlite")
        assert (result.exit_code, error_line(result)) == (2, f"funnelcheck: error: {line}"), key
    # the command line wins over the file
    config.write_text(f"workers = 0\n{base}")
    result = run_cli("audit", "--config", config, "--db", tmp_path / "crawls.sqlite", "--workers", "-1")
    assert error_line(result) == "funnelcheck: error: --workers must be >= 0, got -1"


def test_resume_checks_workers_and_redis_before_it_looks_for_a_crawl(tmp_path):
    result = run_cli("resume", "--db", tmp_path / "none.sqlite", "--workers", "0")
    assert (result.exit_code, error_line(result)) == (
        2, "funnelcheck: error: --workers 0 only coordinates: give --redis URL (or $FUNNELCHECK_REDIS_URL) where workers join")
    config = tmp_path / "funnel.toml"
    config.write_text("workers = 0\n")
    result = run_cli("resume", "--db", tmp_path / "none.sqlite", "--config", config)
    assert error_line(result) == "funnelcheck: error: --workers 0 only coordinates: give --redis URL (or $FUNNELCHECK_REDIS_URL) where workers join"


def test_an_audit_whose_redis_does_not_answer_stops_before_it_crawls(tmp_path):
    db = tmp_path / "crawls.sqlite"
    port = closed_port()
    result = run_cli(*SITE, "--db", db, "--redis", f"redis://:s3cret@127.0.0.1:{port}/0", "--workers", "0")
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith(f"funnelcheck: error: cannot reach Redis at redis://:***@127.0.0.1:{port}/0: "), line
    assert "refused" in line.lower() and "s3cret" not in result.stderr
    assert crawls_in(db) == 0


def test_a_redis_password_is_in_no_error_and_no_log(tmp_path):
    """A coordinator reads $FUNNELCHECK_REDIS_URL (as funnelcheck worker does: no password in the
    process list); a --redis password never reaches stderr or the --log-file, even in a URL of the
    wrong form; a database that is not a number is refused, not ignored."""
    db, log = tmp_path / "crawls.sqlite", tmp_path / "audit.log"
    port = closed_port()
    env = {"FUNNELCHECK_REDIS_URL": f"redis://:s3cret@127.0.0.1:{port}/0"}
    result = run_cli("--log-file", log, *SITE, "--db", db, "--workers", "0", env=env)
    assert result.exit_code == 2
    assert error_line(result).startswith(f"funnelcheck: error: cannot reach Redis at redis://:***@127.0.0.1:{port}/0: ")
    result = run_cli("--log-file", log, *SITE, "--db", db, "--workers", "2", "--redis", f"redis://:s3cret@127.0.0.1:{port}/0")
    assert result.exit_code == 2 and "s3cret" not in result.stderr
    assert f"--redis redis://:***@127.0.0.1:{port}/0" in log.read_text()
    for url, line in [("http://:s3cret@127.0.0.1:1/0", "--redis takes a URL like redis://host:6379/0 or "
                       "unix:///path/redis.sock, got 'http://:***@127.0.0.1:1/0'"),
                      ("bob:s3cret@127.0.0.1:6379", "--redis takes a URL like redis://host:6379/0 or "
                       "unix:///path/redis.sock, got '***@127.0.0.1:6379'"),
                      ("redis://:s3cret@127.0.0.1:6379/abc", "--redis names its database by number "
                       "(redis://host:6379/0), got 'redis://:***@127.0.0.1:6379/abc'")]:
        result = run_cli("--log-file", log, *SITE, "--db", db, "--workers", "2", "--redis", url)
        assert (result.exit_code, error_line(result)) == (2, f"funnelcheck: error: {line}"), url
    assert "s3cret" not in log.read_text() and crawls_in(db) == 0


def test_the_docker_recipe_runs_commands_funnelcheck_has(tmp_path):
    """deploy/docker-compose.yml's worker and coordinator, as the image's ENTRYPOINT (funnelcheck)
    runs them, with the Redis URL the file gives them in FUNNELCHECK_REDIS_URL: each gets as far as
    Redis (here a closed port), not 'No such option' (a `run worker --redis URL` once replaced the
    word worker)."""
    import yaml

    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    assert "ENTRYPOINT [\"funnelcheck\"]" in (ROOT / "deploy" / "Dockerfile").read_text()
    services = compose["services"]
    assert "FUNNELCHECK_REDIS_URL" in compose["x-funnelcheck"]["environment"]
    env = {"FUNNELCHECK_REDIS_URL": f"redis://:s3cret@127.0.0.1:{closed_port()}/0"}
    coordinator = [a.replace("/data/", f"{tmp_path}/") for a in services["coordinator"]["entrypoint"]]
    assert coordinator[0] == "funnelcheck"
    for args in (services["worker"]["command"], [*coordinator[1:], "https://acme.example/"]):
        assert not any("redis://" in a for a in args)  # (no password on a command line)
        result = run_cli(*args, env=env)
        assert result.exit_code == 2, args
        assert error_line(result).startswith("funnelcheck: error: cannot reach Redis at redis://:***@127.0.0.1:"), args


def test_workers_without_redis_server_installed_is_one_line(tmp_path):
    """--workers 2 without --redis starts a private redis-server: a machine without one is told
    what to install, and nothing is crawled."""
    db = tmp_path / "crawls.sqlite"
    bare = tmp_path / "bin"
    bare.mkdir()  # a PATH that holds no redis-server (the CLI runs with this interpreter's full path)
    result = run_cli(*SITE, "--db", db, "--workers", "2", env={"PATH": str(bare)})
    assert (result.exit_code, error_line(result)) == (
        2, ("funnelcheck: error: redis-server is not installed: --workers needs it (Debian: apt-get install "
           "redis-server), or give --redis URL"))
    assert crawls_in(db) == 0
    # one process needs no Redis: the same machine audits as before
    result = run_cli(*SITE, "--db", db, "--format", "json", "-o", tmp_path / "r.json", env={"PATH": str(bare)})
    assert result.exit_code == 1, result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["status"] == "complete"


def test_worker_says_when_redis_does_not_answer():
    port = closed_port()
    result = run_cli("worker", "--redis", f"redis://127.0.0.1:{port}/0")
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith(f"funnelcheck: error: cannot reach Redis at redis://127.0.0.1:{port}/0: "), line
    assert "refused" in line.lower()
    result = run_cli("worker", "--redis", "127.0.0.1:6379")
    assert (result.exit_code, error_line(result)) == (
        2, ("funnelcheck: error: --redis takes a URL like redis://host:6379/0 or unix:///path/redis.sock, "
           "got '127.0.0.1:6379'"))
    result = run_cli("worker")
    assert (result.exit_code, error_line(result)) == (
        2, "funnelcheck: error: Missing option '--redis'. (see funnelcheck worker --help)")


def test_help_explains_workers_and_the_worker_command():
    audit = " ".join(run_cli("audit", "--help").stdout.split())
    assert "--workers N Crawl with N processes sharing the crawl through Redis (default 1: one process, no Redis)." \
        in audit
    assert "funnelcheck starts a private redis-server" in audit and "0 only coordinates" in audit
    assert "--redis URL Redis the workers share" in audit
    resume = " ".join(run_cli("resume", "--help").stdout.split())
    assert "--workers N" in resume and "--redis URL" in resume
    worker = " ".join(run_cli("worker", "--help").stdout.split())
    for said in ("Join a crawl announced in the Redis at URL",
                 "funnelcheck audit https://acme.example/ --redis redis://10.0.0.5:6379/0 --workers 0",
                 "A worker started before any crawl is announced waits for one",
                 "stops when the crawl is done",
                 "Ctrl-C (or SIGTERM) leaves cleanly (exit 130): the requests it had in flight go to the other workers",
                 "A worker does one crawl: run it under a supervisor"):
        assert said in worker, said
    assert "  worker   Join a crawl announced in the Redis at URL" in run_cli("--help").stdout


@pytest.mark.skipif(not (ROOT / "crawler" / "worker.py").exists() or not (ROOT / "crawler" / "coordinator.py").exists(),
                    reason="crawler.worker and crawler.coordinator land on branches workers and writer")
def test_an_audit_with_two_workers_reports_what_one_process_reports(tmp_path):
    """`funnelcheck audit SITE --workers 2` through the CLI: the same exit code, pages and
    findings as the one-process audit of the same site."""
    reports = {}
    for name, extra in (("one", []), ("two", ["--workers", "2"])):
        out = tmp_path / f"{name}.json"
        result = run_cli(*SITE, "--db", tmp_path / f"{name}.sqlite", "--format", "json", "-o", out, *extra,
                         timeout=300)
        assert result.exit_code == 1, result.stderr  # the example has high findings on purpose
        assert result.stderr == "" and result.stdout == ""
        reports[name] = json.loads(out.read_text())
    one, two = reports["one"], reports["two"]
    assert two["summary"]["status"] == "complete"
    assert two["summary"]["pages_crawled"] == one["summary"]["pages_crawled"] > 10
    assert two["summary"]["findings"] == one["summary"]["findings"]
    assert findings_set(two) == findings_set(one)
    stored = {}
    for name in ("one", "two"):  # the same URLs checked, with the same answers
        with sqlite3.connect(tmp_path / f"{name}.sqlite") as con:
            stored[name] = sorted(con.execute("SELECT u.url, p.role, p.status, p.parsed FROM pages p "
                                              "JOIN urls u ON u.id = p.url_id"))
    assert stored["two"] == stored["one"]
