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
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conformance.scenario import check_shared_steps, run_program

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
    out = run_program([node, str(script)], ecs_credentials(), endpoint, "JS", cwd=SOURCE)
    check_shared_steps(out, endpoint, "js-web", "js conformance")

    assert out["sdk"]["@aws-sdk/client-ecs"].startswith("3.")
    assert out["tasksRunningWaiter"]["state"] == "SUCCESS"
    assert out["tasksStoppedWaiter"]["state"] == "SUCCESS"

    # modeled errors: typed (instanceof), HTTP 400, $fault client, a request id, sent once
    for step, name in (("clusterNotFound", "ClusterNotFoundException"), ("clientException", "ClientException")):
        error = out[step]
        assert (error["instanceOf"], error["name"], error["fault"]) == (name, name, "client"), error
        assert (error["httpStatus"], error["attempts"], error["sent"]) == (400, 1, 1), error
        assert error["requestId"]

    bad = out["invalidSignature"]
    assert bad["name"] == "InvalidSignatureException"
    assert (bad["httpStatus"], bad["attempts"], bad["sent"]) == (400, 1, 1)
