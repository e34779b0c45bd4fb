"""The browser that renders pages (see :mod:`crawler.render` for which): scrapy-playwright's
download handler on the system's Chromium, with everything the browser fetches fetched by
Scrapy through the SSRF guard, and the driver and browser bound to the crawl process.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from functools import partial
from urllib.parse import urlsplit

from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from crawler.render import FETCHED_TYPES, HEAP_MIB, MAX_SUBREQUESTS, QUIET, SETTLE_MAX

logger = logging.getLogger(__name__)

_WRAPPER = """#!{python} -S
# funnelcheck: run {real} so that it dies with the process that started it (even on kill -9).
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if {parent} and os.getppid() != {parent}:
    sys.exit(1)  # that process died before the line above: nothing to run for
os.execv({real!r}, [{real!r}] + sys.argv[1:])
"""


def exec_wrapper(folder: str, name: str, real: str, parent: int = 0) -> str:
    """Write an executable in ``folder`` that runs ``real`` (with its arguments) after asking
    Linux to kill it when its parent dies (PR_SET_PDEATHSIG): the Playwright driver dies with
    the crawl process (``parent``: its pid), Chromium with the driver. Returns its path.

    >>> import tempfile, subprocess
    >>> path = exec_wrapper(tempfile.mkdtemp(), "echo", "/bin/echo", os.getpid())
    >>> subprocess.run([path, "hi"], capture_output=True, text=True).stdout
    'hi\\n'
    """
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(_WRAPPER.format(python=sys.executable, real=real, parent=int(parent)))
    os.chmod(path, 0o700)
    return path


class RenderHandler(ScrapyPlaywrightDownloadHandler):
    """scrapy-playwright's download handler, with every request of the browser fetched by Scrapy
    (through the SSRF guard) and the driver and browser bound to the crawl process.

    A request without ``meta["playwright"]`` is Scrapy's plain HTTP download, as without it.
    (TLS is verified by Scrapy's client as for any request, so Chromium is told to ignore it.)
    """

    def __init__(self, crawler) -> None:
        from playwright._impl._driver import compute_driver_executable

        super().__init__(crawler)
        settings = crawler.settings
        self._own_folder = None if settings.get("JOBDIR") else _private_folder()  # (a worker has no JOBDIR)
        folder = settings.get("JOBDIR") or self._own_folder
        os.makedirs(folder, exist_ok=True)
        node = os.environ.get("FUNNEL_REAL_NODEJS") or compute_driver_executable()[0]
        os.environ["FUNNEL_REAL_NODEJS"] = node
        os.environ["PLAYWRIGHT_NODEJS_PATH"] = exec_wrapper(folder, "node", node, os.getpid())
        chromium = self.config.launch_options["executable_path"]
        self.config.launch_options = {**self.config.launch_options,
                                      "executable_path": exec_wrapper(folder, "chromium", chromium)}
        self.crawler = crawler
        self.maxsize = settings.getint("DOWNLOAD_MAXSIZE")
        self.timeout = settings.getfloat("DOWNLOAD_TIMEOUT")
        self.user_agent = settings.get("USER_AGENT")

    @classmethod
    def from_crawler(cls, crawler):
        """One handler (one driver, one browser) for http and https alike."""
        handler = getattr(crawler, "_funnel_render_handler", None)
        if handler is None:
            handler = crawler._funnel_render_handler = cls(crawler)
        return handler

    async def _launch(self) -> None:
        """Nothing when the crawl starts: the Playwright driver (~125 MiB of Node.js, a second
        of start-up) is started by the first page rendered (:meth:`_launched`), so a crawl that
        renders nothing (a static site with ``--render auto``) never starts it."""

    async def _launched(self) -> None:
        lock = self.__dict__.setdefault("_launch_lock", asyncio.Lock())
        async with lock:
            if getattr(self, "browser_provider", None) is None:
                try:
                    await super()._launch()
                except BaseException:
                    self.browser_provider = None  # (set before it started): the next page tries again
                    raise

    async def close(self) -> None:
        if getattr(self, "_closing", False):  # (closed once, though installed for two schemes)
            return
        self._closing = True
        try:
            await super().close()
        finally:
            if self._own_folder:
                import shutil

                shutil.rmtree(self._own_folder, ignore_errors=True)

    def _make_request_handler(self, context_name, method, url, headers, body, encoding, spider,
                              initial_request_done):
        budget = {"left": MAX_SUBREQUESTS}

        async def handle(route, request) -> None:
            await self.route(route, request, url, budget)

        return handle

    async def route(self, route, request, page_url: str, budget: dict) -> None:
        """Fetch what the browser asks for with Scrapy (the guard, --remap, --max-size) and give
        it the answer; refuse what a page's links do not need, and anything the guard refuses."""
        from playwright.async_api import Error as PlaywrightError

        kind, method, url = request.resource_type, request.method.upper(), request.url
        same_site = _origin(url) == _origin(page_url)
        try:
            main = request.is_navigation_request() and request.frame.parent_frame is None
        except PlaywrightError:  # a worker's request has no frame
            main = False
        allowed = (kind in FETCHED_TYPES and (kind != "document" or main)
                   and (method in ("GET", "HEAD") or (same_site and kind in ("xhr", "fetch")))
                   and urlsplit(url).scheme in ("http", "https") and budget["left"] > 0)
        self.stats.inc_value(f"funnelcheck/render/requests/{'fetched' if allowed else 'refused'}")
        if not allowed:
            await _quietly(route.abort("blockedbyclient"))
            return
        budget["left"] -= 1
        try:
            response = await self.fetch(url, method, await request.all_headers(), request.post_data_buffer)
        except Exception as exc:  # refused by the guard, unreachable, too large, timed out
            logger.info("the browser's request for %s failed: %s", url, exc)
            refused = _refused(fetched_url(self, url))
            self.stats.inc_value(f"funnelcheck/render/requests/{'guarded' if refused else 'failed'}")
            await _quietly(route.abort("blockedbyclient" if refused else "failed"))
            return
        headers = {}
        for name, values in response.headers.items():
            name = name.decode("latin-1").lower()
            if name in ("content-encoding", "content-length", "transfer-encoding", "set-cookie", "connection"):
                continue
            headers[name] = ", ".join(v.decode("latin-1") for v in values)
        try:
            await route.fulfill(status=response.status, headers=headers, body=response.body)
        except PlaywrightError as exc:  # the page was closed meanwhile
            logger.debug("could not give %s to the browser: %s", url, exc)

    async def fetch(self, url: str, method: str, headers: dict, body: bytes | None):
        """One request of the browser, by Scrapy's HTTP client: the reactor's guarded resolver,
        the crawl's --remap, --max-size and --timeout, the crawl's User-Agent."""
        from scrapy import Request
        from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler

        fetched = fetched_url(self, url)
        headers = {k: v for k, v in headers.items() if not k.startswith(":") and k.lower() not in
                   ("accept-encoding", "cookie", "host", "content-length", "connection")}
        headers["User-Agent"] = self.user_agent
        headers["Accept-Encoding"] = "identity"
        request = Request(fetched, method=method, headers=headers, body=body or b"",
                          meta={"download_maxsize": self.maxsize, "download_timeout": self.timeout})
        return await HTTP11DownloadHandler.download_request(self, request)

    async def _apply_page_methods(self, page, request, spider) -> None:
        """After the load event: wait (within --timeout) until the page's scripts are done (a page
        without a script is done)."""
        if not await settle(page, min(SETTLE_MAX, self.timeout)):
            raise RenderFailed("the page's scripts never stopped running: it did not load in time")
        if request.meta.get("_funnel_crashed"):
            raise RenderFailed(CRASHED)
        await super()._apply_page_methods(page, request, spider)

    async def _create_page(self, request, spider):
        page = await super()._create_page(request, spider)
        request.meta["_funnel_page"] = page
        page.on("crash", lambda *_: request.meta.__setitem__("_funnel_crashed", True))
        # the documents the page's own frame loads: the page, then any its script or meta refresh
        # sends the browser on to (a client-side redirect: crawler.spiders.funnel reads the page as served)
        page.on("request", partial(_navigation, request.meta.setdefault("_funnel_navigations", [])))
        page.on("request", partial(_started, request.meta, asyncio.get_running_loop()))  # (its time counts from here)
        try:
            await page.add_init_script(_TIMERS_JS % int(SETTLE_MAX * 1000))
        except Exception:  # noqa: BLE001 - closed meanwhile: the render fails below
            pass
        try:  # WebSockets go nowhere (the proxy refuses them anyway)
            await page.route_web_socket("**", lambda ws: None)
        except Exception:  # noqa: BLE001 - an older Playwright: the proxy refuses them
            pass
        return page

    async def _download_request(self, request, spider=None):
        """Render one page, within --timeout for its load and :data:`SETTLE_MAX` to settle: a
        page that takes longer (a script that never ends) is closed, its renderer with it, and
        fails alone; so does one whose renderer crashed (over its heap)."""
        if not request.meta.get("playwright"):
            return await super()._download_request(request, spider)
        await self._launched()
        settle = min(SETTLE_MAX, self.timeout)
        limit = self.timeout + settle + GRACE
        loop = asyncio.get_running_loop()
        entered = loop.time()
        task = asyncio.ensure_future(super()._download_request(request, spider))
        try:
            while True:
                # counted from when Chromium asked for the page (:func:`_started`), not from when
                # the request left the crawl's queue: opening a page (waiting for one of the
                # browser's pages to close, its driver busy) is not rendering it; bounded all the same
                started = request.meta.get("_funnel_started")
                left = (started + limit if started is not None else entered + 2 * limit) - loop.time()
                if left <= 0:
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
                    logger.info("%s: not rendered in %g s (%.1f s opening a page of the browser)", request.url,
                                limit, (started or loop.time()) - entered)
                    raise RenderFailed(f"the page did not finish rendering in {limit:g} s (--timeout {self.timeout:g} "
                                       f"s to load, {settle:g} s for its scripts, {GRACE:g} s to spare)")
                done, _ = await asyncio.wait({task}, timeout=left)
                if done:
                    response = task.result()
                    break
            logger.debug("%s: rendered in %.1f s (%.1f s opening a page of the browser)", request.url,
                         loop.time() - entered, (started or entered) - entered)
        except asyncio.CancelledError:
            task.cancel()
            raise
        except Exception as exc:
            if request.meta.get("_funnel_crashed"):
                raise RenderFailed(CRASHED) from exc
            raise
        finally:
            request.meta.pop("_funnel_started", None)
            page = request.meta.pop("_funnel_page", None)
            if page is not None and not page.is_closed():
                asyncio.ensure_future(_close(page))
        if request.meta.pop("_funnel_crashed", False):
            raise RenderFailed(CRASHED)
        return response


GRACE = 5.0  # seconds past --timeout and the settling that a render may take (opening, reading the DOM)
CRASHED = f"the page's scripts used more than {HEAP_MIB} MiB, or crashed its renderer"


class RenderFailed(Exception):
    """Rendering a page failed (it is read as served)."""


async def _close(page) -> None:
    """Close a page (a hung one too: its renderer is ended), without waiting more than a few seconds."""
    try:
        await asyncio.wait_for(page.close(run_before_unload=False), 5)
    except Exception:  # noqa: BLE001 - gone already, or its browser is
        pass


# Run in every page before its own scripts: note the timers it sets that fall due within the
# settle time (a link or a form a script adds 1.5 s after load), so settling waits for them; and
# open no other window (a page opening hundreds would take the browser's memory).
_TIMERS_JS = """(() => {
  window.open = function () { return null; };
  const st = window.setTimeout, ct = window.clearTimeout, due = new Set(), most = %d;
  let changed = Date.now();
  window.setTimeout = function (fn, ms, ...rest) {
    const id = st.call(window, function () { due.delete(id); changed = Date.now();
      return typeof fn === "function" ? fn.apply(this, arguments) : undefined; }, ms, ...rest);
    if ((Number(ms) || 0) <= most) due.add(id);
    return id;
  };
  window.clearTimeout = function (id) { due.delete(id); return ct.call(window, id); };
  new MutationObserver(() => { changed = Date.now(); })
    .observe(document, {subtree: true, childList: true, attributes: true});
  Object.defineProperty(window, "__funnelSettle", {value: (quiet, left) => new Promise(done => {
    const end = Date.now() + left;
    const poll = () => (Date.now() >= end || (!due.size && Date.now() - changed >= quiet)) ? done(due.size)
                                                                                          : st(poll, 50);
    poll();
  })});
})()"""
_SETTLE_JS = "([quiet, left]) => window.__funnelSettle ? window.__funnelSettle(quiet, left) : 0"


async def settle(page, seconds: float) -> bool:
    """Wait until the page has made no request for 0.5 s, has no timer of its own due and its DOM
    has not changed for :data:`QUIET` s, at most ``seconds`` in all: a link or a form a script adds
    seconds after load is there. False: the page did not answer (a script that never ends)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    try:
        await page.wait_for_load_state("networkidle", timeout=max(0.1, seconds) * 1000)
    except Exception:  # noqa: BLE001 - a page that never goes quiet: read it as it is now
        pass
    left = max(0.05, end - loop.time())
    try:  # (a page whose script hangs answers nothing: bounded here too)
        await asyncio.wait_for(page.evaluate(_SETTLE_JS, [int(QUIET * 1000), int(left * 1000)]), left + 1)
    except asyncio.TimeoutError:
        return False
    except Exception:  # noqa: BLE001 - navigated away or closed meanwhile
        pass
    return True


def _started(meta: dict, loop, request) -> None:
    """Note in ``meta`` when Chromium asked for the page's document: its rendering starts there."""
    if "_funnel_started" not in meta:
        meta["_funnel_started"] = loop.time()


def _navigation(documents: list, request) -> None:
    """Note ``request`` in ``documents`` when it loads a new document in the page's own frame (not
    a frame's, not the next hop of a redirect)."""
    try:
        if request.is_navigation_request() and request.frame.parent_frame is None and request.redirected_from is None:
            documents.append(request.url)
    except Exception:  # noqa: BLE001 - its frame is gone
        pass


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def fetched_url(handler, url: str) -> str:
    """Where the crawl fetches ``url`` from (its --remap)."""
    remapper = getattr(handler.crawler.spider, "remapper", None)
    return remapper.fetch_url(url) if remapper is not None else url


def _refused(url: str) -> bool:
    """Did the SSRF guard refuse the host of ``url``?"""
    from crawler.guard import blocked_address

    try:
        return blocked_address(urlsplit(url).hostname) is not None
    except ValueError:
        return False


async def _quietly(coro) -> None:
    from playwright.async_api import Error as PlaywrightError

    try:
        await coro
    except PlaywrightError:
        pass


def _private_folder() -> str:
    """A folder for the executables of :func:`exec_wrapper`, named as the crawl's queue folders
    are, so one left by a killed process is swept (:func:`crawler.run.sweep_queues`)."""
    import tempfile

    from crawler.run import QUEUE_PREFIX

    return tempfile.mkdtemp(prefix=f"{QUEUE_PREFIX}{os.getpid()}-")



__all__ = ["RenderHandler", "exec_wrapper", "settle"]
