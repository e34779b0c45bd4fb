"""analysis.audit.run_audit as a library: one call crawls, decides, analyses, stores, reports;
what it says comes back as lines and facts, failures as AuditError with their exit code."""
from __future__ import annotations

import io
import json
import socket
import sqlite3
from contextlib import contextmanager

import pytest
from conftest import ROOT

from analysis.audit import AuditError, AuditInterrupted, run_audit
from analysis.formats import WRITERS
from crawler.config import load_config, merge, validate

ACME = ROOT / "examples" / "acme"


def acme_options(tmp_path, **more):
    config = load_config(ACME / "funnel.toml")
    return validate(merge(config, {"targets": [str(ACME / "site")], "db": str(tmp_path / "c.sqlite"), **more}),
                    formats=WRITERS)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


VIEW = {"branding": {}, "weights": None, "entry": None, "baseline": {}, "baseline_file": None, "email": None}


def test_an_audit_returns_its_exit_code_facts_and_report(tmp_path):
    options = acme_options(tmp_path)
    seen = []

    @contextmanager
    def progress():
        yield lambda done, queued: seen.append((done, queued))
        seen.append("left")  # left before the report is written

    out = io.StringIO()
    result = run_audit(options["db"], options=options, fmt="json", view=VIEW, progress=progress(), out=out)
    report = json.loads(out.getvalue())
    assert result.exit_code == 1  # the example's high findings, --fail-on high
    assert (result.crawl_id, result.db_path, result.output, result.warnings) == (1, options["db"], None, [])
    assert result.facts == {"crawl": 1, "targets": ["https://acme.example/"], "status": "complete",
                            "pages": report["summary"]["pages_crawled"], "findings": report["summary"]["findings"]}
    assert seen[-1] == "left" and all(done <= max(queued, done) for done, queued in seen[:-1])
    with sqlite3.connect(options["db"]) as con:  # the findings are kept for comparisons
        stored = con.execute("SELECT COUNT(*) FROM findings WHERE crawl_id = 1").fetchone()[0]
    assert stored == len(report["findings"]) > 0

    # --resume with nothing to resume: a new crawl; other options than the stored ones are not said
    again = run_audit(options["db"], options=options, resume=True, fmt="json", view=VIEW, output=str(tmp_path / "r"))
    assert (again.crawl_id, again.output, again.warnings) == (2, str(tmp_path / "r"), [])


def test_a_site_that_does_not_answer_is_an_audit_error(tmp_path):
    options = validate(merge({}, {"targets": [closed_port_url()], "db": str(tmp_path / "c.sqlite")}))
    warned = []
    with pytest.raises(AuditError) as caught:
        run_audit(options["db"], options=options, view=VIEW, on_warning=warned.append, out=io.StringIO())
    error = caught.value
    assert error.exit_code == 2 and not isinstance(error, AuditInterrupted)
    assert error.message == f"cannot reach {options['targets'][0]}: connection refused"
    assert error.facts["status"] == "failed" and error.facts["crawl"] == 1 and warned == []


@contextmanager
def _interrupting():
    """A progress view whose first call is a Ctrl-C (as the crawl's first progress report)."""
    def watch(done, queued):
        raise KeyboardInterrupt
    yield watch


def test_an_interrupt_during_the_crawl_keeps_it_resumable(tmp_path):
    options = acme_options(tmp_path)
    with pytest.raises(AuditInterrupted) as caught:
        run_audit(options["db"], options=options, view=VIEW, progress=_interrupting(), out=io.StringIO())
    db = options["db"]
    assert caught.value.exit_code == 130
    assert caught.value.message == (f"interrupted; pages crawled so far are kept in crawl #1 (funnelcheck resume --db "
                                    f"{db} 1 to continue it, funnelcheck report --db {db} --crawl 1 to report it)")
    assert caught.value.facts["status"] == "interrupted"
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT status FROM crawls WHERE id = 1").fetchone()[0] == "interrupted"
    # --workers is how a crawl runs, not what it is: two workers continue the same crawl, unsaid
    again = acme_options(tmp_path, workers=2)
    resumed = run_audit(db, options=again, resume=True, fmt="json", view=VIEW, out=io.StringIO(), workers=2)
    assert (resumed.crawl_id, resumed.facts["status"], resumed.exit_code, resumed.warnings) == (1, "complete", 1, [])


def test_an_interrupted_audit_with_workers_says_how_to_resume_it_with_them(tmp_path):
    options = acme_options(tmp_path, workers=2)
    with pytest.raises(AuditInterrupted) as caught:
        run_audit(options["db"], options=options, view=VIEW, progress=_interrupting(), out=io.StringIO(), workers=2)
    assert "(funnelcheck resume --db " + str(options["db"]) + " 1 --workers 2 to continue it," in caught.value.message


def test_workers_and_redis_that_do_not_go_together_are_an_audit_error(tmp_path):
    options = acme_options(tmp_path)
    with pytest.raises(AuditError) as caught:
        run_audit(options["db"], options=options, view=VIEW, workers=0)
    assert caught.value.message == "--workers 0 only coordinates: give --redis URL (or $FUNNELCHECK_REDIS_URL) where workers join"
    assert not (tmp_path / "c.sqlite").exists()
