"""The package installs anywhere: a wheel built from this checkout, installed into a fresh virtual
environment in a temporary folder, runs init, status, a reminder preview and the portal there, with its
own catalogue and its data in the user's data folder (never in site-packages, never in the checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest

from shanhai import REPO_ROOT
from tests.conftest import free_port

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(base / "dist"),
         str(REPO_ROOT)], capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert built.returncode == 0, built.stderr
    [wheel] = (base / "dist").glob("shanhai-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # the dependencies come from this environment (no network in tests); shanhai itself only from the wheel
    Path(site, "shanhai-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    work, home = base / "work", base / "home"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHANHAI_", "PREFECT_", "XDG_"))}
    env |= {"HOME": str(home), "PREFECT_HOME": str(base / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return {"bin": venv / "bin", "site": Path(site), "work": work, "env": env,
            "data": home / ".local" / "share" / "shanhai"}


def _run(installed: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(installed["bin"] / "shanhai"), *args], cwd=installed["work"], env=installed["env"],
                          capture_output=True, text=True, timeout=300)


def test_the_installed_wheel_imports_shanhai_from_itself(installed):
    where = subprocess.run([str(installed["bin"] / "python"), "-c", "import shanhai; print(shanhai.__file__)"],
                           cwd=installed["work"], env=installed["env"], capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(installed["site"])), where.stdout


def test_init_status_and_a_preview_run_outside_the_checkout(installed):
    init = _run(installed, "init", "--as-of", "2026-11-30")
    assert init.returncode == 0, init.stderr
    assert f"数据目录 {installed['data']}" in init.stdout, "init says where the data is"
    assert (installed["data"] / "shanhai.db").is_file()
    assert not (installed["site"] / "var").exists() and not list(installed["work"].iterdir())
    status = _run(installed, "status", "--as-of", "2026-11-30", "--json")
    assert status.returncode == 0, status.stderr
    assert '"obligation": "joint-meeting"' in status.stdout, "the document's catalogue shipped in the wheel"
    preview = _run(installed, "remind", "--dry-run", "--as-of", "2026-11-30T10:00")
    assert preview.returncode == 0, preview.stderr


def test_the_portal_serves_from_the_installed_wheel(installed):
    assert _run(installed, "init", "--as-of", "2026-11-30").returncode == 0
    port = free_port()
    proc = subprocess.Popen([str(installed["bin"] / "shanhai"), "portal", "--port", str(port)],
                            cwd=installed["work"], env=installed["env"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:  # readiness: the health endpoint answers
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the portal did not start"
            time.sleep(0.2)
        login = httpx.get(f"http://127.0.0.1:{port}/login", timeout=10)
        assert login.status_code == 200 and "登录" in login.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
