"""The ECS endpoint with the real, unmodified AWS SDK for Go v2 (service/ecs).

tests/conformance/go/ is a small Go program configured only by the environment an AWS client reads
(AWS_ENDPOINT_URL_ECS, the key, the region). It creates a cluster, registers task definitions, runs a
task through the SDK's TasksRunning and TasksStopped waiters, checks typed errors (errors.As) and that
they are not retried, pages ListTaskDefinitions one by one, and signs with a wrong secret key. It
prints one JSON line; this test asserts on each step of it.

The program is built once per version of its sources, into ~/.cache/ecs-operator/conformance-go/
(modules from the Go module proxy; only `go` and the network are needed).
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

SOURCE = Path(__file__).resolve().parents[1] / "conformance" / "go"
SDK = {"github.com/aws/aws-sdk-go-v2": "v1.48.0", "github.com/aws/aws-sdk-go-v2/service/ecs": "v1.106.0"}


def go_binary() -> str | None:
    return shutil.which("go") or next((p for p in ("/usr/local/go/bin/go",) if os.access(p, os.X_OK)), None)


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ecs-operator" / "conformance-go"


@pytest.fixture(scope="session")
def go_conformance() -> Path:
    """The program, built from tests/conformance/go (cached by a hash of its sources)."""
    go = go_binary()
    if go is None:
        pytest.skip("Go is not installed (`go` not on PATH): the Go SDK conformance test needs it")
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update(name.encode() + b"\0" + (SOURCE / name).read_bytes())
    binary = cache_dir() / digest.hexdigest()[:16] / "ecs-conformance-go"
    if binary.exists():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(f".{os.getpid()}.tmp")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
    started = time.monotonic()
    built = subprocess.run([go, "build", "-trimpath", "-o", str(partial), "."], cwd=SOURCE, env=env,
                           capture_output=True, text=True, timeout=600)
    if built.returncode != 0:
        pytest.fail(f"`go build` of {SOURCE} failed ({time.monotonic() - started:.0f} s):\n{built.stderr}")
    partial.replace(binary)
    return binary


def test_go_sdk_v2(go_conformance, endpoint, ecs_credentials, node_group) -> None:
    node_group(cluster="main", count=2)
    key = ecs_credentials()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           **key.env(endpoint)}
    started = time.monotonic()
    ran = subprocess.run([str(go_conformance)], env=env, capture_output=True, text=True, timeout=360)
    took = time.monotonic() - started
    lines = [line for line in ran.stdout.splitlines() if line.startswith("{")]
    context = (f"exit {ran.returncode} after {took:.1f} s\nstdout:\n{ran.stdout}\nstderr:\n{ran.stderr}\n"
               f"endpoint log (tail):\n{endpoint.log.read_text()[-4000:]}")
    assert lines, f"the Go program printed no JSON line: {context}"
    print(lines[-1])
    out = json.loads(lines[-1])
    assert out["ok"] is True and ran.returncode == 0, f"{out.get('failure')}\n{context}"

    # the SDK we meant, talking to the endpoint the environment named, with the key from the environment
    for module, version in SDK.items():
        assert out["sdk"][module] == version, out["sdk"]
    assert out["endpoint"] == endpoint.url
    assert out["region"] == "us-east-1"
    assert out["credentialSource"] == "EnvConfigCredentials"

    cluster = out["createCluster"]
    assert cluster["clusterName"] == "main"
    assert cluster["clusterArn"].endswith(":cluster/main")
    assert cluster["requestId"]

    registered = out["registerTaskDefinition"]
    assert registered["revisions"] == [1, 2, 3]  # a fresh namespace: the family starts at 1
    assert [arn.rsplit("/", 1)[-1] for arn in registered["arns"]] == ["go-web:1", "go-web:2", "go-web:3"]

    run = out["runTask"]
    assert run["failures"] == 0
    assert run["desiredStatus"] == "RUNNING"
    assert ":task/main/" in run["taskArn"]
    assert out["tasksRunningWaiter"]["describeTasksCalls"] >= 1

    described = out["describeTasks"]
    assert described["lastStatus"] == "RUNNING"
    assert described["desiredStatus"] == "RUNNING"
    assert described["createdAt"]  # decoded from an epoch number (a string would fail the SDK)
    assert described["containers"] == 1
    assert described["containerLastStatus"] == "RUNNING"

    assert out["stopTask"]["desiredStatus"] == "STOPPED"
    stopped = out["tasksStoppedWaiter"]
    assert stopped["lastStatus"] == "STOPPED"
    assert stopped["stopCode"] == "UserInitiated"
    assert stopped["stoppedReason"] == "go conformance"

    # modeled errors: typed (errors.As), HTTP 400, a request id, sent once
    not_found = out["clusterNotFound"]
    assert not_found["type"] == "*types.ClusterNotFoundException"
    assert not_found["code"] == "ClusterNotFoundException"
    assert not_found["fault"] == "client"
    assert (not_found["httpStatus"], not_found["attempts"], not_found["retryable"]) == (400, 1, False)
    assert not_found["requestId"]
    unknown = out["clientException"]
    assert unknown["type"] == "*types.ClientException"
    assert unknown["code"] == "ClientException"
    assert unknown["fault"] == "client"
    assert (unknown["httpStatus"], unknown["attempts"], unknown["retryable"]) == (400, 1, False)

    pages = out["paginator"]
    assert pages["pages"] >= 3
    assert len(pages["tokens"]) == len(set(pages["tokens"])) == pages["pages"] - 1
    assert sorted(pages["arns"]) == sorted(registered["arns"])

    bad = out["invalidSignature"]
    assert bad["code"] == "InvalidSignatureException"
    assert (bad["httpStatus"], bad["attempts"], bad["retryable"]) == (400, 1, False)
    assert any(arn.endswith(":cluster/main") for arn in out["listClusters"])

    clusters = out["describeClusters"]
    assert clusters["status"] == "ACTIVE"
    assert clusters["registeredContainerInstancesCount"] >= 2  # the two kwok nodes (and any other of "main")
    assert clusters["failure"]["reason"] == "MISSING" and clusters["failure"]["arn"].endswith("nope")
