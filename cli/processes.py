"""Child processes of `shanhai up`: each in its own process group, logged to a file, stopped in order.

A process group per child means the terminal's Ctrl-C reaches only `shanhai up`, which then stops the
children itself (worker before server) and waits; groups a killed run left behind are reaped next time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit


def private_file(path: str, flags: int) -> int:
    """``open(..., opener=private_file)``: a new file is readable by its owner only (0600)."""
    return os.open(path, flags, 0o600)


def open_log(log_path: Path, argv: list[str]) -> IO:
    """A child's log, private (it may quote signed links), opened for append with a header for this run."""
    log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = open(log_path, "a", encoding="utf-8", opener=private_file)  # noqa: SIM115  (the caller closes it)
    log.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n")
    log.flush()
    return log


class StartupError(RuntimeError):
    """Something did not come up; the message says what and where its log is."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log_path: Path
    log: IO

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])


@dataclass
class Stack:
    """The children of one `shanhai up`, stopped in reverse start order."""

    children: list[Child] = field(default_factory=list)

    pid_file: Path | None = None  # process groups recorded here, reaped by the next start if orphaned

    def start(self, name: str, argv: list[str], *, env: dict[str, str], log_path: Path, cwd: Path | None) -> Child:
        log = open_log(log_path, argv)  # closed in stop()
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: the terminal's Ctrl-C does not reach it
        )
        child = Child(name, proc, log_path, log)
        self.children.append(child)
        self._record()
        return child

    def _record(self) -> None:
        if self.pid_file is not None:
            self.pid_file.write_text("".join(f"{c.proc.pid}\n" for c in self.children))

    def stop(self, timeout: float = 20.0) -> None:
        for child in reversed(list(self.children)):
            self.stop_one(child, timeout=timeout)

    def stop_one(self, child: Child, timeout: float = 20.0) -> None:
        stop_process_group(child.proc, timeout=timeout)
        child.log.close()
        self.children.remove(child)
        self._record()


def stop_process_group(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM the child's process group, wait, then SIGKILL whatever is left."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    # the group may outlive its leader (flow-run subprocesses of a worker)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def reap_orphans(pid_file: Path) -> int:
    """Stop the process groups a previous run recorded and left behind (it was killed with SIGKILL)."""
    try:
        pids = [int(line) for line in pid_file.read_text().split()]
    except (OSError, ValueError):
        return 0
    reaped = 0
    for pid in reversed(pids):  # the worker before the server it reports to
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "prefect" not in cmdline and "uvicorn" not in cmdline:
            continue  # the pid was reused by something else: not ours
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
            if sig == signal.SIGTERM:
                for _ in range(40):
                    if not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.25)
        reaped += 1
    pid_file.unlink(missing_ok=True)
    return reaped


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as uvicorn binds: a port in TIME_WAIT after the last stop is free, a listening one is not
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def choose_port(configured_url: str, default: int) -> int:
    port = urlsplit(configured_url).port or default
    return port if port_is_free(port) else free_port()
