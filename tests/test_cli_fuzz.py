"""Hostile values for every option of every command: no traceback, one readable message, nothing stored.

The `shanhai` command runs in-process (``run_cli``, exceptions not caught, so a traceback fails the test)
on one database (SQLite, then PostgreSQL) and a copy of a small catalogue, with hypothesis drawing each option's value
from hostile dates, ids, amounts, counts, scopes, periods, names (control characters, RTL marks, very
long, not UTF-8) and paths (a directory, a device, a FIFO, /proc, missing, a sparse 3 GB file, a path
under a file), with and without --json. For every run:

* the exit code is 0, 1 or 2 (2 only for a usage error: click's, or an argument no shell can pass);
* a failure says something on stderr, with no ``Traceback``, no bare exception class name and never
  the last-resort ``内部错误`` line (an input that reaches it is a bug to fix, not a message);
* a failure stores nothing: every table's row count and the evidence folder are unchanged.

Commands covered: init, catalogue validate, obligations, plans, status, board, export, ics, demo,
record, import, verify, reject, records, waive, remind, deliver, digest, outbox, channels,
channels test, holidays YEAR, holidays parse, holidays import, user add, user list, user disable,
user passwd.
Not covered: up and portal (they start servers and run until stopped).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import (
    industrial_investment,
    joint_meeting,
    make_catalogue,
    next_year_plan,
    park_investment_plan,
    plan_rows,
    run_cli,
    sales_outlets,
)

EXAMPLES = int(os.environ.get("SHANHAI_FUZZ_EXAMPLES", "12"))  # per command; more for a deeper run by hand
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    # the same examples on every run, so a failure is reproducible; a deeper run by hand explores anew
    derandomize="SHANHAI_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
AS_OF = "2026-06-01"
CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Warning)\b")


class World:
    """One home, one SQLite database, one catalogue copy and the hostile files, for the whole module."""

    def __init__(self, root: Path, url: str | None = None):
        self.root = root
        self.home = root / "home"
        self.catalogue = make_catalogue(
            root / "catalogue",
            [joint_meeting(), next_year_plan(), industrial_investment(), park_investment_plan(), sales_outlets()],
            plans=plan_rows(),
        )
        self.url = url or f"sqlite:///{root / 'shanhai.db'}"
        files = root / "files"
        files.mkdir()
        (files / "folder").mkdir()
        (files / "empty.pdf").write_bytes(b"")
        (files / "ok.pdf").write_bytes(b"%PDF-1.4 evidence\n")
        (files / "nul.csv").write_bytes(b"obligation,scope,date\x00\njoint-meeting,\x00,2026-05-01\n")
        (files / "gbk.csv").write_bytes("事项编号,范围,日期\njoint-meeting,泰顺-鹿城,2026-05-01\n".encode("gbk"))
        (files / "huge-field.csv").write_text("obligation,scope,date,note\njoint-meeting,泰顺-鹿城,2026-05-01,\"" +
                                             "x" * 200_000 + "\"\n", encoding="utf-8")
        (files / "garbage.xlsx").write_bytes(b"PK\x03\x04" + os.urandom(200))
        (files / "binary.txt").write_bytes(os.urandom(300))
        (files / "notice.txt").write_text("国务院办公厅关于2030年部分节假日安排的通知\n一、元旦：1月1日放假。\n", encoding="utf-8")
        with open(files / "sparse.bin", "wb") as fh:  # 3 GB that takes no disk: must be refused by size
            fh.truncate(3 * 1024**3)
        os.mkfifo(files / "fifo")
        (files / "a-file").write_text("x")
        os.symlink(files / "missing-target", files / "dangling")
        self.files = files
        self.inputs = [
            str(files / name)
            for name in ("folder", "empty.pdf", "ok.pdf", "nul.csv", "gbk.csv", "huge-field.csv", "garbage.xlsx",
                         "binary.txt", "notice.txt", "sparse.bin", "fifo", "dangling", "missing.csv",
                         "a-file/below.csv")
        ] + ["/dev/null", "/dev/zero", "/proc/self/status", "/", ""]
        self.outputs = [
            str(files / name)
            for name in ("folder", "missing-folder/out.xlsx", "a-file/out.xlsx", "out.xlsx", "x" * 300 + ".xlsx",
                         "new\nline.xlsx", "fifo")
        ] + ["/dev/full", ""]

    def run(self, args: list[str], *, env: dict[str, str] | None = None, input: str | None = None):  # noqa: A002
        return run_cli(args, home=self.home, database_url=self.url, catalogue_dir=self.catalogue, env=env,
                       input=input)

    def snapshot(self) -> dict[str, int]:
        from sqlalchemy import inspect, text

        from shanhai.db import get_engine

        counts: dict[str, int] = {}
        if self.url.startswith("postgresql") or Path(self.url.removeprefix("sqlite:///")).exists():
            with get_engine(self.url).connect() as conn:
                for name in inspect(conn).get_table_names():
                    counts[name] = conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
        evidence = self.home / "evidence"
        counts["(evidence files)"] = sum(1 for p in evidence.rglob("*") if p.is_file()) if evidence.exists() else 0
        counts["(catalogue)"] = hash(tuple(p.read_bytes() for p in sorted(self.catalogue.glob("*.yaml"))))
        return counts


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request, tmp_path_factory) -> Iterator[World]:
    url = None
    if request.param == "postgres":
        cluster = request.getfixturevalue("postgres_cluster")
        name = f"t_{uuid.uuid4().hex}"
        with cluster.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = cluster.url(name)
    w = World(tmp_path_factory.mktemp("fuzz"), url)
    result = w.run(["init", "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    result = w.run(["record", "joint-meeting", "--scope", "泰顺-鹿城", "--date", "2026-05-01", "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    yield w
    from shanhai import db

    db.get_engine(w.url).dispose()
    db._migrated.discard(w.url)
    shutil.rmtree(w.root, ignore_errors=True)
    if url is not None:
        with request.getfixturevalue("postgres_cluster").admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def check(world: World, args: list[str], *, env: dict[str, str] | None = None, input: str | None = None):  # noqa: A002
    """Run one command and assert the three promises of this file; returns the result."""
    before = world.snapshot()
    result = world.run(args, env=env, input=input)
    shown = f"shanhai {args!r} env={env!r} -> {result.exit_code}\nstdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-3000:]}"
    assert result.exit_code in (0, 1, 2), shown
    assert "Traceback" not in result.output, shown
    assert "内部错误" not in result.output, "an input reached the last-resort handler: fix its cause\n" + shown
    if result.exit_code != 0:
        err = result.stderr.strip()
        assert err, "a failure says why\n" + shown
        said = err
        for arg in sorted(args, key=len, reverse=True):  # what the user typed may look like anything
            said = said.replace(arg, "") if arg else said
        assert not CLASS_NAME.search(said), "a message, not an exception's class name\n" + shown
        if result.exit_code == 2:
            assert "用法：" in err or "参数" in err, "exit 2 is for usage errors only\n" + shown
        assert world.snapshot() == before, "nothing stored by a failed command\n" + shown
    return result


# --------------------------------------------------------------------------- hostile values

HOSTILE_TEXT = [
    "", " ", "\t", "\u202e泰顺-鹿城", "泰顺-鹿城\u200b", "泰顺\x07鹿城", "\x1b[31m红\x1b[0m", "x" * 5000, "-1", "--",
    "%s%n%x", "${HOME}", "'; DROP TABLE unit; --", "\udcff\udcfe", "\x00", "\ufeff", "泰顺-鹿城\n永嘉-瓯海",
    "NaN", "inf", "1e309", "🙂" * 100,
]
HOSTILE_DATES = [
    "P1D", "9999-12-31", "0001-01-01", "1999-12-31", "2101-01-01", "2026-02-30", "2026-13-01", "2026-06-01T25:00",
    "2026-06-01T12:00+99:00", "2026-06-01T12:00:00.000000001", "２０２６-０６-０１", "-2026-01-01", "20260601",
    "2026-W23", "2026-152", "now", "today", "T12:00", "12:00", "2026", "2026-06", "2026-06-01 12:00",
    "2026-06-01T12:00Z", "1e9",
]
HOSTILE_INTS = [
    "99999999999999999999", "9223372036854775807", "9223372036854775808", "-9223372036854775809", "0", "-1", "1.5",
    "1e3", "0x10", "abc", "", " 1", "١٢", "２", "+5", "1_000",
]
HOSTILE_AMOUNTS = [
    "11900", "11900元", "-1元", "0元", "1e20亿", "99999999999999999999亿", "NaN万", "inf元", "1,2,3元", "１２元",
    "0.001元", "500万万", "亿", "1.5.5万", "  ", "1" * 400 + "元",
]
SCOPES = ["泰顺-鹿城", "永嘉-瓯海", "全市", "泰顺县", "泰顺", "鹿城区", "泰顺-鹿城生态旅游文化产业园", "泰顺园", "市教育局"]
OBLIGATIONS = ["joint-meeting", "next-year-plan", "industrial-investment", "park-investment-plan", "sales-outlets"]


def hostile(*known: str, pool: list[str] = HOSTILE_TEXT) -> st.SearchStrategy[str]:
    """A value from the known good ones, the hostile pool, or hypothesis's own text."""
    return st.one_of(st.sampled_from(list(known) or ["x"]), st.sampled_from(pool), st.text(max_size=40))


def date_value() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from([AS_OF, "2026-05-01", "2025-12-31"]),
        st.sampled_from(HOSTILE_DATES),
        st.dates().map(str),
        st.datetimes().map(lambda d: d.isoformat()),
        st.text(max_size=25),
    )


def int_value(*known: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(list(known) or ["1"]), st.sampled_from(HOSTILE_INTS), st.integers(-(2**80), 2**80).map(str)
    )


def option(name: str, value: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    """The option with a value, or absent."""
    return st.one_of(st.just([]), value.map(lambda v: [name, v]))


def flag(name: str) -> st.SearchStrategy[list[str]]:
    return st.sampled_from([[], [name]])


@st.composite
def command(draw, head: list[str], *parts: st.SearchStrategy[list[str]]) -> list[str]:
    args = list(head)
    for part in parts:
        args += draw(part)
    return args


def as_of() -> st.SearchStrategy[list[str]]:
    return option("--as-of", date_value())


def in_paths(world: World) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(world.inputs), st.text(max_size=20))


def out_paths(world: World) -> st.SearchStrategy[str]:
    return st.sampled_from(world.outputs)


# --------------------------------------------------------------------------- the commands

def commands(world: World) -> dict[str, st.SearchStrategy[list[str]]]:
    obligation = hostile(*OBLIGATIONS)
    scope = hostile(*SCOPES)
    return {
        "init": command(["init"], as_of(), option("--tracking-from", date_value())),
        "catalogue validate": command(["catalogue", "validate"], st.one_of(st.just([]), in_paths(world).map(lambda p: [p]))),
        "obligations": command(["obligations"], flag("--json")),
        "plans": command(["plans"], flag("--json")),
        "status": command(
            ["status"], as_of(), option("--scope", scope), option("--obligation", obligation),
            option("--year", int_value("2026", "2025")), flag("--all"), flag("--json"),
        ),
        "board": command(["board"], as_of()),
        "export": command(["export"], out_paths(world).map(lambda p: [p]), as_of(), flag("--all")),
        "ics": command(["ics"], scope.map(lambda s: [s]), option("-o", out_paths(world)), as_of()),
        "demo": command(["demo"], as_of()),
        "record": command(
            ["record"], obligation.map(lambda o: [o]), scope.map(lambda s: ["--scope", s]),
            date_value().map(lambda d: ["--date", d]), option("--amount", hostile("11900元", "2.5亿", pool=HOSTILE_AMOUNTS)),
            option("--count", int_value("1", "2")), option("--category", hostile("八大产业", "government", "attraction")),
            option("--note", hostile("说明")), option("--evidence", in_paths(world)),
            option("--period", hostile("2025", "2026", pool=HOSTILE_INTS)), as_of(), flag("--json"),
        ),
        "import": command(["import"], in_paths(world).map(lambda p: [p]), as_of()),
        "verify": command(["verify"], int_value("1").map(lambda i: [i]), option("--note", hostile()),
                          option("--by", hostile("经合办"))),
        "reject": command(["reject"], int_value("1").map(lambda i: [i]), hostile("理由").map(lambda n: ["--note", n]),
                          option("--by", hostile("经合办"))),
        "records": command(["records"], flag("--pending"), option("--scope", scope), option("--obligation", obligation),
                           flag("--json")),
        "waive": command(["waive"], int_value("1", "2").map(lambda i: [i]), hostile("理由").map(lambda r: ["--reason", r]),
                         option("--by", hostile("经合办"))),
        "remind": command(["remind"], as_of(), option("--obligation", obligation), flag("--dry-run"), flag("--json")),
        "deliver": command(["deliver"]),
        "digest": command(["digest"], hostile("coordinator", "supervisor").map(lambda a: [a]), as_of(),
                          flag("--dry-run"), flag("--json")),
        "outbox": command(["outbox"], option("--limit", int_value("5")), option("--show", int_value("1")),
                          flag("--json")),
        "channels": command(["channels"], flag("--json")),
        "channels test": command(["channels", "test"], st.one_of(st.just([]), scope.map(lambda s: [s])), flag("--json")),
        "holidays YEAR": command(["holidays"], int_value("2026", "2027", "1").map(lambda y: [y]), flag("--json")),
        "holidays parse": command(["holidays", "parse"], in_paths(world).map(lambda p: [p]), flag("--json")),
        "holidays import": command(["holidays", "import"], in_paths(world).map(lambda p: [p])),
        "user list": command(["user", "list"], flag("--json")),
        "user disable": command(["user", "disable"], hostile("admin", "nobody").map(lambda n: [n])),
        # stdin is empty: an empty password, refused after the name is checked
        "user passwd": command(["user", "passwd"], hostile("admin", "nobody").map(lambda n: [n, "--password-stdin"])),
    }


COMMANDS = [
    "init", "catalogue validate", "obligations", "plans", "status", "board", "export", "ics", "demo", "record",
    "import", "verify", "reject", "records", "waive", "remind", "deliver", "digest", "outbox", "channels",
    "channels test", "holidays YEAR", "holidays parse", "holidays import", "user list", "user disable",
    "user passwd",
]


@pytest.mark.timeout(120, method="thread")
@pytest.mark.parametrize("name", COMMANDS)
def test_hostile_options_never_give_a_traceback_and_a_failure_stores_nothing(world, name, request):
    strategy = commands(world)[name]

    @FUZZ
    @given(args=strategy)
    def run(args: list[str]) -> None:
        check(world, args)

    run()


@pytest.mark.timeout(120, method="thread")
@FUZZ
@given(
    name=hostile("jinghe-zhang", "admin"),
    role=hostile("coordinator", "supervisor"),
    password=st.one_of(st.sampled_from(["correct horse battery", "short", "", "x" * 100_000, "密码" * 10]),
                       st.text(max_size=40)),
)
def test_user_add_with_hostile_names_roles_and_passwords_never_gives_a_traceback(world, name, role, password):
    check(world, ["user", "add", name, "--role", role, "--password-stdin"], input=password + "\n")


SETTINGS_VALUES = {
    "SHANHAI_SEND_HOUR": ["25", "-1", "abc", "", "9.5", "99999999999999999999"],
    "SHANHAI_MAX_EVIDENCE_BYTES": ["-1", "0", "abc", "", "1e9", "99999999999999999999"],
    "SHANHAI_SEND_TIMEOUT_SECONDS": ["0", "-1", "nan", "inf", "abc", "", "1e400", "301"],
    "SHANHAI_DATABASE_URL": ["notaurl", "foo://x/y", "postgresql+asyncpg://h/db", "postgresql://u:pw@h:abc/db", "",
                             "sqlite:////proc/self/status", "sqlite:////dev/null/x.db", "postgresql://127.0.0.1:1/db",
                             "mysql://h/db", "sqlite:///"],
    "SHANHAI_CATALOGUE_DIR": ["/nonexistent", "", "/dev/null", "/dev/zero", "/proc/self", "/", "{files}/fifo",
                              "{files}/sparse.bin", "{files}/folder"],
    "SHANHAI_HOME": ["", "/dev/null", "/proc/self/status/x", "{files}/a-file", "{files}/fifo"],
    "SHANHAI_SECRET_KEY": ["", ",", " , ,"],
    "SHANHAI_PORTAL_URL": ["", "ftp://x", "not a url", "http://"],
    "SHANHAI_PREFECT_UI_URL": ["", "javascript:alert(1)"],
    "SHANHAI_APPRISE_CONFIG": ["", "/nonexistent.yaml", "/dev/null", "/dev/zero", "/", "{files}/fifo",
                               "{files}/sparse.bin", "{files}/binary.txt"],
}
SETTINGS_COMMANDS = [
    ["status", "--as-of", AS_OF], ["obligations"], ["record", "joint-meeting", "--scope", "泰顺-鹿城", "--date", "2026-05-02",
                                                    "--as-of", AS_OF], ["holidays", "2026"], ["catalogue", "validate"],
    ["remind", "--as-of", AS_OF], ["channels"], ["init", "--as-of", AS_OF],
]


@pytest.mark.timeout(120, method="thread")
@FUZZ
@given(
    setting=st.sampled_from(sorted(SETTINGS_VALUES)).flatmap(
        lambda k: st.tuples(st.just(k), st.sampled_from(SETTINGS_VALUES[k]))
    ),
    args=st.sampled_from(SETTINGS_COMMANDS),
)
@example(setting=("SHANHAI_SEND_HOUR", "25"), args=["status", "--as-of", AS_OF])
@example(setting=("SHANHAI_SECRET_KEY", ""), args=["status", "--as-of", AS_OF])
def test_a_bad_setting_gives_one_line_naming_it_for_every_command(world, setting, args):
    variable, value = setting
    value = value.replace("{files}", str(world.files))
    result = check(world, args, env={variable: value})
    if result.exit_code != 0 and "环境变量有误" in result.stderr:
        assert variable in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
