"""Form bodies are UTF-8 or refused: a GBK form never becomes mojibake in the database.

Starlette reads an urlencoded field's bytes with ``errors="replace"`` and a multipart field that is not
valid in its charset as Latin-1, so a body sent in GBK would be stored garbled. This middleware reads the
raw bytes as they reach the app (before any endpoint runs: FastAPI reads the whole form first) and
refuses, with 400 and a page naming the field, any field name, value or file name that is not UTF-8, or
a body that declares another charset. A multipart body the parser cannot read (a file name longer than
its header limit, a broken boundary) is the same Chinese page instead of Starlette's English line.
File contents are never looked at: they are bytes.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

import python_multipart
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from shanhai.portal.web import PageError

URLENCODED = b"application/x-www-form-urlencoded"
MULTIPART = b"multipart/form-data"
MAX_FIELD_BYTES = 1 << 20  # Starlette refuses a larger multipart field itself: no need to hold more

#: The form fields and parameters, as people read them (never the code's English names).
FIELD_LABELS = {
    "occurrence_id": "期次编号",
    "record_id": "记录编号",
    "evidence": "证明材料",
    "name": "账号",
    "password": "密码",
    "reason": "理由",
    "note": "备注",
    "date": "完成日期",
    "amount_number": "金额",
    "amount_unit": "金额单位",
    "count": "数量",
    "category": "类别",
}


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, f"“{name}”" if name.isascii() and name.isprintable() else "表单字段")


def not_utf8(what: str) -> PageError:
    return PageError(
        400,
        "无法识别的编码",
        f"{what}不是 UTF-8 编码（可能是 GBK）。请用浏览器打开本页重新填写提交；若用程序提交，请按 UTF-8 编码。未保存任何内容。",
    )


def unreadable_multipart(exc: Exception) -> PageError:
    if "header size" in str(exc).lower():  # python-multipart: "Maximum header size exceeded"
        detail = "文件名过长或表单头部过大，请把文件改成较短的名称后重新上传"
    else:
        detail = "表单数据不完整或格式不正确，请刷新页面后重新提交"
    return PageError(400, "表单无法读取", f"{detail}。未保存任何内容。")


def _decoded(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise not_utf8(what) from None


class UrlencodedCheck:
    """Holds the body (small: no files) and checks every name and value once it is complete."""

    def __init__(self) -> None:
        self.body = bytearray()

    def write(self, chunk: bytes) -> None:
        self.body += chunk

    def finish(self) -> None:
        for pair in bytes(self.body).split(b"&"):
            raw_name, _, raw_value = pair.partition(b"=")
            name = _decoded(unquote_to_bytes(raw_name.replace(b"+", b" ")), "表单字段名")
            _decoded(unquote_to_bytes(raw_value.replace(b"+", b" ")), f"{field_label(name)}的内容")


class MultipartCheck:
    """Streams the body through python-multipart beside Starlette's own parser, checking each part's
    headers (its name and file name) and each non-file field's value."""

    def __init__(self, boundary: bytes) -> None:
        self._header_name = bytearray()
        self._header = bytearray()
        self._disposition = b""
        self._name = ""
        self._is_file = False
        self._data = bytearray()
        callbacks = {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }
        self._parser = python_multipart.MultipartParser(boundary, callbacks)  # type: ignore[arg-type]

    def write(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise unreadable_multipart(exc) from None

    def finish(self) -> None:
        try:
            self._parser.finalize()
        except FormParserError as exc:
            raise unreadable_multipart(exc) from None

    def _begin(self) -> None:
        self._disposition, self._name, self._is_file = b"", "", False
        self._data = bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]

    def _header_end(self) -> None:
        name, value = bytes(self._header_name).lower(), bytes(self._header)
        self._header_name, self._header = bytearray(), bytearray()
        _decoded(value, "表单字段名或文件名")
        if name == b"content-disposition":
            self._disposition = value

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._name = options.get(b"name", b"").decode("utf-8")  # the whole header was checked as UTF-8
        self._is_file = b"filename" in options

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._is_file and len(self._data) <= MAX_FIELD_BYTES:
            self._data += data[start:end]

    def _part_end(self) -> None:
        if not self._is_file:
            _decoded(bytes(self._data[: MAX_FIELD_BYTES + 1]), f"{field_label(self._name)}的内容")


def body_check(content_type: str) -> UrlencodedCheck | MultipartCheck | None:
    """The check for a form body of this Content-Type; None for a body that is not a form."""
    kind, options = parse_options_header(content_type)
    if kind not in (URLENCODED, MULTIPART):
        return None
    charset = options.get(b"charset", b"utf-8").decode("latin-1").lower()
    if charset not in ("utf-8", "utf8"):
        raise not_utf8(f"表单声明的编码“{charset[:20]}”")
    if kind == URLENCODED:
        return UrlencodedCheck()
    boundary = options.get(b"boundary")
    if not boundary:
        raise unreadable_multipart(ValueError("no boundary"))
    return MultipartCheck(boundary)


class Utf8Forms:
    """ASGI middleware: a form body's fields are checked as the app reads them (see the module)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"").decode("latin-1")
        checker: list = []  # made on the first read, so that its error is answered as the app's page

        async def checked_receive():
            if not checker:
                checker.append(body_check(content_type))
            message = await receive()
            check = checker[0]
            if check is not None and message["type"] == "http.request":
                check.write(message.get("body", b""))
                if not message.get("more_body", False):
                    check.finish()
            return message

        await self.app(scope, checked_receive, send)
