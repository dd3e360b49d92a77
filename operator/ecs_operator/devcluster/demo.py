"""The main job: the operator plus a demo, on a local control plane unless KUBECONFIG is given.

Through the ECS API layer, as `kubectl ecs` would: registers the example task definitions (the
2014 preview's three-tier seed and the classic WordPress + MySQL pair linked by name), runs one
task of each, and prints them as `aws ecs describe-tasks` does. Everything it started stops on exit or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ..api import EcsError, Session, call
from ..api.shapes import iso_timestamps
from ..ecs.crds import crds

EXAMPLES = ("seed-three-tier.json", "wordpress.json")
NAMESPACE = "ecs-demo"


def step(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def cluster(state_dir: Path) -> Iterator[tuple[str, bool]]:
    """(kubeconfig path, local?) — the given KUBECONFIG, or a local control plane for the block."""
    given = os.environ.get("KUBECONFIG")
    if given:
        step(f"using the cluster in KUBECONFIG={given}")
        yield given, False
        return
    from . import build
    from .controlplane import running

    if not build.binaries_ready():
        step("building the pinned control plane (once; several minutes)")
        build.build()
    step(f"starting a local control plane in {state_dir}")
    started = time.monotonic()
    with running(state_dir) as plane:
        step(f"control plane ready in {time.monotonic() - started:.1f} s")
        yield str(plane.kubeconfig), True


def install_crds(api: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(api)
    for manifest in crds().values():
        name = manifest["metadata"]["name"]
        try:
            current = ext.read_custom_resource_definition(name)
            manifest["metadata"]["resourceVersion"] = current.metadata.resource_version
            ext.replace_custom_resource_definition(name, manifest)
        except ApiException as err:
            if err.status != 404:
                raise
            ext.create_custom_resource_definition(manifest)
    for manifest in crds().values():
        name = manifest["metadata"]["name"]
        while not any(c.type == "Established" and c.status == "True"
                      for c in ext.read_custom_resource_definition(name).status.conditions or []):
            time.sleep(0.1)


def run_demo(examples: Path, state_dir: Path, hold: bool, timeout: float = 120) -> int:
    with cluster(state_dir) as (kubeconfig, local):
        api = config.new_client_from_config(kubeconfig)
        core = client.CoreV1Api(api)
        if local:
            from .nodes import NodeGroup, create_node_group

            step("adding 3 kwok nodes (m5.large) to the node group of ECS cluster 'default'")
            create_node_group(core, NodeGroup(cluster="default", count=3))
        step("installing the CRDs")
        install_crds(api)
        with contextlib.suppress(ApiException):
            core.create_namespace({"metadata": {"name": NAMESPACE}})
        step("starting the operator (ecs-operator run)")
        env = dict(os.environ, KUBECONFIG=kubeconfig)
        operator = subprocess.Popen([sys.executable, "-m", "ecs_operator.cli", "run", "--log-level", "warning"],
                                    env=env)
        try:
            # The ECS actions, as `kubectl ecs` and the aws CLI make them, through the ECS API layer.
            session = Session(api, NAMESPACE, wait_seconds=timeout)
            step("create-cluster --cluster-name default")
            call(session, "CreateCluster", {"clusterName": "default"})
            arns = []
            for example in EXAMPLES:
                document = json.loads((examples / example).read_text())
                family = call(session, "RegisterTaskDefinition", document)["taskDefinition"]["family"]
                step(f"register-task-definition {family} (from examples/{example})")
                step(f"run-task --cluster default --task-definition {family}")
                run = call(session, "RunTask", {"cluster": "default", "taskDefinition": family,
                                                "startedBy": "ecs-operator-demo"})
                arns += [t["taskArn"] for t in run["tasks"]]
            step("waiting for the tasks to be RUNNING")
            deadline = time.monotonic() + timeout
            while True:
                answer = call(session, "DescribeTasks", {"cluster": "default", "tasks": arns})
                ok = bool(arns) and all(t.get("lastStatus") == "RUNNING" for t in answer["tasks"])
                if ok or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            print(json.dumps(iso_timestamps(answer), indent=4))
            if not ok:
                step("not every task reached RUNNING in time")
            if hold:
                step(f"running; KUBECONFIG={kubeconfig}; Ctrl-C stops everything")
                with contextlib.suppress(KeyboardInterrupt):
                    operator.wait()
            return 0 if ok else 1
        except EcsError as err:
            step(f"error: {err.code}: {err.message}")
            return 1
        finally:
            operator.terminate()
            try:
                operator.wait(timeout=10)
            except subprocess.TimeoutExpired:
                operator.kill()
