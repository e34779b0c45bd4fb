"""Report formats: one module per format, each with ``write(audit, out)``."""
from analysis.formats import json as json_format
from analysis.formats import terminal

WRITERS = {"terminal": terminal.write, "json": json_format.write}
