"""The ECS endpoint with the real, unmodified AWS SDK for JavaScript v3 (@aws-sdk/client-ecs).

tests/conformance/js/main.mjs is configured only by the environment an AWS client reads
(AWS_ENDPOINT_URL_ECS, the key, the region). It creates a cluster, registers task definitions, runs a
task through waitUntilTasksRunning and waitUntilTasksStopped, checks typed errors (instanceof) and
that they are not retried, pages ListTaskDefinitions one by one, and signs with a wrong secret key.
It prints one JSON line; this test asserts on each step of it.

node_modules is installed by `npm ci` from package-lock.json into tests/conformance/js (gitignored),
again only when the lock file changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.controlplane

SOURCE = Path(__file__).resolve().parents[1] / "conformance" / "js"


@pytest.fixture(scope="session")
def js_conformance() -> tuple[str, Path]:
    """(node, main.mjs), with node_modules installed from the lock file."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js is not installed (`node`/`npm` not on PATH): the JS SDK conformance test needs it")
    major = subprocess.run([node, "-p", "process.versions.node.split('.')[0]"], capture_output=True, text=True)
    if int(major.stdout.strip() or 0) < 20:
        pytest.skip(f"@aws-sdk/client-ecs needs Node.js 20 or later, not {major.stdout.strip()}")
    lock = hashlib.sha256((SOURCE / "package-lock.json").read_bytes()).hexdigest()
    stamp = SOURCE / "node_modules" / ".conformance-lock.sha256"
    if not stamp.exists() or stamp.read_text() != lock:
        started = time.monotonic()
        installed = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SOURCE, capture_output=True,
                                   text=True, timeout=600)
        if installed.returncode != 0:
            pytest.fail(f"`npm ci` in {SOURCE} failed ({time.monotonic() - started:.0f} s):\n"
                        f"{installed.stdout}\n{installed.stderr}")
        stamp.write_text(lock)
    return node, SOURCE / "main.mjs"


def test_js_sdk_v3(js_conformance, endpoint, ecs_credentials, node_group) -> None:
    node, script = js_conformance
    node_group(cluster="main", count=2)
    key = ecs_credentials()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           **key.env(endpoint)}
    started = time.monotonic()
    ran = subprocess.run([node, str(script)], cwd=SOURCE, env=env, capture_output=True, text=True, timeout=360)
    took = time.monotonic() - started
    lines = [line for line in ran.stdout.splitlines() if line.startswith("{")]
    context = (f"exit {ran.returncode} after {took:.1f} s\nstdout:\n{ran.stdout}\nstderr:\n{ran.stderr}\n"
               f"endpoint log (tail):\n{endpoint.log.read_text()[-4000:]}")
    assert lines, f"the JS program printed no JSON line: {context}"
    print(lines[-1])
    out = json.loads(lines[-1])
    assert out["ok"] is True and ran.returncode == 0, f"{out.get('failure')}\n{context}"

    # the SDK, talking to the endpoint the environment named
    assert out["sdk"]["@aws-sdk/client-ecs"].startswith("3.")
    assert out["endpoint"] == endpoint.url
    assert out["region"] == "us-east-1"

    cluster = out["createCluster"]
    assert cluster["clusterName"] == "main"
    assert cluster["clusterArn"].endswith(":cluster/main")
    assert cluster["requestId"]

    registered = out["registerTaskDefinition"]
    assert registered["revisions"] == [1, 2, 3]  # a fresh namespace: the family starts at 1
    assert [arn.rsplit("/", 1)[-1] for arn in registered["arns"]] == ["js-web:1", "js-web:2", "js-web:3"]

    run = out["runTask"]
    assert run["failures"] == 0
    assert run["desiredStatus"] == "RUNNING"
    assert ":task/main/" in run["taskArn"]
    assert out["tasksRunningWaiter"]["state"] == "SUCCESS"

    described = out["describeTasks"]
    assert described["lastStatus"] == "RUNNING"
    assert described["desiredStatus"] == "RUNNING"
    assert described["createdAt"]  # a Date from an epoch number (a string is a TypeError in the SDK)
    assert described["containers"] == 1
    assert described["containerLastStatus"] == "RUNNING"

    assert out["stopTask"]["desiredStatus"] == "STOPPED"
    stopped = out["tasksStoppedWaiter"]
    assert stopped["state"] == "SUCCESS"
    assert stopped["lastStatus"] == "STOPPED"
    assert stopped["stopCode"] == "UserInitiated"
    assert stopped["stoppedReason"] == "js conformance"

    # modeled errors: typed (instanceof), HTTP 400, $fault client, a request id, sent once
    for step, name in (("clusterNotFound", "ClusterNotFoundException"), ("clientException", "ClientException")):
        error = out[step]
        assert (error["instanceOf"], error["name"], error["fault"]) == (name, name, "client"), error
        assert (error["httpStatus"], error["attempts"], error["sent"]) == (400, 1, 1), error
        assert error["requestId"]

    pages = out["paginator"]
    assert pages["pages"] >= 3
    assert len(pages["tokens"]) == len(set(pages["tokens"])) == pages["pages"] - 1
    assert sorted(pages["arns"]) == sorted(registered["arns"])

    bad = out["invalidSignature"]
    assert bad["name"] == "InvalidSignatureException"
    assert (bad["httpStatus"], bad["attempts"], bad["sent"]) == (400, 1, 1)
    assert any(arn.endswith(":cluster/main") for arn in out["listClusters"])

    clusters = out["describeClusters"]
    assert clusters["status"] == "ACTIVE"
    assert clusters["registeredContainerInstancesCount"] >= 2  # the two kwok nodes (and any other of "main")
    assert clusters["failure"]["reason"] == "MISSING" and clusters["failure"]["arn"].endswith("nope")
