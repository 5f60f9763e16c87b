"""Transport over Apprise, against real servers on 127.0.0.1 (SMTP, HTTP, a TLS proxy)."""

from __future__ import annotations

import asyncio
import base64
import email
import hashlib
import hmac
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller

from shanhai.notifications.channels import Channel
from shanhai.notifications.transport import (
    DeliveryTag,
    OutcomeUnknownError,
    PermanentDeliveryError,
    RateLimiter,
    TransientDeliveryError,
    body_limit,
    deliver,
)
from tests.conftest import free_port
from tests.webhook_receiver import WebhookReceiver

TITLE = "【山海协作】到期提醒"
BODY = "永嘉县：\n1. 【即将到期】山海协作联席会议\n   截止：2026-10-31（周六），剩余3个工作日"


# --------------------------------------------------------------------------- SMTP


class _Inbox:
    def __init__(self, refuse: set[str] | None = None):
        self.envelopes = []
        self.refuse = refuse or set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    inbox = _Inbox(refuse={"nobody@example.cn"})
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_it_delivers_chinese_mail_to_a_local_smtp_server(smtp):
    inbox, port = smtp
    channel = Channel(
        "yongjia", f"mailto://127.0.0.1:{port}?from=shanhai@example.cn&to=yj@example.cn&mode=insecure"
    )

    deliver(channel, title=TITLE, body=BODY, timeout=5)

    assert len(inbox.envelopes) == 1
    envelope = inbox.envelopes[0]
    assert envelope.rcpt_tos == ["yj@example.cn"]
    message = email.message_from_bytes(envelope.original_content, policy=policy.default)
    assert message["Subject"] == TITLE
    text = message.get_body(preferencelist=("plain", "html")).get_content()
    assert "山海协作联席会议" in text and "2026-10-31（周六）" in text


def test_it_reports_a_refused_smtp_recipient_as_permanent(smtp):
    _, port = smtp
    channel = Channel(
        "yongjia", f"mailto://127.0.0.1:{port}?from=shanhai@example.cn&to=nobody@example.cn&mode=insecure"
    )
    with pytest.raises(PermanentDeliveryError, match="550") as err:
        deliver(channel, title=TITLE, body=BODY, timeout=5)
    assert err.value.permanent is True


def test_it_reports_an_unreachable_smtp_server_as_transient():
    channel = Channel(
        "yongjia", f"mailto://127.0.0.1:{free_port()}?from=a@example.cn&to=b@example.cn&mode=insecure"
    )
    with pytest.raises(TransientDeliveryError) as err:
        deliver(channel, title=TITLE, body=BODY, timeout=2)
    assert err.value.permanent is False


class _SilentAfterData(_Inbox):
    """Takes the mail, then answers only when the test ends: the sender's wait runs out during DATA."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 10)
        return "250 Message accepted"


def test_an_smtp_server_silent_after_the_mail_went_out_is_an_unknown_outcome():
    inbox = _SilentAfterData()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        channel = Channel(
            "yongjia", f"mailto://127.0.0.1:{controller.port}?from=shanhai@example.cn&to=yj@example.cn&mode=insecure"
        )
        with pytest.raises(OutcomeUnknownError, match="邮件内容已发出，SMTP 服务器未应答.*结果未知（可能已送达）"):
            deliver(channel, title=TITLE, body=BODY, timeout=0.5)
        assert len(inbox.envelopes) == 1, "the server did get the mail"
    finally:
        inbox.release.set()
        controller.stop()


# --------------------------------------------------------------------------- HTTP webhook


def hook(server: WebhookReceiver, path: str) -> Channel:
    return Channel("yongjia", f"json://127.0.0.1:{server.port}{path}")


def test_it_posts_the_json_body_to_a_local_webhook(webhook):
    deliver(hook(webhook, "/hook"), title=TITLE, body=BODY, timeout=5)

    [(path, payload)] = webhook.received
    assert path == "/hook"
    assert payload["title"] == TITLE
    assert payload["message"] == BODY


def test_it_reports_a_500_as_transient(webhook):
    with pytest.raises(TransientDeliveryError, match="HTTP 500") as err:
        deliver(hook(webhook, "/status/500"), title=TITLE, body=BODY, timeout=5)
    assert err.value.status == 500 and err.value.permanent is False


@pytest.mark.parametrize("status", [408, 429, 502, 503])
def test_it_reports_retryable_statuses_as_transient(webhook, status):
    with pytest.raises(TransientDeliveryError):
        deliver(hook(webhook, f"/status/{status}"), title=TITLE, body=BODY, timeout=5)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_it_reports_a_4xx_as_permanent(webhook, status):
    with pytest.raises(PermanentDeliveryError, match=f"HTTP {status}") as err:
        deliver(hook(webhook, f"/status/{status}"), title=TITLE, body=BODY, timeout=5)
    assert err.value.permanent is True


@pytest.mark.timeout(10)
def test_a_slow_endpoint_is_an_unknown_outcome_after_the_timeout_never_a_transient_failure(webhook):
    started = time.monotonic()
    with pytest.raises(OutcomeUnknownError, match="请求已发出，超时未响应.*结果未知（可能已送达）") as err:
        deliver(hook(webhook, "/slow"), title=TITLE, body=BODY, timeout=0.5)
    assert time.monotonic() - started < 3
    assert err.value.maybe_delivered and not isinstance(err.value, TransientDeliveryError)
    assert len(webhook.headers_seen) == 1, "the request did reach the endpoint"


def test_a_connection_closed_after_the_request_went_out_is_an_unknown_outcome():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def read_then_hang_up() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)  # the request arrived; the endpoint dies before it answers

        threading.Thread(target=read_then_hang_up, daemon=True).start()
        channel = Channel("yongjia", f"json://127.0.0.1:{server.getsockname()[1]}/hook")
        with pytest.raises(OutcomeUnknownError, match="连接在发出请求后中断"):
            deliver(channel, title=TITLE, body=BODY, timeout=5)


def test_it_reports_a_refused_connection_as_transient_the_request_never_left():
    channel = Channel("yongjia", f"json://127.0.0.1:{free_port()}/hook")
    with pytest.raises(TransientDeliveryError, match="连接失败，请求未发出") as err:
        deliver(channel, title=TITLE, body=BODY, timeout=2)
    assert not err.value.maybe_delivered


@pytest.mark.parametrize("scheme", ["json", "form", "xml"])
def test_a_webhook_gets_an_idempotency_key_carrying_the_delivery_ids(scheme):
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            seen.append({**dict(self.headers.items()), "body": self.rfile.read(int(self.headers["Content-Length"]))})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        channel = Channel("yongjia", f"{scheme}://127.0.0.1:{server.server_address[1]}/hook?+X-Team=shanhai")
        deliver(channel, title=TITLE, body=BODY, timeout=5, tag=DeliveryTag((7, 9), "shanhai-7-9-abc"))
        deliver(channel, title=TITLE, body=BODY, timeout=5)  # no tag (a channel test): no key
    finally:
        server.shutdown()
        server.server_close()
    tagged, untagged = seen
    assert (tagged["Idempotency-Key"], tagged["X-Shanhai-Delivery"]) == ("shanhai-7-9-abc", "7,9")
    assert tagged["X-Team"] == "shanhai", "the channel's own headers are kept"
    assert "Idempotency-Key" not in untagged and "X-Shanhai-Delivery" not in untagged
    if scheme == "json":
        assert json.loads(tagged["body"])["idempotency_key"] == "shanhai-7-9-abc"


def test_it_reports_an_unloadable_url_as_permanent():
    with pytest.raises(PermanentDeliveryError, match="无法加载"):
        deliver(Channel("yongjia", "nosuchservice://abc"), title=TITLE, body=BODY)


def test_concurrent_deliveries_are_classified_independently(webhook):
    paths = ["/hook", "/status/500", "/status/404"] * 4
    outcomes: dict[int, str] = {}

    def run(i: int, path: str) -> None:
        try:
            deliver(hook(webhook, path), title=TITLE, body=BODY, timeout=5)
            outcomes[i] = "ok"
        except TransientDeliveryError:
            outcomes[i] = "transient"
        except PermanentDeliveryError:
            outcomes[i] = "permanent"

    threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(paths)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    expected = {"/hook": "ok", "/status/500": "transient", "/status/404": "permanent"}
    assert outcomes == {i: expected[p] for i, p in enumerate(paths)}


# --------------------------------------------------------------------------- limits


def test_robot_text_limits_leave_room_for_the_title():
    dingtalk = Channel("yongjia", "dingtalk://0123456789abcdef/")
    wecom = Channel("yongjia", "wecombot://6d3a91f6-7c2b-4bc4-97a0-0ec2a1fa5aaa")
    assert body_limit(dingtalk) == body_limit(wecom)
    assert 1800 < body_limit(dingtalk) < 2048
    assert body_limit(Channel("yongjia", "mailto://127.0.0.1:25?from=a@b.cn&to=c@d.cn")) is None
    assert body_limit(Channel("yongjia", "json://127.0.0.1/hook")) is None


def test_it_refuses_a_robot_message_over_2048_bytes_before_sending():
    wecom = Channel("yongjia", "wecombot://6d3a91f6-7c2b-4bc4-97a0-0ec2a1fa5aaa")
    with pytest.raises(PermanentDeliveryError, match="2048"):
        deliver(wecom, title=TITLE, body="字" * 700, timeout=1)  # 2100 bytes, never reaches the network


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_21st_dingtalk_message_inside_a_minute_waits():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    robot = Channel("yongjia", "dingtalk://0123456789abcdef/")

    for _ in range(20):
        assert limiter.acquire(robot) == 0
        clock.now += 1  # 20 messages in 20 seconds
    assert limiter.acquire(robot) == pytest.approx(40.0)  # first slot frees at 1000 + 60; now is 1020
    assert limiter.acquire(robot) == pytest.approx(41.0)  # reservations spread concurrent callers out

    clock.now = 1000 + 200
    assert limiter.acquire(robot) == 0


def test_rate_limits_are_per_robot_and_only_for_robots():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    a = Channel("yongjia", "dingtalk://aaaaaaaaaaaaaaaa/")
    a_for_other_unit = Channel("ouhai", "dingtalk://SECabc@aaaaaaaaaaaaaaaa/")
    b = Channel("ouhai", "dingtalk://bbbbbbbbbbbbbbbb/")
    mail = Channel("yongjia", "mailto://127.0.0.1:25?from=a@b.cn&to=c@d.cn")

    for _ in range(10):
        assert limiter.acquire(a) == 0
        assert limiter.acquire(a_for_other_unit) == 0  # the same robot: shares the budget
    assert limiter.acquire(a) > 0
    assert limiter.acquire(b) == 0
    assert all(limiter.acquire(mail) == 0 for _ in range(100))


def test_feishu_also_has_a_per_second_window():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    robot = Channel("yongjia", "feishu://abcdef-123")
    assert [limiter.acquire(robot) for _ in range(5)] == [0, 0, 0, 0, 0]
    assert limiter.acquire(robot) == pytest.approx(1.0)


# --------------------------------------------------------------------------- DingTalk, signed, via a local TLS proxy

DT_TOKEN = "0123456789abcdef0123456789abcdef"
DT_SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"


def _self_signed(tmp_path: Path, host: str) -> tuple[Path, Path]:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _DingTalkProxy(ThreadingHTTPServer):
    """An HTTPS proxy that answers CONNECT oapi.dingtalk.com:443 itself, as DingTalk would."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.context = context
        self.reply: dict = {"errcode": 0, "errmsg": "ok"}
        self.requests: list[tuple[str, dict, dict]] = []


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _DingTalkProxy

    def do_CONNECT(self) -> None:
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        tls = self.server.context.wrap_socket(self.connection, server_side=True)
        _RobotHandler(tls, self.client_address, self.server)
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


class _RobotHandler(BaseHTTPRequestHandler):
    server: _DingTalkProxy

    def do_POST(self) -> None:
        data = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        self.server.requests.append((urlsplit(self.path).path, query, data))
        payload = json.dumps(self.server.reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def dingtalk(tmp_path, monkeypatch) -> Iterator[_DingTalkProxy]:
    cert, key = _self_signed(tmp_path, "oapi.dingtalk.com")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _DingTalkProxy(context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# verify=no: the stand-in for oapi.dingtalk.com has a self-signed certificate.
SIGNED_ROBOT = Channel("yongjia", f"dingtalk://{DT_SECRET}@{DT_TOKEN}/?verify=no")


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_signed_dingtalk_robot_gets_a_valid_signature(dingtalk):
    before = int(time.time() * 1000)
    deliver(SIGNED_ROBOT, title=TITLE, body=BODY, timeout=5)

    [(path, query, data)] = dingtalk.requests
    assert path == "/robot/send" and query["access_token"] == DT_TOKEN
    timestamp = query["timestamp"]
    assert before - 1000 <= int(timestamp) <= int(time.time() * 1000) + 1000
    expected = base64.b64encode(
        hmac.new(DT_SECRET.encode(), f"{timestamp}\n{DT_SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    assert query["sign"] == expected
    assert data["msgtype"] == "text"
    assert data["text"]["content"] == f"{TITLE}\r\n{BODY}"


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_dingtalk_error_code_behind_http_200_is_a_permanent_failure(dingtalk):
    dingtalk.reply = {"errcode": 310000, "errmsg": "sign not match"}
    with pytest.raises(PermanentDeliveryError, match="310000 sign not match") as err:
        deliver(SIGNED_ROBOT, title=TITLE, body=BODY, timeout=5)
    assert DT_SECRET not in str(err.value) and DT_TOKEN not in str(err.value)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_dingtalk_send_too_fast_is_transient(dingtalk):
    dingtalk.reply = {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
    with pytest.raises(TransientDeliveryError, match="130101"):
        deliver(SIGNED_ROBOT, title=TITLE, body=BODY, timeout=5)
