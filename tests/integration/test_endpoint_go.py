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
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conformance.scenario import check_shared_steps, run_program

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
    out = run_program([str(go_conformance)], ecs_credentials(), endpoint, "Go")
    check_shared_steps(out, endpoint, "go-web", "go conformance")

    # the SDK we meant, with the key from the environment
    for module, version in SDK.items():
        assert out["sdk"][module] == version, out["sdk"]
    assert out["credentialSource"] == "EnvConfigCredentials"
    assert out["tasksRunningWaiter"]["describeTasksCalls"] >= 1

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

    bad = out["invalidSignature"]
    assert bad["code"] == "InvalidSignatureException"
    assert (bad["httpStatus"], bad["attempts"], bad["retryable"]) == (400, 1, False)
