"""Small waiting helpers for tests on a real cluster (no timing assertions: only deadlines)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


# Deadlines, not timing assertions: generous, because a loaded 2-core CI machine is slow.
def wait_for(probe: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.2, what: str = "") -> T:
    """Poll `probe` until it returns something truthy; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or probe}; last value: {last!r}")


def start_operator(kubeconfig: object, log: object, *args: str, **env: str) -> subprocess.Popen[bytes]:
    """`ecs-operator run ARGS` as a real process with KUBECONFIG (and `env`) set, output to `log`."""
    return subprocess.Popen([sys.executable, "-m", "ecs_operator.cli", "run", *args],
                            env={**os.environ, "KUBECONFIG": str(kubeconfig), **env},
                            stdout=log, stderr=subprocess.STDOUT)  # type: ignore[arg-type]


def stop_operator(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not stopped within 10 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --------------------------------------------------------------------------- the ECS API layer


def web_session(kubeconfig: object, namespace: str) -> Any:
    """An API layer session on `namespace` with cluster `main` and family `web` at revision 2, its
    revision 1 INACTIVE (the cluster's nodes are the caller's)."""
    from ecs_operator.api import Session, call

    session = Session.from_kubeconfig(str(kubeconfig), namespace=namespace)
    container = {"name": "web", "image": "nginx:1.27", "cpu": 64, "memory": 32}
    call(session, "CreateCluster", {"clusterName": "main"})
    call(session, "RegisterTaskDefinition", {"family": "web", "containerDefinitions": [container]})
    call(session, "RegisterTaskDefinition", {"family": "web", "containerDefinitions": [{**container, "cpu": 65}]})
    call(session, "DeregisterTaskDefinition", {"taskDefinition": "web:1"})
    return session


def refused(session: Any, action: str, request: dict[str, Any]) -> tuple[str, str]:
    """The ECS error (code, message) the action answers; fails when it answers none."""
    import pytest

    from ecs_operator.api import EcsError, call

    with pytest.raises(EcsError) as raised:
        call(session, action, request)
    return raised.value.code, raised.value.message
