"""prefect.yaml, generated from the catalogue: one check deployment per obligation plus the support flows.

    python -m shanhai.cli.deployments          # rewrite prefect.yaml at the repo root
    python -m shanhai.cli.deployments --check  # exit 1 when prefect.yaml differs from the catalogue

A test compares the checked-in file with render_prefect_yaml(), so it cannot drift from the catalogue.
No Prefect import here: rendering is plain YAML.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from shanhai import REPO_ROOT
from shanhai.models.localtime import TZ_NAME
from shanhai.models.orchestration import DELIVER_FLOW, MONTHLY_DIGEST_FLOW, WEEKLY_DIGEST_FLOW

WORK_POOL = "shanhai"
TIMEZONE = TZ_NAME  # the schedules run on Shanghai's clock
DELIVER_CRON = "*/10 * * * *"  # delivery itself waits for working days and the send hour


def check_cron(send_hour: int) -> str:
    """Daily, five minutes after the send hour (SHANHAI_SEND_HOUR): the planner sends nothing before it
    and keeps quiet on non-working days."""
    return f"5 {send_hour} * * *"


def digest_cron(send_hour: int) -> str:
    """Daily: a digest goes out once per week/month, on its first working day (holidays move it)."""
    return f"30 {send_hour} * * *"


# Module entrypoints: a worker imports the installed package (never a flow file as a stray top-level
# module), wherever its checkout lives; hence no pull step.
CHECK_ENTRYPOINT = "shanhai.flows.check:check_obligation_flow"

HEADER = """\
# Generated from the catalogue (calendar/*.yaml) by `python -m shanhai.cli.deployments`; do not edit by hand.
# One deployment per obligation runs the check flow daily five minutes past the send hour (Asia/Shanghai);
# the outbox is delivered every 10 minutes (on working days, from the send hour); the coordinator's weekly
# and the supervisors' monthly digest go out on the first working day of their week/month.
# After changing the catalogue or SHANHAI_SEND_HOUR, regenerate this file.
# Deploy from the repo root against any Prefect server once the work pool exists:
#   prefect work-pool create shanhai --type process
#   prefect --no-prompt deploy --all
# Workers need this repository installed (pip install -e .); entrypoints name modules of the
# installed package, hence no pull step. The process worker runs each flow in a new temporary folder:
# relative SHANHAI_HOME, SHANHAI_CATALOGUE_DIR, SHANHAI_APPRISE_CONFIG and SQLite paths are read
# against the repository root, and a flow refuses to run when the database is not there.
"""


def _schedule(cron: str) -> list[dict[str, Any]]:
    return [{"cron": cron, "timezone": TIMEZONE}]


def _deployment(
    name: str, entrypoint: str, description: str, cron: str, tags: list[str], parameters: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "entrypoint": entrypoint,
        "parameters": parameters,
        "tags": tags,
        "schedules": _schedule(cron),
        "work_pool": {"name": WORK_POOL},
    }


def deployment_specs(catalogue, send_hour: int = 9) -> list[dict[str, Any]]:
    """The deployments, in a stable order: obligations in catalogue order, then the support flows."""
    out = []
    for ob_id, ob in catalogue.obligations.items():
        doc = catalogue.documents.get(catalogue.obligation_document.get(ob_id, ""))
        source = f"{doc.number} {ob.clause}" if doc else ob.clause
        out.append(
            _deployment(
                ob.title,
                CHECK_ENTRYPOINT,
                f"{ob.title}（{source}）",
                check_cron(send_hour),
                ["shanhai", "check"],
                {"obligation": ob_id},
            )
        )
    out += [
        _deployment(
            DELIVER_FLOW,
            "shanhai.flows.deliver:deliver_outbox_flow",
            "发件箱投递：待发送与待重试的消息（每 10 分钟）",
            DELIVER_CRON,
            ["shanhai", "delivery"],
            {},
        ),
        _deployment(
            WEEKLY_DIGEST_FLOW,
            "shanhai.flows.digest:weekly_digest_flow",
            "每周督办摘要：发给协调方（每周第一个工作日）",
            digest_cron(send_hour),
            ["shanhai", "digest"],
            {},
        ),
        _deployment(
            MONTHLY_DIGEST_FLOW,
            "shanhai.flows.digest:monthly_digest_flow",
            "每月逾期通报：发给领导小组（每月第一个工作日）",
            digest_cron(send_hour),
            ["shanhai", "digest"],
            {},
        ),
    ]
    _require_unique_names(out)
    return out


def _require_unique_names(specs: list[dict[str, Any]]) -> None:
    """Deployments are named by their obligation's title (Chinese in the Prefect UI): two obligations
    with one title, in two catalogue files, would deploy over each other."""
    seen: set[str] = set()
    for spec in specs:
        if spec["name"] in seen:
            raise ValueError(f"两项职责同名“{spec['name']}”：Prefect 部署以职责名称命名，请在事项目录中改名")
        seen.add(spec["name"])


def render_prefect_yaml(catalogue, send_hour: int = 9) -> str:
    doc = {
        "name": "shanhai",
        "prefect-version": None,
        "build": None,
        "push": None,
        "pull": [],
        "deployments": deployment_specs(catalogue, send_hour),
    }
    body = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=1000, default_flow_style=False)
    return HEADER + "\n" + body


def prefect_yaml_path() -> Path:
    return REPO_ROOT / "prefect.yaml"


USAGE = "用法 usage: python -m shanhai.cli.deployments [--check]"


def main(argv: list[str] | None = None) -> int:
    """Write (or ``--check``) prefect.yaml. Every failure is one line on stderr, as for `shanhai`:
    a known cause (a setting, the catalogue, the file) exits 1, anything else 2 with its traceback in
    the CLI's error log."""
    from shanhai.cli.errors import PREFIX, describe, internal_error

    argv = sys.argv[1:] if argv is None else argv
    unknown = [a for a in argv if a != "--check"]
    if unknown:
        print(f"{PREFIX}未知参数 {unknown[0]!r}。{USAGE}", file=sys.stderr)
        return 2
    try:
        return _run(check="--check" in argv)
    except Exception as exc:  # noqa: BLE001  (one line, never a traceback; see shanhai.cli.errors)
        known = describe(exc)
        print(f"{PREFIX}{known}" if known is not None else internal_error(exc), file=sys.stderr)
        return 1 if known is not None else 2


def _run(*, check: bool) -> int:
    from shanhai.app import App

    app = App()
    text = render_prefect_yaml(app.catalogue, app.settings.send_hour)
    path = prefect_yaml_path()
    if check:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            print(f"{path} 与事项目录不一致：请运行 python -m shanhai.cli.deployments", file=sys.stderr)
            return 1
        print(f"{path} 与事项目录一致。")
        return 0
    path.write_text(text, encoding="utf-8")
    print(f"已写入 {path}（{text.count('entrypoint:')} 个部署）")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
