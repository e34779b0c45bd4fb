"""analysis.mail against real SMTP servers (aiosmtpd) on 127.0.0.1 with a trustme CA.

Nothing here connects outside 127.0.0.0/8: every server and every settings object uses
host 127.0.0.1 and a port the kernel picked.
"""
from __future__ import annotations

import base64
import dataclasses
import logging
import socket
import ssl
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from analysis.mail import (
    DEFAULT_PORTS,
    PASSWORD_ENV,
    EmailSettings,
    MailError,
    build_message,
    clean_subject,
    parse_address,
    parse_addresses,
    password_for,
    send,
)

# The implicit-TLS server requires AUTH without aiosmtpd's STARTTLS-only auth_require_tls (see _ssl_server).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

USER = "funnel-bot"
PASSWORD = "Tr0ub4dor-&-3-horse"
ENV = {PASSWORD_ENV: PASSWORD}
SENDER = "Funnelcheck <audit@acme.example>"
TO = "Marketing Team <team@acme.example>"
SUBJECT = "acme.example: 2 new backward links, 1 fixed, 3 newly broken — café ✓"
TEXT = "2 new backward links\n  /pricing/ → https://x.com/acme (header)\nCafé ünïcode ✓\n"
HTML = "<!doctype html><p>2 new backward links: <code>/pricing/</code> → x.com/acme — café ✓</p>"


class _Controller(Controller):
    """aiosmtpd's Controller on port 0: learn the port the kernel picked before the self-test."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclasses.dataclass
class Received:
    mail_from: str
    rcpt_tos: list
    data: bytes
    authenticated: bool | None
    tls: bool

    @property
    def message(self):
        return BytesParser(policy=policy.default).parsebytes(self.data)


class Recorder:
    """Handler and authenticator: keeps every message, every AUTH attempt and whether it was over TLS."""

    def __init__(self):
        self.messages: list[Received] = []
        self.auths: list[tuple[str, bool, bool]] = []  # (mechanism, accepted, over TLS)

    def reset(self):
        self.messages.clear()
        self.auths.clear()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return f"550 5.1.1 <{address}>: no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                                      session.authenticated, _tls(server)))
        return "250 OK: queued"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
              and auth_data.password == PASSWORD.encode())
        self.auths.append((mechanism, ok, _tls(server)))
        return AuthResult(success=ok, handled=False)


def _tls(server) -> bool:
    return server.transport.get_extra_info("ssl_object") is not None


@pytest.fixture(scope="module")
def ca():
    return trustme.CA(key_type=trustme.KeyType.ECDSA)  # ECDSA: fast to make


@pytest.fixture(scope="module")
def cafile(ca, tmp_path_factory):
    path = tmp_path_factory.mktemp("mail") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _server_context(ca, *names):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def _start(**kwargs):
    recorder = Recorder()
    if kwargs.pop("auth", True):
        kwargs.update(auth_required=True, authenticator=recorder.authenticator)
    controller = _Controller(recorder, hostname="127.0.0.1", port=0, ready_timeout=5, **kwargs)
    controller.start()
    controller.recorder = recorder
    return controller


@pytest.fixture(scope="module")
def _starttls_server(ca):
    """STARTTLS required, AUTH required (and only offered after STARTTLS)."""
    controller = _start(tls_context=_server_context(ca, "127.0.0.1", "localhost"), require_starttls=True)
    yield controller
    controller.stop()


@pytest.fixture
def starttls_server(_starttls_server):
    _starttls_server.recorder.reset()
    return _starttls_server


@pytest.fixture(scope="module")
def _ssl_server(ca):
    """Implicit TLS (SMTPS). aiosmtpd 1.4 only counts STARTTLS as TLS for auth_require_tls,
    so it is off here; the recorder checks that AUTH did run over TLS."""
    controller = _start(ssl_context=_server_context(ca, "127.0.0.1", "localhost"), auth_require_tls=False)
    yield controller
    controller.stop()


@pytest.fixture
def ssl_server(_ssl_server):
    _ssl_server.recorder.reset()
    return _ssl_server


@pytest.fixture(scope="module")
def _plain_server():
    """No TLS at all, no AUTH (a local relay)."""
    controller = _start(auth=False)
    yield controller
    controller.stop()


@pytest.fixture
def plain_server(_plain_server):
    _plain_server.recorder.reset()
    return _plain_server


@pytest.fixture
def listener():
    """A raw TCP socket on 127.0.0.1 that listens but never accepts nor answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    sock.setblocking(False)
    yield sock
    sock.close()


def _settings(port, cafile=None, **kw) -> EmailSettings:
    values = {"host": "127.0.0.1", "port": port, "security": "starttls", "username": USER, "sender": SENDER,
              "timeout": 5, "cafile": cafile}
    values.update(kw)
    return EmailSettings(**values)


def _message(settings, subject=SUBJECT, to=(TO,)):
    return build_message(settings, list(to), subject, TEXT, HTML)


def _assert_secret_absent(*texts):
    encoded = [base64.b64encode(s.encode()).decode() for s in (PASSWORD, f"\0{USER}\0{PASSWORD}")]
    for text in texts:
        assert PASSWORD not in text
        for e in encoded:
            assert e not in text


def _our_logs(caplog) -> str:
    """Every captured record but aiosmtpd's own ("mail.log": the server's side)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))


# --- [email] settings -----------------------------------------------------------------------------

@pytest.mark.parametrize("security", ["starttls", "ssl", "none"])
def test_from_config_defaults(security):
    s = EmailSettings.from_config({"host": "smtp.acme.example", "from": "audit@acme.example", "security": security})
    assert (s.port, s.security, s.username, s.timeout, s.cafile) == (DEFAULT_PORTS[security], security, None, 30.0, None)
    assert s.sender == "audit@acme.example"
    assert DEFAULT_PORTS == {"starttls": 587, "ssl": 465, "none": 25}
    assert EmailSettings.from_config({"host": "smtp.acme.example", "from": "a@acme.example"}).security == "starttls"


def test_from_config_every_key(cafile, tmp_path):
    (tmp_path / "ca.pem").write_bytes(Path(cafile).read_bytes())
    s = EmailSettings.from_config({"host": "smtp.acme.example", "port": 2525, "security": "ssl", "username": USER,
                                   "from": SENDER, "timeout": 7.5, "cafile": "ca.pem"}, base_dir=tmp_path)
    assert s == EmailSettings(host="smtp.acme.example", port=2525, security="ssl", username=USER, sender=SENDER,
                              timeout=7.5, cafile=str(tmp_path / "ca.pem"))
    assert s.where == "smtp.acme.example:2525"
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.host = "elsewhere.example"


@pytest.mark.parametrize("value", [PASSWORD, "", None])
def test_from_config_refuses_a_password(value):
    table = {"host": "smtp.acme.example", "from": "a@acme.example", "username": USER, "password": value}
    with pytest.raises(MailError) as err:
        EmailSettings.from_config(table)
    message = str(err.value)
    assert "password" in message and PASSWORD_ENV in message and "\n" not in message
    _assert_secret_absent(message, repr(err.value))


def test_from_config_refuses_unknown_keys():
    table = {"host": "smtp.acme.example", "from": "a@acme.example", "pasword": PASSWORD, "tls": True}
    with pytest.raises(MailError, match=r"^\[email\] unknown keys pasword, tls \(known: host, port, security, "
                                        r"username, from, timeout, cafile\)$") as err:
        EmailSettings.from_config(table)
    _assert_secret_absent(str(err.value))


@pytest.mark.parametrize("change, expected", [
    ({"host": None}, r"host is missing"),
    ({"from": None}, r"from is missing"),
    ({"host": ""}, r"host must be the SMTP server's name"),
    ({"host": "smtp://smtp.acme.example"}, r"host must be a host name or an IP address"),
    ({"host": "smtp.acme.example\r\nRCPT TO:<x@y>"}, r"host must be a host name or an IP address"),
    ({"host": 25}, r"host must be a string"),
    ({"port": 0}, r"port must be a whole number from 1 to 65535, got 0"),
    ({"port": 65536}, r"port must be a whole number from 1 to 65535, got 65536"),
    ({"port": "587"}, r"port must be a whole number from 1 to 65535, got '587'"),
    ({"port": True}, r"port must be a whole number"),
    ({"security": "tls"}, r"security must be one of starttls, ssl, none, got 'tls'"),
    ({"security": "STARTTLS"}, r"security must be one of"),
    ({"timeout": 0}, r"timeout must be a number of seconds above 0"),
    ({"timeout": "30s"}, r"timeout must be a number of seconds"),
    ({"from": "not an address"}, r"from: bad address 'not an address': not an email address"),
    ({"from": "a@acme.example, b@acme.example"}, r"one address expected, found 2"),
    ({"username": ""}, r"username must be a non-empty string"),
    ({"username": "bot\r\nQUIT"}, r"username must not hold control"),
    ({"username": USER, "security": "none"}, r"would send the password unencrypted to smtp.acme.example"),
    ({"cafile": "/nonexistent/ca.pem"}, r"cafile '/nonexistent/ca.pem': no such file"),
])
def test_from_config_errors_are_one_readable_line(change, expected):
    table = {"host": "smtp.acme.example", "from": "audit@acme.example"}
    table.update(change)
    table = {k: v for k, v in table.items() if v is not None}
    with pytest.raises(MailError, match=r"^\[email\] .*" + expected) as err:
        EmailSettings.from_config(table)
    assert "\n" not in str(err.value) and "\r" not in str(err.value)


def test_from_config_bad_cafile(tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(MailError, match=r"^\[email\] cafile .*not a readable PEM CA bundle"):
        EmailSettings.from_config({"host": "smtp.acme.example", "from": "a@acme.example", "cafile": str(bad)})


def test_username_without_tls_is_allowed_on_loopback_only():
    assert EmailSettings(host="127.0.0.1", security="none", username=USER, sender=SENDER).port == 25
    assert EmailSettings(host="localhost", security="none", username=USER, sender=SENDER).port == 25
    with pytest.raises(MailError, match="unencrypted"):
        EmailSettings(host="10.0.0.5", security="none", username=USER, sender=SENDER)


# --- addresses and the message ---------------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    "", "   ", "team", "team@", "@acme.example", "team@acme..example", "team@-acme.example",
    "team@acme.example, evil@example.com", "team@acme.example\r\nBcc: evil@example.com",
    "team@acme.example\nbcc: evil@example.com", "team\x00@acme.example", "tëam@acme.example",
    '"team lead"@acme.example', "team@acme.example>", "<team@acme.example", "Team <team@acme.example> evil",
    "a@b@acme.example", "x" * 400 + "@acme.example", "team@acme_example.com",
])
def test_bad_recipient_is_an_error_before_anything_is_sent(bad):
    settings = _settings(587)
    with pytest.raises(MailError, match=r"^bad recipient ") as err:
        build_message(settings, [TO, bad], SUBJECT, TEXT, HTML)
    assert "\n" not in str(err.value) and "\r" not in str(err.value)


def test_good_addresses():
    zoe = parse_address("Zoë Müller <zoe@acme.example>")
    assert (zoe.display_name, zoe.addr_spec) == ("Zoë Müller", "zoe@acme.example")
    assert parse_address("first.last+funnel@mail.acme.example").addr_spec == "first.last+funnel@mail.acme.example"
    assert parse_address("ops@[127.0.0.1]").domain == "[127.0.0.1]"
    assert [a.addr_spec for a in parse_addresses(["a@x.example", "Team <A@x.example>", "b@x.example"])] \
        == ["a@x.example", "b@x.example"]
    with pytest.raises(MailError, match="no recipient address given"):
        parse_addresses([])


def test_build_message_structure():
    settings = _settings(587)
    message = build_message(settings, [TO, "ops@acme.example"], SUBJECT, TEXT, HTML)
    parsed = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
    assert parsed.get_content_type() == "multipart/alternative"
    plain, html = parsed.get_payload()
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    assert plain.get_content().replace("\r\n", "\n") == TEXT
    assert html.get_content().replace("\r\n", "\n").rstrip("\n") == HTML
    assert parsed["Subject"] == SUBJECT
    assert parsed["From"].addresses[0].addr_spec == "audit@acme.example"
    assert parsed["From"].addresses[0].display_name == "Funnelcheck"
    assert [a.addr_spec for a in parsed["To"].addresses] == ["team@acme.example", "ops@acme.example"]
    assert parsed["Date"].datetime is not None
    assert parsed["Message-ID"].startswith("<") and parsed["Message-ID"].endswith("@acme.example>")
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["MIME-Version"] == "1.0"
    assert all(len(line) <= 998 for line in message.as_bytes().split(b"\r\n"))


def test_subject_header_injection_is_impossible():
    settings = _settings(587)
    for subject in ("Weekly\r\nBcc: evil@example.com", "Weekly\nBcc: evil@example.com", "Weekly\rBcc: evil@example.com",
                    "Weekly\u2028Bcc: evil@example.com", "Weekly\x85Bcc: evil@example.com",
                    "Weekly\r\n\r\n<html>body</html>"):
        message = build_message(settings, [TO], subject, TEXT, HTML)
        raw = message.as_bytes()
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        assert parsed["Bcc"] is None and parsed.get_all("Subject") == [parsed["Subject"]]
        assert "\r" not in parsed["Subject"] and "\n" not in parsed["Subject"]
        headers = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        assert not [h for h in headers if h.lower().startswith(b"bcc:")]
        assert len([h for h in headers if h.lower().startswith(b"subject:")]) == 1
    assert build_message(settings, [TO], "Weekly\r\nBcc: evil@example.com", TEXT, HTML)["Subject"] \
        == "Weekly Bcc: evil@example.com"


@pytest.mark.parametrize("subject", [
    SUBJECT,
    "acme.example: 2 new backward links, 1 fixed, 3 newly broken, 4 pages added, 5 removed, 6 findings resolved",
    "blog.acme.example: « nouveaux liens » — 12 articles, 3 liens cassés, /démo/ n’est plus accessible 日本語",
    "x =?utf-8?q?a=0D=0ABcc:_evil@example.com?= y",  # crawled text that looks like an encoded word
    "a", "café",
])
def test_subject_reads_back_exactly(subject):
    raw = build_message(_settings(587), [TO], subject, TEXT, HTML).as_bytes()
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in headers.split(b"\r\n"))
    assert BytesParser(policy=policy.default).parsebytes(raw)["Subject"] == subject


def test_display_names_read_back():
    settings = _settings(587, sender="Équipe Marketing — Acme ✓ <audit@acme.example>")
    to = parse_addresses(["Zoë Müller née Ünïcode <zoe@acme.example>", '"Ops, Team" <ops@acme.example>'])
    parsed = BytesParser(policy=policy.default).parsebytes(build_message(settings, to, "s", "t", "h").as_bytes())
    assert [(a.display_name, a.addr_spec) for a in parsed["From"].addresses + parsed["To"].addresses] == [
        ("Équipe Marketing — Acme ✓", "audit@acme.example"), ("Zoë Müller née Ünïcode", "zoe@acme.example"),
        ("Ops, Team", "ops@acme.example")]


def test_address_comments_are_dropped():
    assert str(parse_address("team@acme.example (the team)")) == "team@acme.example"


def test_subject_is_cleaned_and_capped():
    assert clean_subject("a\tb\x1b[2Jc\x7f\u202ed\u200be") == "a b [2Jc d e"
    long = "acme.example: " + "é" * 1000
    subject = clean_subject(long)
    assert len(subject) == 200 and subject.endswith("…")
    message = build_message(_settings(587), [TO], long, TEXT, HTML)
    assert BytesParser(policy=policy.default).parsebytes(message.as_bytes())["Subject"] == subject


# --- sending ---------------------------------------------------------------------------------------

def test_send_starttls_with_auth(starttls_server, cafile, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    settings = _settings(starttls_server.port, cafile)
    send(settings, _message(settings, to=[TO, "ops@acme.example"]), env=ENV)

    rec = starttls_server.recorder
    assert rec.auths and all(tls for _, _, tls in rec.auths) and rec.auths[-1][1]
    [received] = rec.messages
    assert received.tls and received.authenticated
    assert received.mail_from == "audit@acme.example"
    assert received.rcpt_tos == ["team@acme.example", "ops@acme.example"]
    msg = received.message
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.get_payload()
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    assert "/pricing/ → https://x.com/acme (header)" in plain.get_content()
    assert "Café ünïcode ✓" in plain.get_content()
    assert "<code>/pricing/</code> → x.com/acme — café ✓" in html.get_content()
    assert msg["Subject"] == SUBJECT
    assert str(msg["From"]) == SENDER
    assert str(msg["To"]) == f"{TO}, ops@acme.example"
    assert msg["Bcc"] is None

    out, err = capfd.readouterr()
    _assert_secret_absent(caplog.text, _our_logs(caplog), out, err, received.data.decode("utf-8", "replace"))
    assert "sending mail to 2 recipients via 127.0.0.1:" in _our_logs(caplog)


def test_send_password_argument_wins_over_env(starttls_server, cafile):
    settings = _settings(starttls_server.port, cafile)
    send(settings, _message(settings), password=PASSWORD, env={PASSWORD_ENV: "wrong"})
    assert len(starttls_server.recorder.messages) == 1


def test_wrong_password(starttls_server, cafile, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-Passw0rd"
    settings = _settings(starttls_server.port, cafile)
    with pytest.raises(MailError) as err:
        send(settings, _message(settings), env={PASSWORD_ENV: wrong})
    message = str(err.value)
    assert message == (f"cannot send mail via 127.0.0.1:{starttls_server.port}: authentication failed for user "
                       f"'{USER}' (535 5.7.8 Authentication credentials invalid)")
    assert err.value.__suppress_context__  # a traceback shows the one line, not smtplib's chain
    out, err_text = capfd.readouterr()
    for text in (message, repr(err.value), caplog.text, out, err_text):
        assert wrong not in text and PASSWORD not in text
    assert not starttls_server.recorder.messages
    assert starttls_server.recorder.auths and not any(ok for _, ok, _ in starttls_server.recorder.auths)


def test_non_ascii_password_is_a_clean_error(starttls_server, cafile):
    settings = _settings(starttls_server.port, cafile)
    with pytest.raises(MailError, match="non-ASCII") as err:
        send(settings, _message(settings), env={PASSWORD_ENV: "pässwörd-secret"})
    assert "pässwörd" not in str(err.value)
    assert not starttls_server.recorder.messages


@pytest.mark.parametrize("env", [{}, {PASSWORD_ENV: ""}])
def test_missing_password_fails_before_connecting(listener, cafile, env):
    settings = _settings(listener.getsockname()[1], cafile)
    with pytest.raises(MailError, match=rf"^cannot send mail via 127\.0\.0\.1:\d+: the environment variable "
                                        rf"{PASSWORD_ENV} is (not set|empty) \(it holds the password of user "
                                        rf"'{USER}'\)$"):
        send(settings, _message(settings), env=env)
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody connected
    with pytest.raises(MailError, match=PASSWORD_ENV):
        password_for(settings, env)
    assert password_for(settings, ENV) == PASSWORD
    assert password_for(dataclasses.replace(settings, username=None), env) is None


def test_untrusted_certificate(starttls_server, caplog):
    settings = _settings(starttls_server.port, cafile=None)  # the system's store: trustme's CA is not in it
    with pytest.raises(MailError, match=r"^cannot send mail via 127\.0\.0\.1:\d+: the server's TLS certificate is "
                                        r"not trusted \(.*certificate.*; set cafile in \[email\]") as err:
        send(settings, _message(settings), env=ENV)
    assert "\n" not in str(err.value)
    assert not starttls_server.recorder.auths and not starttls_server.recorder.messages  # no password sent


def test_certificate_for_another_host(ca, cafile):
    controller = _start(tls_context=_server_context(ca, "mail.other.example"), require_starttls=True)
    try:
        settings = _settings(controller.port, cafile)
        with pytest.raises(MailError, match=r"TLS certificate is not trusted \(.*mismatch.*127\.0\.0\.1"):
            send(settings, _message(settings), env=ENV)
        assert not controller.recorder.auths and not controller.recorder.messages
    finally:
        controller.stop()


def test_starttls_required_never_falls_back_to_plain(plain_server, cafile):
    settings = _settings(plain_server.port, cafile)
    with pytest.raises(MailError, match=r"the server does not offer STARTTLS .*refusing to send in plain text$"):
        send(settings, _message(settings), env=ENV)
    assert not plain_server.recorder.messages and not plain_server.recorder.auths


def test_security_none_to_a_local_relay(plain_server):
    settings = _settings(plain_server.port, security="none", username=None)
    send(settings, _message(settings), env={})
    [received] = plain_server.recorder.messages
    assert not received.tls and received.rcpt_tos == ["team@acme.example"]
    assert received.message["Subject"] == SUBJECT


def test_implicit_tls(ssl_server, cafile, caplog):
    caplog.set_level(logging.DEBUG)
    settings = _settings(ssl_server.port, cafile, security="ssl")
    send(settings, _message(settings), env=ENV)
    rec = ssl_server.recorder
    assert rec.auths and all(tls for _, _, tls in rec.auths) and rec.auths[-1][1]
    [received] = rec.messages
    assert received.tls and received.authenticated
    assert received.message["Subject"] == SUBJECT
    assert [p.get_content_type() for p in received.message.get_payload()] == ["text/plain", "text/html"]
    _assert_secret_absent(caplog.text)


def test_implicit_tls_untrusted(ssl_server):
    settings = _settings(ssl_server.port, None, security="ssl")
    with pytest.raises(MailError, match="certificate is not trusted"):
        send(settings, _message(settings), env=ENV)
    assert not ssl_server.recorder.auths


def test_implicit_tls_against_a_starttls_port(starttls_server, cafile):
    settings = _settings(starttls_server.port, cafile, security="ssl")
    with pytest.raises(MailError, match=r"TLS error \(WRONG_VERSION_NUMBER\): is \d+ an implicit-TLS port"):
        send(settings, _message(settings), env=ENV)


def test_connection_refused(cafile):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    settings = _settings(port, cafile)
    with pytest.raises(MailError, match=rf"^cannot send mail via 127\.0\.0\.1:{port}: connection refused$"):
        send(settings, _message(settings), env=ENV)


def test_timeout(listener, cafile):
    settings = _settings(listener.getsockname()[1], cafile, timeout=0.3)
    with pytest.raises(MailError, match=r"^cannot send mail via 127\.0\.0\.1:\d+: no answer within 0\.3 s \(timeout\)$"):
        send(settings, _message(settings), env=ENV)


def test_recipient_refused(starttls_server, cafile):
    settings = _settings(starttls_server.port, cafile)
    with pytest.raises(MailError, match=r"recipient refused: nobody@acme\.example \(550 5\.1\.1 <nobody@acme\.example>: "
                                        r"no such user\)$"):
        send(settings, _message(settings, to=["nobody@acme.example"]), env=ENV)
    assert not starttls_server.recorder.messages
    with pytest.raises(MailError, match=r"recipient refused: nobody@acme\.example \(550 .*\); the others got the mail$"):
        send(settings, _message(settings, to=[TO, "nobody@acme.example"]), env=ENV)
    [received] = starttls_server.recorder.messages
    assert received.rcpt_tos == ["team@acme.example"]


def test_auth_required_but_no_username(starttls_server, cafile):
    settings = _settings(starttls_server.port, cafile, username=None)
    with pytest.raises(MailError, match=r"the server refused the sender audit@acme\.example \(530 .*[Aa]uthentication required"):
        send(settings, _message(settings), env=ENV)


def test_injected_bcc_reaches_nobody(starttls_server, cafile):
    settings = _settings(starttls_server.port, cafile)
    send(settings, _message(settings, subject="acme.example: 1 new\r\nBcc: evil@example.com"), env=ENV)
    [received] = starttls_server.recorder.messages
    assert received.rcpt_tos == ["team@acme.example"]
    headers = received.data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n").split(b"\n")
    assert not [h for h in headers if h.lower().startswith(b"bcc:")]
    assert [h for h in headers if h.lower().startswith(b"subject:")] == [b"Subject: acme.example: 1 new Bcc: evil@example.com"]
    assert received.message["Bcc"] is None
