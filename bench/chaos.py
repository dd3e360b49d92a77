"""Crash consistency: kill -9 the operator at random moments during a burst of tasks.

    make chaos                       # 300 tasks, 10 kills
    make chaos-long                  # 2,000 tasks, 50 kills
    .venv/bin/python bench/chaos.py --tasks N --kills K [--seed S]

Starts a local control plane (or uses KUBECONFIG), the CRDs, kwok nodes enough for the burst and
the operator; creates the tasks from 8 threads while a killer thread SIGKILLs the operator at
random moments and restarts it at once. A family gets a new revision every few seconds during the
run. Afterwards it checks: exactly one Pod per task (duplicates), every task RUNNING (lost),
revision numbers unique and gap-free, and how long after the last restart every status was in
sync. The last line reads `kills=K duplicates=D lost=L resync_s=T`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config

from ecs_operator.devcluster import build
from ecs_operator.devcluster.controlplane import running
from ecs_operator.devcluster.demo import install_crds
from ecs_operator.devcluster.nodes import NodeGroup, create_node_group
from ecs_operator.ecs.labels import API_GROUP, API_VERSION, TASK_LABEL

NAMESPACE = "chaos"
CLUSTER = "chaos"


def operator(kubeconfig: str, log: Any) -> subprocess.Popen[bytes]:
    env = dict(os.environ, KUBECONFIG=kubeconfig)
    return subprocess.Popen([sys.executable, "-m", "ecs_operator.cli", "run", "--namespace", NAMESPACE,
                             "--log-level", "warning"], env=env, stdout=log, stderr=subprocess.STDOUT)


def run(kubeconfig: str, tasks: int, kills: int, seed: int, log_path: Path, local: bool) -> int:
    rng = random.Random(seed)
    api = config.new_client_from_config(kubeconfig)
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    install_crds(api)
    with contextlib.suppress(client.exceptions.ApiException):
        core.create_namespace({"metadata": {"name": NAMESPACE}})
    if local:
        create_node_group(core, NodeGroup(cluster=CLUSTER, count=max(2, tasks // 100 + 1), cpu="64",
                                          memory="256Gi", pods="110"))

    def create(plural: str, kind: str, name: str, spec: dict[str, Any]) -> None:
        with contextlib.suppress(client.exceptions.ApiException):
            custom.create_namespaced_custom_object(API_GROUP, API_VERSION, NAMESPACE, plural, {
                "apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": kind, "metadata": {"name": name}, "spec": spec})

    log = log_path.open("ab")
    state = {"proc": operator(kubeconfig, log), "kills": 0, "last_restart": time.monotonic()}
    lock = threading.Lock()
    create("ecsclusters", "ECSCluster", CLUSTER, {})
    definition = {"family": "chaos", "containerDefinitions": [
        {"name": "app", "image": "app:0", "cpu": 16, "memory": 16, "portMappings": [{"containerPort": 80}]}]}
    create("ecstaskdefinitions", "ECSTaskDefinition", "chaos", definition)
    time.sleep(2)  # revision 1 exists before the burst starts
    started = time.monotonic()
    done = threading.Event()

    def killer() -> None:
        while state["kills"] < kills and not done.is_set():
            time.sleep(rng.uniform(0.3, 2.0))
            with lock:
                state["proc"].send_signal(signal.SIGKILL)
                state["proc"].wait()
                state["proc"] = operator(kubeconfig, log)
                state["kills"] += 1
                state["last_restart"] = time.monotonic()

    def new_revisions() -> None:
        image = 0
        while not done.is_set():
            time.sleep(rng.uniform(1.0, 4.0))
            image += 1
            definition["containerDefinitions"][0]["image"] = f"app:{image}"
            with contextlib.suppress(client.exceptions.ApiException):
                custom.patch_namespaced_custom_object(API_GROUP, API_VERSION, NAMESPACE, "ecstaskdefinitions",
                                                      "chaos", {"spec": definition})

    threads = [threading.Thread(target=killer, daemon=True), threading.Thread(target=new_revisions, daemon=True)]
    for t in threads:
        t.start()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: create("ecstasks", "ECSTask", f"c{i}", {"cluster": CLUSTER,
                                                                        "taskDefinition": "chaos:1"}),
                      range(tasks)))
    print(f"created {tasks} tasks in {time.monotonic() - started:.1f} s", flush=True)
    while state["kills"] < kills:
        time.sleep(0.2)
    # What was still to do when the operator started for the last time: the resync includes it.
    items = custom.list_namespaced_custom_object(API_GROUP, API_VERSION, NAMESPACE, "ecstasks")["items"]
    backlog = tasks - sum((i.get("status") or {}).get("lastStatus") == "RUNNING" for i in items)
    done.set()
    for t in threads:
        t.join()

    deadline = time.monotonic() + 120 + tasks * 0.05
    running_tasks: set[str] = set()
    synced_at = None
    while time.monotonic() < deadline:
        items = custom.list_namespaced_custom_object(API_GROUP, API_VERSION, NAMESPACE, "ecstasks")["items"]
        running_tasks = {i["metadata"]["name"] for i in items
                         if [r.get("lastStatus") for r in (i.get("status") or {}).get("tasks", [])] == ["RUNNING"]}
        if len(running_tasks) == tasks:
            synced_at = time.monotonic()
            break
        time.sleep(0.5)
    pods = core.list_namespaced_pod(NAMESPACE, label_selector=TASK_LABEL).items
    per_task = Counter(p.metadata.labels[TASK_LABEL] for p in pods)
    duplicates = sum(n - 1 for n in per_task.values() if n > 1)
    lost = tasks - len(running_tasks)
    td = custom.get_namespaced_custom_object(API_GROUP, API_VERSION, NAMESPACE, "ecstaskdefinitions", "chaos")
    numbers = [r["revision"] for r in (td.get("status") or {}).get("revisions", [])]
    gap_free = numbers == list(range(1, len(numbers) + 1))
    cms = core.list_namespaced_config_map(NAMESPACE, label_selector=f"{API_GROUP}/task-definition=chaos").items
    revision_labels = Counter(cm.metadata.labels[f"{API_GROUP}/revision"] for cm in cms)
    resync = (synced_at - state["last_restart"]) if synced_at else float("nan")
    print(f"revisions={len(numbers)} gap_free={gap_free} duplicate_revisions="
          f"{sum(n - 1 for n in revision_labels.values() if n > 1)} operator_log={log_path}")
    print(f"not_running_at_last_restart={backlog} (the resync includes finishing them)")
    print(f"kills={state['kills']} duplicates={duplicates} lost={lost} resync_s={resync:.1f}", flush=True)
    with lock:
        state["proc"].send_signal(signal.SIGTERM)
        try:
            state["proc"].wait(timeout=30)
        except subprocess.TimeoutExpired:
            state["proc"].kill()
            state["proc"].wait()
    log.close()
    return 0 if (duplicates == 0 and lost == 0 and gap_free) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    log_path = Path(tempfile.mkdtemp(prefix="chaos-")) / "operator.log"
    if os.environ.get("KUBECONFIG"):
        return run(os.environ["KUBECONFIG"], args.tasks, args.kills, args.seed, log_path, local=False)
    build.build()
    with running(Path(tempfile.mkdtemp(prefix="chaos-plane-"))) as plane:
        return run(str(plane.kubeconfig), args.tasks, args.kills, args.seed, log_path, local=True)


if __name__ == "__main__":
    raise SystemExit(main())
