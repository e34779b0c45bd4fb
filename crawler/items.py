"""What the spider hands the pipeline, one per fetched URL.

A plain dict keeps the hot path cheap; this module documents its shape::

    {"page": {column: value, ...},          # see crawler.store.PAGE_COLUMNS
     "links": [tuple, ...],                 # rows in crawler.store.LINK_COLUMNS order
     "discovered": [(url, fetch_json), ...]}  # frontier entries this page queued
"""
from crawler.store import LINK_COLUMNS, PAGE_COLUMNS

__all__ = ["PAGE_COLUMNS", "LINK_COLUMNS"]
