"""Which URL is what (issue 19 items 4, 8, 9, 10; issue 20 item 8): the company's other hosts,
platforms as data, one account one check, conversion evidence, one page per path.

Each class has its own fixture in ``tests/sites/classify/`` and is audited as a user would (the
real CLI, a directory target, local servers standing in for the other hosts through
``--remap``); the tests assert what the user sees: findings, pages and their conversion, and
the requests made.
"""
from __future__ import annotations

import pytest

from conftest import SITES, Route, audit_json, findings_set

CL = SITES / "classify"
PAGE = "<!doctype html><title>{0}</title><body><p>{0}</p></body>"


def pages_of(report) -> dict[str, dict]:
    return {p["url"]: p for p in report["pages"]}


# -- 1. the company's other hosts --------------------------------------------------------------
@pytest.fixture(scope="module")
def apphosts(module_site_server, tmp_path_factory):
    app = module_site_server(routes={
        "/app/": Route(200, body=PAGE.format("Log in")),
        "/app/sign-up": Route(200, body=PAGE.format("Sign up")),
        "/portal/": Route(200, body=PAGE.format("Portal")),
        "/docs/": Route(200, body=PAGE.format("Docs")),
        "/my/billing/checkout": Route(200, body=PAGE.format("Checkout")),
        "*": Route(404, body=PAGE.format("Not found")),
    })
    tmp = tmp_path_factory.mktemp("apphosts")
    result, report = audit_json(tmp, CL / "apphosts", "--base-url", "https://acme.test/", "--no-check-external",
                                "--remap", rf"^https?://(app|portal|docs|my)\.acme\.test/(.*) {app.url}/\1/\2")
    return result, report, app


def test_the_company_s_other_hosts_are_checked_once_and_never_crawled(apphosts):
    result, report, app = apphosts
    A = "https://acme.test/"
    assert result.exit_code == 1, result.stderr
    pages = pages_of(report)
    # checked (with --no-check-external: they are the company's), each once, HEAD first; never read
    # as site pages; a sign-up route in the fragment is a page of its own
    assert {u: (p["tier"], p["role"], p["status"], p["conversion"]) for u, p in pages.items()
            if p["tier"] == "app"} == {
        "https://app.acme.test/": ("app", "external", 200, None),
        "https://app.acme.test/sign-up": ("app", "external", 200, "lead"),
        "https://app.acme.test/trial/2019": ("app", "external", 404, "lead"),
        "https://portal.acme.test/": ("app", "external", 200, None),
        "https://portal.acme.test/#/signup": ("app", "external", 200, "lead"),
        "https://docs.acme.test/": ("app", "external", 200, None),
        "https://my.acme.test/billing/checkout": ("app", "external", 200, "purchase"),
    }
    asked = sorted(r for r in app.requests if not r[1].endswith("/robots.txt"))
    assert asked == sorted([
        ("HEAD", "/app/"), ("HEAD", "/app/sign-up"), ("HEAD", "/app/trial/2019"), ("GET", "/app/trial/2019"),
        ("HEAD", "/portal/"), ("HEAD", "/portal/?utm_campaign=toploginbutton&utm_source=Toploginbutton"),
        ("HEAD", "/docs/"), ("HEAD", "/my/billing/checkout")])
    assert "https://other.test/" not in pages  # another site: --no-check-external holds
    assert report["summary"]["pages_by_tier"] == {"site": 2}
    # no backward link, no "dead end": the offers are on the app host; its broken trial link is
    # the company's own (high)
    assert findings_set(report) == {
        ("broken-link", "high", "https://app.acme.test/trial/2019", None, (A + "about/",)),
    }
    assert sorted((l["target"], l["fragment"], l["tier"]) for l in report["links"] if "portal" in l["target"]) == [
        ("https://portal.acme.test/", "/signup?utm_source=website&utm_medium=refferal&utm_campaign=menucta", "app"),
        ("https://portal.acme.test/?utm_campaign=toploginbutton&utm_source=Toploginbutton", None, "app")]


def test_offers_on_the_app_host_count_in_the_funnel(apphosts):
    _, report, _ = apphosts
    entries = {e["url"]: e for e in report["metrics"]["entries"]}
    # the sign-up, the portal's sign-up route and checkout are offers (before: links to other sites,
    # no offer at all); log in and the docs are the company's too, no leak to another site
    home = entries["https://acme.test/"]
    assert home["conversion"] > 0.3 and home["social_leak"] == 0 and home["conversion_depth"] == 1
