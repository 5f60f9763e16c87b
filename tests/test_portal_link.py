"""The page a reminder links to: scoped to one unit and one occurrence, 签收, the record form, and
every kind of bad input refused with a clear page, the right status and nothing stored."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from shanhai.models.acknowledgements import Acknowledgement
from shanhai.models.form_nonces import FormNonce
from shanhai.models.tables import AuditEntry, CompletionRecord, EvidenceFile
from tests.conftest import count_rows
from tests.portal_support import PDF, make_portal


@pytest.fixture
def portal(tmp_path, database_url):
    return make_portal(tmp_path, database_url)


def records(portal) -> list[CompletionRecord]:
    with portal.app.session() as session:
        return list(session.execute(select(CompletionRecord).order_by(CompletionRecord.id)).scalars())


def audit_actions(portal) -> list[tuple[str, str]]:
    with portal.app.session() as session:
        return [(e.action, e.actor) for e in session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()]


# --------------------------------------------------------------------------- opening a link


def test_a_link_opens_its_occurrence_without_an_account(portal):
    page = portal.client.get(portal.link())
    assert page.status_code == 200
    assert "下一年度合作计划备案" in page.text and "泰顺-鹿城" in page.text and "泰顺县" in page.text
    assert "即将到期" in page.text and "剩余" in page.text
    assert 'name="amount_number"' in page.text  # the deadline may state money; the form offers it
    assert page.headers["referrer-policy"] == "no-referrer"  # the token must not leak to other sites


def test_a_forged_link_is_refused_with_403_and_a_clear_page(portal):
    link = portal.link()
    forged = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    page = portal.client.get(forged)
    assert page.status_code == 403
    assert "链接无效" in page.text and "签名无效" in page.text


def test_a_link_signed_with_another_secret_is_refused(portal):
    from shanhai.notifications.links import sign_report_link

    other = sign_report_link(
        base_url="", occurrence_id=portal.occurrence(), unit_code="taishun", secret="not ours", issued_at=portal.clock.now
    )
    assert portal.client.get(other).status_code == 403


def test_an_expired_link_is_refused_with_410(portal):
    old = portal.link(issued_at=portal.clock.now - timedelta(days=61))
    page = portal.client.get(old)
    assert page.status_code == 410
    assert "链接已过期" in page.text and "60 天" in page.text


def test_a_link_to_an_occurrence_that_no_longer_exists_is_404(portal):
    from shanhai.notifications.links import sign_report_link

    link = sign_report_link(base_url="", occurrence_id=999_999, unit_code="taishun", secret="test-secret",
                            issued_at=portal.clock.now)
    assert portal.client.get(link).status_code == 404


# --------------------------------------------------------------------------- 签收


def test_acknowledging_stores_the_current_stage_once_and_audits_it(portal):
    link = portal.link()
    fields = portal.report_form(link, "ack")
    done = portal.client.post(f"{link}/ack", data=fields, follow_redirects=True)
    assert done.status_code == 200
    assert "已签收 于 2026-10-20 10:00" in done.text
    assert f'action="{link}/ack"' not in done.text  # nothing more to acknowledge at this stage
    with portal.app.session() as session:
        acks = list(session.execute(select(Acknowledgement)).scalars())
    assert [(a.unit_code, a.stage, a.stage_rank) for a in acks] == [("taishun", "before_30d", 0)]
    assert acks[0].occurrence_id == portal.occurrence()
    assert audit_actions(portal).count(("occurrence.acknowledged", "泰顺县（报送链接）")) == 1


def test_a_replayed_acknowledgement_is_refused_as_already_submitted(portal):
    link = portal.link()
    fields = portal.report_form(link, "ack")
    assert portal.client.post(f"{link}/ack", data=fields, follow_redirects=False).status_code == 303
    replay = portal.client.post(f"{link}/ack", data=fields, follow_redirects=False)
    assert replay.status_code == 409
    assert "已提交，请勿重复提交" in replay.text



def _finish(portal, link: str, how: str) -> None:
    from shanhai.models.records import review_record, waive_occurrence

    if how == "waived":
        with portal.app.session() as session:
            waive_occurrence(session=session, occurrence_id=portal.occurrence(), reason="已并入全市计划", actor="jinghe")
        return
    sent = portal.submit_record(link, files={"evidence": ("回执.pdf", PDF, "application/pdf")})
    assert sent.status_code == 303, sent.text
    with portal.app.session() as session:
        review_record(session=session, record_id=records(portal)[-1].id, verdict="verified", actor="jinghe")


@pytest.mark.parametrize(("how", "label"), [("verified", "按期完成"), ("waived", "已豁免")])
def test_a_final_occurrence_offers_no_acknowledgement_and_counts_down_nothing(portal, how, label):
    link = portal.link()
    open_page = portal.client.get(link).text
    assert f'action="{link}/ack"' in open_page and "剩余" in open_page  # the test sees both while open
    _finish(portal, link, how)
    page = portal.client.get(link)
    assert page.status_code == 200 and label in page.text
    assert f'action="{link}/ack"' not in page.text and ">签收</button>" not in page.text
    assert "剩余" not in page.text and "已逾期" not in page.text
    assert f"该事项{label}，无需签收" in page.text


# --------------------------------------------------------------------------- the record form


def test_a_record_with_evidence_is_stored_pending_by_content_hash_with_a_receipt(portal):
    link = portal.link()
    sent = portal.submit_record(
        link, note="已报省市领导小组备案", files={"evidence": ("备案回执.pdf", PDF, "application/pdf")}
    )
    assert sent.status_code == 303
    receipt = portal.client.get(sent.headers["location"])
    assert receipt.status_code == 200
    [rec] = records(portal)
    assert f"记录编号 #{rec.id}" in receipt.text and "待核验" in receipt.text and "备案回执.pdf" in receipt.text
    assert (rec.state, rec.date.isoformat(), rec.occurrence_id) == ("submitted", "2026-10-19", portal.occurrence())
    assert rec.submitted_by == "泰顺县（报送链接）" and rec.note == "已报省市领导小组备案"
    digest = hashlib.sha256(PDF).hexdigest()
    assert rec.evidence_sha256 == digest and rec.evidence_name == "备案回执.pdf"
    assert (portal.app.settings.evidence_dir / digest[:2] / digest).read_bytes() == PDF
    assert ("record.submitted", "泰顺县（报送链接）") in audit_actions(portal)
    # the link's own evidence download serves it back
    got = portal.client.get(f"{link}/records/{rec.id}/evidence")
    assert got.status_code == 200 and got.content == PDF and got.headers["content-type"] == "application/pdf"


def test_a_double_submit_stores_one_record(portal):
    link = portal.link()
    data = {**portal.report_form(link), "date": "2026-10-19", "note": "第一次"}
    first = portal.client.post(f"{link}/record", data=data, follow_redirects=False)
    second = portal.client.post(f"{link}/record", data=data, follow_redirects=False)
    assert first.status_code == 303
    assert second.status_code == 409 and "已提交，请勿重复提交" in second.text
    assert len(records(portal)) == 1


def test_a_form_without_its_nonce_stores_nothing(portal):
    link = portal.link()
    data = {**portal.report_form(link), "date": "2026-10-19", "nonce": "made-up"}
    page = portal.client.post(f"{link}/record", data=data, follow_redirects=False)
    assert page.status_code == 400 and "表单已失效" in page.text
    assert records(portal) == []


def test_a_post_without_the_csrf_token_stores_nothing(portal):
    link = portal.link()
    data = {**portal.report_form(link), "date": "2026-10-19"}
    del data["csrf"]
    page = portal.client.post(f"{link}/record", data=data, follow_redirects=False)
    assert page.status_code == 403 and "CSRF" in page.text
    stranger = portal.fresh_client()  # another browser: its cookie has another token
    assert stranger.post(f"{link}/record", data={**data, "csrf": "x"}, follow_redirects=False).status_code == 403
    assert records(portal) == []


def test_a_link_cannot_act_on_another_units_occurrence(portal):
    link = portal.link()  # 泰顺县, 泰顺-鹿城
    other = portal.occurrence(scope="永嘉-瓯海")
    data = {**portal.report_form(link), "date": "2026-10-19", "occurrence_id": str(other)}
    page = portal.client.post(f"{link}/record", data=data, follow_redirects=False)
    assert page.status_code == 403 and "不能查看或填报其他单位" in page.text
    ack = {**portal.report_form(link, "ack"), "occurrence_id": str(other)}
    assert portal.client.post(f"{link}/ack", data=ack, follow_redirects=False).status_code == 403
    assert records(portal) == []
    assert count_rows(portal.database_url, Acknowledgement) == 0


def test_a_link_cannot_read_another_occurrences_records(portal):
    yongjia = portal.link(scope="永嘉-瓯海", unit="yongjia")
    sent = portal.submit_record(yongjia, files={"evidence": ("a.pdf", PDF, "application/pdf")})
    record_id = sent.headers["location"].rsplit("/", 1)[-1]
    taishun = portal.link()
    assert portal.client.get(f"{taishun}/records/{record_id}").status_code == 403
    assert portal.client.get(f"{taishun}/records/{record_id}/evidence").status_code == 403
    assert portal.client.get(f"{yongjia}/records/{record_id}").status_code == 200


def test_a_unit_that_does_not_owe_the_duty_may_view_but_not_report(portal):
    link = portal.link(unit="coordinator")  # the coordinator is copied on escalations, it does not report
    page = portal.client.get(link)
    assert page.status_code == 200 and "仅供查看" in page.text and "/record" not in page.text
    fields = portal.report_form(portal.link(), "record")  # a form taken from a reporting unit's page
    sent = portal.client.post(f"{link}/record", data={**fields, "date": "2026-10-19"}, follow_redirects=False)
    assert sent.status_code == 403
    assert records(portal) == []


def test_a_co_responsible_unit_views_what_it_is_copied_on_but_the_lead_reports(portal):
    # the city's investment is led by the coordinator; the pairings' units are co-responsible (配合)
    copied = portal.link("industrial-investment", "全市", "2026", unit="taishun")
    page = portal.client.get(copied)
    assert page.status_code == 200 and "不是该事项的牵头单位" in page.text and "/record" not in page.text
    lead = portal.link("industrial-investment", "全市", "2026", unit="coordinator")
    fields = portal.report_form(lead, "record")
    sent = portal.client.post(f"{copied}/record", data={**fields, "date": "2026-10-19"}, follow_redirects=False)
    assert sent.status_code == 403
    assert records(portal) == []


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"date": "2026-02-30"}, "不存在的日期"),
        ({"date": "30/02/2026"}, "无法识别的日期"),
        ({"date": ""}, "日期为空"),
        ({"date": "2026-12-01"}, "在未来"),
        ({"date": "2026-10-19", "amount_number": "11900", "amount_unit": ""}, "金额须注明单位"),
        ({"date": "2026-10-19", "amount_number": "11900", "amount_unit": "美元"}, "金额须注明单位"),
        ({"date": "2026-10-19", "amount_number": "-5", "amount_unit": "万元"}, "金额不能为负数"),
        ({"date": "2026-10-19", "amount_number": "5万", "amount_unit": "万元"}, "无法识别的金额"),
        ({"date": "2026-10-19", "note": "长" * 2001}, "说明不超过 2000 字"),
    ],
)
def test_bad_fields_are_refused_with_422_and_nothing_is_stored(portal, fields, message):
    link = portal.link()
    page = portal.submit_record(link, **fields)
    assert page.status_code == 422, page.text
    assert message in page.text and "未保存任何内容" in page.text
    assert records(portal) == []
    # the same form can be corrected and sent: the nonce was not spent
    assert portal.client.post(
        f"{link}/record", data={**form_of(page.text, link), "date": "2026-10-19"}, follow_redirects=False
    ).status_code == 303


def form_of(html: str, link: str) -> dict[str, str]:
    from tests.portal_support import form_fields

    return form_fields(html, f"{link}/record")


def test_a_money_duty_requires_an_amount_with_its_unit(portal):
    link = portal.link("industrial-investment", "全市", unit="coordinator")
    page = portal.client.get(link)
    assert 'name="amount_unit"' in page.text and '<option value="亿元" selected>' in page.text
    sent = portal.submit_record(link, amount_number="", category="八大产业")
    assert sent.status_code == 422 and "请填写金额" in sent.text
    ok = portal.submit_record(link, amount_number="2.5", amount_unit="亿元", category="八大产业")
    assert ok.status_code == 303
    [rec] = records(portal)
    assert rec.amount_fen == 2_5000_0000_00 and rec.category == "八大产业"


def test_a_count_duty_takes_a_count_not_money(portal):
    link = portal.link("joint-meeting")
    page = portal.client.get(link)
    assert 'name="count"' in page.text and 'name="amount_number"' not in page.text
    refused = portal.submit_record(link, count="0")
    assert refused.status_code == 422 and "数量必须至少为 1" in refused.text
    money = portal.submit_record(link, amount_number="3", amount_unit="万元")
    assert money.status_code == 422 and "不填金额" in money.text
    assert portal.submit_record(link, count="2").status_code == 303
    assert [r.count for r in records(portal)] == [2]


@pytest.mark.parametrize(
    ("name", "content", "status", "message"),
    [
        ("virus.exe", b"MZ\x90\x00" + b"\0" * 100, 415, "不支持的文件类型"),
        ("page.html", b"<script>alert(1)</script>", 415, "不支持的文件类型"),
        ("report.pdf", b"MZ\x90\x00 not a pdf at all", 415, "内容不是有效的PDF"),
        ("photo.png", PDF, 415, "内容不是有效的PNG"),
        ("empty.pdf", b"", 422, "空文件"),
    ],
)
def test_wrong_type_uploads_are_refused_and_nothing_is_stored(portal, name, content, status, message):
    page = portal.submit_record(portal.link(), files={"evidence": (name, content, "application/octet-stream")})
    assert page.status_code == status, page.text
    assert message in page.text
    assert records(portal) == []
    assert count_rows(portal.database_url, EvidenceFile) == 0
    assert not portal.app.settings.evidence_dir.exists() or not any(portal.app.settings.evidence_dir.rglob("*"))


def test_an_oversized_upload_is_refused_with_413(tmp_path, database_url):
    portal = make_portal(tmp_path, database_url, max_evidence_bytes=2000)
    big = PDF + b"0" * 3000
    page = portal.submit_record(portal.link(), files={"evidence": ("big.pdf", big, "application/pdf")})
    assert page.status_code == 413 and "文件过大" in page.text
    # past the whole request's limit the body is refused before the form is read
    huge = PDF + b"0" * (2 << 20)
    page = portal.submit_record(portal.link(), files={"evidence": ("huge.pdf", huge, "application/pdf")})
    assert page.status_code == 413 and "内容过大" in page.text
    assert records(portal) == []
    assert count_rows(portal.database_url, EvidenceFile) == 0


def test_script_in_a_note_is_shown_as_text(portal):
    link = portal.link()
    sent = portal.submit_record(link, note='<script>alert("x")</script><img src=x onerror=alert(1)>')
    receipt = portal.client.get(sent.headers["location"])
    for page in (receipt.text, portal.client.get(link).text):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    coordinator = portal.coordinator()
    queue = coordinator.get("/queue").text
    assert "<script>alert" not in queue and "&lt;script&gt;" in queue


def test_the_link_page_writes_nothing_and_its_form_nonces_are_spent_once(portal):
    """Showing the page needs no write lock (its nonces are signed, not stored): it keeps answering
    while an import writes. Submitting stores the spent nonce, once."""
    tables = (CompletionRecord, Acknowledgement, AuditEntry, FormNonce)
    before = {m: count_rows(portal.database_url, m) for m in tables}
    link = portal.link()
    portal.client.get(link)
    assert {m: count_rows(portal.database_url, m) for m in tables} == before
    assert before[FormNonce] == 0
    portal.submit_record(link)
    assert count_rows(portal.database_url, FormNonce) == 1


def test_the_record_audit_entry_names_the_unit_and_the_occurrence(portal):
    link = portal.link()
    portal.submit_record(link)
    with portal.app.session() as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "record.submitted")).scalar_one()
    assert entry.actor == "泰顺县（报送链接）"
    assert json.loads(entry.detail)["occurrence"] == portal.occurrence()


def test_form_nonces_do_not_pile_up_however_often_a_link_page_is_opened(portal):
    link = portal.link()
    for _ in range(60):
        portal.clock.advance(seconds=30)
        portal.report_form(link)
    assert count_rows(portal.database_url, FormNonce) == 0, "showing a page stores no nonce: they are signed"
    assert portal.submit_record(link).status_code == 303
    assert count_rows(portal.database_url, FormNonce) == 1
    # a spent nonce is kept only while it could be replayed: spending a later one drops it
    portal.clock.advance(days=3)
    other = portal.link(obligation="joint-meeting")
    ack = portal.report_form(other, "ack")
    assert portal.client.post(f"{other}/ack", data=ack, follow_redirects=False).status_code == 303
    assert count_rows(portal.database_url, FormNonce) == 1
