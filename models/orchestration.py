"""The names a coordinator reads in the Prefect UI: flows and deployments are named in Chinese.

Prefect shows deployment and flow names as written; English ids (`aid-funds`, `check-obligation`) read
badly to the people who watch the runs. A check's deployment is named by its obligation's title
(`职责检查/年度帮扶资金到位`); the flows, the CLI that triggers them and the portal's link to a
deployment's page all take the names from here.
"""

from __future__ import annotations

CHECK_FLOW = "职责检查"
DELIVER_FLOW = "发件箱投递"
WEEKLY_DIGEST_FLOW = "每周督办摘要"
MONTHLY_DIGEST_FLOW = "每月逾期通报"
ASSESSMENT_FLOW = "年度考核"

DELIVER_DEPLOYMENT = f"{DELIVER_FLOW}/{DELIVER_FLOW}"
WEEKLY_DIGEST_DEPLOYMENT = f"{WEEKLY_DIGEST_FLOW}/{WEEKLY_DIGEST_FLOW}"
ASSESSMENT_DEPLOYMENT = f"{ASSESSMENT_FLOW}/{ASSESSMENT_FLOW}"


def check_deployment(title: str) -> str:
    """``flow/deployment`` of an obligation's check, as Prefect's read-by-name takes it."""
    return f"{CHECK_FLOW}/{title}"
