"""CLI start-up: wall time of `shanhai --help` and `shanhai obligations --json`, and that the CLI
does not import Prefect (only commands that start a flow run import it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

PROBE = """
import contextlib, io, json, sys, time, warnings
warnings.filterwarnings("ignore")
t = time.perf_counter()
import shanhai.cli.main
cli_ms = (time.perf_counter() - t) * 1000
after_import = "prefect" in sys.modules
t = time.perf_counter()
import shanhai.app
app_ms = (time.perf_counter() - t) * 1000
from shanhai.models.catalogue import load_catalogue
from shanhai.settings import get_settings
t = time.perf_counter()
load_catalogue(get_settings().catalogue_dir)
catalogue_ms = (time.perf_counter() - t) * 1000
sys.argv = ["shanhai", "obligations", "--json"]
with contextlib.redirect_stdout(io.StringIO()):
    try:
        shanhai.cli.main.main()
    except SystemExit:
        pass
print(json.dumps({"after_import": after_import, "after_command": "prefect" in sys.modules,
                  "import_app_ms": app_ms, "load_catalogue_ms": catalogue_ms}))
"""


def _time(cmd: list[str], env: dict[str, str], cwd: Path, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True, timeout=60)
        best = min(best, time.perf_counter() - t)
    return best * 1000


def import_time_ms(python: str, module: str, env: dict[str, str], cwd: Path) -> tuple[float, list[str]]:
    """Cumulative import time of `module` (python -X importtime), and its heaviest top-level imports."""
    proc = subprocess.run(
        [python, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    total = 0.0
    heavy: list[tuple[int, str]] = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if not m:
            continue
        cum, indent, name = int(m.group(1)), len(m.group(2)), m.group(3)
        if name == module:
            total = cum / 1000
        if indent == 3:  # what the top-level imports pull in directly
            heavy.append((cum, name))
    heavy.sort(reverse=True)
    return total, [f"{name} {cum / 1000:.0f}ms" for cum, name in heavy[:4]]


def run_cli(repo: Path, home: Path) -> dict:
    bindir = Path(sys.executable).parent
    shanhai = bindir / "shanhai"
    if not shanhai.exists():
        shanhai = repo / ".venv" / "bin" / "shanhai"
    python = str(shanhai.parent / "python")
    env = {**os.environ, "SHANHAI_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    for var in ("SHANHAI_DATABASE_URL", "SHANHAI_CATALOGUE_DIR", "SHANHAI_APPRISE_CONFIG"):
        env.pop(var, None)
    help_ms = _time([str(shanhai), "--help"], env, repo)
    obligations_ms = _time([str(shanhai), "obligations", "--json"], env, repo)
    bare_ms = _time([python, "-c", "pass"], env, repo)
    import_ms, heavy = import_time_ms(python, "shanhai.cli.main", env, repo)
    probe = subprocess.run(
        [python, "-c", PROBE], env=env, cwd=repo, check=True, capture_output=True, text=True, timeout=60
    )
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    return {
        "help_ms": round(help_ms, 1),
        "obligations_json_ms": round(obligations_ms, 1),
        "bare_python_ms": round(bare_ms, 1),
        "import_shanhai_cli_main_ms": round(import_ms, 1),
        "heaviest_imports": heavy,
        "import_shanhai_app_ms_after_cli": round(found["import_app_ms"], 1),
        "load_catalogue_ms": round(found["load_catalogue_ms"], 1),
        "prefect_imported_by_cli_module": found["after_import"],
        "prefect_imported_by_obligations_command": found["after_command"],
    }
