"""PDF report: the HTML report (:mod:`analysis.formats.html`) printed to A4 by the system's
headless Chromium.

Chromium is looked for on ``PATH`` (:data:`BROWSERS`); it runs with a fresh profile in a
temporary folder, no network of its own (no sync, no component updates, every host name
unresolvable: the report loads nothing anyway) and no header or footer of its own. A PDF is
binary, so it is written to a file only (``-o FILE``): :func:`check` says so, and that a
browser is missing, before anything is crawled.
"""
from __future__ import annotations

import io
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from analysis.formats import html

logger = logging.getLogger(__name__)

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--no-pdf-header-footer", "--print-to-pdf-no-header")
TIMEOUT = 300  # seconds Chromium may take to print (a 100,000-page site's report prints in seconds)


class PdfError(OSError):
    """The PDF could not be made; ``strerror`` says why in one line."""


def browser() -> str | None:
    """The path of the headless browser that prints the PDF, None if none is installed."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def check(output: str | None) -> str | None:
    """Why ``--format pdf`` cannot be written to ``output`` (one line), or None when it can.

    >>> check(None)
    '--format pdf writes a binary file: give -o FILE (e.g. -o report.pdf)'
    """
    if not output:
        return "--format pdf writes a binary file: give -o FILE (e.g. -o report.pdf)"
    if browser() is None:
        return ("--format pdf needs Chromium to print the report, and none is installed (no chromium on PATH): "
                "install it (apt-get install chromium) or write --format html and print that")
    return None


def print_pdf(page: Path, pdf: Path, timeout: float = TIMEOUT) -> None:
    """Print the HTML file ``page`` to ``pdf`` with headless Chromium; :class:`PdfError` if it cannot."""
    exe = browser()
    if exe is None:
        raise PdfError(0, check("-"))
    with tempfile.TemporaryDirectory(prefix="funnelcheck-chromium-") as profile:
        command = [exe, *FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={pdf}", page.as_uri()]
        logger.debug("printing the PDF: %s", " ".join(command))
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise PdfError(0, f"Chromium did not print the report within {timeout:.0f} s") from None
        except OSError as exc:
            raise PdfError(0, f"cannot run {exe}: {exc.strerror}") from None
    if run.returncode != 0 or not pdf.exists() or pdf.stat().st_size == 0:
        last = next((line for line in reversed(run.stderr.splitlines()) if line.strip()), "no message")
        raise PdfError(0, f"Chromium could not print the report (exit {run.returncode}): {last.strip()[:300]}")


def write(audit, out) -> None:
    """Write ``audit`` as a PDF to ``out``: a file opened for writing (text or binary; the PDF's
    bytes go to its binary buffer). Standard output is refused (:class:`PdfError`)."""
    if out in (sys.stdout, sys.__stdout__) or getattr(out, "name", None) == "<stdout>":
        raise PdfError(0, check(None))
    binary = getattr(out, "buffer", out)
    if isinstance(binary, io.TextIOBase):
        raise PdfError(0, "a PDF is binary: it cannot be written to a text buffer")
    with tempfile.TemporaryDirectory(prefix="funnelcheck-pdf-") as folder:
        page, pdf = Path(folder) / "report.html", Path(folder) / "report.pdf"
        page.write_text(html.render(audit), encoding="utf-8")
        print_pdf(page, pdf)
        data = pdf.read_bytes()
    if binary is not out:
        out.flush()
    binary.write(data)
    binary.flush()
