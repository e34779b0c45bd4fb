"""JUnit XML, for CI test reports (GitLab ``artifacts:reports:junit``, Jenkins ``junit``,
Azure Pipelines, CircleCI, the GitHub test-reporter actions).

``<testsuites name="funnelcheck">`` holds one ``<testsuite>`` per rule of
:data:`analysis.rules.RULES`, so a CI's test view lists each check:

- a rule with findings has one ``<testcase>`` per finding shown (``classname``
  ``funnelcheck.RULE``, ``name`` the target, its region and the finding's stable id, so a
  CI tracks the same finding from run to run);
- a rule that found nothing in the crawl has one passing test case, ``no findings``
  (GitLab and Jenkins list test cases, not suites: an empty suite would not show that
  the check ran and passed);
- a rule whose findings were all left out by ``--severity`` / ``--rule`` has no suite
  (it did not pass; it was not asked for).

Failure policy (:data:`FAILING`): a high or medium finding is a ``<failure>`` (its
``message``, ``type`` the severity, and as text the message, the first pages and the
fix); a low or info finding is a passing test case with the same text in
``<system-out>``: it is listed without failing the test run (Jenkins marks a build with
any failed test unstable, GitLab shows the count in the merge request). The exit code
still follows ``--fail-on``. ``tests``, ``failures``, ``errors`` (0), ``skipped`` (0)
and ``time`` (0: the checks are not timed) are counted on every suite and the root.

Written with :mod:`xml.etree.ElementTree` (text and attributes escaped); characters XML
1.0 cannot hold are written as escapes (:func:`analysis.formats.graphml.xml_safe`).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TextIO

from analysis.findings import at_or_above
from analysis.formats.graphml import xml_safe
from analysis.formats.sarif import first_locations, fix_of
from analysis.rules import RULES

FAILING = "medium"  # findings at or above this severity are failures
PAGES = 10


def _text(f) -> str:
    first = first_locations(f, PAGES)
    lines = [f.message]
    if first:
        more = f.count - len(first)
        lines.append("on " + ", ".join(f"{url}:{line}" if line else url for url, line in first)
                     + (f", … and {more} more" if more > 0 else ""))
    fix = fix_of(f)
    if fix:
        lines.append(f"fix: {fix}")
    return xml_safe("\n".join(lines))


def _case(suite: ET.Element, rule_id: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=f"funnelcheck.{rule_id}", name=xml_safe(name), time="0")


def junit_tree(audit) -> ET.ElementTree:
    """``audit``'s findings as a JUnit XML tree."""
    by_rule: dict[str, list] = {}
    for f in audit.findings:
        by_rule.setdefault(f.rule, []).append(f)
    found = (audit.summary or {}).get("findings_by_rule") or {}
    root = ET.Element("testsuites", name="funnelcheck")
    totals = {"tests": 0, "failures": 0}
    for rule_id in list(RULES) + sorted(set(by_rule) - set(RULES)):
        shown = by_rule.get(rule_id, [])
        if not shown and found.get(rule_id):
            continue  # its findings were filtered out of this report
        suite = ET.SubElement(root, "testsuite", name=rule_id)
        failures = 0
        for f in shown:
            region = f" ({f.region})" if f.region else ""
            case = _case(suite, rule_id, f"{f.target}{region} [{f.id}]")
            if at_or_above(f.severity, FAILING):
                failure = ET.SubElement(case, "failure", message=xml_safe(f.message), type=f.severity)
                failure.text = _text(f)
                failures += 1
            else:
                ET.SubElement(case, "system-out").text = f"[{f.severity}] " + _text(f)
        if not shown:
            _case(suite, rule_id, "no findings")
        tests = max(len(shown), 1)
        suite.attrib.update(tests=str(tests), failures=str(failures), errors="0", skipped="0", time="0")
        totals["tests"] += tests
        totals["failures"] += failures
    root.attrib.update(tests=str(totals["tests"]), failures=str(totals["failures"]), errors="0", skipped="0",
                       time="0")
    ET.indent(root)
    return ET.ElementTree(root)


def write(audit, out: TextIO) -> None:
    """Write ``audit``'s findings to ``out`` as JUnit XML."""
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')  # (ElementTree would name the locale's encoding)
    junit_tree(audit).write(out, encoding="unicode")
    out.write("\n")
