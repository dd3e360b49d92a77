"""What the Go and JavaScript conformance programs share: how they are run (configured only by
the environment a key gives), and the checks on the steps both take (the JSON line they print)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any


def run_program(command: list[str], key: Any, endpoint: Any, what: str, cwd: Path | None = None) -> dict[str, Any]:
    """The program's JSON line, after asserting it ran to the end."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           **key.env(endpoint)}
    started = time.monotonic()
    ran = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=360)
    took = time.monotonic() - started
    lines = [line for line in ran.stdout.splitlines() if line.startswith("{")]
    context = (f"exit {ran.returncode} after {took:.1f} s\nstdout:\n{ran.stdout}\nstderr:\n{ran.stderr}\n"
               f"endpoint log (tail):\n{endpoint.log.read_text()[-4000:]}")
    assert lines, f"the {what} program printed no JSON line: {context}"
    print(lines[-1])
    out: dict[str, Any] = json.loads(lines[-1])
    assert out["ok"] is True and ran.returncode == 0, f"{out.get('failure')}\n{context}"
    return out


def check_shared_steps(out: dict[str, Any], endpoint: Any, family: str, reason: str) -> None:
    """Cluster, three revisions, run → describe → stop, paginator, list and describe clusters."""
    assert out["endpoint"] == endpoint.url  # the endpoint the environment named
    assert out["region"] == "us-east-1"

    cluster = out["createCluster"]
    assert cluster["clusterName"] == "main"
    assert cluster["clusterArn"].endswith(":cluster/main")
    assert cluster["requestId"]

    registered = out["registerTaskDefinition"]
    assert registered["revisions"] == [1, 2, 3]  # a fresh namespace: the family starts at 1
    assert [arn.rsplit("/", 1)[-1] for arn in registered["arns"]] == [f"{family}:1", f"{family}:2", f"{family}:3"]

    run = out["runTask"]
    assert run["failures"] == 0
    assert run["desiredStatus"] == "RUNNING"
    assert ":task/main/" in run["taskArn"]

    described = out["describeTasks"]
    assert described["lastStatus"] == "RUNNING"
    assert described["desiredStatus"] == "RUNNING"
    assert described["createdAt"]  # decoded from an epoch number (a string fails both SDKs)
    assert described["containers"] == 1
    assert described["containerLastStatus"] == "RUNNING"

    assert out["stopTask"]["desiredStatus"] == "STOPPED"
    stopped = out["tasksStoppedWaiter"]
    assert stopped["lastStatus"] == "STOPPED"
    assert stopped["stopCode"] == "UserInitiated"
    assert stopped["stoppedReason"] == reason

    pages = out["paginator"]
    assert pages["pages"] >= 3
    assert len(pages["tokens"]) == len(set(pages["tokens"])) == pages["pages"] - 1
    assert sorted(pages["arns"]) == sorted(registered["arns"])

    assert any(arn.endswith(":cluster/main") for arn in out["listClusters"])
    clusters = out["describeClusters"]
    assert clusters["status"] == "ACTIVE"
    assert clusters["registeredContainerInstancesCount"] >= 2  # the two kwok nodes (and any other of "main")
    assert clusters["failure"]["reason"] == "MISSING" and clusters["failure"]["arn"].endswith("nope")
