"""Evidence uploads: size and type limits, and the hand-over to the content-addressed store.

A file is accepted when its extension is one of the kinds a government office sends (PDF, images,
Office and WPS documents, OFD, ZIP) AND its first bytes are that kind's signature: a renamed .exe is
refused. The upload is copied in chunks to a private temporary file under its original (cleaned)
name, never past the size limit, and then handed to ``store_evidence`` by the caller.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from shanhai.portal.web import PageError

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
SIGNATURES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    ".pdf": ("PDF", (b"%PDF-",)),
    ".png": ("PNG 图片", (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("JPEG 图片", (b"\xff\xd8\xff",)),
    ".jpeg": ("JPEG 图片", (b"\xff\xd8\xff",)),
    ".gif": ("GIF 图片", (b"GIF87a", b"GIF89a")),
    ".webp": ("WEBP 图片", (b"RIFF",)),
    ".doc": ("Word 文档", (_OLE,)),
    ".xls": ("Excel 表格", (_OLE,)),
    ".ppt": ("PowerPoint 演示文稿", (_OLE,)),
    ".wps": ("WPS 文字文档", (_OLE,)),
    ".et": ("WPS 表格", (_OLE,)),
    ".dps": ("WPS 演示文稿", (_OLE,)),
    ".docx": ("Word 文档", _ZIP),
    ".xlsx": ("Excel 表格", _ZIP),
    ".pptx": ("PowerPoint 演示文稿", _ZIP),
    ".ofd": ("OFD 版式文档", _ZIP),
    ".zip": ("ZIP 压缩包", _ZIP),
}
ACCEPT = ",".join(SIGNATURES)  # the file input's accept attribute
KINDS_TEXT = "PDF、图片（JPG/PNG/GIF/WEBP）、Word/Excel/PowerPoint、WPS、OFD 或 ZIP 压缩包"
CHUNK = 1 << 20
MAX_NAME_CHARS = 100
MAX_NAME_BYTES = 200
MEDIA_TYPES = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


def clean_name(name: str) -> str:
    """The file's own name without any path, control characters or reserved characters, at most 100
    characters and 200 bytes with its extension kept (shown to people and stored; never a path)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in unicodedata.normalize("NFC", base) if unicodedata.category(ch)[0] != "C")
    base = re.sub(r'[<>:"|?*]', "_", base).strip().lstrip(".")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    ext = ext[:10]
    stem = stem[: MAX_NAME_CHARS - len(ext) - 1]
    # the temporary copy is a file of this name: keep it well under the file system's 255 bytes
    while len(f"{stem}.{ext}".encode()) > MAX_NAME_BYTES:
        stem = stem[:-1]
    stem = stem or "证明材料"
    return f"{stem}.{ext}" if ext else stem


def check_kind(name: str, head: bytes) -> str:
    """The lower-case extension of an accepted file; PageError 415 otherwise."""
    ext = Path(name).suffix.lower()
    if ext not in SIGNATURES:
        shown = f"“{ext}”" if ext else "（无扩展名）"
        raise PageError(415, "不支持的文件类型", f"不支持的文件类型{shown}：请上传 {KINDS_TEXT}。未保存任何内容。")
    label, magics = SIGNATURES[ext]
    ok = any(head.startswith(m) for m in magics) and (ext != ".webp" or head[8:12] == b"WEBP")
    if not ok:
        raise PageError(
            415, "文件内容与类型不符", f"“{name}”的内容不是有效的{label}（扩展名为 {ext}）。请上传原始文件。未保存任何内容。"
        )
    return ext


@contextmanager
def spooled_upload(source: BinaryIO, filename: str, *, max_bytes: int) -> Iterator[Path | None]:
    """Copy an upload to a private temporary file named like the original; None for an empty field.

    Raises PageError 413 past max_bytes and 415 for a kind not accepted; the temporary copy is
    removed on leaving the block, whatever happens."""
    if not filename:
        yield None
        return
    name = clean_name(filename)
    tmpdir = Path(tempfile.mkdtemp(prefix="shanhai-upload-"))
    try:
        target = tmpdir / name
        total = 0
        head = b""
        with target.open("wb") as out:
            while chunk := source.read(CHUNK):
                if not head:
                    head = chunk[:16]
                total += len(chunk)
                if total > max_bytes:
                    raise PageError(
                        413,
                        "文件过大",
                        f"文件过大：证明材料“{name}”超过上限 {human_size(max_bytes)}，请压缩或拆分后再上传。未保存任何内容。",
                    )
                out.write(chunk)
        if total == 0:
            raise PageError(422, "文件为空", f"证明材料“{name}”是空文件。未保存任何内容。")
        check_kind(name, head)
        yield target
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def human_size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.0f} MB"
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} 字节"


def media_type(name: str | None) -> tuple[str, bool]:
    """(Content-Type, inline?) for serving stored evidence: PDFs and pictures inline, the rest as a download."""
    ext = Path(name or "").suffix.lower()
    if ext in MEDIA_TYPES:
        return MEDIA_TYPES[ext], True
    return "application/octet-stream", False
