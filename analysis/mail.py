"""Email a crawl diff: settings from ``funnel.toml``'s ``[email]``, a multipart message, SMTP.

The library knows nothing of diffs: the caller hands in the subject (a headline) and the two
bodies as strings. Three rules hold throughout:

* The password comes only from ``FUNNELCHECK_SMTP_PASSWORD`` (or the caller), never from a
  file; it is never logged, never in an error message, and smtplib's debug output stays off.
* TLS is verified (the system's CA store, or ``cafile``; the hostname checked). ``starttls``
  fails when the server does not offer STARTTLS: it never falls back to plain text.
* Crawled text never reaches a header unsanitised: the subject loses every control and line
  break character and is length-capped; every address is parsed and checked before anything
  is sent.

Every problem is a :class:`MailError` (a ``ValueError``) whose message is one readable line.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import re
import smtplib
import socket
import ssl
import unicodedata
from dataclasses import dataclass
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import (
    format_datetime,
    formataddr,
    getaddresses,
    localtime,
    make_msgid,
    parseaddr,
)

logger = logging.getLogger(__name__)

PASSWORD_ENV = "FUNNELCHECK_SMTP_PASSWORD"
SECURITIES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_TIMEOUT = 30.0
MAX_SUBJECT = 200  # characters; a longer subject is cut and ends with "…"
KEYS = ("host", "port", "security", "username", "from", "timeout", "cafile")

# An addr-spec we are willing to put in a header and an envelope: a dot-atom local part
# (no quoted strings, no comments) and a host name or an IPv4 literal, ASCII only.
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^(?:{_LABEL}(?:\.{_LABEL})*\.?|\[\d{{1,3}}(?:\.\d{{1,3}}){{3}}\])$")
_HOST = re.compile(r"^[A-Za-z0-9._:\[\]-]+$")
# Unicode characters that must not reach a header: the bidirectional controls, zero-width
# characters and the byte order mark (besides every Cc, Zl and Zp character).
_INVISIBLE = {0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, *range(0x202A, 0x202F),
              *range(0x2066, 0x206A), 0xFEFF}


class MailError(ValueError):
    """A bad ``[email]`` setting or address, or a failed send: one readable line (exit code 2)."""


def _one_line(text, limit: int = 300) -> str:
    """``text`` on one line: control characters and line breaks become spaces, runs of
    spaces collapse, cut at ``limit`` characters (for server replies and user input in
    error messages).

    >>> _one_line("5.7.8 bad\\r\\n  credentials\\x00")
    '5.7.8 bad credentials'
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    out = []
    for ch in str(text):
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Zl", "Zp", "Zs") or ord(ch) in _INVISIBLE or cat == "Cs":
            out.append(" ")
        else:
            out.append(ch)
    text = " ".join("".join(out).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def clean_subject(subject, limit: int = MAX_SUBJECT) -> str:
    """A subject safe for a header: every control character, line break and invisible
    formatting character removed (a run of them, with the spaces around it, becomes one
    space), trimmed, at most ``limit`` characters; never empty.

    >>> clean_subject("acme.example: 2 new\\r\\nBcc: evil@example.com")
    'acme.example: 2 new Bcc: evil@example.com'
    >>> clean_subject("\\x1b]0;x\\x07 \\u202e3 broken")
    ']0;x 3 broken'
    >>> len(clean_subject("x" * 500))
    200
    >>> clean_subject("\\r\\n")
    'funnelcheck'
    """
    return _one_line("" if subject is None else subject, limit) or "funnelcheck"


def parse_address(text, what: str = "address") -> Address:
    """One email address (``a@b.example`` or ``Name <a@b.example>``) as an
    :class:`~email.headerregistry.Address`; :class:`MailError` if it is not exactly one
    plain, ASCII address. ``what`` names it in the error ("recipient", "[email] from").

    >>> parse_address("Audit Bot <audit@acme.example>")
    Address(display_name='Audit Bot', username='audit', domain='acme.example')
    >>> parse_address("a@x.example, b@y.example", "recipient")
    Traceback (most recent call last):
    ...
    analysis.mail.MailError: bad recipient 'a@x.example, b@y.example': one address expected, found 2
    """
    shown = repr(_one_line(text, 120)) if isinstance(text, str) else repr(text)

    def bad(reason: str):
        raise MailError(f"bad {what} {shown}: {reason}")

    if not isinstance(text, str):
        bad("not a string")
    if not text.strip():
        bad("empty")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ord(ch) in _INVISIBLE for ch in text):
        bad("it holds a control or line break character")
    if len(text) > 320:
        bad("too long")
    try:
        header = policy.default.header_factory("to", text)
        addresses = header.addresses
    except Exception:  # noqa: BLE001 - the header parser raises many things on garbage
        bad("not an email address")
    if len(addresses) != 1:
        bad(f"one address expected, found {len(addresses)}" if addresses else "not an email address")
    if header.defects:
        bad("not an email address")
    address = addresses[0]
    spec = address.addr_spec
    # Two parsers must agree (CVE-2023-27043 is parseaddr and the header parser disagreeing).
    if parseaddr(text)[1] != spec:
        bad("not an email address")
    local, at, domain = spec.rpartition("@")
    if not at or not local or not domain:
        bad("no user@domain in it")
    if not spec.isascii():
        bad("only ASCII addresses are supported (no SMTPUTF8)")
    if not _LOCAL.match(local):
        bad(f"bad user part {local!r}")
    if not _DOMAIN.match(domain) or len(domain) > 253:
        bad(f"bad domain {domain!r}")
    return Address(display_name=address.display_name, username=local, domain=domain)


def parse_addresses(values, what: str = "recipient") -> list[Address]:
    """Every address in ``values`` checked (:func:`parse_address`), duplicates dropped
    (case-insensitively), order kept; :class:`MailError` when there is none. The CLI calls
    this on ``--email-diff`` / ``--email`` before it crawls.

    >>> [str(a) for a in parse_addresses(["a@x.example", "A@X.example", "b@x.example"])]
    ['a@x.example', 'b@x.example']
    """
    if isinstance(values, str):
        values = [values]
    out, seen = [], set()
    for value in values or ():
        address = parse_address(str(value) if isinstance(value, Address) else value, what)
        key = address.addr_spec.lower()
        if key not in seen:
            seen.add(key)
            out.append(address)
    if not out:
        raise MailError(f"no {what} address given")
    return out


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, kw_only=True)
class EmailSettings:
    """How to reach the SMTP server (``[email]`` in ``funnel.toml``); checked when made.

    ``port`` defaults to 587 for ``starttls``, 465 for ``ssl``, 25 for ``none``. ``sender``
    is the ``from`` key. ``cafile`` is a CA bundle for a private mail server (default: the
    system's store). There is deliberately no password field.

    >>> EmailSettings(host="smtp.acme.example", sender="audit@acme.example").port
    587
    >>> EmailSettings(host="smtp.acme.example", sender="audit@acme.example", security="tls")
    Traceback (most recent call last):
    ...
    analysis.mail.MailError: [email] security must be one of starttls, ssl, none, got 'tls'
    """
    host: str
    port: int | None = None
    security: str = "starttls"
    username: str | None = None
    sender: str
    timeout: float = DEFAULT_TIMEOUT
    cafile: str | None = None

    def __post_init__(self):
        def bad(message: str):
            raise MailError(f"[email] {message}")

        if not isinstance(self.host, str) or not self.host.strip():
            bad("host must be the SMTP server's name, e.g. host = \"smtp.example.com\"")
        if "://" in self.host or not _HOST.match(self.host):
            bad(f"host must be a host name or an IP address, got {_one_line(self.host, 120)!r}")
        if self.security not in SECURITIES:
            bad(f"security must be one of {', '.join(SECURITIES)}, got {self.security!r}")
        port = DEFAULT_PORTS[self.security] if self.port is None else self.port
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            bad(f"port must be a whole number from 1 to 65535, got {port!r}")
        object.__setattr__(self, "port", port)
        if self.username is not None:
            if not isinstance(self.username, str) or not self.username:
                bad(f"username must be a non-empty string, got {self.username!r}")
            if self.username != self.username.strip() or any(
                    unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in self.username):
                bad("username must not hold control or line break characters or start or end with a space")
            if self.security == "none" and not _is_loopback(self.host):
                bad(f"username with security = \"none\" would send the password unencrypted to "
                    f"{self.host}: use security = \"starttls\" or \"ssl\"")
        if not isinstance(self.sender, str):
            bad(f"from must be an email address, got {self.sender!r}")
        try:
            parse_address(self.sender, "address")
        except MailError as exc:
            bad(f"from: {exc}")
        timeout = self.timeout
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= 3600:
            bad(f"timeout must be a number of seconds above 0 (at most 3600), got {timeout!r}")
        object.__setattr__(self, "timeout", float(timeout))
        if self.cafile is not None and (not isinstance(self.cafile, str) or not self.cafile):
            bad(f"cafile must be the path of a CA bundle (PEM), got {self.cafile!r}")

    @property
    def sender_address(self) -> Address:
        return parse_address(self.sender, "[email] from")

    @property
    def where(self) -> str:
        """``host:port`` as said in error messages."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"

    @classmethod
    def from_config(cls, table, *, base_dir: str | os.PathLike | None = None) -> EmailSettings:
        """The ``[email]`` table of ``funnel.toml`` (a dict) checked and made settings.

        Keys: ``host`` and ``from`` (required), ``port``, ``security``, ``username``,
        ``timeout`` (seconds), ``cafile`` (resolved against ``base_dir``, the directory of
        ``funnel.toml``, when relative; it must be a readable PEM bundle). A ``password``
        key is refused (the password comes only from ``FUNNELCHECK_SMTP_PASSWORD``), and so
        is any unknown key; values of refused keys are never repeated in the error.

        >>> EmailSettings.from_config({"host": "smtp.acme.example", "from": "a@acme.example", "security": "ssl"}).port
        465
        >>> EmailSettings.from_config({"host": "smtp.acme.example", "from": "a@acme.example", "password": "hunter2"})
        Traceback (most recent call last):
        ...
        analysis.mail.MailError: [email] password is not read from a file: remove it from funnel.toml and set the environment variable FUNNELCHECK_SMTP_PASSWORD instead
        """
        if not isinstance(table, dict):
            raise MailError("[email] must be a table (a section [email] in funnel.toml)")
        if "password" in table:
            raise MailError(f"[email] password is not read from a file: remove it from funnel.toml "
                            f"and set the environment variable {PASSWORD_ENV} instead")
        unknown = sorted(str(k) for k in table if k not in KEYS)
        if unknown:
            raise MailError(f"[email] unknown key{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(_one_line(k, 60) for k in unknown)} (known: {', '.join(KEYS)})")
        for key in ("host", "from"):
            if key not in table:
                example = "smtp.example.com" if key == "host" else "funnelcheck@example.com"
                raise MailError(f"[email] {key} is missing (e.g. {key} = \"{example}\")")
        for key in ("host", "security", "username", "from", "cafile"):
            if key in table and not isinstance(table[key], str):
                raise MailError(f"[email] {key} must be a string, got {table[key]!r}")
        cafile = table.get("cafile")
        if cafile:
            cafile = os.path.expanduser(cafile)
            if base_dir is not None and not os.path.isabs(cafile):
                cafile = os.path.join(os.fspath(base_dir), cafile)
            try:
                ssl.create_default_context(cafile=cafile)
            except FileNotFoundError:
                raise MailError(f"[email] cafile {cafile!r}: no such file") from None
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise MailError(f"[email] cafile {cafile!r}: not a readable PEM CA bundle "
                                f"({_one_line(getattr(exc, 'strerror', None) or exc, 120)})") from None
        return cls(host=table["host"], port=table.get("port"), security=table.get("security", "starttls"),
                   username=table.get("username"), sender=table["from"],
                   timeout=table.get("timeout", DEFAULT_TIMEOUT), cafile=cafile or None)


def _body(text) -> str:
    """A body string that encodes as UTF-8 and holds no NUL (SMTP forbids it)."""
    text = "" if text is None else str(text)
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def _set_subject(message: EmailMessage, subject: str) -> None:
    """Set a cleaned subject so that it reads back exactly.

    A plain ASCII subject is folded at its spaces. Anything else is encoded whole by
    :class:`email.header.Header` (UTF-8 encoded words, lines within 78 characters) and set
    raw: the policy's own folder encodes each non-ASCII word apart, and RFC 2047 decoders
    drop the spaces between adjacent encoded words ("— café ✓" would read "—café✓"). Text
    that merely looks like an encoded word (``=?utf-8?q?...?=``, crawled text) is encoded
    too, so a mail client shows it as written instead of decoding it.
    """
    if subject.isascii() and "=?" not in subject:
        # (folded at spaces; the policy's folder would break right after "Subject:", which
        # Python's own parser then reads back with a leading space)
        message.set_raw("Subject", Header(subject, "us-ascii", header_name="Subject").encode())
    else:
        message.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode())


def build_message(settings: EmailSettings, to, subject: str, text: str, html: str) -> EmailMessage:
    """A ``multipart/alternative`` message (``text/plain`` then ``text/html``, UTF-8) from
    ``settings.sender`` to every address in ``to`` (checked: :class:`MailError` on a bad
    one), with Date, Message-ID, ``Auto-Submitted: auto-generated`` and the subject cleaned
    by :func:`clean_subject` (crawled text cannot add a header).
    """
    sender = settings.sender_address
    recipients = parse_addresses(to)
    message = EmailMessage(policy=policy.SMTP)
    _set_subject(message, clean_subject(subject))
    message["From"] = sender
    message["To"] = recipients
    message["Date"] = format_datetime(localtime())
    message["Message-ID"] = make_msgid(domain=sender.domain.strip("[]") or "funnelcheck.invalid")
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a report
    message.set_content(_body(text), subtype="plain", charset="utf-8")
    message.add_alternative(_body(html), subtype="html", charset="utf-8")
    return message


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return _one_line(f"{exc.smtp_code} {_one_line(exc.smtp_error, 200)}")


def _reason(exc: BaseException, settings: EmailSettings) -> str:
    """Why a send failed, in a few words (no password: none is ever passed in here)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = _one_line(exc.verify_message or exc.reason or exc, 160)
        hint = "set cafile in [email] to its CA bundle" if not settings.cafile else f"checked against {settings.cafile}"
        return f"the server's TLS certificate is not trusted ({detail}; {hint})"
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or exc.__class__.__name__
        hint = ""
        if reason == "WRONG_VERSION_NUMBER" and settings.security == "ssl":
            hint = f": is {settings.port} an implicit-TLS port? port 587 takes security = \"starttls\""
        return f"TLS error ({_one_line(reason, 120)}){hint}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"authentication failed for user {settings.username!r} ({_reply(exc)})"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"the server refused the sender {_one_line(exc.sender, 120)} ({_reply(exc)})"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _refused(exc.recipients, sent=False)
    if isinstance(exc, smtplib.SMTPDataError):
        return f"the server refused the message ({_reply(exc)})"
    if isinstance(exc, smtplib.SMTPConnectError):
        return f"the server refused the connection ({_reply(exc)})"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return _one_line(exc, 200).rstrip(".")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib turns a timeout or a reset while reading a reply into this exception
        detail = str(exc).partition(": ")[2]
        if "timed out" in detail:
            return f"no answer within {settings.timeout:g} s (timeout)"
        return "the server closed the connection unexpectedly" + (f" ({_one_line(detail, 120)})" if detail else "")
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the server answered {_reply(exc)}"
    if isinstance(exc, smtplib.SMTPException):
        return _one_line(exc, 200).rstrip(".") or exc.__class__.__name__
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"no answer within {settings.timeout:g} s (timeout)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {settings.host!r} ({_one_line(exc.strerror or exc, 120)})"
    if isinstance(exc, OSError):
        return _one_line(exc.strerror or exc, 200) or exc.__class__.__name__
    return _one_line(exc, 200) or exc.__class__.__name__


def _refused(recipients: dict, sent: bool) -> str:
    parts = []
    for address, (code, reply) in list(recipients.items())[:5]:
        parts.append(f"{_one_line(address, 120)} ({code} {_one_line(reply, 120)})")
    more = f" and {len(recipients) - 5} more" if len(recipients) > 5 else ""
    tail = "; the others got the mail" if sent else ""
    return f"recipient{'s' if len(recipients) > 1 else ''} refused: {', '.join(parts)}{more}{tail}"


def _redact(text: str, password: str | None) -> str:
    if password:
        text = text.replace(password, "********")
    return text


def password_for(settings: EmailSettings, env=os.environ) -> str | None:
    """The SMTP password from ``env[FUNNELCHECK_SMTP_PASSWORD]`` when ``settings.username``
    is set (None without a username); :class:`MailError` when it is missing or empty. The
    CLI calls it before crawling so that a scheduled run fails at once, not after the crawl.
    """
    if not settings.username:
        return None
    password = env.get(PASSWORD_ENV)
    if not password:
        raise MailError(f"cannot send mail via {settings.where}: the environment variable {PASSWORD_ENV} is "
                        f"{'empty' if password == '' else 'not set'} (it holds the password of user "
                        f"{settings.username!r})")
    return password


def send(settings: EmailSettings, message: EmailMessage, password: str | None = None, env=os.environ) -> None:
    """Send ``message`` (from :func:`build_message`) through ``settings``' SMTP server.

    ``security``: ``starttls`` (STARTTLS required: a server that does not offer it is an
    error, never a plain-text fallback), ``ssl`` (implicit TLS) or ``none``. Certificates
    are verified against ``settings.cafile`` or the system's store, the hostname checked.
    With ``settings.username``, AUTH with ``password``, or when it is None with
    ``env[FUNNELCHECK_SMTP_PASSWORD]`` (missing: an error before connecting).

    Every failure raises one :class:`MailError`: ``cannot send mail via HOST:PORT: WHY``.
    """
    where = settings.where

    def fail(reason: str):
        raise MailError(_redact(f"cannot send mail via {where}: {reason}", password)) from None

    if settings.username and password is None:
        password = password_for(settings, env)
    elif settings.username and not password:
        fail("the password given is empty")
    sender = settings.sender_address.addr_spec
    recipients = []
    for name in ("To", "Cc", "Bcc"):
        for header in message.get_all(name, ()):
            addresses = getattr(header, "addresses", None)  # a message made with policy.compat32 has strings
            if addresses is None:
                addresses = [parse_address(formataddr(pair), "recipient") for pair in getaddresses([str(header)])]
            recipients.extend(a.addr_spec for a in addresses)
    if not recipients:
        fail("the message has no recipient")
    try:
        context = ssl.create_default_context(cafile=settings.cafile)
    except (OSError, ssl.SSLError, ValueError) as exc:
        fail(f"cannot load cafile {settings.cafile!r} ({_one_line(getattr(exc, 'strerror', None) or exc, 120)})")
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    logger.info("sending mail to %d recipient%s via %s (%s)", len(recipients),
                "" if len(recipients) == 1 else "s", where, settings.security)
    smtp, sent = None, False
    try:
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        smtp.set_debuglevel(0)  # smtplib's debug output would show the AUTH exchange
        smtp.ehlo()
        if settings.security == "starttls":
            if not smtp.has_extn("starttls"):
                fail("the server does not offer STARTTLS (security = \"starttls\"); "
                     "refusing to send in plain text")
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.username:
            try:
                smtp.login(settings.username, password)
            except UnicodeEncodeError:  # smtplib sends AUTH as ASCII; its error would quote the character
                fail("the username or the password holds non-ASCII characters, which smtplib cannot send")
            logger.debug("authenticated as %r on %s", settings.username, where)
        refused = smtp.send_message(message, from_addr=sender, to_addrs=recipients)
        sent = True
    except MailError:
        raise
    except (smtplib.SMTPException, OSError) as exc:  # ssl.SSLError and timeouts are OSErrors
        fail(_reason(exc, settings))
    finally:
        if smtp is not None:
            try:
                if sent:  # after a failure, QUIT could wait another timeout: just hang up
                    smtp.quit()
            except (smtplib.SMTPException, OSError) as exc:  # the server has the mail: a failed QUIT changes nothing
                logger.debug("QUIT to %s failed: %s", where, exc.__class__.__name__)
            smtp.close()
    if refused:
        fail(_refused(refused, sent=True))
    logger.info("mail sent via %s", where)
