"""Requests a browser would not send but a script or a proxy might: forms in GBK, HEAD, a forged Host
header, a report token with bytes appended, a multipart body the parser cannot read. Each gets a clear
Chinese answer and nothing is stored."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from shanhai.models.acknowledgements import Acknowledgement
from shanhai.models.tables import CompletionRecord
from tests.conftest import count_rows
from tests.portal_support import PDF, csrf_of, make_portal


@pytest.fixture
def portal(tmp_path, database_url):
    return make_portal(tmp_path, database_url)


def records(portal) -> int:
    return count_rows(portal.database_url, CompletionRecord)


def submitted_record(portal) -> int:
    sent = portal.submit_record(portal.link(), client=portal.fresh_client(),
                                files={"evidence": ("回执.pdf", PDF, "application/pdf")})
    assert sent.status_code == 303, sent.text
    return int(sent.headers["location"].rsplit("/", 1)[-1])


def multipart(fields: list[tuple[bytes, bytes, bytes | None]], boundary: bytes = b"shanhaiBOUNDARY") -> bytes:
    """A multipart body from raw bytes (name, value, file name or None): httpx would encode it as UTF-8."""
    out = b""
    for name, value, filename in fields:
        disposition = b'form-data; name="' + name + b'"' + (b'; filename="' + filename + b'"' if filename else b"")
        kind = b"Content-Type: application/pdf\r\n" if filename else b""
        out += b"--" + boundary + b"\r\nContent-Disposition: " + disposition + b"\r\n" + kind + b"\r\n" + value + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


def record_fields(portal, link: str, **extra: bytes) -> list[tuple[bytes, bytes, bytes | None]]:
    hidden = portal.report_form(link)
    fields = {**{k: v.encode() for k, v in hidden.items()}, b"date": b"2026-10-19", **extra}
    return [(k if isinstance(k, bytes) else k.encode(), v, None) for k, v in fields.items()]


def post_multipart(portal, link: str, fields, boundary: bytes = b"shanhaiBOUNDARY"):
    return portal.client.post(
        f"{link}/record", content=multipart(fields, boundary),
        headers={"content-type": f"multipart/form-data; boundary={boundary.decode()}"}, follow_redirects=False,
    )


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    "encoded_reason",
    [
        quote("材料不全".encode("gbk")),  # a GBK form, percent-encoded
        "材料不全".encode("gbk").decode("latin-1"),  # the same bytes sent raw
    ],
    ids=["percent-encoded", "raw"],
)
def test_a_gbk_urlencoded_form_is_refused_and_nothing_is_stored(portal, encoded_reason):
    record = submitted_record(portal)
    client = portal.coordinator()
    csrf = csrf_of(client.get("/queue").text)
    refused = client.post(
        f"/records/{record}/reject", content=f"csrf={csrf}&reason={encoded_reason}".encode("latin-1"),
        headers={"content-type": "application/x-www-form-urlencoded"}, follow_redirects=False,
    )
    assert refused.status_code == 400, refused.text
    assert "理由的内容不是 UTF-8 编码" in refused.text and "未保存任何内容" in refused.text
    with portal.app.session() as session:
        assert session.get(CompletionRecord, record).state == "submitted"
    # the same words in UTF-8 are stored as they were written
    done = client.post(f"/records/{record}/reject", data={"csrf": csrf, "reason": "材料不全"}, follow_redirects=False)
    assert done.status_code == 303
    with portal.app.session() as session:
        assert session.get(CompletionRecord, record).review_note == "材料不全"


def test_a_form_declaring_another_charset_is_refused(portal):
    portal.add_user("jinghe", "coordinator")
    csrf = csrf_of(portal.client.get("/login").text)
    refused = portal.client.post(
        "/login", content=f"csrf={csrf}&name=jinghe&password=x".encode(),
        headers={"content-type": "application/x-www-form-urlencoded; charset=gbk"}, follow_redirects=False,
    )
    assert refused.status_code == 400 and "表单声明的编码“gbk”不是 UTF-8 编码" in refused.text


@pytest.mark.parametrize(
    ("extra", "filename", "said"),
    [
        ({"note": "县政府常务会议纪要".encode("gbk")}, None, "备注的内容不是 UTF-8 编码"),
        ({}, "会议纪要.pdf".encode("gbk"), "表单字段名或文件名不是 UTF-8 编码"),
    ],
    ids=["gbk-note", "gbk-file-name"],
)
def test_a_gbk_multipart_form_is_refused_and_nothing_is_stored(portal, extra, filename, said):
    link = portal.link()
    fields = record_fields(portal, link, **extra)
    if filename:
        fields.append((b"evidence", PDF, filename))
    refused = post_multipart(portal, link, fields)
    assert refused.status_code == 400, refused.text
    assert said in refused.text and "未保存任何内容" in refused.text
    assert records(portal) == 0
    # the same form in UTF-8 goes through: the nonce was not spent by the refusal
    utf8 = [(k, v.decode("gbk").encode() if k == b"note" else v, f and f.decode("gbk").encode()) for k, v, f in fields]
    assert post_multipart(portal, link, utf8).status_code == 303
    assert records(portal) == 1


def test_an_unreadable_multipart_body_is_a_chinese_page_and_stores_nothing(portal):
    link = portal.link()
    fields = [*record_fields(portal, link), (b"evidence", PDF, ("很长" * 1000 + ".pdf").encode())]
    refused = post_multipart(portal, link, fields)
    assert refused.status_code == 400
    assert "文件名过长" in refused.text and "Invalid multipart" not in refused.text
    broken = portal.client.post(f"{link}/record", content=b"--y\r\n",
                                headers={"content-type": "multipart/form-data; boundary=x"})
    assert broken.status_code == 400 and "表单数据不完整或格式不正确" in broken.text
    assert records(portal) == 0


# --------------------------------------------------------------------------- HEAD


def test_head_answers_every_get_route_like_get_without_a_body(portal):
    record = submitted_record(portal)
    client = portal.coordinator()
    web = client.app
    values = {"token": portal.link().rsplit("/", 1)[-1], "code": "taishun",
              "occurrence_id": str(portal.occurrence()), "record_id": str(record), "year": "2025", "fmt": "xlsx"}
    paths = [p for p, operations in web.openapi()["paths"].items() if "get" in operations]
    assert {"/healthz", "/", "/report/{token}", "/queue"} <= set(paths)
    for template in [*paths, "/static/style.css"]:
        path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)
        got, head = client.get(path, follow_redirects=False), client.head(path, follow_redirects=False)
        assert head.status_code == got.status_code != 405, (template, head.status_code, got.status_code)
        assert head.content == b"", template
        assert head.headers["content-type"] == got.headers["content-type"], template
        if got.headers["content-type"].startswith("text/"):  # a workbook's zip stamps the time: not byte-equal
            assert head.headers["content-length"] == str(len(got.content)), template


# --------------------------------------------------------------------------- redirects and hosts


def test_a_redirect_never_points_at_the_host_the_request_named(portal):
    evil = {"host": "evil.example"}
    for path in ("/report/abc/", "/queue/", "/queue", "/report/abc/?x=1"):
        answer = portal.client.get(path, headers=evil, follow_redirects=False)
        assert answer.status_code in (303, 307), (path, answer.status_code)
        location = answer.headers["location"]
        assert location.startswith("/") and not location.startswith("//") and "evil.example" not in location, location
    slashed = portal.client.get("/report/abc/", headers=evil, follow_redirects=False)
    assert slashed.headers["location"] == "/report/abc"


def test_a_relative_location_cannot_be_read_as_another_host():
    from shanhai.portal.protocol import relative_location

    assert relative_location("http://evil.example/report/abc?x=1#ack") == "/report/abc?x=1#ack"
    assert relative_location("http://evil.example//other.example/x") == "/other.example/x"
    assert relative_location("//evil.example/x") == "/x"
    assert relative_location("/\\evil.example") == "/evil.example"
    assert relative_location("/report/abc#ack") == "/report/abc#ack"


# --------------------------------------------------------------------------- report tokens


@pytest.mark.parametrize("appended", ["==", "%E2%80%8B", "%20", "%09", "="])
def test_a_report_token_with_bytes_appended_is_refused_and_acts_on_nothing(portal, appended):
    link = portal.link()
    form = portal.report_form(link, "ack")
    page = portal.client.get(link + appended)
    assert page.status_code == 403 and "签名无效" in page.text
    acked = portal.client.post(f"{link}{appended}/ack", data=form, follow_redirects=False)
    assert acked.status_code == 403 and "签名无效" in acked.text
    assert count_rows(portal.database_url, Acknowledgement) == 0
    assert portal.client.post(f"{link}/ack", data=form, follow_redirects=False).status_code == 303  # the real one


def test_a_unit_page_key_with_bytes_appended_is_refused(portal):
    page = portal.client.get(portal.link())
    key = re.search(r'href="/units/taishun\?key=([^"]+)"', page.text)
    assert key, "no unit page link on the report page"
    assert portal.client.get(f"/units/taishun?key={key.group(1)}").status_code == 200
    for appended in ("==", "%E2%80%8B", "%20"):
        assert portal.client.get(f"/units/taishun?key={key.group(1)}{appended}").status_code == 403
