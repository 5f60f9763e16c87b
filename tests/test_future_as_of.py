"""A previewed future is never spent: a writing command with an `--as-of` after the real now is refused
with one line naming the preview, and stores nothing; the real days then get what is theirs.

The real clock is moved with time_machine (the CLI's App reads it), never today's date."""

from __future__ import annotations

import json

import pytest
import time_machine

from tests.conftest import at, count_rows

DEC_8 = at(2026, 12, 8, 10)  # a Tuesday, after the send hour


def outbox(cli) -> list[dict]:
    return json.loads(cli("outbox", "--json").stdout)


def refused(result) -> str:
    assert result.exit_code == 1, result.output
    [line] = result.stderr.strip().splitlines()
    assert "在未来" in line and "未写入任何内容" in line, line
    return line


def test_a_future_remind_is_refused_and_the_real_days_still_get_their_reminders(cli):
    from shanhai.models.tables import OutboxItem, OutboxMessage

    with time_machine.travel(DEC_8, tick=False):
        assert "--dry-run" in refused(cli("remind", "--as-of", "2026-12-30T10:00"))
        assert count_rows(cli.database_url, OutboxMessage) == 0
        assert count_rows(cli.database_url, OutboxItem) == 0
        preview = cli("remind", "--as-of", "2026-12-30T10:00", "--dry-run", "--json")
        assert preview.exit_code == 0 and json.loads(preview.stdout), "the preview still works"
        assert outbox(cli) == []
        past = cli("remind", "--as-of", "2026-12-07T10:00")
        assert past.exit_code == 0, "a past --as-of stays allowed (catching up a missed day)"

    stages_by_day = {}
    for day in (24, 30):
        with time_machine.travel(at(2026, 12, day, 10), tick=False):
            result = cli("remind", "--json")  # the real day, no --as-of
            assert result.exit_code == 0, result.output
            stages_by_day[day] = {i["stage"] for m in json.loads(result.stdout) for i in m["items"]
                                  if i["due"] == "2026-12-31"}
    assert stages_by_day == {24: {"before_7d"}, 30: {"before_1wd"}}, (
        "the refused preview consumed no stage: the 7-day reminder goes on 12-24, the last one on 12-30"
    )
    assert outbox(cli), "what the real days planned was written"


def test_a_future_digest_is_refused_unless_previewed(cli):
    from shanhai.models.tables import OutboxMessage

    with time_machine.travel(DEC_8, tick=False):
        assert "--dry-run" in refused(cli("digest", "coordinator", "--as-of", "2026-12-14T10:00"))
        assert count_rows(cli.database_url, OutboxMessage) == 0
        assert cli("digest", "coordinator", "--as-of", "2026-12-14T10:00", "--dry-run").exit_code == 0
        assert count_rows(cli.database_url, OutboxMessage) == 0
        assert cli("digest", "coordinator", "--as-of", "2026-12-07T10:00").exit_code == 0
        assert count_rows(cli.database_url, OutboxMessage) == 1


@pytest.mark.parametrize("command", ["record", "import", "demo"])
def test_every_other_writer_refuses_a_future_as_of_and_stores_nothing(sh, tmp_path, command):
    from shanhai.models.tables import CompletionRecord, ImportBatch

    path = tmp_path / "records.csv"
    path.write_text("obligation,scope,date\njoint-meeting,泰顺-鹿城,2026-12-01\n", encoding="utf-8")
    args = {
        "record": ["record", "joint-meeting", "--scope", "泰顺-鹿城", "--date", "2026-12-01"],
        "import": ["import", path],
        "demo": ["demo"],
    }[command]
    with time_machine.travel(DEC_8, tick=False):
        line = refused(sh(*args, "--as-of", "2026-12-09"))
        assert "status --as-of" in line
        assert count_rows(sh.database_url, CompletionRecord) == 0
        assert count_rows(sh.database_url, ImportBatch) == 0
        assert sh(*args, "--as-of", "2026-12-08T09:00").exit_code == 0, "a past --as-of is allowed"
        assert count_rows(sh.database_url, CompletionRecord) >= 1
