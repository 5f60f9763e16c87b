"""Upload names and kinds (pure): a stored name is never a path, and a file is accepted only when its
extension and its first bytes agree."""

from __future__ import annotations

import io
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shanhai.portal.uploads import SIGNATURES, check_kind, clean_name, spooled_upload
from shanhai.portal.web import PageError


@given(st.text(max_size=400))
def test_a_cleaned_name_is_never_a_path_nor_hidden_nor_long(name):
    cleaned = clean_name(name)
    assert cleaned and len(cleaned) <= 100 and len(cleaned.encode()) <= 200
    assert "/" not in cleaned and "\\" not in cleaned and "\x00" not in cleaned
    assert not cleaned.startswith(".")
    assert not any(unicodedata.category(ch).startswith("C") for ch in cleaned)  # no control or format characters


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\张三\\会议纪要.pdf", "会议纪要.pdf"),
        (".htaccess", "htaccess"),
        ("a\nb\r\x07.docx", "ab.docx"),
        ("<纪要>?.pdf", "_纪要__.pdf"),
        ("", "证明材料"),
        ("很长" * 100 + ".pdf", "很长" * 32 + "很.pdf"),  # 199 bytes: the file system takes 255
    ],
)
def test_names_are_cleaned_as_people_would_expect(raw, cleaned):
    assert clean_name(raw) == cleaned


@pytest.mark.parametrize(
    ("name", "head"),
    [
        ("a.pdf", b"%PDF-1.7"),
        ("a.PNG", b"\x89PNG\r\n\x1a\n"),
        ("a.jpeg", b"\xff\xd8\xff\xe0"),
        ("a.webp", b"RIFF\x00\x00\x00\x00WEBPVP8 "),
        ("a.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
        ("a.wps", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
        ("a.xlsx", b"PK\x03\x04"),
        ("a.ofd", b"PK\x03\x04"),
    ],
)
def test_accepted_kinds(name, head):
    assert check_kind(name, head) == name[name.rindex("."):].lower()


@pytest.mark.parametrize(
    ("name", "head"),
    [("a.exe", b"MZ"), ("a.svg", b"<svg"), ("a.html", b"<html"), ("a", b"%PDF-"), ("a.pdf", b"PK\x03\x04"),
     ("a.webp", b"RIFF\x00\x00\x00\x00AVI ")],
)
def test_refused_kinds_are_415(name, head):
    with pytest.raises(PageError) as err:
        check_kind(name, head)
    assert err.value.status_code == 415


def test_every_accepted_kind_has_a_signature():
    assert all(magics and all(magics) for _, magics in SIGNATURES.values())


def test_an_upload_past_the_limit_is_413_and_leaves_no_temporary_file():
    with pytest.raises(PageError) as err, spooled_upload(io.BytesIO(b"%PDF-" + b"0" * 100), "a.pdf", max_bytes=50):
        pass
    assert err.value.status_code == 413


def test_an_accepted_upload_keeps_its_name_until_the_block_ends():
    with spooled_upload(io.BytesIO(b"%PDF-1.4 hello"), "dir/会议纪要.pdf", max_bytes=1000) as path:
        assert path is not None and path.name == "会议纪要.pdf" and path.read_bytes() == b"%PDF-1.4 hello"
    assert not path.exists() and not path.parent.exists()
