"""The addresses of the stack `shanhai up` is running on this home, for every other command.

`shanhai up` may put the portal and the Prefect UI on other ports than the defaults (configured, or picked
because 8600/4200 were busy). While it runs it writes them into ``$SHANHAI_HOME/stack.json``; a
`shanhai remind` from another shell then writes links that open, unless SHANHAI_PORTAL_URL says otherwise.
The file is removed when the stack stops; one left by a stack that was killed names a process that is
gone and is ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILE_NAME = "stack.json"
FIELDS = ("portal_url", "prefect_ui_url", "prefect_api_url", "prefect_home")


def stack_file(home: Path) -> Path:
    return home / FILE_NAME


def write_running_stack(home: Path, **addresses: str) -> Path:
    """Written whole (a temporary file renamed over it) and private, with this process's id."""
    path = stack_file(home)
    partial = path.with_suffix(".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"pid": os.getpid(), **addresses}, handle, ensure_ascii=False, indent=2)
    os.replace(partial, path)
    return path


def remove_running_stack(home: Path) -> None:
    path = stack_file(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if data.get("pid") == os.getpid():  # never remove another live stack's file
        path.unlink(missing_ok=True)


def read_running_stack(home: Path) -> dict[str, str] | None:
    """The addresses of the stack running on ``home``, or None (no stack, or its process is gone)."""
    try:
        data: Any = json.loads(stack_file(home).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not _alive(data.get("pid")):
        return None
    return {k: v for k, v in data.items() if k in FIELDS and isinstance(v, str)}


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True
