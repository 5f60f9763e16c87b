"""The pull step of every deployment: run from this checkout's root, wherever the worker has it."""

from __future__ import annotations

import os

from shanhai import REPO_ROOT


def use_repo_root() -> dict[str, str]:
    """Like prefect.deployments.steps.set_working_directory, with the directory of the installed checkout.

    The worker imports shanhai from its own checkout (editable install), so entrypoints such as
    flows/check.py resolve on any machine without a path baked into the deployment.
    """
    os.chdir(REPO_ROOT)
    return {"directory": str(REPO_ROOT)}
