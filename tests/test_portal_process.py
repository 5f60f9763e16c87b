"""The portal as a process: `shanhai portal`, and `shanhai up`'s child beside the Prefect server, whose
address the worker's links point at."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from shanhai import REPO_ROOT
from shanhai.cli.processes import Stack, free_port, stop_process_group
from tests.conftest import REAL_CATALOGUE


def env_for(home) -> dict[str, str]:
    env = {**os.environ, "SHANHAI_HOME": str(home), "SHANHAI_SECRET_KEY": "test-secret",
           "SHANHAI_CATALOGUE_DIR": str(REAL_CATALOGUE)}
    env.pop("SHANHAI_DATABASE_URL", None)
    return env


def wait_up(url: str, proc_alive, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(f"{url}/login", timeout=2)
        except httpx.HTTPError:
            assert proc_alive(), "the portal process exited"
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.2)


def test_shanhai_portal_serves_the_login_page(tmp_path):
    refused = subprocess.run([sys.executable, "-m", "shanhai.cli.main", "portal"], env=env_for(tmp_path),
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "未找到数据库" in refused.stderr, "no portal on a home without a database"
    init = subprocess.run([sys.executable, "-m", "shanhai.cli.main", "init"], env=env_for(tmp_path), cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "shanhai.cli.main", "portal", "--port", str(port)],
        env=env_for(tmp_path), cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        page = wait_up(f"http://127.0.0.1:{port}", lambda: proc.poll() is None)
        assert page.status_code == 200 and "登录" in page.text
    finally:
        stop_process_group(proc, timeout=10)


def test_up_starts_the_portal_and_points_the_links_at_it(tmp_path):
    from shanhai.cli.up import start_portal

    stack = Stack()
    env = env_for(tmp_path)
    try:
        port = free_port()
        url = start_portal(stack, env=env, configured=f"http://127.0.0.1:{port}", log_path=tmp_path / "portal.log")
        assert url == f"http://127.0.0.1:{port}" and env["SHANHAI_PORTAL_URL"] == url
        page = wait_up(url, stack.children[0].alive)
        assert page.status_code == 200
        # an address the units reach (a LAN name, a proxy) is kept as it is for the links
        public = start_portal(stack, env=env, configured="https://shanhai.example.gov.cn/",
                              log_path=tmp_path / "portal2.log")
        assert public == env["SHANHAI_PORTAL_URL"] == "https://shanhai.example.gov.cn"
    finally:
        stack.stop(timeout=10)
