"""Scrapy settings for an audit: polite by default, fast on one host, quiet.

``crawler.run`` overrides a few from the crawl's stored options (timeout,
per-host concurrency, robots, user agent); ``scrapy crawl funnel`` from the
project root uses these as they are.
"""

from scrapy.settings import default_settings as _scrapy_defaults

BOT_NAME = "funnelcheck"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

USER_AGENT = "funnelcheck/0.1 (+https://github.com/funnelcheck/funnelcheck; link and funnel audit)"
ROBOTSTXT_OBEY = True

CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 16
CONCURRENT_ITEMS = 4            # one item per response: more only spawns idle tasks
DOWNLOAD_DELAY = 0
DOWNLOAD_TIMEOUT = 20
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024     # bytes read of a response, after decompression (--max-size)
DOWNLOAD_WARNSIZE = 0
COOKIES_ENABLED = False
DOWNLOAD_VERIFY_CERTIFICATES = True   # --insecure turns it off
TELNETCONSOLE_ENABLED = False
# Scrapy 2.19's remote control: an HTTP server on 127.0.0.1 that runs Python for a token, and job
# files left in ~/.local/state/scrapy after a kill. Not in an unattended crawl.
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = "WARNING"
# (the per-page "Crawled" and "Scraped" DEBUG lines are made only when LOG_LEVEL shows them)
LOG_FORMATTER = "crawler.lean.QuietLogFormatter"
STATS_CLASS = "crawler.lean.StatsCollector"   # Scrapy's counters, without its deprecation wrapper on every call
# the downloader's request and response byte counts (a raw copy of each request is built to count
# it): shown only in the stats a verbose crawl logs (crawler.run turns them on with -v)
DOWNLOADER_STATS = False
# Scrapy parses a callback's source (inspect + ast) to warn of a generator's `return value`; its
# cache is weakly keyed by bound methods that die with each request: ~11-15% of a crawl's CPU.
# funnelcheck's callbacks return none.
WARN_ON_GENERATOR_RETURN_VALUE = False

# funnelcheck follows the redirects of links itself, hop by hop, so each hop is a stored fact
# (its requests carry dont_redirect); Scrapy follows those of robots.txt and sitemaps.
REDIRECT_ENABLED = True
REDIRECT_MAX_TIMES = 5
METAREFRESH_ENABLED = False
RETRY_ENABLED = True
RETRY_TIMES = 1
RETRY_HTTP_CODES = []          # HTTP answers are verdicts; only network failures are retried

# Breadth-first, so --depth and --max-pages cut the crawl where a user expects.
DEPTH_PRIORITY = 1
SCHEDULER_DISK_QUEUE = "crawler.queues.PickleFifoDiskQueue"  # Scrapy's, without its inspect.getmembers per request
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"
SCHEDULER_PRIORITY_QUEUE = "crawler.queues.HostPriorityQueue"  # per host, on disk (JOBDIR), any host name

# Only http and https are ever fetched (a redirect to file:// or ftp:// is not followed).
DOWNLOAD_HANDLERS = {"file": None, "data": None, "s3": None, "ftp": None}
# The SSRF guard: the reactor connects only to addresses the crawl may reach (crawler.guard).
TWISTED_DNS_RESOLVER = "crawler.guard.GuardedResolver"
FUNNEL_TARGET_HOSTS = []        # set by crawler.run: the hosts of URL targets (every port allowed)
FUNNEL_TARGET_ENDPOINTS = []    # ... host:port of directory mounts, --remap destinations, scope prefixes
FUNNEL_ALLOW_PRIVATE = []       # --allow-private CIDR

DOWNLOADER = "crawler.downloader.Downloader"  # holds CONCURRENT_REQUESTS_PER_DOMAIN (see there)
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.middlewares.DeadHostMiddleware": 590,  # next to the download: sees every attempt
    "crawler.middlewares.AddressGuardMiddleware": 595,  # only http(s), no private address (crawler.guard)
    "crawler.middlewares.CacheMiddleware": 50,     # before robots.txt: a cached answer asks no one
    "crawler.middlewares.ApiBudgetMiddleware": 60,  # a profile API's hourly budget, spent carefully
    "crawler.middlewares.RobotsMiddleware": 100,
    "crawler.middlewares.RetryAfterMiddleware": 560,
    "crawler.middlewares.TimeBudgetMiddleware": 580,  # --timeout for a request in all, retries included
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
}
SPIDER_MIDDLEWARES = {
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
}
ITEM_PIPELINES = {"crawler.pipelines.StorePipeline": 100}   # the only writer of the store
DUPEFILTER_CLASS = "crawler.dupefilter.KeyDupeFilter"      # one URL key, one decision (swappable)
EXTENSIONS = {"scrapy.extensions.telnet.TelnetConsole": None, "scrapy.extensions.logstats.LogStats": None,
              "scrapy.extensions.spiderstate.SpiderState": None,   # JOBDIR is only a disk queue here
              "crawler.extensions.CrawlLimits": 500}
# Scrapy's own extensions but its remote control (off anyway: REMOTE_CONTROL_ENABLED), which is then
# never imported: its module loads aiohttp's server and an SSL context, ~0.1-0.2 s of every crawl
# process's start. (Scrapy imports every extension it is given, even one set to None in EXTENSIONS.)
EXTENSIONS_BASE = {k: v for k, v in _scrapy_defaults.EXTENSIONS_BASE.items() if not k.endswith(".RemoteControl")}   # --max-pages, --depth, traps; --max-time is CloseSpider

FUNNEL_RATE_LIMIT_RETRIES = 2   # 429 / 503 + Retry-After: wait and retry this many times
FUNNEL_MAX_RETRY_WAIT = 10.0    # never wait longer than this for one Retry-After

FUNNEL_MAX_URL_LENGTH = 2048      # longer URLs are not fetched (skipped, "URL too long")
FUNNEL_MAX_REDIRECTS = 10         # hops followed per chain, owned or external
FUNNEL_MAX_LINKS_PER_PAGE = 10000  # links read per page (the page's reason says when it was hit)
FUNNEL_MAX_HEADER_BYTES = 65536   # status line and headers of one response (crawler.downloader)
# Crawler traps (crawler.extensions.CrawlLimits): past FUNNEL_MAX_VARIANTS owned pages of one URL
# pattern (numbers, query names, a repeating path), a pattern is cut when it is a trap by its
# shape (a repeating path, a session id), when its deepest pages are more than FUNNEL_TRAP_LEVELS
# links below the last one the rest of the site led to or that led to a new page (a calendar's
# "next" for ever), or past the safety cap (a path pattern, a query pattern).
FUNNEL_MAX_VARIANTS = 500
FUNNEL_TRAP_LEVELS = 30
FUNNEL_MAX_VARIANTS_WIDE = 1_000_000
FUNNEL_MAX_VARIANTS_WIDE_QUERY = 100_000

# Where the crawl store is and which crawl row to fill (set by crawler.run).
FUNNEL_DB = None
FUNNEL_CRAWL_ID = None
FUNNEL_CRAWL = {}          # the crawl row (targets, options, origins, state), set by crawler.run
FUNNEL_MAX_PAGES = 0
FUNNEL_DEPTH = None
FUNNEL_RESUME = False
