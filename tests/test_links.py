"""Signed report links: round trip, forgery, expiry (time passed in, never read)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

from shanhai.notifications.links import LinkError, sign_report_link, verify_report_token

SHANGHAI = timezone(timedelta(hours=8))
ISSUED = datetime(2026, 10, 24, 9, 0, tzinfo=SHANGHAI)
SECRET = "test-secret-不要在生产环境使用"
BASE = "https://shanhai.example.cn/"


def token_of(link: str) -> str:
    prefix = "https://shanhai.example.cn/report/"
    assert link.startswith(prefix)
    return link[len(prefix) :]


def sign(occurrence_id: int = 123, unit_code: str = "yongjia", issued_at: datetime = ISSUED) -> str:
    return token_of(
        sign_report_link(
            base_url=BASE,
            occurrence_id=occurrence_id,
            unit_code=unit_code,
            secret=SECRET,
            issued_at=issued_at,
        )
    )


def test_a_signed_link_round_trips():
    token = sign()
    assert "/" not in token
    assert verify_report_token(token, secret=SECRET, now=ISSUED + timedelta(days=3)) == (123, "yongjia", ISSUED)


def test_a_token_signed_with_another_secret_is_forged():
    with pytest.raises(LinkError, match="签名无效") as err:
        verify_report_token(sign(), secret="another-secret", now=ISSUED)
    assert err.value.reason == "forged"


def test_garbage_is_forged():
    for token in ("", "abc", "not.a.token", sign()[:-2]):
        with pytest.raises(LinkError, match="签名无效"):
            verify_report_token(token, secret=SECRET, now=ISSUED)


@pytest.mark.parametrize("appended", ["==", "=", "\u200b", " ", "\t", "\n", ".", "A"])
def test_a_token_with_anything_appended_is_refused(appended):
    with pytest.raises(LinkError, match="签名无效") as err:
        verify_report_token(sign() + appended, secret=SECRET, now=ISSUED)
    assert err.value.reason == "forged"


def test_a_signature_with_its_spare_low_bits_changed_is_refused():
    token = sign()
    last = token[-1]
    # the signature's last character carries 4 bits the decoder drops: a sibling decodes to the same bytes
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = alphabet[alphabet.index(last) ^ 1]
    assert base64.urlsafe_b64decode(token.rsplit(".", 1)[1][:-1] + sibling + "=") == base64.urlsafe_b64decode(
        token.rsplit(".", 1)[1] + "=")
    with pytest.raises(LinkError, match="签名无效"):
        verify_report_token(token[:-1] + sibling, secret=SECRET, now=ISSUED)


def test_a_tampered_occurrence_id_is_forged():
    token = sign(occurrence_id=123)
    payload, signature = token.rsplit(".", 1)
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert data[0] == 123
    data[0] = 124
    forged_payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=")
    with pytest.raises(LinkError, match="签名无效"):
        verify_report_token(f"{forged_payload.decode()}.{signature}", secret=SECRET, now=ISSUED)


def test_a_link_expires_after_max_age_days():
    token = sign()
    assert verify_report_token(token, secret=SECRET, now=ISSUED + timedelta(days=60))[:2] == (123, "yongjia")
    with pytest.raises(LinkError, match="链接已过期") as err:
        verify_report_token(token, secret=SECRET, now=ISSUED + timedelta(days=60, seconds=1))
    assert err.value.reason == "expired"
    with pytest.raises(LinkError, match="链接已过期"):
        verify_report_token(token, secret=SECRET, now=ISSUED + timedelta(days=8), max_age_days=7)


def test_a_link_issued_in_the_future_is_refused():
    token = sign(issued_at=ISSUED + timedelta(days=1))
    with pytest.raises(LinkError, match="签名无效"):
        verify_report_token(token, secret=SECRET, now=ISSUED)
    # A few minutes of clock skew between machines are tolerated.
    token = sign(issued_at=ISSUED + timedelta(minutes=2))
    assert verify_report_token(token, secret=SECRET, now=ISSUED)[:2] == (123, "yongjia")


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        sign(issued_at=datetime(2026, 10, 24, 9, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_report_token(sign(), secret=SECRET, now=datetime(2026, 10, 24, 9, 0))


# --------------------------------------------------------------------------- a unit's page key


def test_a_unit_page_key_opens_its_unit_for_sixty_days_and_no_other_unit():
    from shanhai.notifications.links import sign_report_link, sign_unit_page_key, verify_unit_page_key

    key = sign_unit_page_key(unit_code="yongjia", secret=SECRET, issued_at=ISSUED)
    verify_unit_page_key(key, unit_code="yongjia", secret=[SECRET], now=ISSUED + timedelta(days=60))
    with pytest.raises(LinkError) as err:
        verify_unit_page_key(key, unit_code="yongjia", secret=SECRET, now=ISSUED + timedelta(days=60, seconds=1))
    assert err.value.reason == "expired"
    with pytest.raises(LinkError) as err:
        verify_unit_page_key(key, unit_code="taishun", secret=SECRET, now=ISSUED)
    assert err.value.reason == "forged"
    # a report link's token is no page key (another salt), even for the same unit
    report = token_of(sign_report_link(base_url=BASE, occurrence_id=1, unit_code="yongjia", secret=SECRET,
                                       issued_at=ISSUED))
    with pytest.raises(LinkError) as err:
        verify_unit_page_key(report, unit_code="yongjia", secret=SECRET, now=ISSUED)
    assert err.value.reason == "forged"
