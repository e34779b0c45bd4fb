"""Report formats: one module per format, each with ``write(audit, out)``.

:data:`WRITERS` is the one registry: the CLI's ``--format`` choices and the check of a
``format`` in ``funnel.toml`` both come from it (``crawler/`` is handed the names, it
never imports ``analysis/``). ``pdf`` is the ``html`` report printed by headless Chromium,
to a file only. A format renders ``audit.findings`` as given (the CLI has
already applied ``--severity`` / ``--rule``); ``audit.summary`` counts them all.
"""
from analysis.formats import csv as csv_format
from analysis.formats import csv_links, gexf, graphml, html, junit, markdown, pdf, sarif, terminal
from analysis.formats import json as json_format

WRITERS = {
    "terminal": terminal.write,
    "json": json_format.write,
    "html": html.write,
    "pdf": pdf.write,
    "markdown": markdown.write,
    "csv": csv_format.write,
    "csv-links": csv_links.write,
    "graphml": graphml.write,
    "gexf": gexf.write,
    "sarif": sarif.write,
    "junit": junit.write,
}
