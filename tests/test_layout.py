"""The layout the project keeps: imports go one way, cli -> analysis -> crawler."""
from __future__ import annotations

import ast

from conftest import ROOT


def _imports(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add((str(path.relative_to(ROOT)), node.module))
            elif isinstance(node, ast.Import):
                found.update((str(path.relative_to(ROOT)), alias.name) for alias in node.names)
    return found


def test_crawler_never_imports_analysis():
    assert {(p, m) for p, m in _imports("crawler") if m.split(".")[0] in ("analysis", "cli")} == set()


def test_analysis_never_imports_the_cli():
    assert {(p, m) for p, m in _imports("analysis") if m.split(".")[0] == "cli"} == set()


def test_the_spider_never_opens_the_store():
    """Crawl state lives in Scrapy's components (dupefilter, extension); the item pipeline is the
    only writer of the store: the spider imports no store and filters nothing by hand."""
    text = (ROOT / "crawler" / "spiders" / "funnel.py").read_text()
    assert "Store" not in text
    assert "dont_filter=True" not in text  # a re-ask says why: request(..., again=True)


def test_crawl_components_are_installed_by_settings():
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings")
    assert settings["DUPEFILTER_CLASS"] == "crawler.dupefilter.KeyDupeFilter"
    assert "crawler.extensions.CrawlLimits" in settings.getdict("EXTENSIONS")
    assert settings.getdict("ITEM_PIPELINES") == {"crawler.pipelines.StorePipeline": 100}
    assert settings["DOWNLOADER"] == "crawler.downloader.Downloader"


def test_every_package_and_data_file_is_installed():
    """`pip install .` (the README's first command) must ship every package the code imports:
    setup.cfg once listed its packages by hand and left out analysis.rules, so the installed
    `funnelcheck audit` died on an ImportError while every test, run from the checkout, passed."""
    import configparser

    from setuptools import find_packages

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    include = [name.strip() for name in config["options.packages.find"]["include"].split(",")]
    shipped = set(find_packages(str(ROOT), include=include))
    on_disk = {str(p.parent.relative_to(ROOT)).replace("/", ".")
               for top in ("crawler", "analysis") for p in (ROOT / top).rglob("*.py")
               if "__pycache__" not in p.parts}
    assert config["options"]["packages"].strip() == "find:"
    assert on_disk - shipped == set()
