"""The SSRF guard: from a public target, never connect to the user's own network.

Checked where it cannot be got round: in the host name resolver the reactor connects with, on
the very addresses a connection is then made to (after DNS, so a name that resolves to a
private address, or rebinds to one between two lookups, is refused like a literal one). Every
request goes through it: links, redirect hops, robots.txt, sitemaps, assets. Installed with
Scrapy's ``TWISTED_DNS_RESOLVER`` setting; the policy comes from the crawl's settings:

``FUNNEL_TARGET_HOSTS``
    the hosts of the crawl's URL targets: whatever they resolve to is allowed, every port, so an
    intranet or local audit works.
``FUNNEL_TARGET_ENDPOINTS``
    ``host:port`` of what the crawl was pointed at besides: a directory target's local server,
    the destinations of ``--remap`` rules, the ``--site``/``--blog``/``--social`` prefixes
    (that port only: a built site's pages cannot reach the rest of the machine).
``FUNNEL_ALLOW_PRIVATE``
    more networks the user allows (``--allow-private CIDR``).

The resolver remembers a host it refused (:func:`blocked_address` asks the reactor's resolver),
so the failed request is reported as ``skipped (private address)``, not as a DNS failure.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass, field

from twisted.internet.interfaces import IHostnameResolver, IResolutionReceiver
from zope.interface import implementer, provider

logger = logging.getLogger(__name__)

# Hosts remembered as refused, at most (a crawl meets a few hundred hosts; a hostile page
# cannot grow the memory past this).
_MAX_BLOCKED = 10000


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet (not loopback, private, link-local,
    unique-local, metadata, shared, reserved, multicast ...).

    >>> [is_public(a) for a in ("93.184.215.14", "127.0.0.2", "10.1.2.3", "169.254.169.254", "::1")]
    [True, False, False, False, False]
    >>> [is_public(a) for a in ("fd00::1", "fe80::1%eth0", "::ffff:192.168.0.1", "100.64.0.1", "0.0.0.0")]
    [False, False, False, False, False]
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _address(text: str):
    """An address, IPv4-mapped IPv6 ones as the IPv4 address they are (``::ffff:127.0.0.2``)."""
    ip = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@dataclass
class AddressPolicy:
    """Which non-public addresses a crawl may connect to: every port of a target's own address
    (``addresses``), one port of an endpoint the crawl was pointed at (``endpoints``: a
    directory target's local server, a ``--remap`` destination, a ``--site``/``--blog``/
    ``--social`` prefix), and the networks of ``--allow-private``.

    >>> p = AddressPolicy.build(["127.0.0.1"], ["10.0.0.0/8"], ["127.0.0.3:8000"])
    >>> p.allows("127.0.0.1", 9), p.allows("127.0.0.2", 80), p.allows("10.9.9.9", 80), p.allows("93.184.215.14", 80)
    (True, False, True, True)
    >>> p.allows("127.0.0.3", 8000), p.allows("127.0.0.3", 8001), p.allows("::ffff:127.0.0.1", 5)
    (True, False, True)
    """
    addresses: set = field(default_factory=set)
    networks: tuple = ()
    endpoints: set = field(default_factory=set)   # (address, port)

    @classmethod
    def build(cls, target_hosts=(), allow_private=(), endpoints=()) -> "AddressPolicy":
        addresses = set()
        for host in target_hosts:
            addresses.update(_resolve(host))
        allowed_endpoints = set()
        for endpoint in endpoints:
            host, _, port = endpoint.rpartition(":")
            allowed_endpoints.update((ip, int(port)) for ip in _resolve(host))
        networks = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in allow_private)
        return cls(addresses, networks, allowed_endpoints)

    def allows(self, address: str, port: int | None = None) -> bool:
        if is_public(address):
            return True
        ip = _address(address)
        return (ip in self.addresses or (ip, port) in self.endpoints
                or any(ip in net for net in self.networks if ip.version == net.version))


def _resolve(host: str) -> set:
    """The addresses of a target host, now (a literal address is itself)."""
    host = host.strip("[]")
    try:
        return {_address(host)}
    except ValueError:
        pass
    try:
        return {_address(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError) as exc:
        logger.info("target host %s does not resolve now: %s", host, exc)
        return set()


def blocked_address(host: str | None) -> str | None:
    """The private address the reactor's :class:`GuardedResolver` refused ``host`` at, if it did."""
    from twisted.internet import reactor

    blocked = getattr(reactor.nameResolver, "blocked", None)
    return blocked.get((host or "").lower().strip("[]")) if blocked is not None else None


@provider(IResolutionReceiver)
class _Filtering:
    """Passes on the addresses the policy allows; remembers a host whose every address it refused."""

    def __init__(self, receiver, host: str, policy: AddressPolicy, blocked: dict):
        self.receiver, self.host, self.policy, self.blocked = receiver, host, policy, blocked
        self.passed, self.refused = 0, None

    def resolutionBegan(self, resolution) -> None:
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address) -> None:
        if self.policy.allows(address.host, getattr(address, "port", None)):
            self.passed += 1
            self.receiver.addressResolved(address)
        elif self.refused is None:
            self.refused = address.host

    def resolutionComplete(self) -> None:
        if not self.passed and self.refused is not None:
            logger.warning("not connecting to %s: it resolves to the private address %s", self.host, self.refused)
            if len(self.blocked) < _MAX_BLOCKED:
                self.blocked.setdefault(self.host.lower(), self.refused)
        self.receiver.resolutionComplete()


@implementer(IHostnameResolver)
class GuardedResolver:
    """The reactor's own resolver (IPv4 and IPv6, getaddrinfo) behind the address policy."""

    def __init__(self, reactor, policy: AddressPolicy):
        self.reactor = reactor
        self.original = reactor.nameResolver
        self.policy = policy
        self.blocked: dict[str, str] = {}  # host name -> the first non-public address it resolved to

    @classmethod
    def from_crawler(cls, crawler, reactor) -> "GuardedResolver":
        settings = crawler.settings
        policy = AddressPolicy.build(settings.getlist("FUNNEL_TARGET_HOSTS"), settings.getlist("FUNNEL_ALLOW_PRIVATE"),
                                     settings.getlist("FUNNEL_TARGET_ENDPOINTS"))
        return cls(reactor, policy)

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    def resolveHostName(self, resolutionReceiver, hostName, portNumber=0, addressTypes=None,
                        transportSemantics="TCP"):
        return self.original.resolveHostName(_Filtering(resolutionReceiver, hostName, self.policy, self.blocked),
                                             hostName, portNumber, addressTypes, transportSemantics)


__all__ = ["AddressPolicy", "GuardedResolver", "blocked_address", "is_public"]
