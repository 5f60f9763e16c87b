"""The obligation catalogue (calendar/*.yaml) checked against 温政发〔2018〕26号.

These tests read the raw YAML with ``yaml.safe_load`` only; they do not import the
shanhai loader. Facts from the document are written out below; where the document itself
is kept in the repository (``calendar/source/wenzhengfa-2018-26.txt``, published openly) they are also compared with it.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import Counter
from pathlib import Path

import yaml

CALENDAR = Path(__file__).parent.parent / "calendar"
SEED = CALENDAR / "source" / "wenzhengfa-2018-26.txt"

PAIRED = "结对双方"  # token for 结对县（市、区）党委、政府
SIDES = {PAIRED, "结对县", "结对强区"}  # both sides, the county side, the partner side
# Units a cited clause names but the catalogue leaves out on purpose, with the reason in the entry's notes.
LEFT_OUT = {"midyear-inspection": {PAIRED}}  # the inspected counties do not inspect themselves

# --- facts from the document ----------------------------------------------------------

# 附件1, in table order: pairing, core area, then per year (2018, 2019, 2020) the
# government row and the attraction row as (项目数, 计划总投资, 计划完成数) in 万元.
ATTACHMENT1 = {
    "永嘉-瓯海": (
        3.5,
        {
            2018: ((2, 200000, 10000), (1, 10000, 5000)),
            2019: ((10, 10000, 8000), (4, 20000, 15000)),
            2020: ((11, 11000, 8800), (4, 22000, 16500)),
        },
    ),
    "苍南-龙湾": (
        2.6,
        {
            2018: ((5, 29221, 2850), (1, 100000, 8000)),
            2019: ((3, 10000, 3500), (1, 30000, 5000)),
            2020: ((2, 8000, 3000), (2, 20000, 5000)),
        },
    ),
    "文成-瑞安": (
        4.5,
        {
            2018: ((3, 14630, 5000), (5, 251700, 8000)),
            2019: ((2, 20000, 8000), (8, 450000, 30000)),
            2020: ((1, 15000, 10000), (9, 500000, 35000)),
        },
    ),
    "泰顺-鹿城": (
        2.06,
        {
            2018: ((5, 29000, 3450), (1, 150000, 500)),
            2019: ((16, 28750, 11900), (1, 10000, 2000)),
            2020: ((11, 21200, 12000), (1, 10000, 2000)),
        },
    ),
    "平阳-乐清": (
        1.48,
        {
            2018: ((8, 82980, 23144), (3, 9310, 2448)),
            2019: ((11, 100757, 19750), (2, 37040, 4400)),
            2020: ((12, 101857, 32511), (4, 74998, 16480)),
        },
    ),
}
# Per park over 2018-2020: (项目数, 计划总投资, 计划完成数), summed by hand from 附件1.
PARK_TOTALS = {
    "永嘉-瓯海": (32, 273000, 63300),
    "苍南-龙湾": (14, 197221, 27350),
    "文成-瑞安": (28, 1251330, 96000),
    "泰顺-鹿城": (35, 248950, 31850),
    "平阳-乐清": (40, 406942, 98733),
}
ATTACHMENT1_TOTAL_WAN = 2377443  # 万元 = 237.7443亿元
MAIN_TEXT_TOTAL_YI = 237.7

PAIRINGS = [  # (name as in 附件1, 加快发展县, 经济强区/市)
    ("永嘉-瓯海", "永嘉县", "瓯海区"),
    ("苍南-龙湾", "苍南县", "龙湾区"),
    ("文成-瑞安", "文成县", "瑞安市"),
    ("泰顺-鹿城", "泰顺县", "鹿城区"),
    ("平阳-乐清", "平阳县", "乐清市"),
]

# 责任单位 as the document spells them. Main text: per clause. 附件2: per 事项, with the
# merged cells of the 责任单位 column expanded (a list applies until the next one).
_M = "市招商局〈经合办〉"
_A = "市招商局（经合办）"
RESPONSIBLE_IN_DOCUMENT = {
    "二(一)": [_M, PAIRED],
    "二(二)1": [PAIRED],
    "二(二)2": [_M, "市发改委", "市国土资源局", "市规划局", "市旅游局", PAIRED],
    "二(二)3": [_M, "市发改委", "市财政局", "市国土资源局", "市规划局", PAIRED],
    "二(三)1": ["市农业局", "市发改委", "市旅游局", _M, PAIRED],
    "二(三)2": ["市人力社保局", _M, PAIRED],
    "二(三)3": ["市教育局", "市财政局", "市人力社保局", "市卫计委", PAIRED],
    "二(三)4": ["市农业局", "市商务局", _M, PAIRED],
    **{f"附件2 1.{i}": ["市经信委", "市农办（农业局）", _A, PAIRED] for i in (1, 2, 3)},
    **{f"附件2 2.{i}": [PAIRED] for i in (1, 2)},
    **{
        f"附件2 2.{i}": [_A, "市发改委", "市国土资源局", "市规划局", "市文广新局", "市旅游局", PAIRED]
        for i in (3, 4, 5)
    },
    **{f"附件2 3.{i}": ["市农办", "市发改委", "市旅游局", _A, PAIRED] for i in (1, 2)},
    "附件2 3.3": ["市财政局", "市人社局", _A, PAIRED],
    "附件2 3.4": ["市教育局", "市财政局", "市人社局", "市卫生计生委", PAIRED],
    "附件2 3.5": ["市教育局", PAIRED],
    "附件2 3.6": ["市卫计委", PAIRED],
    "附件2 3.7": ["市农业局", "市商务局", "市招商局（综合办）", PAIRED],
}
# Clauses that carry a date, a recurrence or a number and so must be cited by some
# obligation (附件2 1.1, 2.1 and 3.1 are qualitative).
MUST_BE_CITED = {
    "二(一)",
    "二(二)1",
    "二(二)2",
    "二(二)3",
    "二(三)1",
    "二(三)2",
    "二(三)3",
    "二(三)4",
    "三(一)",
    "三(二)",
    "三(三)",
    "三(四)",
    "附件1",
    "附件2 1.2",
    "附件2 1.3",
    "附件2 2.2",
    "附件2 2.3",
    "附件2 2.5",
    "附件2 3.2",
    "附件2 3.3",
    "附件2 3.4",
    "附件2 3.5",
    "附件2 3.6",
    "附件2 3.7",
}

# Schema (the loader's contract).
OBLIGATION_KEYS = {
    "id",
    "title",
    "description",
    "clause",
    "kind",
    "scope",
    "scopes",
    "due",
    "roll",
    "reminders",
    "min_count",
    "target",
    "shares",
    "categories",
    "pace",
    "plan",
    "valid_from",
    "valid_until",
    "responsible",
    "evidence",
    "notes",
    "window_from",
    "closes",
    "unverified",
    "summary",
    "escalate",
}
REQUIRED_KEYS = {
    "id",
    "title",
    "description",
    "clause",
    "kind",
    "scope",
    "due",
    "valid_from",
    "responsible",
    "evidence",
}
KINDS = {
    "one_off",
    "annual_deadline",
    "annual_count",
    "annual_quantity",
    "cumulative_quantity",
    "plan_vs_actual",
}
ANNUAL_DUE_KINDS = {"annual_deadline", "annual_count", "annual_quantity", "plan_vs_actual"}
DATE_DUE_KINDS = {"one_off", "cumulative_quantity"}
SCOPES = {"pairing", "county", "park", "city"}
TARGET_UNITS = {"亿元", "万元", "人次", "个"}
CLAUSE_PART = re.compile(r"^(附件1|附件2 [1-3]\.[1-7]|[二三]\([一二三四五]\)[1-4]?)$")
MMDD = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


# --- loading ---------------------------------------------------------------------------


@functools.cache
def _load(name: str) -> dict:
    with (CALENDAR / name).open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _units() -> dict:
    return _load("units.yaml")


def _pairings() -> dict:
    return _load("pairings.yaml")


def _catalogue() -> dict:
    return _load("wenzhengfa-2018-26.yaml")


def _obligations() -> list[dict]:
    return _catalogue()["obligations"]


def _obligation(oid: str) -> dict:
    found = [o for o in _obligations() if o["id"] == oid]
    assert len(found) == 1, f"expected exactly one obligation {oid!r}, found {len(found)}"
    return found[0]


def _clauses(ob: dict) -> list[str]:
    return [part.strip() for part in ob["clause"].split(";")]


def _resolver() -> dict[str, str]:
    """Every canonical name and alias -> canonical name."""
    out: dict[str, str] = {}
    for unit in _units()["units"]:
        for spelling in [unit["name"], *(unit.get("aliases") or [])]:
            assert spelling not in out, f"{spelling!r} names two units"
            out[spelling] = unit["name"]
    return out


def _resolve(name: str) -> str:
    if name in SIDES:
        return name
    resolver = _resolver()
    assert name in resolver, f"{name!r} is neither a unit name nor an alias in units.yaml"
    return resolver[name]


def _park_by_pairing() -> dict[str, str]:
    return {p["pairing"]: p["name"] for p in _pairings()["parks"] if p["kind"] == "eco_park"}


def _eco_parks() -> set[str]:
    return {p["name"] for p in _pairings()["parks"] if p["kind"] == "eco_park"}


def _enclaves() -> set[str]:
    return {p["name"] for p in _pairings()["parks"] if p["kind"] == "enclave"}


def _row(park: str, year: int, kind: str) -> dict:
    rows = [
        r for r in _catalogue()["plans"]["rows"] if (r["park"], r["year"], r["kind"]) == (park, year, kind)
    ]
    assert len(rows) == 1, (park, year, kind, rows)
    return rows[0]


# --- the document itself (only where it is available) ----------------------------------


@functools.cache
def _seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


def _need_seed() -> str:
    assert SEED.exists(), f"source document missing at {SEED}"
    return _seed_text()


def _seed_main_sections(text: str) -> dict[str, str]:
    """Main-text clause key (二(一), 二(二)1, 三(四) …) -> its text."""
    main = text.split("附件：")[0]
    parts: dict[str, list[str]] = {}
    top = sub = key = None
    for line in main.splitlines():
        s = line.strip()
        if m := re.match(r"^([一二三四五六七八九十])、", s):
            top, sub, key = m[1], None, m[1]
        elif (m := re.match(r"^[（(]([一二三四五六七八九十])[）)]", s)) and top:
            sub = m[1]
            key = f"{top}({sub})"
        elif (m := re.match(r"^(\d)\s*[.．]", s)) and sub:
            key = f"{top}({sub}){m[1]}"
        if key:
            parts.setdefault(key, []).append(s)
    return {k: "".join(v) for k, v in parts.items()}


def _seed_attachment2(text: str) -> dict[str, tuple[str, str]]:
    """'附件2 r.i' -> (事项 text, 责任单位 cell as printed, merged cells expanded)."""
    att2 = text.split("附件 2", 1)[1]
    out: dict[str, tuple[str, str]] = {}
    row = cell = None
    for line in att2.splitlines():
        fields = line.split("\t")
        if len(fields) < 3:
            continue
        if fields[0].strip().isdigit():
            row = fields[0].strip()
        m = re.match(r"^(\d)\.\s*", fields[2].strip())
        if not (m and row):
            continue
        if len(fields) > 3 and fields[3].strip():
            cell = fields[3].strip()
        out[f"附件2 {row}.{m[1]}"] = (fields[2].strip(), cell)
    return out


def _seed_attachment1(text: str) -> dict[str, tuple[float, list[int]]]:
    section = text.split("附件 1", 1)[1].split("附件 2", 1)[0]
    out = {}
    for line in section.splitlines():
        fields = line.split("\t")
        if len(fields) == 21 and fields[0] in {"1", "2", "3", "4", "5"}:
            out[fields[1].replace(" ", "")] = (float(fields[2]), [int(x) for x in fields[3:]])
    return out


def _split_units(listing: str) -> list[str]:
    listing = re.sub(r"结对县[（〈(]市、区[）〉)]党委[、和]政府", PAIRED, listing)
    return [p.strip() for p in re.split(r"[、，,]", listing) if p.strip()]


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:\.\d+)?", text))


# === 附件1 ==============================================================================


def test_it_lists_all_thirty_attachment1_rows():
    rows = _catalogue()["plans"]["rows"]
    keys = [(r["park"], r["year"], r["kind"]) for r in rows]
    assert len(rows) == 30
    assert len(set(keys)) == 30
    assert set(keys) == {
        (park, year, kind)
        for park in _eco_parks()
        for year in (2018, 2019, 2020)
        for kind in ("government", "attraction")
    }
    for r in rows:
        assert set(r) == {"park", "year", "kind", "projects", "planned_total", "planned_completion"}


def test_it_copies_attachment1_cells_exactly():
    parks = _park_by_pairing()
    assert _row(parks["永嘉-瓯海"], 2018, "government")["planned_total"] == 200000
    assert _row(parks["苍南-龙湾"], 2018, "government")["planned_total"] == 29221
    assert _row(parks["文成-瑞安"], 2020, "attraction")["planned_total"] == 500000
    assert _row(parks["文成-瑞安"], 2020, "attraction")["projects"] == 9
    assert _row(parks["泰顺-鹿城"], 2018, "attraction")["planned_completion"] == 500
    assert _row(parks["泰顺-鹿城"], 2019, "government")["projects"] == 16
    assert _row(parks["平阳-乐清"], 2018, "government")["planned_completion"] == 23144
    assert _row(parks["平阳-乐清"], 2020, "attraction")["planned_total"] == 74998


def test_it_matches_every_attachment1_row_of_the_table():
    parks = _park_by_pairing()
    for pairing, (_area, years) in ATTACHMENT1.items():
        for year, (gov, att) in years.items():
            for kind, cells in (("government", gov), ("attraction", att)):
                r = _row(parks[pairing], year, kind)
                got = (r["projects"], r["planned_total"], r["planned_completion"])
                assert got == cells, (pairing, year, kind)


def test_it_totals_each_park_as_attachment1_does():
    parks = _park_by_pairing()
    rows = _catalogue()["plans"]["rows"]
    for pairing, (projects, total, completion) in PARK_TOTALS.items():
        mine = [r for r in rows if r["park"] == parks[pairing]]
        assert sum(r["projects"] for r in mine) == projects, pairing
        assert sum(r["planned_total"] for r in mine) == total, pairing
        assert sum(r["planned_completion"] for r in mine) == completion, pairing


def test_attachment1_adds_up_to_the_stated_237_7_yi():
    plans = _catalogue()["plans"]
    total_wan = sum(r["planned_total"] for r in plans["rows"])
    assert total_wan == ATTACHMENT1_TOTAL_WAN
    assert plans["stated_total_yi"] == MAIN_TEXT_TOTAL_YI
    assert round(total_wan / 10000, 1) == plans["stated_total_yi"]
    # 附件2 2.3's 100亿 is not what the catalogue states
    assert plans["stated_total_yi"] != 100


def test_it_records_the_core_areas_of_attachment1():
    by_pairing = {p["pairing"]: p for p in _pairings()["parks"] if p["kind"] == "eco_park"}
    assert set(by_pairing) == set(ATTACHMENT1)
    for pairing, (area, _years) in ATTACHMENT1.items():
        assert by_pairing[pairing]["core_area_km2"] == area


def test_attachment1_matches_the_source_document():
    table = _seed_attachment1(_need_seed())
    assert list(table) == list(ATTACHMENT1)
    parks = _park_by_pairing()
    for pairing, (area, cells) in table.items():
        assert area == ATTACHMENT1[pairing][0]
        groups = [tuple(cells[i : i + 3]) for i in range(0, 18, 3)]
        for index, (year, kind) in enumerate(
            (y, k) for y in (2018, 2019, 2020) for k in ("government", "attraction")
        ):
            r = _row(parks[pairing], year, kind)
            assert (r["projects"], r["planned_total"], r["planned_completion"]) == groups[index]
    assert sum(c[i] for _a, c in table.values() for i in range(1, 18, 3)) == ATTACHMENT1_TOTAL_WAN


# === pairings and parks ==================================================================


def test_it_has_the_five_pairings_exactly_as_attachment1():
    rows = _pairings()["pairings"]
    assert [(p["name"], p["county"], p["partner"]) for p in rows] == PAIRINGS
    for p in rows:
        assert p["valid_from"] == 2018
        assert p["valid_until"] is None


def test_pairing_names_match_the_source_document():
    table = _seed_attachment1(_need_seed())
    assert [p["name"] for p in _pairings()["pairings"]] == list(table)


def test_it_has_five_eco_parks_and_the_qidu_enclave():
    parks = _pairings()["parks"]
    pairing_names = {p["name"] for p in _pairings()["pairings"]}
    assert Counter(p["kind"] for p in parks) == {"eco_park": 5, "enclave": 1}
    for park in parks:
        assert park["pairing"] in pairing_names
    for pairing, county, _partner in PAIRINGS:
        eco = [p for p in parks if p["pairing"] == pairing and p["kind"] == "eco_park"]
        assert len(eco) == 1
        assert eco[0]["host"] == county  # the park lies in the 加快发展县 (所在县)
    (enclave,) = [p for p in parks if p["kind"] == "enclave"]
    assert enclave["pairing"] == "泰顺-鹿城"
    assert enclave["host"] == "鹿城区"  # 位于鹿城区七都街道
    assert enclave["core_area_km2"] is None


def test_park_names_are_unique_and_differ_from_pairings_and_units():
    names = [p["name"] for p in _pairings()["parks"]]
    assert len(set(names)) == len(names)
    others = {p["name"] for p in _pairings()["pairings"]} | set(_resolver())
    assert not set(names) & others
    shorts = [p["short"] for p in _pairings()["parks"]]
    assert len(set(shorts)) == len(shorts)


def test_pairing_units_exist_with_the_right_kind():
    kinds = {u["name"]: u["kind"] for u in _units()["units"]}
    for _name, county, partner in PAIRINGS:
        assert kinds[county] == "county"
        assert kinds[partner] == "partner"
    for park in _pairings()["parks"]:
        assert park["host"] in kinds


# === units ================================================================================


def test_unit_names_and_codes_are_unique_and_well_formed():
    units = _units()["units"]
    names = [u["name"] for u in units]
    codes = [u["code"] for u in units]
    assert len(set(names)) == len(names)
    assert len(set(codes)) == len(codes)
    for u in units:
        assert re.fullmatch(r"[a-z0-9-]+", u["code"]), u["code"]
        assert u["kind"] in {"county", "partner", "department", "coordinator", "supervisor"}
        assert "(" not in u["name"] and "〈" not in u["name"], "canonical names use （）"
        assert set(u) <= {"name", "code", "short", "kind", "aliases", "succeeded_by"}
    _resolver()  # raises if an alias collides with another name


def test_roles_name_the_coordinator_and_the_supervisor():
    roles = _units()["roles"]
    kinds = {u["name"]: u["kind"] for u in _units()["units"]}
    assert roles == {"coordinator": "市招商局（经合办）", "supervisor": "市山海协作工程工作领导小组"}
    assert kinds[roles["coordinator"]] == "coordinator"
    assert kinds[roles["supervisor"]] == "supervisor"
    assert Counter(kinds.values())["coordinator"] == 1
    assert Counter(kinds.values())["supervisor"] == 1


def test_every_responsible_unit_named_by_the_document_resolves():
    for clause, names in RESPONSIBLE_IN_DOCUMENT.items():
        for name in names:
            if name != PAIRED:
                assert _resolve(name), clause
    # spellings that must be aliases of one unit
    assert _resolve("市招商局〈经合办〉") == _resolve("市招商局（综合办）") == "市招商局（经合办）"
    assert _resolve("市人社局") == _resolve("市人力社保局")
    assert _resolve("市卫生计生委") == _resolve("市卫计委")
    assert _resolve("市农办（农业局）") == _resolve("市农办") == _resolve("市农业局")


def test_the_2019_reform_successors_are_recorded_with_their_source():
    by_name = {u["name"]: u for u in _units()["units"]}
    expected = {
        "市国土资源局": ("merged", "市自然资源和规划局"),
        "市规划局": ("merged", "市自然资源和规划局"),
        "市文广新局": ("merged", "市文化广电旅游局"),
        "市旅游局": ("merged", "市文化广电旅游局"),
        "市农业局": ("renamed", "市农业农村局"),
        "市卫计委": ("renamed", "市卫生健康委员会"),
    }
    for name, (how, successor) in expected.items():
        s = by_name[name]["succeeded_by"]
        assert (s["how"], s["unit"]) == (how, successor), name
        assert s["from"].year == 2019 and "机构改革" in s["source"], name
        assert by_name[successor]["kind"] == by_name[name]["kind"], name
    assert "succeeded_by" not in by_name["市招商局（经合办）"]  # not confidently sourced: left as is


def test_every_department_is_named_by_the_document_or_succeeds_one():
    named = {_resolve(n) for names in RESPONSIBLE_IN_DOCUMENT.values() for n in names if n != PAIRED}
    units = _units()["units"]
    successors = {u["succeeded_by"]["unit"] for u in units if u.get("succeeded_by")}
    departments = {u["name"] for u in units if u["kind"] == "department"}
    assert departments <= named | successors, departments - named - successors
    assert named <= departments | {_units()["roles"]["coordinator"]}


def test_responsible_units_table_matches_the_source_document():
    text = _need_seed()
    sections = _seed_main_sections(text)
    for clause, expected in RESPONSIBLE_IN_DOCUMENT.items():
        if clause.startswith("附件2"):
            continue
        found = re.findall(
            r"[（(]责任单位[:：](.+?)[）)]", sections[clause].replace("结对县〈市、区〉党委、政府", PAIRED)
        )
        assert len(found) == 1, clause
        assert _split_units(found[0]) == expected, clause
    att2 = _seed_attachment2(text)
    assert sorted(att2) == sorted(k for k in RESPONSIBLE_IN_DOCUMENT if k.startswith("附件2"))
    for clause, (_item, cell) in att2.items():
        assert _split_units(cell) == RESPONSIBLE_IN_DOCUMENT[clause], clause
    # section 三 names no 责任单位
    for key, body in sections.items():
        if key.startswith("三"):
            assert "责任单位" not in body, key


# === obligations: structure ============================================================


def test_obligation_ids_are_unique_slugs():
    ids = [o["id"] for o in _obligations()]
    assert len(set(ids)) == len(ids)
    for oid in ids:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", oid), oid
    titles = [o["title"] for o in _obligations()]
    assert len(set(titles)) == len(titles)


def test_obligations_use_only_the_schema_keys():
    assert set(_catalogue()) == {"document", "obligations", "plans"}
    assert set(_catalogue()["plans"]) == {"stated_total_yi", "note", "rows"}
    for ob in _obligations():
        assert set(ob) <= OBLIGATION_KEYS, (ob["id"], set(ob) - OBLIGATION_KEYS)
        assert set(ob) >= REQUIRED_KEYS, (ob["id"], REQUIRED_KEYS - set(ob))
        assert set(ob["responsible"]) == {"lead", "co"}, ob["id"]


def test_the_document_header_matches_the_document():
    doc = _catalogue()["document"]
    assert doc["id"] == "wzf-2018-26"
    assert doc["number"] == "温政发〔2018〕26号"
    assert doc["title"] == "温州市人民政府关于打造山海协作工程升级版的实施意见"
    assert doc["issued"] == dt.date(2018, 12, 7)


def test_kinds_scopes_and_due_dates_are_well_formed():
    park_names = {p["name"] for p in _pairings()["parks"]}
    for ob in _obligations():
        oid = ob["id"]
        assert ob["kind"] in KINDS, oid
        assert ob["scope"] in SCOPES, oid
        assert ob.get("roll", "forward") in {"none", "forward", "backward"}, oid
        if ob["kind"] in ANNUAL_DUE_KINDS:
            assert isinstance(ob["due"], str) and MMDD.match(ob["due"]), oid
            dt.date.fromisoformat(f"2021-{ob['due']}")  # a real day of a year
        else:
            assert isinstance(ob["due"], dt.date), oid
            assert ob["valid_from"] <= ob["due"].year, oid
            if ob.get("valid_until") is not None:
                assert ob["due"].year <= ob["valid_until"], oid
        assert isinstance(ob["valid_from"], int), oid
        if ob.get("valid_until") is not None:
            assert ob["valid_from"] <= ob["valid_until"], oid
        if ob.get("scopes") is not None:
            assert ob["scope"] == "park", oid
            assert set(ob["scopes"]) <= park_names, oid
        if ob["kind"] == "annual_count":
            assert isinstance(ob.get("min_count"), int) and ob["min_count"] >= 1, oid
        if ob.get("min_count") is not None:
            assert ob["kind"] in {"annual_count", "annual_quantity", "cumulative_quantity"}, oid
        if ob["kind"] in {"annual_quantity", "cumulative_quantity"}:
            assert ob.get("target") is not None, oid
        if ob.get("target") is not None:
            # quantities, and the one-off whose ≥2亿 registered-capital floor is checked
            assert ob["kind"] in {"annual_quantity", "cumulative_quantity"} or oid == "park-management", oid
            assert set(ob["target"]) == {"value", "unit"}, oid
            assert ob["target"]["unit"] in TARGET_UNITS, oid
            assert ob["target"]["value"] > 0, oid
        if ob.get("shares") is not None:
            for share in ob["shares"]:
                assert 0 < share["min"] <= 1, oid
                if ob.get("categories"):
                    assert share["category"] in ob["categories"], oid
        if ob.get("plan") is not None or ob["kind"] == "plan_vs_actual":
            assert ob["kind"] == "plan_vs_actual" and ob["plan"] == "attachment1", oid
        pace = ob.get("pace")
        if isinstance(pace, list):
            for milestone in pace:
                assert MMDD.match(milestone["by"]), oid
                assert set(milestone) in ({"by", "count"}, {"by", "share"}), oid
        else:
            assert pace in (None, "monthly"), oid


def test_clause_references_are_well_formed_and_cover_the_document():
    cited: set[str] = set()
    for ob in _obligations():
        for part in _clauses(ob):
            assert CLAUSE_PART.match(part), (ob["id"], part)
            cited.add(part)
    assert cited >= MUST_BE_CITED, MUST_BE_CITED - cited


def test_numbers_in_descriptions_come_from_the_cited_clauses():
    text = _need_seed()
    sections = _seed_main_sections(text)
    sections.update({k: item for k, (item, _cell) in _seed_attachment2(text).items()})
    sections["附件1"] = text.split("附件 1", 1)[1].split("附件 2", 1)[0]
    for ob in _obligations():
        source = "".join(sections[c] for c in _clauses(ob))
        missing = _numbers(ob["description"]) - _numbers(source)
        assert not missing, (ob["id"], missing)


# === responsible units ===================================================================


def test_every_responsible_name_resolves_to_a_unit_or_alias():
    for ob in _obligations():
        lead, co = ob["responsible"]["lead"], ob["responsible"]["co"]
        assert lead, ob["id"]
        for name in [*lead, *co]:
            _resolve(name)
        both = [_resolve(n) for n in [*lead, *co]]
        assert len(set(both)) == len(both), f"{ob['id']}: a unit is listed twice"


def test_responsible_units_are_exactly_those_of_the_cited_clauses():
    coordinator = _units()["roles"]["coordinator"]
    for ob in _obligations():
        clauses = _clauses(ob)
        expected = {_resolve(n) for c in clauses for n in RESPONSIBLE_IN_DOCUMENT.get(c, [])}
        got = {_resolve(n) for n in [*ob["responsible"]["lead"], *ob["responsible"]["co"]]}
        expected -= LEFT_OUT.get(ob["id"], set())
        # a side of the pairing stands for the pairing's units the clause names
        got_sides = {PAIRED if n in SIDES else n for n in got}
        assert expected <= got_sides, (ob["id"], expected - got_sides)
        got = got_sides
        extra = got - expected
        if all(c in RESPONSIBLE_IN_DOCUMENT for c in clauses):
            assert not extra, (ob["id"], extra)
        else:  # a cited clause (section 三, 附件1) names no 责任单位
            assert extra <= {PAIRED, coordinator}, (ob["id"], extra)


def test_lead_is_the_pairing_or_the_first_named_unit():
    for ob in _obligations():
        lead = [_resolve(n) for n in ob["responsible"]["lead"]]
        assert len(lead) == 1, ob["id"]
        if ob["scope"] in {"pairing", "park"}:
            assert lead[0] in SIDES, ob["id"]
        else:
            named = next(
                (RESPONSIBLE_IN_DOCUMENT[c] for c in _clauses(ob) if c in RESPONSIBLE_IN_DOCUMENT), None
            )
            if named is None and ob["scope"] == "county":  # 三(三): "各受援县" own it
                assert lead == ["结对县"], ob["id"]
                continue
            first = _resolve(named[0]) if named else _units()["roles"]["coordinator"]
            assert lead == [first], ob["id"]


# === obligations: facts from the document =============================================


def test_joint_meetings_are_at_least_two_a_year_per_pairing():
    ob = _obligation("joint-meeting")
    assert (ob["kind"], ob["scope"], ob["clause"]) == ("annual_count", "pairing", "三(二)")
    assert ob["min_count"] == 2
    assert ob["pace"] == [{"by": "06-30", "count": 1}]
    assert ob["due"] == "12-31"
    assert ob["valid_until"] is None


def test_high_level_visits_are_at_least_two_a_year_per_pairing():
    ob = _obligation("high-level-visit")
    assert (ob["kind"], ob["scope"]) == ("annual_count", "pairing")
    assert ob["min_count"] == 2
    assert ob["pace"] == [{"by": "06-30", "count": 1}]
    assert ob["valid_until"] is None


def test_next_year_plan_is_filed_by_october_31():
    ob = _obligation("next-year-plan")
    assert (ob["kind"], ob["scope"], ob["due"]) == ("annual_deadline", "pairing", "10-31")
    assert "备案" in ob["description"] and "省、市" in ob["description"]
    assert ob["valid_until"] is None


def test_aid_funds_are_in_place_by_may_31():
    ob = _obligation("aid-funds")
    assert (ob["kind"], ob["scope"], ob["due"], ob["clause"]) == (
        "annual_deadline",
        "pairing",
        "05-31",
        "三(四)",
    )
    # the partner gives the funds: the county that receives them is not its lead, nor copied
    assert ob["responsible"] == {"lead": ["结对强区"], "co": []}


def test_midyear_inspection_is_a_window_led_by_the_office_not_the_inspected():
    ob = _obligation("midyear-inspection")
    assert (ob["window_from"], ob["due"]) == ("05-01", "08-31")
    assert ob["responsible"]["lead"] == ["市招商局（经合办）"]
    assert not SIDES & set(ob["responsible"]["co"]), "the inspected counties are not co-responsible"


def test_park_companies_registered_capital_floor_of_2yi_is_checked():
    ob = _obligation("park-management")
    assert ob["target"] == {"value": 2, "unit": "亿元"}


def test_every_attachment_2_3_5_figure_is_treated_alike_unverified():
    edu = [o for o in _obligations() if _clauses(o) == ["附件2 3.5"]]
    assert len(edu) == 5
    assert all(o.get("unverified") is True and o["valid_until"] == 2018 for o in edu)


def test_due_dates_roll_forward_by_default():
    assert all(o.get("roll", "forward") == "forward" for o in _obligations())


def test_transfer_measures_are_set_by_year_end():
    ob = _obligation("transfer-measures")
    assert (ob["kind"], ob["scope"], ob["due"]) == ("annual_deadline", "pairing", "12-31")


def test_matchmaking_meeting_is_at_least_one_a_year_per_pairing():
    ob = _obligation("matchmaking-meeting")
    assert (ob["kind"], ob["scope"], ob["min_count"]) == ("annual_count", "pairing", 1)
    assert "附件2 1.2" in _clauses(ob) and "二(一)" in _clauses(ob)


def test_one_sentence_of_2_1_is_read_one_way():
    """二(一)'s matchmaking meeting and the 40亿 target beside it (附件2 1.2 and 1.3, both "每年") recur
    alike: the sentence writes no "2020年前"."""
    meeting, investment = _obligation("matchmaking-meeting"), _obligation("industrial-investment")
    assert meeting["valid_until"] is None and investment["valid_until"] is None
    assert "2020年前" not in meeting["description"]


def test_social_cooperation_is_one_obligation_per_field():
    social = [o for o in _obligations() if "附件2 3.4" in _clauses(o)]
    assert len(social) == 4
    fields = Counter(f for o in social for f in ("科技", "教育", "医疗", "文化") if f in o["title"])
    assert fields == {"科技": 1, "教育": 1, "医疗": 1, "文化": 1}
    for ob in social:
        assert (ob["kind"], ob["scope"], ob["min_count"], ob["valid_until"]) == (
            "annual_count",
            "pairing",
            1,
            None,
        )


def test_industrial_investment_is_40_yi_with_65_percent_eight_industries():
    ob = _obligation("industrial-investment")
    assert (ob["kind"], ob["scope"]) == ("annual_quantity", "city")
    assert ob["target"] == {"value": 40, "unit": "亿元"}
    assert ob["shares"] == [{"category": "八大产业", "min": 0.65}]
    assert ob["pace"] == "monthly"
    assert ob["valid_until"] is None
    for industry in ("信息", "环保", "健康", "旅游", "时尚", "文化", "金融", "高端装备"):
        assert industry in ob["description"]


def test_income_projects_are_20_and_1000_wan_a_year_until_2020():
    ob = _obligation("income-projects")
    assert (ob["kind"], ob["scope"]) == ("annual_quantity", "city")
    assert ob["min_count"] == 20
    assert ob["target"] == {"value": 1000, "unit": "万元"}
    assert (ob["valid_from"], ob["valid_until"]) == (2018, 2020)


def test_training_is_6000_person_times_a_year():
    ob = _obligation("training-employment")
    assert (ob["kind"], ob["scope"]) == ("annual_quantity", "city")
    assert ob["target"] == {"value": 6000, "unit": "人次"}
    assert ob["valid_until"] is None


def test_city_work_conference_is_once_a_year_early_enough_to_split_the_targets():
    ob = _obligation("work-conference")
    assert (ob["kind"], ob["scope"], ob["min_count"], ob["clause"]) == ("annual_count", "city", 1, "三(一)")
    plan = _obligation("annual-work-plan")
    # the conference splits the year's targets (分解落实年度目标任务): after the plan, early in the year
    assert plan["due"] < ob["due"] <= "06-30"
    assert "分解落实" in ob["notes"] and "12-31" in ob["notes"]


def test_the_annual_work_plan_is_catalogued():
    ob = _obligation("annual-work-plan")
    assert (ob["kind"], ob["scope"], ob["clause"]) == ("annual_deadline", "city", "三(一)")
    assert "制订年度工作计划" in ob["description"] and ob["valid_until"] is None


def test_special_reports_are_recorded_per_county_without_reminders():
    ob = _obligation("special-report")
    assert (ob["kind"], ob["scope"], ob["clause"], ob["min_count"]) == ("annual_count", "county", "三(三)", 1)
    assert ob["responsible"]["lead"] == ["结对县"]
    assert "专报" in ob["description"] and "专报" in _seed_main_sections(_need_seed())["三(三)"]
    quiet = ob["reminders"]
    assert quiet["on_due_date"] is False and quiet["overdue_working_days"] == []
    assert quiet["before_calendar_days"] == [] and quiet["before_working_days"] == []


def test_cumulative_targets_are_due_by_the_end_of_2020():
    assert _obligation("sales-outlets")["target"] == {"value": 30, "unit": "个"}
    assert _obligation("village-projects")["target"] == {"value": 300, "unit": "个"}
    for oid in ("sales-outlets", "village-projects"):
        ob = _obligation(oid)
        assert (ob["kind"], ob["scope"], ob["due"]) == ("cumulative_quantity", "city", dt.date(2020, 12, 31))


def test_park_duties_apply_to_the_five_eco_parks_only():
    for oid in (
        "park-management",
        "park-plan",
        "park-core-facilities",
        "park-industry-results",
        "park-investment-plan",
    ):
        ob = _obligation(oid)
        assert ob["scope"] == "park"
        assert set(ob["scopes"]) == _eco_parks(), oid


def test_park_one_off_deadlines():
    expected = {
        "park-management": dt.date(2018, 7, 31),
        "park-plan": dt.date(2018, 12, 31),
        "park-core-facilities": dt.date(2019, 12, 31),
        "park-industry-results": dt.date(2020, 12, 31),
    }
    for oid, due in expected.items():
        ob = _obligation(oid)
        assert (ob["kind"], ob["due"]) == ("one_off", due), oid
    assert "2亿" in _obligation("park-management")["description"]


def test_enclave_duties_apply_to_the_enclave_only():
    for oid, due in (
        ("enclave-progress", dt.date(2018, 12, 31)),
        ("enclave-completion", dt.date(2020, 12, 31)),
    ):
        ob = _obligation(oid)
        assert (ob["kind"], ob["scope"], ob["due"]) == ("one_off", "park", due), oid
        assert set(ob["scopes"]) == _enclaves(), oid


def test_park_investment_plan_compares_attachment1_for_2018_to_2020():
    ob = _obligation("park-investment-plan")
    assert (ob["kind"], ob["plan"]) == ("plan_vs_actual", "attachment1")
    assert (ob["valid_from"], ob["valid_until"]) == (2018, 2020)
    years = {r["year"] for r in _catalogue()["plans"]["rows"]}
    assert years == set(range(ob["valid_from"], ob["valid_until"] + 1))


def test_year_bounded_deadlines_end_with_that_year():
    """'X年前' / '到X年' are read as by X-12-31, and the duty ends with year X."""
    for ob in _obligations():
        years: set[int] = set()
        for m in re.finditer(r"(20\d\d)年前|到(20\d\d)年", ob["description"]):
            years.add(int(m[1] or m[2]))
        if not years or ob["kind"] in ANNUAL_DUE_KINDS:
            if years:
                assert ob["valid_until"] == max(years), ob["id"]
            continue
        assert ob["due"] == dt.date(max(years), 12, 31), ob["id"]
        assert ob["valid_until"] == max(years), ob["id"]


def test_yearly_duties_recur_and_2020_targets_stop():
    """One reading for every clause: "每年" recurs; only "2020年前…每年" ends with 2020 (二(一)'s
    "2020年…每年" has no 前 and recurs, like the 40亿 target in the same sentence)."""
    for ob in _obligations():
        desc = ob["description"]
        until_2020 = re.search(r"2020年前[^；;。]*每年", desc)
        if "每年" in desc and not until_2020:
            assert ob["valid_until"] is None, ob["id"]
        if until_2020:
            assert ob["valid_until"] == 2020, ob["id"]


# === notes on interpretations ===========================================================

AMBIGUOUS = {
    # 四季度前 vs 三季度前
    "park-plan": ("三季度", "四季度"),
    # 237.7亿 vs 100亿
    "park-investment-plan": ("237.7", "100亿"),
    # "2020年前每年" vs 附件2 without end year
    "income-projects": ("2020",),
    # main text "2020年…每年" vs 附件2 "每年"
    "matchmaking-meeting": ("2020",),
    # "X年前"
    "park-core-facilities": ("2019",),
    "park-industry-results": ("2020",),
    "enclave-completion": ("2020",),
    # 力争, 实质性进展
    "enclave-progress": ("力争",),
    # 年中 is not a date
    "midyear-inspection": ("年中",),
    # the inferred date
    "medical-alliance-pilot": ("2020-12-31",),
    # per county vs total
    "edu-targeted-admission": ("每县",),
    "edu-teacher-support": ("左右",),
    "edu-agri-leader-plan": ("1多名",),
    # 占65%
    "industrial-investment": ("65%",),
    # who pays
    "aid-funds": ("结对强区",),
    # city-wide total
    "sales-outlets": ("全市合计",),
}


def test_every_ambiguous_item_has_notes():
    for oid, must_mention in AMBIGUOUS.items():
        notes = _obligation(oid).get("notes")
        assert isinstance(notes, str) and len(notes) > 40, oid
        for phrase in must_mention:
            assert phrase in notes, (oid, phrase)


def test_every_interpretation_trigger_has_notes():
    triggers = ("年前", "季度前", "左右", "力争", "多名", "到2020年", "初见成效", "实质性")
    for ob in _obligations():
        needs = any(t in ob["description"] for t in triggers)
        # union of 责任单位 from two places, or a clause that names none
        needs |= len(_clauses(ob)) > 1
        needs |= any(c not in RESPONSIBLE_IN_DOCUMENT for c in _clauses(ob))
        # a date the document does not give for this clause
        needs |= ob["kind"] in DATE_DUE_KINDS and str(ob["due"].year) not in ob["description"]
        if needs:
            assert isinstance(ob.get("notes"), str) and ob["notes"].strip(), ob["id"]


# === the calendar directory =============================================================


def test_calendar_directory_holds_no_python():
    assert not list(CALENDAR.rglob("*.py")), "a calendar package would shadow the stdlib"
