"""The annual assessment method (``calendar/assessment.yaml``): schema, loader and validator.

三(五) leaves the method to the leading group (另行制订), so it is data. It is read with the catalogue's
located YAML reader, so every problem reads ``file:line: field: problem``, and nothing from a file with a
problem is used. Obligation ids are checked against the catalogue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shanhai.models.catalogue import Catalogue
from shanhai.models.yaml_source import Problem, Source, YamlFileError, read_yaml, validate

Outcome = Literal["done", "done_late", "missed", "open", "waived", "unverified"]
EXCLUDE = "exclude"
UNIT_KINDS = Literal["county", "partner", "department", "coordinator", "supervisor"]


class AssessmentMethodError(YamlFileError):
    """The method file has problems (each with file, line and field); nothing from it is used."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MethodHeader(_Strict):
    title: str = Field(min_length=1)
    status: Literal["default", "official"]
    notice: str = Field(min_length=1)


class AssessmentClass(_Strict):
    name: str = Field(min_length=1)
    unit_kinds: tuple[UNIT_KINDS, ...] = Field(min_length=1)


class Duty(_Strict):
    obligation: str
    weights: dict[str, float]

    @field_validator("weights")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, w in v.items() if w <= 0]
        if bad:
            raise ValueError(f"权重须大于 0（{'、'.join(bad)}）")
        return v


class Category(_Strict):
    name: str = Field(min_length=1)
    clause: str | None = None
    duties: tuple[Duty, ...] = Field(min_length=1)


class QuantityRule(_Strict):
    cap: float = Field(gt=0, le=2)
    share_shortfall: float = Field(ge=0, le=1)


class AdjustmentWhen(_Strict):
    outcomes: tuple[Outcome, ...] = Field(min_length=1)
    obligations: tuple[str, ...] | None = None
    ratio_at_least: float | None = Field(default=None, gt=0)


class Adjustment(_Strict):
    name: str = Field(min_length=1)
    kind: Literal["bonus", "penalty"]
    points: float = Field(gt=0)
    limit: float = Field(gt=0)
    when: AdjustmentWhen


class Band(_Strict):
    name: str = Field(min_length=1)
    min: float = Field(ge=0, le=100)


class AssessmentMethod(_Strict):
    method: MethodHeader
    classes: tuple[AssessmentClass, ...] = Field(min_length=1)
    categories: tuple[Category, ...] = Field(min_length=1)
    outcomes: dict[Outcome, float | Literal["exclude"]]
    quantity: QuantityRule
    adjustments: tuple[Adjustment, ...] = ()
    bands: tuple[Band, ...] = Field(min_length=1)

    @field_validator("outcomes")
    @classmethod
    def _every_outcome(cls, v: dict[str, float | str]) -> dict[str, float | str]:
        missing = [o for o in Outcome.__args__ if o not in v]  # type: ignore[attr-defined]
        if missing:
            raise ValueError(f"缺少结果的计分规则：{'、'.join(missing)}")
        out_of_range = [o for o, r in v.items() if r != EXCLUDE and not 0 <= float(r) <= 1]
        if out_of_range:
            raise ValueError(f"计分规则须为 0—1 之间的比例或 exclude（{'、'.join(out_of_range)}）")
        return v

    @field_validator("bands")
    @classmethod
    def _bands_descend(cls, v: tuple[Band, ...]) -> tuple[Band, ...]:
        mins = [b.min for b in v]
        if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
            raise ValueError("各档次的 min 须从高到低、互不相同")
        if mins[-1] != 0:
            raise ValueError("最低一档的 min 须为 0（每个得分都要有档次）")
        return v

    @model_validator(mode="after")
    def _weights_per_class(self) -> AssessmentMethod:
        names = [c.name for c in self.classes]
        if len(set(names)) != len(names):
            raise ValueError("classes: 类别名称重复")
        kinds = [k for c in self.classes for k in c.unit_kinds]
        if len(set(kinds)) != len(kinds):
            raise ValueError("classes: 同一单位类型归入了多个类别")
        return self

    @property
    def is_default(self) -> bool:
        return self.method.status == "default"

    def class_of_kind(self, kind: str) -> str | None:
        return next((c.name for c in self.classes if kind in c.unit_kinds), None)

    def duties(self) -> dict[str, tuple[str, Duty]]:
        """obligation id -> (its category, its duty)."""
        return {d.obligation: (c.name, d) for c in self.categories for d in c.duties}

    def band_of(self, score: float) -> str:
        return next(b.name for b in self.bands if score >= b.min)


def _cross_checks(method: AssessmentMethod, source: Source, cat: Catalogue | None) -> list[Problem]:
    """What one model cannot see alone: weights naming a class, sums per class, obligations known."""
    problems: list[Problem] = []
    classes = {c.name for c in method.classes}
    totals = dict.fromkeys(classes, 0.0)
    seen: set[str] = set()
    for ci, category in enumerate(method.categories):
        for di, duty in enumerate(category.duties):
            loc = ("categories", ci, "duties", di)
            if duty.obligation in seen:
                problems.append(source.problem((*loc, "obligation"), f"事项“{duty.obligation}”重复出现"))
            seen.add(duty.obligation)
            if cat is not None and duty.obligation not in cat.obligations:
                problems.append(source.problem((*loc, "obligation"), f"未知的事项编号“{duty.obligation}”"))
            for name, weight in duty.weights.items():
                if name not in classes:
                    problems.append(source.problem((*loc, "weights", name), f"未知的考核类别“{name}”"))
                else:
                    totals[name] += weight
    for i, c in enumerate(method.classes):
        if abs(totals[c.name] - 100) > 1e-6:
            problems.append(source.problem(("classes", i, "name"),
                                           f"类别“{c.name}”的权重合计为 {totals[c.name]:g}，须为 100"))
    for i, adj in enumerate(method.adjustments):
        for name in adj.when.obligations or ():
            if cat is not None and name not in cat.obligations:
                problems.append(source.problem(("adjustments", i, "when", "obligations"), f"未知的事项编号“{name}”"))
    return problems


def load_method(path: Path, cat: Catalogue | None = None) -> AssessmentMethod:
    """Read and validate the method file; raise :class:`AssessmentMethodError` with every problem."""
    problems: list[Problem] = []
    source = read_yaml(Path(path), problems)
    method = None
    if source is not None:
        if not isinstance(source.data, dict):
            problems.append(Problem(source.file, 1, "(file)", "考核办法文件的顶层须为键值映射"))
        else:
            method = validate(AssessmentMethod, source, problems)
    if method is not None and source is not None:
        problems += _cross_checks(method, source, cat)
    if problems or method is None:
        raise AssessmentMethodError(problems)
    return method
