"""Churn soak: tasks created and stopped at a steady rate for a long time; does the operator grow?

    make soak                                    # 30 minutes at 20 tasks/s
    .venv/bin/python bench/soak.py --minutes 5 --rate 20

Starts a local control plane (or uses KUBECONFIG) with kwok nodes and the operator. Every second
it creates `rate` imperative tasks (`kubectl ecs run-task`'s kind: label ecs.compat.dev/ephemeral)
and stops the ones that have run for `--lifetime` seconds; the operator deletes stopped ephemeral
tasks after a short retention, so the number of live tasks levels off. The operator's resident
memory is sampled every 10 s. After a warm-up of a tenth of the run, a least-squares line through
the samples gives the growth per 10 minutes. The last line reads
`soak_minutes=M created=C stopped=S live_end=L rss_start_mib=A rss_end_mib=B growth_mib_per_10min=G`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config

from ecs_operator.devcluster import build
from ecs_operator.devcluster.controlplane import running
from ecs_operator.devcluster.demo import install_crds
from ecs_operator.devcluster.nodes import NodeGroup, create_node_group
from ecs_operator.ecs.labels import API_GROUP, API_VERSION, EPHEMERAL_LABEL

NAMESPACE = "soak"
CLUSTER = "soak"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def slope_per_10min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB), as MiB per 10 minutes."""
    n = len(samples)
    if n < 2:
        return float("nan")
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return cov / var * 600 if var else float("nan")


def soak(kubeconfig: str, minutes: float, rate: int, lifetime: float, local: bool, log_path: Path) -> int:
    api = config.new_client_from_config(kubeconfig)
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    install_crds(api)
    with contextlib.suppress(client.exceptions.ApiException):
        core.create_namespace({"metadata": {"name": NAMESPACE}})
    if local:  # room for rate × (lifetime + stop + retention) live tasks, with margin
        create_node_group(core, NodeGroup(cluster=CLUSTER, count=10, cpu="64", memory="256Gi", pods="250"))

    def create(plural: str, kind: str, name: str, spec: dict[str, Any], labels: dict[str, str] | None = None
               ) -> None:
        custom.create_namespaced_custom_object(API_GROUP, API_VERSION, NAMESPACE, plural, {
            "apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": kind,
            "metadata": {"name": name, "labels": labels or {}}, "spec": spec})

    with contextlib.suppress(client.exceptions.ApiException):
        create("ecsclusters", "ECSCluster", CLUSTER, {})
    with contextlib.suppress(client.exceptions.ApiException):
        create("ecstaskdefinitions", "ECSTaskDefinition", "soak", {"family": "soak", "containerDefinitions": [
            {"name": "app", "image": "app", "cpu": 16, "memory": 16, "portMappings": [{"containerPort": 80}]}]})
    log = log_path.open("wb")
    env = {**os.environ, "KUBECONFIG": kubeconfig, "ECS_STOPPED_TASK_RETENTION": "5"}
    operator = subprocess.Popen([sys.executable, "-m", "ecs_operator.cli", "run", "--namespace", NAMESPACE,
                                 "--log-level", "warning"], env=env, stdout=log, stderr=subprocess.STDOUT)
    created = stopped = errors = 0
    alive: deque[tuple[float, str]] = deque()
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    end = started + minutes * 60
    next_sample = started
    pool = ThreadPoolExecutor(8)
    try:
        time.sleep(3)
        tick = time.monotonic()
        while tick < end:
            names = [f"s{created + i}" for i in range(rate)]
            futures = [pool.submit(create, "ecstasks", "ECSTask", n, {"cluster": CLUSTER, "taskDefinition": "soak"},
                                   {EPHEMERAL_LABEL: "true"}) for n in names]
            for future in futures:
                try:
                    future.result()
                except client.exceptions.ApiException:
                    errors += 1
            created += rate
            alive.extend((tick, n) for n in names)
            due = []
            while alive and tick - alive[0][0] >= lifetime:
                due.append(alive.popleft()[1])
            stops = [pool.submit(custom.patch_namespaced_custom_object, API_GROUP, API_VERSION, NAMESPACE,
                                 "ecstasks", n, {"spec": {"desiredStatus": "STOPPED", "stopReason": "soak"}})
                     for n in due]
            for future in stops:
                try:
                    future.result()
                    stopped += 1
                except client.exceptions.ApiException:
                    errors += 1
            moment = time.monotonic()
            if moment >= next_sample:
                if operator.poll() is not None:
                    print("the operator exited", flush=True)
                    return 1
                samples.append((moment - started, rss_mib(operator.pid)))
                live = len(custom.list_namespaced_custom_object(API_GROUP, API_VERSION, NAMESPACE,
                                                                "ecstasks")["items"])
                print(f"t={moment - started:6.0f}s created={created} stopped={stopped} live={live} "
                      f"rss_mib={samples[-1][1]:.1f}", flush=True)
                next_sample += 10
            tick += 1.0
            time.sleep(max(0.0, tick - time.monotonic()))
        live_end = len(custom.list_namespaced_custom_object(API_GROUP, API_VERSION, NAMESPACE, "ecstasks")["items"])
    finally:
        pool.shutdown()
        operator.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            operator.wait(30)
        log.close()
    warm = [s for s in samples if s[0] >= minutes * 6]  # a tenth of the run: caches and pools filled
    growth = slope_per_10min(warm)
    print(f"operator_log={log_path} errors={errors}")
    print(f"soak_minutes={minutes:g} rate={rate} created={created} stopped={stopped} live_end={live_end} "
          f"rss_start_mib={warm[0][1] if warm else float('nan'):.1f} rss_end_mib={samples[-1][1]:.1f} "
          f"rss_max_mib={max(m for _, m in samples):.1f} growth_mib_per_10min={growth:.2f}", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=int, default=20, help="tasks created (and stopped) per second")
    parser.add_argument("--lifetime", type=float, default=10, help="seconds a task runs before it is stopped")
    args = parser.parse_args()
    log_path = Path(tempfile.mkdtemp(prefix="soak-")) / "operator.log"
    if os.environ.get("KUBECONFIG"):
        return soak(os.environ["KUBECONFIG"], args.minutes, args.rate, args.lifetime, False, log_path)
    build.build()
    with running(Path(tempfile.mkdtemp(prefix="soak-plane-"))) as plane:
        return soak(str(plane.kubeconfig), args.minutes, args.rate, args.lifetime, True, log_path)


if __name__ == "__main__":
    raise SystemExit(main())
