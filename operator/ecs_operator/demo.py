"""The main job: the operator plus a demo, on a local control plane unless KUBECONFIG is given.

Registers the example task definitions (the 2014 preview's three-tier seed and the classic
WordPress + MySQL pair linked by name), runs one task of each, and prints them as
`aws ecs describe-tasks` would. Everything it started stops on exit or Ctrl-C.
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
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from .crdgen import crds
from .ecs.normalize import parse_task_definition
from .labels import API_GROUP, API_VERSION
from .plugin import task_definition_resource

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
    from .devcluster import build
    from .devcluster.controlplane import running

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


def apply(custom: client.CustomObjectsApi, plural: str, body: dict[str, Any]) -> None:
    try:
        custom.create_namespaced_custom_object(API_GROUP, API_VERSION, NAMESPACE, plural, body)
    except ApiException as err:
        if err.status != 409:
            raise


def run_demo(examples: Path, state_dir: Path, hold: bool, timeout: float = 120) -> int:
    with cluster(state_dir) as (kubeconfig, local):
        api = config.new_client_from_config(kubeconfig)
        core = client.CoreV1Api(api)
        if local:
            from .devcluster.nodes import NodeGroup, create_node_group

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
            custom = client.CustomObjectsApi(api)
            apply(custom, "ecsclusters", {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ECSCluster",
                                          "metadata": {"name": "default"}, "spec": {}})
            tasks = []
            for example in EXAMPLES:
                normalized = parse_task_definition(json.loads((examples / example).read_text()))
                resource = task_definition_resource(normalized)
                step(f"register-task-definition {normalized.definition.family} (from examples/{example})")
                apply(custom, "ecstaskdefinitions", resource)
                # register-task-definition answers with the revision: wait for it, as the aws CLI does.
                deadline = time.monotonic() + timeout
                while not (custom.get_namespaced_custom_object(
                        API_GROUP, API_VERSION, NAMESPACE, "ecstaskdefinitions", resource["metadata"]["name"]
                        ).get("status") or {}).get("latestRevision") and time.monotonic() < deadline:
                    time.sleep(0.2)
                name = f"{resource['metadata']['name']}-demo"
                step(f"run-task --cluster default --task-definition {normalized.definition.family}")
                apply(custom, "ecstasks", {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ECSTask",
                                           "metadata": {"name": name},
                                           "spec": {"cluster": "default",
                                                    "taskDefinition": normalized.definition.family,
                                                    "startedBy": "ecs-operator-demo"}})
                tasks.append(name)
            step("waiting for the tasks to be RUNNING")
            deadline = time.monotonic() + timeout
            records: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                objs = [custom.get_namespaced_custom_object(API_GROUP, API_VERSION, NAMESPACE, "ecstasks", t)
                        for t in tasks]
                records = [r for o in objs for r in (o.get("status") or {}).get("tasks", [])]
                if len(records) == len(tasks) and all(r.get("lastStatus") == "RUNNING" for r in records):
                    break
                time.sleep(0.5)
            shown = [{k: v for k, v in r.items() if k not in ("podName", "nodeName")} for r in records]
            print(json.dumps({"tasks": shown, "failures": []}, indent=4))
            ok = all(r.get("lastStatus") == "RUNNING" for r in records) and len(records) == len(tasks)
            if not ok:
                step("not every task reached RUNNING in time")
            if hold:
                step(f"running; KUBECONFIG={kubeconfig}; Ctrl-C stops everything")
                with contextlib.suppress(KeyboardInterrupt):
                    operator.wait()
            return 0 if ok else 1
        finally:
            operator.terminate()
            try:
                operator.wait(timeout=10)
            except subprocess.TimeoutExpired:
                operator.kill()
