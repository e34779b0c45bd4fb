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
    assert all(r["duration"] is not None and r["duration"] > 0 for r in rows)
    text = run_cli("history", "--db", db).stdout.splitlines()
    assert text[0].split() == ["id", "site", "started", "duration", "pages", "findings", "(h/m/l/i)", "status",
                               "version"]
    counts = "/".join(str(report["summary"]["findings"][s]) for s in ("high", "medium", "low", "info"))
    assert re.match(rf"^2\s+{re.escape(SITE)}\s+\S+ \S+\s+\d+s\s+13\s+{counts}\s+complete\s+0\.1\.0$", text[2])
    assert run_cli("history", "--db", db, "--site", "https://other.example/").stdout.splitlines()[-1] == "no crawls"


def test_log_file_has_the_runs_with_times(store):
    tmp, _, _ = store
    lines = (tmp / "run.log").read_text().splitlines()
    audits = [line for line in lines if " audit " in line]
    assert len(audits) == 2 and re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO ", audits[0])
    ends = [line.split(": ", 1)[1] for line in lines if "crawl #" in line]
    assert ends == ["crawl #1 complete: 13 pages, findings 7 high 4 medium 4 low 7 info, exit 1",
                    "crawl #2 complete: 13 pages, findings 7 high 4 medium 4 low 7 info, exit 1"]


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
