"""No secret in clear, anywhere: a value substituted from ${ENV} into a channel URL never shows in a
label, a repr, a delivery error (or its traceback), a log line, a database row or a JSON field,
whatever the Apprise scheme and wherever in the URL it sits. Real servers on 127.0.0.1: HTTP
receivers answering 404 and 500 (and proxying robots' HTTPS the same way), a closed port, SMTP."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import tempfile
import threading
import traceback
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from aiosmtpd.controller import Controller
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData, select

from shanhai.models.localtime import SHANGHAI
from shanhai.notifications.channels import Channel, ChannelConfigError, load_channels
from shanhai.notifications.transport import DeliveryError, deliver
from tests.conftest import run_cli

UNITS = {"taishun": "泰顺县", "lucheng": "鹿城区"}
DT_TOKEN = "0123456789abcdef0123456789abcdef"
# Monday 2026-11-30, 10:00 in Shanghai: a working day after the send hour.
MONDAY = datetime(2026, 11, 30, 10, tzinfo=SHANGHAI)
DEC_1 = datetime(2026, 12, 1, 10, tzinfo=SHANGHAI)  # the joint meeting's 30-day reminder goes out

# Every secret position, per scheme. {http} is a receiver's port (or a closed one), {smtp} the mail server's.
POSITIONS = {
    "json-path": "json://127.0.0.1:{http}/hook/${S}",
    "json-user": "json://${S}@127.0.0.1:{http}/hook",
    "json-password": "json://shanhai:${S}@127.0.0.1:{http}/hook",
    "json-param": "json://127.0.0.1:{http}/hook?-key=${S}",
    "json-header": "json://127.0.0.1:{http}/hook?+X-Token=${S}",
    "json-query": "json://127.0.0.1:{http}/hook?key=${S}",
    "json-payload": "json://127.0.0.1:{http}/hook?:token=${S}",
    "jsons-path": "jsons://127.0.0.1:{http}/${S}",
    "jsons-header": "jsons://127.0.0.1:{http}/hook?+Authorization=${S}",
    "xml-path": "xml://127.0.0.1:{http}/${S}",
    "xml-password": "xml://shanhai:${S}@127.0.0.1:{http}/hook",
    "xml-header": "xml://127.0.0.1:{http}/hook?+X-Token=${S}",
    "form-path": "form://127.0.0.1:{http}/a/${S}/b",
    "form-user": "form://${S}@127.0.0.1:{http}/hook",
    "form-param": "form://127.0.0.1:{http}/hook?-token=${S}",
    "dingtalk-token": "dingtalk://${S}/",
    "dingtalk-secret": "dingtalk://${S}@" + DT_TOKEN + "/",
    "dingtalk-secret-query": "dingtalk://" + DT_TOKEN + "/?secret=${S}",
    "wecombot-key": "wecombot://${S}",
    "feishu-token": "feishu://${S}",
    "mailtos-password": "mailtos://shanhai:${S}@127.0.0.1:{smtp}?from=shanhai@example.cn&to=zsj@example.cn",
    "mailtos-user": "mailtos://${S}:password@127.0.0.1:{smtp}?from=shanhai@example.cn&to=zsj@example.cn",
    "mailtos-pass-query": "mailtos://127.0.0.1:{smtp}?user=shanhai&pass=${S}&from=shanhai@example.cn&to=zsj@example.cn",
}

# Printable text with every URL-special character and Chinese; robots' own tokens (hex, uuid-like) too,
# so the robot URLs load and are sent, not only refused.
SECRETS = st.one_of(
    st.text(
        st.characters(exclude_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp"), include_characters="@/?#&=+%中文密钥 "),
        min_size=8,
        max_size=40,
    ),
    st.text(st.sampled_from("0123456789abcdef"), min_size=32, max_size=64),
    st.from_regex(r"SEC[0-9a-f]{20,60}", fullmatch=True),
)


def forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote(secret, safe="/"), quote(secret, safe="@:/"), quote_plus(secret)}


def assert_hidden(text: str, secret: str, what: str) -> None:
    shown = [f for f in forms(secret) if f in text]
    assert not shown, f"{what} shows the secret {secret!r} as {shown!r}:\n{text}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- servers


class _Answer(BaseHTTPRequestHandler):
    """Answers every request (and a proxy's CONNECT) with the server's fixed status."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"errcode": 1, "errmsg": f"refused {self.path}"}).encode()
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    do_POST = do_GET = do_PUT = do_CONNECT = _answer  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def receiver(status: int) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    server.daemon_threads = True
    server.status = status  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _Inbox:
    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        return "250 Message accepted"


@pytest.fixture(scope="module")
def ports() -> Iterator[dict[str, int]]:
    smtp_port = free_port()
    controller = Controller(_Inbox(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        with receiver(404) as p404, receiver(500) as p500:
            yield {"404": p404, "500": p500, "closed": free_port(), "smtp": smtp_port}
    finally:
        controller.stop()


@contextlib.contextmanager
def every_log_line() -> Iterator[list[str]]:
    """Every log record of any logger, at DEBUG, formatted as a handler would write it."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    root = logging.getLogger()
    handler, level = Keep(logging.DEBUG), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@contextlib.contextmanager
def robots_via(port: int) -> Iterator[None]:
    """HTTPS (the robots' APIs) goes through a local proxy that answers CONNECT with its status."""
    saved = {k: os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")}
    os.environ["HTTPS_PROXY"] = os.environ["https_proxy"] = f"http://127.0.0.1:{port}"
    os.environ.pop("NO_PROXY", None)
    os.environ.pop("no_proxy", None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def load_one(template: str, secret: str) -> Channel:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "channels.yaml"
        path.write_text(f'urls:\n  - "{template}":\n      tag: taishun\n', encoding="utf-8")
        [channel] = load_channels(path, environ={"S": secret}, known_units=UNITS)["taishun"]
        return channel


# --------------------------------------------------------------------------- the property


@pytest.mark.filterwarnings("ignore:Non-string passwords:DeprecationWarning")  # json://user@host, no password
@pytest.mark.parametrize("position", sorted(POSITIONS))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=SECRETS, answer=st.sampled_from(["404", "500", "closed"]))
def test_a_substituted_secret_never_shows_in_a_label_an_error_or_a_log_line(ports, position, secret, answer):
    template = POSITIONS[position].replace("{http}", str(ports[answer])).replace("{smtp}", str(ports["smtp"]))
    assume(not any(f in template.replace("${S}", "") for f in forms(secret)))
    with every_log_line() as logged, robots_via(ports[answer]):
        try:
            channel = load_one(template, secret)
        except ChannelConfigError as exc:  # Apprise refused the URL (a robot token it cannot be)
            assert_hidden(str(exc), secret, "the channel file's error")
            return
        assert_hidden(channel.masked_url, secret, "masked_url")
        assert_hidden(repr(channel), secret, "repr")
        assert "${S}" in channel.masked_url, "the label names the variable instead"
        try:
            deliver(channel, title="【山海协作】测试", body="正文", timeout=3)
        except DeliveryError as exc:
            assert_hidden(str(exc), secret, "the delivery error")
            assert_hidden("".join(traceback.format_exception(exc)), secret, "the delivery error's traceback")
        else:  # only an SMTP server that takes the mail may accept it
            assert position.startswith("mailtos"), f"{position} was accepted by a server answering {answer}"
    assert_hidden("\n".join(logged), secret, "the log")


def test_scrub_hides_whole_values_and_their_fragments_but_keeps_the_label():
    channel = load_one("json://127.0.0.1:8080/hook/${S}", "tok/en@中文-abcdef")
    assert channel.masked_url == "json://127.0.0.1:8080/hook/${S}"
    text = (
        f"{channel.masked_url}：HTTP 404 at /hook/tok%2Fen%40%E4%B8%AD%E6%96%87-abcdef, "
        "then /hook/tok/en@中文-abcdef, then a piece en%40%25E4%25B8%25AD-abcdef"
    )
    scrubbed = channel.scrub(text)
    assert scrubbed.startswith(f"{channel.masked_url}：HTTP 404 at /hook/${{S}}, then /hook/${{S}}")
    assert "abcdef" not in scrubbed and "中文" not in scrubbed


def test_a_literal_token_written_in_the_file_is_masked_in_the_label():
    channel = load_one(f"json://127.0.0.1:8080/hook/{DT_TOKEN}?+X-Token=abc&-key=${{S}}", "v" * 12)
    assert DT_TOKEN not in channel.masked_url and "abc" not in channel.masked_url
    assert channel.masked_url.endswith("-key=${S}")


# --------------------------------------------------------------------------- database rows and JSON fields

NASTY = "t0k3n/with@all?the#chars&k=v+w%"


def test_no_secret_reaches_the_database_or_the_json_of_the_cli(tmp_path, database_url, monkeypatch):
    """A reminder to a webhook that answers 404: its delivery fails and is reported to the coordinator.
    Every text column of every table, and `channels --json` and `outbox --json`, are free of the secret."""
    from shanhai.app import App
    from shanhai.db import get_engine
    from shanhai.notifications.checking import check_obligation
    from shanhai.notifications.delivery import deliver_outbox
    from shanhai.settings import Settings

    with receiver(404) as port:
        config = tmp_path / "apprise.yaml"
        config.write_text(
            "urls:\n"
            f'  - "json://${{HOOK_USER}}:${{HOOK_PASSWORD}}@127.0.0.1:{port}/hook/${{HOOK_PATH}}'
            '?+X-Token=${HOOK_TOKEN}&-key=${HOOK_PATH}":\n'
            "      - tag: taishun\n",
            encoding="utf-8",
        )
        # (HTTP headers are latin-1: the Chinese goes in the path and the query)
        env = {"HOOK_USER": "robot-user-" + NASTY, "HOOK_PASSWORD": "pw-" + NASTY, "HOOK_TOKEN": "tk-" + NASTY,
               "HOOK_PATH": NASTY + "中文"}
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        settings_ = Settings(home=tmp_path / "home", database_url=database_url, apprise_config=config,
                             secret_key="test")
        app = App(settings=settings_, clock=lambda: DEC_1)
        check_obligation(app, "joint-meeting", as_of=DEC_1)
        report = deliver_outbox(app)
        assert report.failed >= 1, report.summary

    dumped: list[str] = []
    engine = get_engine(database_url)
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                dumped.extend(str(v) for v in row)
    database = "\n".join(dumped)
    assert "${HOOK_PATH}" in database, "the failure is recorded, naming the variable"
    cli_env = {"SHANHAI_APPRISE_CONFIG": str(config), "SHANHAI_SECRET_KEY": "test", **env}
    listing = run_cli(["channels", "--json"], home=tmp_path / "home", database_url=database_url, env=cli_env)
    outbox = run_cli(["outbox", "--json"], home=tmp_path / "home", database_url=database_url, env=cli_env)
    assert listing.exit_code == 0 and outbox.exit_code == 0, listing.output + outbox.output
    assert [i["channel"] for i in json.loads(listing.stdout)] == [
        f"json://${{HOOK_USER}}:${{HOOK_PASSWORD}}@127.0.0.1:{port}/hook/${{HOOK_PATH}}?+X-Token=${{HOOK_TOKEN}}"
        "&-key=${HOOK_PATH}"
    ]
    failures = [d for m in json.loads(outbox.stdout) for d in m["deliveries"] if d["status"] == "failed"]
    assert failures and all("HTTP 404" in d["error"] for d in failures)
    for value in env.values():
        for what, text in [("the database", database), ("channels --json", listing.stdout),
                           ("outbox --json", outbox.stdout)]:
            assert_hidden(text, value, what)
