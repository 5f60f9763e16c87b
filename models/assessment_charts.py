"""Charts of the assessment, drawn on the server with matplotlib in the Noto Sans CJK font (no CDN, no
browser script): the score breakdown per unit, the lights by unit x month, and the burn-up of a quantity
duty against 序时进度 (the straight line from 0 on 1 January to the target on the due date).

The font is configured explicitly from the file fontconfig names: matplotlib's own default has no CJK
glyphs and would draw every Chinese character as a box (tofu).
"""

from __future__ import annotations

import functools
import io
import subprocess
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

from shanhai.models.assessment import Assessment
from shanhai.models.catalogue_specs import AMOUNT_UNITS, FEN_PER_WAN, FEN_PER_YUAN
from shanhai.models.status import OccurrenceRow

CJK_FAMILY = "Noto Sans CJK SC"
FALLBACK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")  # Debian's fonts-noto-cjk
LIGHT_COLOURS = {"green": "#4caf50", "yellow": "#ffc107", "red": "#e53935", "grey": "#bdbdbd", None: "#ffffff"}
CATEGORY_COLOURS = ["#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#5d4037"]
LIGHT_CODES = {"grey": 0, "green": 1, "yellow": 2, "red": 3}
DPI = 100
ROW_INCHES = 0.3  # one unit's row: a province's 180 units stay one readable, scrollable picture


class ChartFontMissing(RuntimeError):
    """No CJK font is installed: charts would show boxes instead of Chinese."""


@functools.cache
def cjk_font_file() -> Path:
    """The Noto Sans CJK file fontconfig resolves (Debian: /usr/share/fonts/opentype/noto/...)."""
    try:
        found = subprocess.run(["fc-match", "-f", "%{file}", f"{CJK_FAMILY}:style=Regular"],
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        found = ""
    path = Path(found) if "CJK" in found else FALLBACK_FONT
    if not path.is_file():
        raise ChartFontMissing(f"未找到中文字体 {CJK_FAMILY}（Debian 软件包 fonts-noto-cjk），图表无法显示中文")
    return path


@functools.cache
def _configured() -> None:
    """matplotlib with the CJK font as the only family (configured once, when first drawn)."""
    import matplotlib
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(cjk_font_file()))
    name = font_manager.FontProperties(fname=str(cjk_font_file())).get_name()
    matplotlib.rcParams.update({"font.family": [name], "axes.unicode_minus": False})


def _figure(width: float, height: float, *, left: float = 0.8):
    """A figure outside pyplot (whose global state is not thread-safe: the portal draws in worker threads)
    with fixed margins in inches: a layout engine or ``bbox_inches="tight"`` measures every label first,
    which doubles the time of a province's 180-row chart."""
    from matplotlib.figure import Figure

    _configured()
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=left / width, right=1 - 0.2 / width, bottom=0.75 / height, top=1 - 0.45 / height)
    return fig, fig.subplots()


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def score_breakdown_png(report: Assessment) -> bytes:
    """One horizontal bar per scored unit, stacked by category (points), its total at the end."""
    units = [u for u in report.units if u.cents is not None]
    names = list(dict.fromkeys(c.name for u in units for c in u.categories if c.max_cents))
    fig, ax = _figure(9, ROW_INCHES * len(units) + 1.6, left=2.4)
    labels = [f"{u.unit}（{u.class_name}）" for u in units]
    left = [0.0] * len(units)
    for i, name in enumerate(names):
        values = [next((max(c.cents, 0) / 100 for c in u.categories if c.name == name), 0.0) for u in units]
        ax.barh(labels, values, left=left, color=CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)], label=name)
        left = [a + b for a, b in zip(left, values, strict=True)]
    for y, u in enumerate(units):
        ax.text(101, y, f"{u.score:g} {u.band}", va="center", fontsize=9)
    ax.set_xlim(0, 118)
    ax.invert_yaxis()
    ax.set_xlabel("得分（满分100）")
    ax.set_title(f"{report.year} 年度考核得分构成" + ("（临时）" if report.provisional else ""))
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def lights_png(year: int, lights: Mapping[str, Sequence[str | None]]) -> bytes:
    """Unit x month: the worst light of the unit's duties at each month's end."""
    from matplotlib.colors import ListedColormap

    units = list(lights)
    grid = [[LIGHT_CODES.get(x or "", -1) for x in lights[u]] for u in units]
    fig, ax = _figure(9, ROW_INCHES * len(units) + 1.4, left=1.6)
    cmap = ListedColormap([LIGHT_COLOURS[None], LIGHT_COLOURS["grey"], LIGHT_COLOURS["green"],
                           LIGHT_COLOURS["yellow"], LIGHT_COLOURS["red"]])
    ax.imshow(grid, cmap=cmap, vmin=-1.5, vmax=3.5, aspect="auto")
    ax.set_xticks(range(12), [f"{m}月" for m in range(1, 13)])
    ax.set_yticks(range(len(units)), units)
    ax.set_title(f"{year} 年各单位月末红黄绿灯（取该单位最差的一项）")
    return _png(fig)


def burn_up_png(title: str, *, start: date, due: date, target: float, unit: str,
                steps: Sequence[tuple[date, float]]) -> bytes:
    """Cumulative amount against 序时进度 (0 at the period's start rising to the target on the due date)."""
    fig, ax = _figure(7, 3.4)
    xs, ys, total = [start], [0.0], 0.0
    for on, amount in sorted(steps):
        xs += [on, on]
        ys += [total, total + amount]
        total += amount
    end = max(due, xs[-1])
    xs.append(end)
    ys.append(total)
    ax.plot(xs, ys, color="#1565c0", label="累计完成")
    ax.plot([start, due], [0, target], color="#9e9e9e", linestyle="--", label="序时进度")
    ax.axhline(target, color="#e53935", linewidth=0.8, label=f"目标 {target:g} {unit}")
    ax.set_ylabel(unit)
    ax.set_title(f"{title}：{_amount(total)}/{_amount(target)} {unit}")
    ax.legend(loc="upper left", fontsize=8)
    ax.tick_params(axis="x", labelrotation=30)
    return _png(fig)


def _amount(x: float) -> str:
    return f"{x:,.2f}".rstrip("0").rstrip(".")


def data_uri(png: bytes) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")



def burn_up_for(row: OccurrenceRow, title: str, records: Sequence[tuple[date, int, int]]) -> bytes | None:
    """The burn-up of a quantity occurrence in its target's unit; None when it has no target."""
    req = row.requirement
    if req.plan:
        target, unit = sum(req.plan.values()) / FEN_PER_WAN, "万元"
        steps = [(on, fen / FEN_PER_WAN) for on, _, fen in records]
    elif req.target is not None and req.measures_money:
        per = AMOUNT_UNITS[req.target.unit] * FEN_PER_YUAN
        target, unit = req.target.value, req.target.unit
        steps = [(on, fen / per) for on, _, fen in records]
    elif req.target is not None:
        target, unit = req.target.value, req.target.unit
        steps = [(on, float(count)) for on, count, _ in records]
    else:
        return None
    return burn_up_png(f"{title}（{row.scope}）", start=row.period_start, due=row.due, target=target,
                       unit=unit, steps=steps)
