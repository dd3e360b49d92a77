"""Throughput, latency, API cost and footprint of the ECS path, against the Kubernetes floor.

    make bench                                   # TASKS=1000 by default; DOCS=1 also refreshes docs/benchmarks.md
    .venv/bin/python bench/bench.py --tasks 200 --scenarios a,b,op1 --noise-pods 500 --steady-seconds 10
    .venv/bin/python bench/bench.py --write-docs bench/results/<stamp>/results.json   # docs only, no run

Starts the project's local control plane (or uses --kubeconfig), kwok nodes in one node group per
ECSCluster, the CRDs, and ServiceAccounts in namespace ecs-system (the audited one) for the
operator (the chart's ClusterRole rules) and for the benchmark client. Each scenario runs in a
fresh namespace, deleted before the next one starts:

  a       Kubernetes floor: the Pods the translation produces, created directly (8 threads).
  b       The irreducible writes of any operator of this API shape: create the ECSTask, create its
          Pod, and one status write when the Pod is Running (8 + 8 threads, no operator).
  op1     The operator: N ECSTasks with count 1.
  op10    The operator: N/10 ECSTasks with count 10.
  steady  The operator at a fixed arrival rate (--steady-rate tasks/s for --steady-seconds).
  noise   op1 with --noise-pods unrelated Pods present in another namespace.

ECS services, each beside a Kubernetes baseline measured in the same run (not in the default
list: `--scenarios rs,svc,deploy,roll`):

  rs      Baseline: a ReplicaSet (created with 0 replicas) scaled to N; done when N Pods are Running.
          Its Pod template is the Pod the operator builds for a service task, with restartPolicy
          Always (a ReplicaSet's Pods must have it; the operator's have Never).
  svc     The operator: an ECSService (desiredCount 0) patched to desiredCount N; done when its N
          tasks are RUNNING.
  deploy  Baseline: a Deployment of N/2 replicas (maxSurge 100%, maxUnavailable 0, minReadySeconds
          --healthy-after) whose template changes; done when the rollout is complete and every old
          Pod is gone.
  roll    The operator: an ECSService of N/2 tasks (minimumHealthyPercent 100, maximumPercent 200)
          moved to task definition revision 2; done when the deployment is COMPLETED with N/2
          RUNNING tasks of revision 2 and every old task STOPPED. The operator counts a task healthy
          --healthy-after seconds after it is RUNNING (ECS_SERVICE_HEALTHY_AFTER; ECS: 40 s).

    .venv/bin/python bench/bench.py --tasks 1000 --scenarios rs,svc,deploy,roll

Per scenario: tasks/s from the first create to the last RUNNING, create→RUNNING latency
percentiles, RUNNING per second, API requests per task (kube-apiserver's apiserver_request_total),
the client's and the operator's requests, writes and Events per task (the audit log), CPU per task
of every process, and the operator's memory. Writes results.json, bench.png and a report into --out;
the last lines printed are the headline figures.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import bench_report
import kopf
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from ecs_operator.devcluster import build
from ecs_operator.devcluster.controlplane import AUDITED_NAMESPACE, running
from ecs_operator.devcluster.demo import install_crds
from ecs_operator.devcluster.nodes import NODE_GROUP_LABEL, NodeGroup, create_node_group
from ecs_operator.ecs import arns
from ecs_operator.ecs.labels import API_GROUP, API_VERSION, INDEX_LABEL, REVISION_LABEL, SERVICE_LABEL, TASK_LABEL
from ecs_operator.ecs.models import ClusterSpec, TaskDefinition, TaskSpec
from ecs_operator.ecs.normalize import parse_task_definition
from ecs_operator.ecs.translate import ClusterRef, TaskRef, task_pod

REPO = Path(__file__).resolve().parents[1]
OPERATOR_MANIFEST = REPO / "manifests" / "ecs-operator.yaml"
THREADS = 8
CLUSTERS = ("c0", "c1", "c2")  # one node group each
FAMILY = "bench"
OPERATOR_SA = "ecs-bench-operator"
CLIENT_SA = "ecs-bench-client"
DEFAULT_SCENARIOS = ("a", "b", "op1", "op10", "steady", "noise")  # `make bench`
SERVICE_SCENARIOS = ("rs", "svc", "deploy", "roll")  # ECS services, each beside its Kubernetes baseline
SCENARIOS = DEFAULT_SCENARIOS + SERVICE_SCENARIOS
SERVICE_CLUSTER = CLUSTERS[0]  # a service runs in one ECS cluster: its node group's nodes only
SELECTOR_LABEL = "bench.ecs.compat.dev/app"  # the baselines' ReplicaSet and Deployment selector
WRITE_VERBS_AUDIT = ("create", "update", "patch", "delete", "deletecollection")
WRITE_VERBS_METRICS = ("POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION", "APPLY")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
QUIET_S = 2.5  # no task writes for this long after the last RUNNING: the scenario's work is done

# Three linked containers with cpu units, memory and container ports only (no hostPort), so that
# many tasks fit on one node.
TASK_DEFINITION: dict[str, Any] = {
    "family": FAMILY,
    "containerDefinitions": [
        {"name": "web", "image": "nginx:1.27", "cpu": 128, "memory": 128, "essential": True,
         "portMappings": [{"containerPort": 8080}], "links": ["app"]},
        {"name": "app", "image": "app:1.0", "cpu": 256, "memory": 256, "essential": True,
         "portMappings": [{"containerPort": 9000}], "links": ["db:database"]},
        {"name": "db", "image": "postgres:16", "cpu": 256, "memory": 512, "essential": True,
         "portMappings": [{"containerPort": 5432}]},
    ],
}
# Revision 2, for the rolling updates (`roll`, and `deploy`'s template): one environment variable more.
TASK_DEFINITION_2: dict[str, Any] = {
    **TASK_DEFINITION,
    "containerDefinitions": [
        {**TASK_DEFINITION["containerDefinitions"][0], "environment": [{"name": "BENCH_REVISION", "value": "2"}]},
        *TASK_DEFINITION["containerDefinitions"][1:],
    ],
}
TASK_CPU_UNITS = sum(c["cpu"] for c in TASK_DEFINITION["containerDefinitions"])
TASK_MEMORY_MIB = sum(c["memory"] for c in TASK_DEFINITION["containerDefinitions"])


def log(message: str) -> None:
    print(f"==> {message}", flush=True)


# --------------------------------------------------------------------------- API access


class Rest:
    """JSON requests over the kubernetes client's transport (auth, TLS, connection pool), without its
    pydantic models: a burst client that builds and decodes models spends the CPU that the control
    plane needs on a small machine, and every scenario's client pays the same (small) price."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api

    def _send(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None,
              content_type: str = "application/json", timeout: Any = 60) -> Any:
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        m, url, headers, body, post = self.api.param_serialize(
            method, path, query_params=params, body=body, auth_settings=["BearerToken"],
            header_params={"Content-Type": content_type, "Accept": "application/json"})
        return self.api.call_api(m, url, headers, body, post, _request_timeout=timeout)

    def request(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None,
                content_type: str = "application/json") -> Any:
        response = self._send(method, path, body, query, content_type)
        data = response.read()
        if not 200 <= response.status < 300:
            raise ApiException(status=response.status, reason=response.reason, body=data.decode(errors="replace"))
        return json.loads(data) if data else None

    def stream(self, path: str, query: dict[str, Any]) -> Any:
        """A watch: the raw urllib3 response, read line by line (one event per line)."""
        response = self._send("GET", path, query=query, timeout=(10, 120))
        if response.status != 200:
            raise ApiException(status=response.status, reason=response.reason,
                               body=response.read().decode(errors="replace"))
        return response.response

    def text(self, path: str) -> str:
        response = self._send("GET", path)
        data: bytes = response.read()
        if response.status != 200:
            raise ApiException(status=response.status, reason=response.reason)
        return data.decode()


def ecs_path(namespace: str, plural: str, name: str | None = None, subresource: str | None = None) -> str:
    path = f"/apis/{API_GROUP}/{API_VERSION}/namespaces/{namespace}/{plural}"
    return path + (f"/{name}" if name else "") + (f"/{subresource}" if subresource else "")


def pods_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def api_client(kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    # 8 writers, 8 status writers and the watches share one pool: no request waits for a connection.
    configuration.connection_pool_maxsize = 4 * THREADS
    return client.ApiClient(configuration)


class Watch(threading.Thread):
    """List, then watch a collection, handing every object state to `seen(obj, monotonic_time)`.

    Re-lists when the watch expires (410 Gone) or the stream breaks; raw JSON, no model decoding.
    """

    def __init__(self, rest: Rest, path: str, seen: Callable[[dict[str, Any], float], None],
                 label_selector: str | None = None,
                 gone: Callable[[dict[str, Any], float], None] | None = None) -> None:
        super().__init__(daemon=True, name=f"watch {path}")
        self.rest, self.path, self.seen, self.selector = rest, path, seen, label_selector
        self.gone = gone  # DELETED events, when given (and what a re-list no longer shows)
        self.known: set[str] = set()  # names alive, kept only for `gone`
        self.synced = threading.Event()
        self.stopping = threading.Event()
        self.response: Any = None

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                listing = self.rest.request("GET", self.path, query={"labelSelector": self.selector})
                now = time.monotonic()
                for item in listing.get("items", []):
                    self.seen(item, now)
                if self.gone is not None:
                    listed = {item["metadata"]["name"] for item in listing.get("items", [])}
                    for name in sorted(self.known - listed):  # deleted while the watch was broken
                        self.gone({"metadata": {"name": name}}, now)
                    self.known = listed
                version = listing["metadata"]["resourceVersion"]
                self.synced.set()
                while not self.stopping.is_set():
                    self.response = self.rest.stream(self.path, {
                        "watch": "true", "resourceVersion": version, "allowWatchBookmarks": "true",
                        "timeoutSeconds": 60, "labelSelector": self.selector})
                    for line in iter_resp_lines(self.response):
                        event = json.loads(line)
                        if event["type"] == "ERROR":
                            raise ApiException(status=event["object"].get("code", 0), reason="watch error")
                        version = event["object"]["metadata"]["resourceVersion"]
                        if event["type"] in ("ADDED", "MODIFIED"):
                            self.seen(event["object"], time.monotonic())
                            if self.gone is not None:
                                self.known.add(event["object"]["metadata"]["name"])
                        elif event["type"] == "DELETED" and self.gone is not None:
                            self.known.discard(event["object"]["metadata"]["name"])
                            self.gone(event["object"], time.monotonic())
            except Exception as err:
                if self.stopping.is_set():
                    return
                print(f"   (watch {self.path}: {type(err).__name__}: {str(err)[:200]}; re-listing)", flush=True)
                time.sleep(0.5)

    def stop(self) -> None:
        """Stop at once: shut the socket down under the blocked reader (close() would wait for it to
        return, up to the watch's timeout)."""
        self.stopping.set()
        sock = getattr(getattr(self.response, "connection", None), "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------- measurement


def process_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def process_memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS since the process started), in KiB."""
    out = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def all_processes_cpu() -> dict[int, tuple[str, float]]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                head, _, tail = (entry / "stat").read_text().rpartition(")")
                fields = tail.split()
                out[int(entry.name)] = (head.partition("(")[2], (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return out


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = values
    busy = user + nice + system + irq + softirq + steal
    return busy / CLOCK_TICKS, (busy + idle + iowait) / CLOCK_TICKS


METRIC_LINE = re.compile(r"^apiserver_request_total\{(.*)\} ([0-9.e+]+)$")
METRIC_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def request_totals(admin: Rest) -> Counter[str]:
    """kube-apiserver's apiserver_request_total summed by "VERB resource[/subresource]"."""
    totals: Counter[str] = Counter()
    for line in admin.text("/metrics").splitlines():
        match = METRIC_LINE.match(line)
        if not match:
            continue
        labels = dict(METRIC_LABEL.findall(match.group(1)))
        resource = labels.get("resource") or "(non-resource)"
        if labels.get("subresource"):
            resource += f"/{labels['subresource']}"
        totals[f"{labels.get('verb', '?')} {resource}"] += round(float(match.group(2)))
    return totals


class RssSampler(threading.Thread):
    """The operator's resident memory every 0.5 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True, name="rss sampler")
        self.pid = pid
        self.samples: list[int] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            rss = process_memory_kib(self.pid).get("VmRSS")
            if rss:
                self.samples.append(rss)

    def stop(self) -> None:
        self.stopping.set()
        self.join()


@dataclass
class Snapshot:
    wall: float
    requests: Counter[str]
    cpu: dict[str, float]
    machine_busy: float
    machine_total: float
    audit_offset: int
    everyone: dict[int, tuple[str, float]]  # every process: pid -> (command name, CPU seconds)
    ours: set[int]  # the benchmark's processes


def parse_time(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def audited_requests(audit_log: Path, start: int, end: int, since: float, users: dict[str, str]
                     ) -> tuple[dict[str, Counter[str]], dict[str, dict[str, float]]]:
    """Requests per role ("operator", "client") by "verb resource[/subresource]" between two offsets,
    and the mean milliseconds the apiserver took for each (received → response complete; watches
    left out).

    A request is counted once (a watch logs ResponseStarted and ResponseComplete), and only if it was
    received after `since`: a watch opened before the window and closing inside it is not the
    scenario's.
    """
    roles = {username: role for role, username in users.items()}
    counts: dict[str, Counter[str]] = {role: Counter() for role in users}
    took: dict[str, dict[str, list[float]]] = {role: defaultdict(list) for role in users}
    seen: set[str] = set()
    with audit_log.open("rb") as f:
        f.seek(start)
        chunk = f.read(end - start)
    for line in chunk.split(b"\n"):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue  # the last line may be half-written at the end offset
        role = roles.get(event.get("user", {}).get("username", ""))
        if role is None or "objectRef" not in event or event["auditID"] in seen:
            continue
        seen.add(event["auditID"])
        received = parse_time(event["requestReceivedTimestamp"])
        if received < since:
            continue
        ref = event["objectRef"]
        resource = ref.get("resource", "?") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        kind = f"{event['verb']} {resource}"
        counts[role][kind] += 1
        if event.get("stage") == "ResponseComplete" and event["verb"] != "watch":
            took[role][kind].append(parse_time(event["stageTimestamp"]) - received)
    means = {role: {kind: round(1000 * sum(t) / len(t), 1) for kind, t in kinds.items()}
             for role, kinds in took.items()}
    return counts, means


class Meter:
    """Before/after figures of one scenario: API requests, audited requests per role, CPU per process."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench

    def snapshot(self, processes: dict[str, int]) -> Snapshot:
        cpu = {name: seconds for name, pid in processes.items() if (seconds := process_cpu_seconds(pid)) is not None}
        busy, total = machine_cpu_seconds()
        audit = self.bench.audit_log
        return Snapshot(time.time(), request_totals(self.bench.admin), cpu, busy, total,
                        audit.stat().st_size if audit and audit.exists() else 0, all_processes_cpu(),
                        set(processes.values()))

    def figures(self, before: Snapshot, after: Snapshot, tasks: int) -> dict[str, Any]:
        per_task = max(tasks, 1)
        requests = after.requests - before.requests
        out: dict[str, Any] = {
            "window_s": after.wall - before.wall,
            "api_requests_per_task": sum(requests.values()) / per_task,
            "api_writes_per_task": sum(n for k, n in requests.items() if k.split()[0] in WRITE_VERBS_METRICS)
            / per_task,
            "api_requests_by_kind_per_task": {k: n / per_task for k, n in requests.most_common()},
            "cpu_ms_per_task": {name: 1000 * (after.cpu[name] - before.cpu[name]) / per_task
                                for name in after.cpu if name in before.cpu},
            "cpu_s": {name: after.cpu[name] - before.cpu[name] for name in after.cpu if name in before.cpu},
        }
        busy = after.machine_busy - before.machine_busy
        ours = sum(out["cpu_s"].values())
        # CPU used by processes that are not part of the benchmark (another test suite on the machine)
        # makes every figure slower: it is reported so that a contaminated run is visible.
        others: dict[str, float] = defaultdict(float)
        for pid, (name, seconds) in after.everyone.items():
            if pid not in after.ours:
                others[name] += seconds - before.everyone.get(pid, (name, 0.0))[1]
        top = sorted(others.items(), key=lambda item: -item[1])[:5]
        out["machine"] = {"busy_cpu_s": busy, "capacity_cpu_s": after.machine_total - before.machine_total,
                          "other_cpu_s": max(0.0, busy - ours),
                          "other_top": {name: round(sec, 2) for name, sec in top if sec >= 0.05}}
        if self.bench.audit_log is not None:
            audited, took = audited_requests(self.bench.audit_log, before.audit_offset, after.audit_offset,
                                             before.wall, self.bench.users)
            for role, counts in audited.items():
                out[role] = {
                    "requests_per_task": sum(counts.values()) / per_task,
                    "writes_per_task": sum(n for k, n in counts.items() if k.split()[0] in WRITE_VERBS_AUDIT)
                    / per_task,
                    "events_per_task": sum(n for k, n in counts.items()
                                           if k.split()[1] == "events" and k.split()[0] in WRITE_VERBS_AUDIT)
                    / per_task,
                    "requests_by_kind_per_task": {k: n / per_task for k, n in counts.most_common()},
                    "apiserver_ms_by_kind": took[role],
                }
        return out


# --------------------------------------------------------------------------- progress of tasks


class Progress:
    """When each task's create call returned, and when a watch first saw it RUNNING."""

    def __init__(self, objects: int, count: int) -> None:
        self.objects, self.count = objects, count
        self.created: dict[str, float] = {}  # object name -> create call returned (monotonic)
        self.running: dict[tuple[str, int], float] = {}  # (object, task index) -> first seen RUNNING
        self.done: dict[str, float] = {}  # object -> every task of it RUNNING
        # (object, task index) -> its Pod first seen Running: splits the latency into Kubernetes' part and
        # the status reporting that follows it.
        self.pod_running: dict[tuple[str, int], float] = {}
        # (object, task index) -> its Pod first seen at all: the wait before it (the operator's queue)
        self.pod_made: dict[tuple[str, int], float] = {}
        self.failed: list[str] = []
        self.all_done = threading.Event()
        self.started = 0.0  # the first create call was made

    def _object_done(self, name: str, now: float) -> None:
        if name not in self.done:
            self.done[name] = now
            if len(self.done) >= self.objects:
                self.all_done.set()

    def ecstask_seen(self, obj: dict[str, Any], now: float) -> None:
        """The ECSTask status shape: lastStatus, and tasks[].lastStatus per task."""
        name = obj["metadata"]["name"]
        status = obj.get("status") or {}
        records = status.get("tasks") or []
        for index, record in enumerate(records):
            if record.get("lastStatus") == "RUNNING":
                self.running.setdefault((name, index), now)
        count = int((obj.get("spec") or {}).get("count", 1))
        if (status.get("lastStatus") == "RUNNING" and len(records) == count
                and all(r.get("lastStatus") == "RUNNING" for r in records)):
            self._object_done(name, now)

    def pod_seen(self, obj: dict[str, Any], now: float) -> None:
        if (obj.get("status") or {}).get("phase") == "Running":
            name = obj["metadata"]["name"]
            self.running.setdefault((name, 0), now)
            self._object_done(name, now)

    def task_pod_seen(self, obj: dict[str, Any], now: float) -> None:
        """A task Pod, by the labels the translation gives it."""
        labels = obj["metadata"].get("labels") or {}
        if TASK_LABEL not in labels:
            return
        key = (labels[TASK_LABEL], int(labels.get(INDEX_LABEL, 0)))
        self.pod_made.setdefault(key, now)
        if (obj.get("status") or {}).get("phase") == "Running":
            self.pod_running.setdefault(key, now)

    def wait(self, label: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.all_done.wait(5.0):
            elapsed = time.monotonic() - self.started
            print(f"   {label}: {len(self.created)}/{self.objects} created, {len(self.running)}/"
                  f"{self.objects * self.count} tasks RUNNING after {elapsed:.0f} s", flush=True)
            if time.monotonic() > deadline:
                return False
        return True

    def figures(self) -> dict[str, Any]:
        latencies = sorted(t - self.created[name] for (name, _), t in self.running.items() if name in self.created)
        tasks_running = len(self.running)
        last = max(self.running.values(), default=self.started)
        elapsed = last - self.started
        buckets: Counter[int] = Counter(int(t - self.started) for t in self.running.values())
        pod_latencies = [t - self.created[name] for (name, _), t in self.pod_running.items() if name in self.created]
        status_lags = [self.running[key] - t for key, t in self.pod_running.items() if key in self.running]
        pod_waits = [t - self.created[name] for (name, _), t in self.pod_made.items() if name in self.created]
        # The burst's arrivals against its service: how fast the client's creates came, and how many
        # tasks were not RUNNING yet when the last one returned (the backlog the tail waits behind).
        last_created = max(self.created.values(), default=self.started)
        created_in = last_created - self.started
        return {
            "created_in_s": created_in,
            "arrivals_per_s": len(self.created) * self.count / created_in if created_in > 0 else 0.0,
            "backlog_at_last_create": len(self.created) * self.count - sum(
                1 for t in self.running.values() if t <= last_created),
            "pod_wait_s": percentiles(pod_waits),
            "pod_latency_s": percentiles(pod_latencies),
            "status_lag_s": percentiles(status_lags),
            "tasks_running": tasks_running,
            "complete": self.all_done.is_set(),
            "create_failures": len(self.failed),
            "create_failure_examples": self.failed[:3],
            "elapsed_s": elapsed,
            "throughput_tasks_per_s": tasks_running / elapsed if elapsed > 0 else 0.0,
            "latency_s": percentiles(latencies),
            "latencies_s": [round(x, 4) for x in latencies],
            "running_per_second": [buckets.get(i, 0) for i in range(int(elapsed) + 1)],
        }


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1],
            "mean": statistics.fmean(ordered)}


# --------------------------------------------------------------------------- the benchmark


@dataclass
class Bench:
    args: argparse.Namespace
    out: Path
    kubeconfig: Path
    pids: dict[str, int]  # control-plane component -> pid (empty for a cluster we did not start)
    audit_log: Path | None
    work: Path  # ServiceAccount kubeconfigs, kept out of --out
    admin_api: client.ApiClient = field(init=False)
    admin: Rest = field(init=False)
    client: Rest = field(init=False)
    operator_kubeconfig: Path = field(init=False)
    users: dict[str, str] = field(init=False)
    definition: TaskDefinition = field(init=False)
    cleanup: list[str] = field(default_factory=list)  # more namespaces to delete after the scenario

    def setup(self) -> None:
        self.admin_api = api_client(self.kubeconfig)
        self.admin = Rest(self.admin_api)
        self.definition = parse_task_definition(TASK_DEFINITION).definition
        log("installing the CRDs")
        install_crds(self.admin_api)
        self.create_nodes()
        log(f"ServiceAccounts {OPERATOR_SA} (the chart's ClusterRole rules) and {CLIENT_SA} in {AUDITED_NAMESPACE}")
        rules = operator_rules()
        missing = missing_service_grants(rules)
        if missing and set(self.args.scenario_list) & set(SERVICE_SCENARIOS):
            raise RuntimeError(f"{OPERATOR_MANIFEST} grants the operator no {', '.join(missing)}: stale, run "
                               "make manifests")
        self.operator_kubeconfig = self.service_account(OPERATOR_SA, rules)
        self.client = Rest(api_client(self.service_account(CLIENT_SA, CLIENT_RULES)))
        self.users = {role: f"system:serviceaccount:{AUDITED_NAMESPACE}:{sa}"
                      for role, sa in (("operator", OPERATOR_SA), ("client", CLIENT_SA))}

    def node_shape(self) -> NodeGroup:
        """Nodes big enough for the largest scenario (namespaces are deleted between scenarios)."""
        args = self.args
        peak = max(args.tasks, round(args.steady_rate * args.steady_seconds))
        per_node = math.ceil(1.5 * peak / args.nodes)
        if set(args.scenario_list) & set(SERVICE_SCENARIOS):
            # A service's N tasks (a rolling update's N/2 old and N/2 new) all run in one cluster: on its
            # node group alone, a third of the nodes.
            per_node = max(per_node, math.ceil(1.5 * args.tasks / (args.nodes // len(CLUSTERS))))
        cpu = max(16, math.ceil(per_node * TASK_CPU_UNITS / 1024))
        memory_gib = max(64, math.ceil(per_node * TASK_MEMORY_MIB / 1024))
        noise = args.noise_pods if "noise" in args.scenario_list else 0
        pods = per_node + math.ceil(1.2 * noise / args.nodes) + 20
        return NodeGroup(cpu=str(cpu), memory=f"{memory_gib}Gi", pods=str(pods))

    def create_nodes(self) -> None:
        shape = self.node_shape()
        core = client.CoreV1Api(self.admin_api)
        sizes = [len(part) for part in split(list(range(self.args.nodes)), len(CLUSTERS))]
        log(f"{self.args.nodes} kwok nodes ({shape.cpu} CPU, {shape.memory}, {shape.pods} pods each) in node groups "
            + ", ".join(f"{c} ({n})" for c, n in zip(CLUSTERS, sizes, strict=True)))
        for cluster, count in zip(CLUSTERS, sizes, strict=True):
            create_node_group(core, NodeGroup(cluster=cluster, count=count, cpu=shape.cpu, memory=shape.memory,
                                              pods=shape.pods), timeout=120)

    def service_account(self, name: str, rules: list[dict[str, Any]]) -> Path:
        """A ServiceAccount in the audited namespace bound to a ClusterRole; returns a token kubeconfig."""
        core = client.CoreV1Api(self.admin_api)
        rbac = client.RbacAuthorizationV1Api(self.admin_api)
        ensure(lambda: core.create_namespace({"metadata": {"name": AUDITED_NAMESPACE}}))
        ensure(lambda: core.create_namespaced_service_account(AUDITED_NAMESPACE, {"metadata": {"name": name}}))
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
                "rules": rules}
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": name},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                   "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": AUDITED_NAMESPACE}]}
        # Replaced when present: a rerun against --kubeconfig must get today's rules.
        with contextlib.suppress(ApiException):
            rbac.delete_cluster_role(name)
        with contextlib.suppress(ApiException):
            rbac.delete_cluster_role_binding(name)
        rbac.create_cluster_role(role)
        rbac.create_cluster_role_binding(binding)
        token = core.create_namespaced_service_account_token(
            name, AUDITED_NAMESPACE, {"spec": {"expirationSeconds": 86400}}).status.token
        admin = yaml.safe_load(self.kubeconfig.read_text())
        context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
        cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])["cluster"]
        path = self.work / f"{name}.kubeconfig"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": name,
            "clusters": [{"name": "bench", "cluster": cluster}],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": name, "context": {"cluster": "bench", "user": name}}],
        }))
        path.chmod(0o600)
        return path

    def teardown(self) -> None:
        """On a cluster we did not start: remove our nodes and ServiceAccounts (the CRDs stay)."""
        core = client.CoreV1Api(self.admin_api)
        rbac = client.RbacAuthorizationV1Api(self.admin_api)
        for cluster in CLUSTERS:
            with contextlib.suppress(ApiException):
                core.delete_collection_node(label_selector=f"{NODE_GROUP_LABEL}={cluster}")
        for name in (OPERATOR_SA, CLIENT_SA):
            for delete in (partial(rbac.delete_cluster_role_binding, name), partial(rbac.delete_cluster_role, name),
                           partial(core.delete_namespaced_service_account, name, AUDITED_NAMESPACE)):
                with contextlib.suppress(ApiException):
                    delete()

    # ------------------------------------------------------------------ namespaces
    def create_namespace(self, prefix: str) -> str:
        name = f"bench-{prefix}-{uuid.uuid4().hex[:6]}"
        self.admin.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
        # The ServiceAccount admission plugin refuses Pods until the namespace's `default` exists.
        deadline = time.monotonic() + 60
        while True:
            try:
                self.admin.request("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default")
                return name
            except ApiException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def delete_namespace(self, name: str, wait: bool = True) -> None:
        """Delete a scenario's namespace and wait until it is gone, so the next scenario starts clean."""
        # The operator is stopped by now: its finalizers would hold the namespace forever.
        for plural in ("ecsclusters", "ecstaskdefinitions", "ecstasks", "ecsservices"):
            with contextlib.suppress(ApiException):
                for item in self.admin.request("GET", ecs_path(name, plural))["items"]:
                    if item["metadata"].get("finalizers"):
                        with contextlib.suppress(ApiException):
                            self.admin.request("PATCH", ecs_path(name, plural, item["metadata"]["name"]),
                                               {"metadata": {"finalizers": None}},
                                               content_type="application/merge-patch+json")
        with contextlib.suppress(ApiException):
            self.admin.request("DELETE", f"/api/v1/namespaces/{name}")
        if not wait:
            return
        started = time.monotonic()
        while True:
            try:
                self.admin.request("GET", f"/api/v1/namespaces/{name}")
            except ApiException as err:
                if err.status == 404:
                    print(f"   namespace {name} deleted in {time.monotonic() - started:.0f} s", flush=True)
                    return
            if time.monotonic() - started > 900:
                print(f"   namespace {name} still terminating after 900 s; going on", flush=True)
                return
            time.sleep(1.0)

    def ecs_objects(self, namespace: str) -> None:
        """The ECSClusters (one per node group) and the task definition, as a user applies them."""
        for cluster in CLUSTERS:
            self.admin.request("POST", ecs_path(namespace, "ecsclusters"), {
                "apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ECSCluster",
                "metadata": {"name": cluster}, "spec": {}})
        self.admin.request("POST", ecs_path(namespace, "ecstaskdefinitions"), {
            "apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ECSTaskDefinition",
            "metadata": {"name": FAMILY}, "spec": TASK_DEFINITION})

    # ------------------------------------------------------------------ the translation
    def pod(self, namespace: str, name: str, uid: str, cluster: str, count: int = 1, index: int = 0,
            revision: int = 1, service: str | None = None) -> dict[str, Any]:
        """The Pod the operator creates for task `index` of ECSTask `name` (uid `uid`); with `service`,
        for a task of that ECSService (its group, ECS's default spread over instances)."""
        task: dict[str, Any] = {"cluster": cluster, "taskDefinition": f"{FAMILY}:{revision}", "count": count}
        if service is not None:  # as the service scheduler writes its ECSTasks
            task.update({"group": f"service:{service}",
                         "placementStrategy": [{"type": "spread", "field": "instanceId"}]})
        definition = self.definition if revision == 1 else parse_task_definition(TASK_DEFINITION_2).definition
        return task_pod(definition, revision, TaskSpec.model_validate(task), ClusterRef(cluster, ClusterSpec()),
                        TaskRef(name, namespace, uid, index), arns.DEFAULT_REGION, arns.DEFAULT_ACCOUNT)

    def pod_template(self, namespace: str, name: str, revision: int = 1) -> dict[str, Any]:
        """The baselines' Pod template: the Pod of a task of service `name` with restartPolicy Always (a
        ReplicaSet's Pods must have it) and the selector label."""
        pod = self.pod(namespace, name, str(uuid.uuid4()), SERVICE_CLUSTER, revision=revision, service=name)
        metadata = pod["metadata"]
        return {"metadata": {"labels": {**metadata["labels"], SELECTOR_LABEL: name},
                             "annotations": metadata["annotations"]},
                "spec": {**pod["spec"], "restartPolicy": "Always"}}

    def service(self, name: str, desired: int) -> dict[str, Any]:
        """An ECSService in SERVICE_CLUSTER: ECS's default deployment bounds (min 100 / max 200), spelt out."""
        return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ECSService", "metadata": {"name": name},
                "spec": {"cluster": SERVICE_CLUSTER, "taskDefinition": f"{FAMILY}:1", "desiredCount": desired,
                         "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200}}}

    def ecstask(self, name: str, cluster: str, count: int) -> dict[str, Any]:
        return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ECSTask", "metadata": {"name": name},
                "spec": {"cluster": cluster, "taskDefinition": f"{FAMILY}:1", "count": count}}

    # ------------------------------------------------------------------ running a scenario
    def processes(self, operator: subprocess.Popen[bytes] | None) -> dict[str, int]:
        found = dict(self.pids)
        if operator is not None:
            found["operator"] = operator.pid
        found["bench client"] = os.getpid()
        return found

    def timeout(self, tasks: int) -> float:
        return self.args.timeout or 300 + 0.5 * tasks


def free_port() -> int:
    """A free loopback port (the operator's /metrics here, the endpoint's in bench_endpoint.py)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def split(items: list[int], parts: int) -> list[list[int]]:
    return [items[i::parts] for i in range(parts)]


def ensure(create: Callable[[], Any]) -> None:
    """Create, treating AlreadyExists as done."""
    try:
        create()
    except ApiException as err:
        if err.status != 409:
            raise


def operator_rules() -> list[dict[str, Any]]:
    """The operator's ClusterRole rules exactly as the chart renders them (manifests/)."""
    documents = [d for d in yaml.safe_load_all(OPERATOR_MANIFEST.read_text()) if d]
    return [rule for d in documents if d["kind"] == "ClusterRole" for rule in d["rules"]]


# What the service scheduler needs of the chart's rules (charts/ecs-operator/templates/_helpers.tpl).
SERVICE_GRANTS = (("ecsservices", "list"), ("ecsservices", "watch"), ("ecsservices/status", "update"),
                  ("ecstasks", "create"), ("ecstasks", "patch"))


def missing_service_grants(rules: list[dict[str, Any]]) -> list[str]:
    """SERVICE_GRANTS the rules lack (a manifests/ rendered before the chart granted them)."""
    granted = {(resource, verb) for rule in rules if API_GROUP in rule.get("apiGroups", [])
               for resource in rule.get("resources", []) for verb in rule.get("verbs", [])}
    return [f"{verb} {resource}" for resource, verb in SERVICE_GRANTS if (resource, verb) not in granted]


# What the benchmark client does, and nothing more.
CLIENT_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get", "list", "watch"]},
    {"apiGroups": [API_GROUP], "resources": ["ecstasks"], "verbs": ["create", "get", "list", "watch"]},
    {"apiGroups": [API_GROUP], "resources": ["ecstasks/status"], "verbs": ["patch"]},
    {"apiGroups": [API_GROUP], "resources": ["ecsservices"], "verbs": ["create", "patch"]},
    {"apiGroups": ["apps"], "resources": ["replicasets", "deployments"], "verbs": ["create", "patch"]},
]


def die_with_parent() -> None:
    """preexec_fn: the operator gets SIGKILL if this process dies first (Linux), as the control plane does."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


class Operator:
    """`ecs-operator run --namespace NS` as a subprocess with the operator ServiceAccount's kubeconfig."""

    def __init__(self, bench: Bench, namespace: str, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.bench, self.namespace, self.log_path = bench, namespace, log_path
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Operator:
        self.metrics_port = free_port()  # for its /metrics
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ecs_operator.cli", "run", "--namespace", self.namespace,
                 "--log-level", self.bench.args.operator_log_level,
                 "--metrics-bind-address", f"127.0.0.1:{self.metrics_port}"],
                env={**os.environ, "KUBECONFIG": str(self.bench.operator_kubeconfig), **self.env},
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def metrics(self) -> dict[str, float]:
        """Its counters and histogram sums and counts, summed over every label but name, verb and
        resource: e.g. `ecs_operator_reconcile_total{resource=ecstask}` → value (empty if the scrape fails)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as answer:
                text = answer.read().decode()
        except OSError:
            return {}
        values: dict[str, float] = defaultdict(float)
        for line in text.splitlines():
            match = re.match(r'^(ecs_operator_\w+?)(?:\{(.*)\})? ([0-9.e+-]+)$', line)
            if match is None or not match.group(1).endswith(("_total", "_sum", "_count")):
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            kept = ",".join(f"{k}={labels[k]}" for k in ("name", "verb", "resource") if k in labels)
            values[f"{match.group(1)}{{{kept}}}"] += float(match.group(3))
        return dict(values)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=15)
        finally:  # a timeout, or a second Ctrl-C while it shuts down
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def wait_ready(self, timeout: float = 120) -> None:
        """Ready once it has registered the task definition and reported every ECSCluster."""
        admin = self.bench.admin
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"the operator exited ({self.proc.returncode}); see {self.log_path}")
            with contextlib.suppress(ApiException):
                definition = admin.request("GET", ecs_path(self.namespace, "ecstaskdefinitions", FAMILY))
                revisions = (definition.get("status") or {}).get("revisions") or []
                clusters = admin.request("GET", ecs_path(self.namespace, "ecsclusters"))["items"]
                if (any(r.get("revision") == 1 for r in revisions)
                        and all((c.get("status") or {}).get("clusterName") for c in clusters)):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the operator was not ready after {timeout:.0f} s; see {self.log_path}")
            time.sleep(0.2)


@contextlib.contextmanager
def watching(watch: Watch) -> Iterator[Watch]:
    watch.start()
    if not watch.synced.wait(60):
        raise RuntimeError(f"{watch.name}: no initial list after 60 s")
    try:
        yield watch
    finally:
        watch.stop()


def create_all(creates: list[Callable[[], None]], progress: Progress, rate: float | None = None) -> None:
    """Run the create calls from THREADS threads; at `rate` calls per second when given (steady arrivals)."""
    progress.started = time.monotonic()

    def guarded(create: Callable[[], None]) -> None:
        try:
            create()
        except Exception as err:
            progress.failed.append(f"{type(err).__name__}: {str(err)[:300]}")

    with ThreadPoolExecutor(THREADS, thread_name_prefix="create") as pool:
        if rate is None:
            list(pool.map(guarded, creates))
            return
        for i, create in enumerate(creates):
            delay = progress.started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(guarded, create)


def settle(bench: Bench) -> float:
    """Wait for the trailing writes about tasks (Events, status) to end; returns the seconds waited.

    At least --settle seconds; then, with an audit log, until neither the operator nor the client has
    written anything but ECSCluster status (periodic, not a task's) for QUIET_S seconds, at most
    --settle-max seconds. Work the operator still has queued when every task is RUNNING is part of
    its cost per task.
    """
    started, started_wall = time.monotonic(), time.time()
    audit = bench.audit_log
    offset = audit.stat().st_size if audit else 0
    time.sleep(bench.args.settle)
    if audit is None:
        return time.monotonic() - started
    users = set(bench.users.values())
    last_write = started_wall
    while time.monotonic() - started < bench.args.settle_max:
        with audit.open("rb") as f:
            f.seek(offset)
            chunk = f.read()
        complete = chunk[:chunk.rfind(b"\n") + 1]  # a line being written is read next time
        offset += len(complete)
        for line in complete.splitlines():
            try:
                event = json.loads(line)
            except ValueError:  # the end of a line half written when the size was taken: before the wait
                continue
            ref = event.get("objectRef") or {}
            if (event.get("user", {}).get("username") in users and event.get("verb") in WRITE_VERBS_AUDIT
                    and ref.get("resource") != "ecsclusters"):
                last_write = max(last_write, parse_time(event["stageTimestamp"]))
        if time.time() - last_write >= QUIET_S:
            break
        time.sleep(0.5)
    return time.monotonic() - started


def finish(bench: Bench, meter: Meter, before: Snapshot, progress: Progress, processes: dict[str, int],
           tasks: int) -> dict[str, Any]:
    """Wait for trailing requests (Events, status writes after RUNNING), then take the closing snapshot."""
    settled = settle(bench)
    after = meter.snapshot(processes)
    return {**progress.figures(), **meter.figures(before, after, tasks), "settle_s": settled}


def scenario_a(bench: Bench) -> dict[str, Any]:
    """Kubernetes floor: the translated Pods, created directly; done when every Pod is Running."""
    tasks = bench.args.tasks
    namespace = bench.create_namespace("a")
    # Translated before the clock starts: the floor is Kubernetes' part only.
    pods = [bench.pod(namespace, f"t{i}", str(uuid.uuid4()), CLUSTERS[i % len(CLUSTERS)]) for i in range(tasks)]
    progress = Progress(tasks, 1)
    meter = Meter(bench)
    processes = bench.processes(None)

    def create(pod: dict[str, Any]) -> None:
        bench.client.request("POST", pods_path(namespace), pod)
        progress.created[pod["metadata"]["name"]] = time.monotonic()

    with watching(Watch(bench.admin, pods_path(namespace), progress.pod_seen, label_selector=TASK_LABEL)):
        before = meter.snapshot(processes)
        create_all([partial(create, p) for p in pods], progress)
        progress.wait("a", bench.timeout(tasks))
        result = finish(bench, meter, before, progress, processes, tasks)
    return {**result, "namespace": namespace, "tasks": tasks, "ecs_tasks": tasks, "count": 1}


def scenario_b(bench: Bench) -> dict[str, Any]:
    """The irreducible ECS-path writes from a plain client: ECSTask, Pod, one status write."""
    tasks = bench.args.tasks
    namespace = bench.create_namespace("b")
    progress = Progress(tasks, 1)
    meter = Meter(bench)
    processes = bench.processes(None)
    handled: set[str] = set()
    lock = threading.Lock()
    status_writers = ThreadPoolExecutor(THREADS, thread_name_prefix="status")

    def create(i: int) -> None:
        name, cluster = f"t{i}", CLUSTERS[i % len(CLUSTERS)]
        obj = bench.client.request("POST", ecs_path(namespace, "ecstasks"), bench.ecstask(name, cluster, 1))
        progress.created[name] = time.monotonic()
        pod = bench.pod(namespace, name, obj["metadata"]["uid"], cluster)
        kopf.adopt(pod, owner=obj)  # the owner reference, as the operator sets it
        bench.client.request("POST", pods_path(namespace), pod)

    def write_status(pod: dict[str, Any]) -> None:
        name = pod["metadata"]["ownerReferences"][0]["name"]
        cluster = pod["metadata"]["labels"].get("ecs.compat.dev/cluster", CLUSTERS[0])
        task_id = TaskRef(name, namespace, pod["metadata"]["ownerReferences"][0]["uid"], 0).task_id
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        record = {
            "taskArn": arns.task_arn(cluster, task_id), "clusterArn": arns.cluster_arn(cluster),
            "taskDefinitionArn": arns.task_definition_arn(FAMILY, 1), "podName": pod["metadata"]["name"],
            "nodeName": pod["spec"].get("nodeName"), "lastStatus": "RUNNING", "desiredStatus": "RUNNING",
            "startedAt": stamp,
            "containers": [{"name": c["name"], "lastStatus": "RUNNING"} for c in pod["spec"]["containers"]],
        }
        try:
            bench.client.request("PATCH", ecs_path(namespace, "ecstasks", name, "status"), {"status": {
                "lastStatus": "RUNNING", "desiredStatus": "RUNNING", "clusterArn": record["clusterArn"],
                "taskDefinitionArn": record["taskDefinitionArn"], "tasks": [record]}},
                content_type="application/merge-patch+json")
        except ApiException as err:
            progress.failed.append(f"status {name}: {err.status} {err.reason}")

    def pod_seen(pod: dict[str, Any], _: float) -> None:
        """The client's own Pod watch: each Running task Pod gets its one status write."""
        if (pod.get("status") or {}).get("phase") != "Running" or not pod["metadata"].get("ownerReferences"):
            return
        with lock:
            if pod["metadata"]["name"] in handled:
                return
            handled.add(pod["metadata"]["name"])
        status_writers.submit(write_status, pod)

    with (watching(Watch(bench.admin, ecs_path(namespace, "ecstasks"), progress.ecstask_seen)),
          watching(Watch(bench.admin, pods_path(namespace), progress.task_pod_seen, label_selector=TASK_LABEL)),
          watching(Watch(bench.client, pods_path(namespace), pod_seen, label_selector=TASK_LABEL))):
        before = meter.snapshot(processes)
        create_all([partial(create, i) for i in range(tasks)], progress)
        progress.wait("b", bench.timeout(tasks))
        result = finish(bench, meter, before, progress, processes, tasks)
    status_writers.shutdown(wait=True)
    return {**result, "namespace": namespace, "tasks": tasks, "ecs_tasks": tasks, "count": 1}


class Operated:
    """The operator of one scenario, started and ready, and what it is measured by: its processes' CPU,
    its memory (idle before any task, sampled while the scenario runs), whether it exited, its log."""

    def __init__(self, bench: Bench, namespace: str, label: str, env: dict[str, str] | None = None) -> None:
        self.bench = bench
        self.log_path = bench.out / f"operator-{label}.log"
        self.operator = Operator(bench, namespace, self.log_path, env)
        self.idle: dict[str, int] = {}
        self.alive: dict[str, int] = {}
        self.exited: int | None = None
        self.processes: dict[str, int] = {}
        self.sampler: RssSampler | None = None
        self.scraped: dict[str, float] = {}

    def __enter__(self) -> Operated:
        self.operator.__enter__()
        try:
            self.operator.wait_ready()
            time.sleep(self.bench.args.idle)  # the memory it settles at once started, before any task
        except BaseException:
            self.operator.stop()
            raise
        self.idle = process_memory_kib(self.operator.pid)
        self.processes = self.bench.processes(self.operator.proc)
        self.sampler = RssSampler(self.operator.pid)
        return self

    def __exit__(self, *_: object) -> None:
        try:
            assert self.operator.proc is not None
            self.exited = self.operator.proc.poll()
            if self.exited is not None:
                print(f"   WARNING: the operator exited ({self.exited}) during the scenario; see {self.log_path}",
                      flush=True)
        finally:
            self.operator.stop()

    def start_sampling(self) -> None:
        assert self.sampler is not None
        self.sampler.start()

    def stop_sampling(self) -> None:
        """The memory with the scenario's tasks alive; the sampler stops."""
        assert self.sampler is not None
        self.alive = process_memory_kib(self.operator.pid)
        self.sampler.stop()
        self.scraped = self.operator.metrics()

    def figures(self, tasks: int) -> dict[str, Any]:
        alive, idle = self.alive, self.idle
        peak = max([*(self.sampler.samples if self.sampler else []), alive.get("VmRSS", 0)])
        memory = {
            "idle_mib": idle.get("VmRSS", 0) / 1024,
            "peak_mib": peak / 1024,
            "hwm_mib": alive.get("VmHWM", 0) / 1024,
            "with_tasks_mib": alive.get("VmRSS", 0) / 1024,
            "per_1000_tasks_mib": (alive.get("VmRSS", 0) - idle.get("VmRSS", 0)) / 1024 / max(tasks, 1) * 1000,
        }
        return {"operator_rss": memory, "operator_log": str(self.log_path), "operator_exit": self.exited,
                "operator_work": self.work(tasks)}

    def work(self, tasks: int) -> dict[str, float]:
        """From its /metrics: task reconciles per task, and the mean wait in its queue, reconcile
        and API request (where a task's time in the operator goes)."""
        got = self.scraped

        def mean_ms(name: str) -> float:
            count = got.get(name.replace("_sum{", "_count{"), 0.0)
            return round(got.get(name, 0.0) / count * 1000, 2) if count else 0.0

        reconciles = sum(v for k, v in got.items()
                         if k.startswith("ecs_operator_reconcile_total{") and "resource=ecstask}" in k)
        return {
            "reconciles_per_task": round(reconciles / max(tasks, 1), 2),
            "queue_wait_ms": mean_ms("ecs_operator_workqueue_queue_duration_seconds_sum{name=ecstask}"),
            "reconcile_ms": mean_ms("ecs_operator_reconcile_duration_seconds_sum{resource=ecstask}"),
            "create_pod_ms": mean_ms("ecs_operator_kube_request_duration_seconds_sum{verb=create,resource=pods}"),
            "update_status_ms": mean_ms(
                "ecs_operator_kube_request_duration_seconds_sum{verb=update,resource=ecstasks/status}"),
        }

    def errors(self) -> list[str]:
        """The operator's ERROR and CRITICAL log lines, and tracebacks."""
        with contextlib.suppress(OSError):
            return [line for line in self.log_path.read_text(errors="replace").splitlines()
                    if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")]
        return []


def operator_scenario(bench: Bench, label: str, objects: int, count: int, rate: float | None = None,
                      namespace: str | None = None) -> dict[str, Any]:
    """The real operator: `objects` ECSTasks of `count` tasks each; done when every one is RUNNING."""
    tasks = objects * count
    namespace = namespace or bench.create_namespace(label)
    bench.ecs_objects(namespace)
    progress = Progress(objects, count)
    meter = Meter(bench)

    def create(i: int) -> None:
        name = f"t{i}"
        bench.client.request("POST", ecs_path(namespace, "ecstasks"),
                             bench.ecstask(name, CLUSTERS[i % len(CLUSTERS)], count))
        progress.created[name] = time.monotonic()

    with Operated(bench, namespace, label) as operated:
        processes = operated.processes
        with (watching(Watch(bench.admin, ecs_path(namespace, "ecstasks"), progress.ecstask_seen)),
              watching(Watch(bench.admin, pods_path(namespace), progress.task_pod_seen, label_selector=TASK_LABEL))):
            operated.start_sampling()
            before = meter.snapshot(processes)
            create_all([partial(create, i) for i in range(objects)], progress, rate)
            progress.wait(label, bench.timeout(tasks))
            result = finish(bench, meter, before, progress, processes, tasks)
            operated.stop_sampling()
    return {**result, "namespace": namespace, "tasks": tasks, "ecs_tasks": objects, "count": count,
            **operated.figures(tasks)}


def scenario_op1(bench: Bench) -> dict[str, Any]:
    return operator_scenario(bench, "op1", bench.args.tasks, 1)


def scenario_op10(bench: Bench) -> dict[str, Any]:
    return operator_scenario(bench, "op10", max(1, bench.args.tasks // 10), 10)


def scenario_steady(bench: Bench) -> dict[str, Any]:
    tasks = round(bench.args.steady_rate * bench.args.steady_seconds)
    result = operator_scenario(bench, "steady", tasks, 1, rate=bench.args.steady_rate)
    return {**result, "arrival_rate_per_s": bench.args.steady_rate}


def scenario_noise(bench: Bench) -> dict[str, Any]:
    """op1 while --noise-pods unrelated Pods live in another namespace."""
    count = bench.args.noise_pods
    noise_namespace = bench.create_namespace("noise-pods")
    log(f"creating {count} unrelated Pods in {noise_namespace}")
    progress = Progress(count, 1)

    def create(i: int) -> None:
        bench.admin.request("POST", pods_path(noise_namespace), {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"noise-{i}", "labels": {"app": "noise"}},
            "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}], "nodeSelector": {"type": "kwok"},
                     "automountServiceAccountToken": False, "enableServiceLinks": False,
                     "terminationGracePeriodSeconds": 0}})
        progress.created[f"noise-{i}"] = time.monotonic()

    with watching(Watch(bench.admin, pods_path(noise_namespace), progress.pod_seen)):
        create_all([partial(create, i) for i in range(count)], progress)
        created = time.monotonic() - progress.started
        complete = progress.wait("noise Pods", 300 + count * 0.2)
    log(f"{len(progress.created)} unrelated Pods created in {created:.0f} s, {len(progress.running)} Running after "
        f"{time.monotonic() - progress.started:.0f} s")
    time.sleep(bench.args.idle)  # the scheduler, kwok and the controllers settle first
    try:
        result = operator_scenario(bench, "noise", bench.args.tasks, 1)
    finally:
        bench.cleanup.append(noise_namespace)
    return {**result, "noise_pods": count, "noise_pods_running": len(progress.running), "noise_complete": complete}


# --------------------------------------------------------------------------- ECS services and their baselines


def apps_path(namespace: str, plural: str, name: str | None = None) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")


def merge_patch(rest: Rest, path: str, body: dict[str, Any]) -> Any:
    return rest.request("PATCH", path, body, content_type="application/merge-patch+json")


def wait_event(label: str, event: threading.Event, timeout: float, state: Callable[[], str]) -> bool:
    """Wait for `event`, printing `state()` every 5 s; False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not event.wait(5.0):
        print(f"   {label}: {state()}", flush=True)
        if time.monotonic() > deadline:
            print(f"   {label}: NOT DONE after {timeout:.0f} s; going on", flush=True)
            return False
    return True


def record_of(obj: dict[str, Any]) -> dict[str, Any]:
    """A service task's one task record (an ECSTask of count 1)."""
    status = obj.get("status") or {}
    record = dict((status.get("tasks") or [{}])[0])
    record.setdefault("lastStatus", status.get("lastStatus"))
    return record


def service_summary(status: dict[str, Any]) -> dict[str, Any]:
    """What DescribeServices would say of the counts and deployments."""
    return {"desiredCount": status.get("desiredCount"), "runningCount": status.get("runningCount"),
            "pendingCount": status.get("pendingCount"), "steady": bool(status.get("steady")),
            "deployments": [{"taskDefinition": d.get("taskDefinition", "").rsplit("/", 1)[-1],
                             "status": d.get("status"), "rolloutState": d.get("rolloutState"),
                             "runningCount": d.get("runningCount")} for d in status.get("deployments") or []]}


def service_steady(status: dict[str, Any], desired: int, revision: int) -> bool:
    """One deployment, COMPLETED, of `revision`, with `desired` tasks RUNNING: what ECS calls steady."""
    deployments = status.get("deployments") or []
    return (len(deployments) == 1 and deployments[0].get("rolloutState") == "COMPLETED"
            and deployments[0].get("taskDefinition", "").endswith(f"/{FAMILY}:{revision}")
            and status.get("runningCount") == desired and status.get("desiredCount") == desired)


class ServiceWatch:
    """The latest status of one ECSService, and an event set once `steady(status)` holds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.status: dict[str, Any] = {}
        self.condition: Callable[[dict[str, Any]], bool] = lambda _: False
        self.met = threading.Event()
        self.met_at = 0.0
        self.lock = threading.Lock()

    def expect(self, condition: Callable[[dict[str, Any]], bool]) -> None:
        with self.lock:
            self.met.clear()
            self.condition = condition
        self.check(self.status, time.monotonic())

    def seen(self, obj: dict[str, Any], now: float) -> None:
        if obj["metadata"]["name"] == self.name:
            self.check(obj.get("status") or {}, now)

    def check(self, status: dict[str, Any], now: float) -> None:
        with self.lock:
            self.status = status
            if not self.met.is_set() and self.condition(status):
                self.met_at = now
                self.met.set()

    def state(self) -> str:
        summary = service_summary(self.status)
        return (f"service {self.name}: desired {summary['desiredCount']} running {summary['runningCount']} "
                f"pending {summary['pendingCount']}; deployments "
                + ", ".join(f"{d['taskDefinition']} {d['status']} {d['rolloutState']}" for d in summary["deployments"]))


def service_figures(result: dict[str, Any], operated: Operated, service: ServiceWatch) -> dict[str, Any]:
    """The service scheduler's own part of the operator's writes, its errors, the service at the end."""
    kinds = (result.get("operator") or {}).get("requests_by_kind_per_task") or {}
    errors = operated.errors()
    return {
        "healthy_after_s": operated.bench.args.healthy_after,
        "service_status_writes_per_task": kinds.get("update ecsservices/status", 0.0),
        "operator_writes_by_kind_per_task": {k: v for k, v in kinds.items() if k.split()[0] in WRITE_VERBS_AUDIT},
        "operator_errors": len(errors), "operator_error_examples": errors[:3],
        "service": service_summary(service.status),
    }


def scenario_rs(bench: Bench) -> dict[str, Any]:
    """Baseline of svc: a ReplicaSet of the service task's Pod (restartPolicy Always), created with
    0 replicas, scaled to N; done when a watch sees N Pods Running."""
    tasks = bench.args.tasks
    namespace = bench.create_namespace("rs")
    progress = Progress(tasks, 1)
    meter = Meter(bench)
    processes = bench.processes(None)
    replicaset = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
                  "spec": {"replicas": 0, "selector": {"matchLabels": {SELECTOR_LABEL: "rs"}},
                           "template": bench.pod_template(namespace, "rs")}}

    def pod_seen(pod: dict[str, Any], now: float) -> None:
        progress.created.setdefault(pod["metadata"]["name"], progress.started)
        progress.pod_seen(pod, now)

    bench.client.request("POST", apps_path(namespace, "replicasets"), replicaset)
    deadline = time.monotonic() + 60
    while (bench.admin.request("GET", apps_path(namespace, "replicasets", "rs")).get("status") or {}).get(
            "observedGeneration") != 1 and time.monotonic() < deadline:
        time.sleep(0.2)  # the controller has seen it (0 replicas): that is not the scenario's work
    with watching(Watch(bench.admin, pods_path(namespace), pod_seen, label_selector=f"{SELECTOR_LABEL}=rs")):
        before = meter.snapshot(processes)
        progress.started = time.monotonic()
        merge_patch(bench.client, apps_path(namespace, "replicasets", "rs"), {"spec": {"replicas": tasks}})
        progress.wait("rs", bench.timeout(tasks))
        result = finish(bench, meter, before, progress, processes, tasks)
    return {**result, "namespace": namespace, "tasks": tasks, "ecs_tasks": tasks, "count": 1,
            "restart_policy": "Always"}


def scenario_svc(bench: Bench) -> dict[str, Any]:
    """The operator: an ECSService with desiredCount 0, patched to N; done when its N tasks are
    RUNNING (then, still measured, until the service reports a steady state)."""
    tasks = bench.args.tasks
    namespace = bench.create_namespace("svc")
    bench.ecs_objects(namespace)
    progress = Progress(tasks, 1)
    meter = Meter(bench)
    service = ServiceWatch("svc")
    appeared: dict[str, float] = {}  # service task -> its ECSTask first seen (the service scheduler created it)

    def task_seen(obj: dict[str, Any], now: float) -> None:
        progress.created.setdefault(obj["metadata"]["name"], progress.started)
        appeared.setdefault(obj["metadata"]["name"], now)
        progress.ecstask_seen(obj, now)

    env = {"ECS_SERVICE_HEALTHY_AFTER": str(bench.args.healthy_after)}
    with (Operated(bench, namespace, "svc", env) as operated,
          watching(Watch(bench.admin, ecs_path(namespace, "ecsservices"), service.seen)),
          watching(Watch(bench.admin, ecs_path(namespace, "ecstasks"), task_seen,
                         label_selector=f"{SERVICE_LABEL}=svc")),
          watching(Watch(bench.admin, pods_path(namespace), progress.task_pod_seen, label_selector=TASK_LABEL))):
        processes = operated.processes
        service.expect(lambda status: service_steady(status, 0, 1))
        bench.client.request("POST", ecs_path(namespace, "ecsservices"), bench.service("svc", 0))
        wait_event("svc (desiredCount 0)", service.met, 60, service.state)
        operated.start_sampling()
        before = meter.snapshot(processes)
        service.expect(lambda status: service_steady(status, tasks, 1) and bool(status.get("steady")))
        progress.started = time.monotonic()
        merge_patch(bench.client, ecs_path(namespace, "ecsservices", "svc"), {"spec": {"desiredCount": tasks}})
        progress.wait("svc", bench.timeout(tasks))
        # Its last status writes (steady state) come --healthy-after seconds after the last RUNNING.
        steady = wait_event("svc (steady)", service.met, 60 + bench.args.healthy_after, service.state)
        result = finish(bench, meter, before, progress, processes, tasks)
        operated.stop_sampling()
    return {**result, "namespace": namespace, "tasks": tasks, "ecs_tasks": tasks, "count": 1,
            "steady_s": service.met_at - progress.started if steady else None,
            "task_created_s": percentiles([t - progress.started for t in appeared.values()]),
            **operated.figures(tasks), **service_figures(result, operated, service)}


class Rollout:
    """A rolling update's end: `complete()` (called under the lock on every change once armed) says
    when; `done` is set then."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.armed = False
        self.done = threading.Event()
        self.done_at = 0.0

    def check(self, complete: Callable[[], bool], now: float) -> None:
        if self.armed and not self.done.is_set() and complete():
            self.done_at = now
            self.done.set()


def rollout_figures(result: dict[str, Any], progress: Progress, rollout: Rollout, replaced: int) -> dict[str, Any]:
    """Seconds and tasks/s to the rollout's end (not to the last new task RUNNING: health waits follow)."""
    completed = rollout.done_at - progress.started if rollout.done.is_set() else None
    running = max(progress.running.values(), default=progress.started) - progress.started
    return {**result, "complete": rollout.done.is_set() and result["complete"],
            "elapsed_s": completed if completed is not None else result["elapsed_s"],
            "throughput_tasks_per_s": replaced / completed if completed else 0.0,
            "completed_s": completed, "all_new_running_s": running}


def scenario_deploy(bench: Bench) -> dict[str, Any]:
    """Baseline of roll: a Deployment of N/2 replicas (maxSurge 100%, maxUnavailable 0, minReadySeconds
    --healthy-after) whose Pod template changes to revision 2's; done when every replica is updated and
    available and every old Pod is gone."""
    half = max(1, bench.args.tasks // 2)
    namespace = bench.create_namespace("deploy")
    progress = Progress(half, 1)
    meter = Meter(bench)
    processes = bench.processes(None)
    rollout = Rollout()
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "deploy"},
                  "spec": {"replicas": half, "selector": {"matchLabels": {SELECTOR_LABEL: "deploy"}},
                           "minReadySeconds": bench.args.healthy_after,
                           "strategy": {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": 0}},
                           "template": bench.pod_template(namespace, "deploy")}}
    old: set[str] = set()  # revision 1 Pods not deleted yet
    latest: dict[str, Any] = {}
    available = threading.Event()  # revision 1 rolled out: the starting point

    def rolled_out(revision: str) -> bool:
        if not latest:
            return False
        spec, status = latest.get("spec") or {}, latest.get("status") or {}
        return (status.get("observedGeneration", 0) >= latest["metadata"]["generation"]
                and spec["template"]["metadata"]["labels"][REVISION_LABEL] == revision
                and status.get("updatedReplicas") == status.get("availableReplicas") == status.get("replicas") == half)

    def complete() -> bool:
        return rolled_out("2") and not old and len(progress.running) >= half

    def deployment_seen(obj: dict[str, Any], now: float) -> None:
        with rollout.lock:
            latest.clear()
            latest.update(obj)
            if rolled_out("1") and not rollout.armed:
                available.set()
            rollout.check(complete, now)

    def pod_seen(pod: dict[str, Any], now: float) -> None:
        with rollout.lock:
            name = pod["metadata"]["name"]
            if pod["metadata"]["labels"].get(REVISION_LABEL) == "1":
                old.add(name)
            elif rollout.armed:
                progress.created.setdefault(name, progress.started)
                progress.pod_seen(pod, now)
            rollout.check(complete, now)

    def pod_gone(pod: dict[str, Any], now: float) -> None:
        with rollout.lock:
            old.discard(pod["metadata"]["name"])
            rollout.check(complete, now)

    def state() -> str:
        status = latest.get("status") or {}
        return (f"{len(progress.running)}/{half} new Pods Running, {len(old)} old Pods left; deployment "
                f"replicas {status.get('replicas')} updated {status.get('updatedReplicas')} available "
                f"{status.get('availableReplicas')}")

    with (watching(Watch(bench.admin, apps_path(namespace, "deployments"), deployment_seen)),
          watching(Watch(bench.admin, pods_path(namespace), pod_seen, label_selector=f"{SELECTOR_LABEL}=deploy",
                         gone=pod_gone))):
        bench.client.request("POST", apps_path(namespace, "deployments"), deployment)
        wait_event("deploy (revision 1 available)", available, bench.timeout(half), state)
        before = meter.snapshot(processes)
        with rollout.lock:
            rollout.armed = True
        progress.started = time.monotonic()
        merge_patch(bench.client, apps_path(namespace, "deployments", "deploy"),
                    {"spec": {"template": bench.pod_template(namespace, "deploy", revision=2)}})
        wait_event("deploy", rollout.done, bench.timeout(half), state)
        result = finish(bench, meter, before, progress, processes, half)
    return {**rollout_figures(result, progress, rollout, half), "namespace": namespace, "tasks": half,
            "ecs_tasks": half, "count": 1, "restart_policy": "Always", "healthy_after_s": bench.args.healthy_after}


def scenario_roll(bench: Bench) -> dict[str, Any]:
    """The operator: an ECSService of N/2 tasks (min 100 / max 200), steady, moved to task definition
    revision 2; done when its deployment is COMPLETED, alone, with N/2 RUNNING tasks of revision 2 and
    every old task STOPPED."""
    half = max(1, bench.args.tasks // 2)
    namespace = bench.create_namespace("roll")
    bench.ecs_objects(namespace)
    progress = Progress(half, 1)
    meter = Meter(bench)
    rollout = Rollout()
    service = ServiceWatch("roll")
    old: dict[str, str] = {}  # revision 1 task -> its lastStatus
    new: dict[str, str] = {}  # revision 2 task -> its lastStatus
    appeared: dict[str, float] = {}  # revision 2 task -> its ECSTask first seen

    def complete() -> bool:
        return (service_steady(service.status, half, 2) and sum(s == "RUNNING" for s in new.values()) == half
                and len(new) == half and all(s == "STOPPED" for s in old.values()))

    def task_seen(obj: dict[str, Any], now: float) -> None:
        with rollout.lock:
            name, last = obj["metadata"]["name"], record_of(obj).get("lastStatus") or ""
            if obj["spec"].get("taskDefinition") == f"{FAMILY}:2":
                progress.created.setdefault(name, progress.started)
                appeared.setdefault(name, now)
                progress.ecstask_seen(obj, now)
                new[name] = last
            else:
                old[name] = last
            rollout.check(complete, now)

    def service_seen(obj: dict[str, Any], now: float) -> None:
        with rollout.lock:
            service.seen(obj, now)
            rollout.check(complete, now)

    def state() -> str:
        return (f"{sum(s == 'RUNNING' for s in new.values())}/{half} new tasks RUNNING, "
                f"{sum(s != 'STOPPED' for s in old.values())} old tasks not STOPPED; {service.state()}")

    env = {"ECS_SERVICE_HEALTHY_AFTER": str(bench.args.healthy_after)}
    with (Operated(bench, namespace, "roll", env) as operated,
          watching(Watch(bench.admin, ecs_path(namespace, "ecsservices"), service_seen)),
          watching(Watch(bench.admin, ecs_path(namespace, "ecstasks"), task_seen,
                         label_selector=f"{SERVICE_LABEL}=roll")),
          watching(Watch(bench.admin, pods_path(namespace), progress.task_pod_seen, label_selector=TASK_LABEL))):
        processes = operated.processes
        service.expect(lambda status: service_steady(status, half, 1) and bool(status.get("steady")))
        bench.client.request("POST", ecs_path(namespace, "ecsservices"), bench.service("roll", half))
        wait_event("roll (revision 1 steady)", service.met, bench.timeout(half) + bench.args.healthy_after, state)
        # Revision 2 registered before the clock starts, as `register-task-definition` would be.
        merge_patch(bench.admin, ecs_path(namespace, "ecstaskdefinitions", FAMILY), {"spec": TASK_DEFINITION_2})
        deadline = time.monotonic() + 60
        while ((bench.admin.request("GET", ecs_path(namespace, "ecstaskdefinitions", FAMILY)).get("status") or {})
               .get("latestRevision") != 2):
            if time.monotonic() > deadline:
                raise RuntimeError(f"revision 2 of {FAMILY} not registered after 60 s; see {operated.log_path}")
            time.sleep(0.2)
        operated.start_sampling()
        before = meter.snapshot(processes)
        with rollout.lock:
            rollout.armed = True
        progress.started = time.monotonic()
        merge_patch(bench.client, ecs_path(namespace, "ecsservices", "roll"),
                    {"spec": {"taskDefinition": f"{FAMILY}:2"}})
        wait_event("roll", rollout.done, bench.timeout(half) + bench.args.healthy_after, state)
        result = finish(bench, meter, before, progress, processes, half)
        operated.stop_sampling()
    return {**rollout_figures(result, progress, rollout, half), "namespace": namespace, "tasks": half,
            "ecs_tasks": half, "count": 1, "old_tasks": len(old),
            "task_created_s": percentiles([t - progress.started for t in appeared.values()]),
            "old_tasks_stopped": sum(s == "STOPPED" for s in old.values()),
            **operated.figures(half), **service_figures(result, operated, service)}


RUNNERS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "a": scenario_a, "b": scenario_b, "op1": scenario_op1, "op10": scenario_op10, "steady": scenario_steady,
    "noise": scenario_noise, "rs": scenario_rs, "svc": scenario_svc, "deploy": scenario_deploy,
    "roll": scenario_roll,
}


# --------------------------------------------------------------------------- run, report


def machine_info() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 "unknown")
    memory_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
    return {"nproc": os.cpu_count(), "memory_gib": round(memory_kib / 1024 / 1024, 1), "cpu_model": model,
            "kernel": os.uname().release}


def versions() -> dict[str, str]:
    from importlib import metadata

    from ecs_operator.devcluster import versions as pins
    from ecs_operator.devcluster.controlplane import etcd_binary

    etcd = "unknown"
    with contextlib.suppress(Exception):
        etcd = subprocess.run([etcd_binary(), "--version"], capture_output=True, text=True, timeout=10
                              ).stdout.splitlines()[0].split(":")[-1].strip()
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "operator"],
                           capture_output=True, text=True).stdout.strip()
    return {"kubernetes": pins.KUBERNETES_VERSION, "kwok": pins.KWOK_VERSION, "etcd": etcd,
            "kopf": metadata.version("kopf"), "kubernetes_python_client": metadata.version("kubernetes"),
            "python": sys.version.split()[0], "git_commit": commit + (" (operator/ modified)" if dirty else "")}


def settings(bench: Bench) -> dict[str, Any]:
    from ecs_operator.devcluster import controlplane

    shape = bench.node_shape()
    args = bench.args
    return {
        "scheduler_qps": controlplane.SCHEDULER_QPS, "scheduler_burst": controlplane.SCHEDULER_BURST,
        "nodes": args.nodes, "node_groups": len(CLUSTERS),
        "node_shape": {"cpu": shape.cpu, "memory": shape.memory, "pods": shape.pods},
        "client_threads": THREADS, "tasks": args.tasks, "steady_rate": args.steady_rate,
        "steady_seconds": args.steady_seconds, "noise_pods": args.noise_pods, "settle_s": args.settle,
        "settle_max_s": args.settle_max, "quiet_s": QUIET_S,
        "idle_s": args.idle, "operator_log_level": args.operator_log_level,
        "task_definition": TASK_DEFINITION, "local_control_plane": not args.kubeconfig,
        "healthy_after_s": args.healthy_after, "service_cluster": SERVICE_CLUSTER,
        "service_cluster_nodes": len(split(list(range(args.nodes)), len(CLUSTERS))[0]),
        "revision_2_change": "web: environment BENCH_REVISION=2",
        "audit_log": bench.audit_log is not None,
    }


def run_benchmark(bench: Bench, command: str) -> dict[str, Any]:
    bench.setup()
    results: dict[str, Any] = {
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": command, "machine": machine_info(), "versions": versions(), "settings": settings(bench),
        "scenarios": {},
    }
    scenarios = bench.args.scenario_list
    for position, name in enumerate(scenarios):
        log(f"scenario {name}: {bench_report.TITLES[name]}")
        result = RUNNERS[name](bench)
        results["scenarios"][name] = result
        bench_report.add_ratios(results)
        (bench.out / "results.json").write_text(json.dumps(results, indent=1))
        print("   " + bench_report.one_line(name, results["scenarios"][name]), flush=True)
        last = position == len(scenarios) - 1
        # The local control plane is about to stop: its last namespaces need no deleting.
        keep_going = not last or bench.args.kubeconfig
        for namespace in [result["namespace"], *bench.cleanup]:
            bench.delete_namespace(namespace, wait=bool(keep_going))
        bench.cleanup.clear()
    results["finished_at"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    if bench.args.kubeconfig:
        bench.teardown()
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000, help="burst size N (default 1000)")
    parser.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS),
                        help=f"comma-separated, of {','.join(SCENARIOS)} (default: {','.join(DEFAULT_SCENARIOS)}; "
                        f"the services and their baselines: {','.join(SERVICE_SCENARIOS)})")
    parser.add_argument("--nodes", type=int, default=30, help="kwok nodes, split over 3 node groups (default 30)")
    parser.add_argument("--steady-rate", type=float, default=20.0, help="steady arrivals per second (default 20)")
    parser.add_argument("--steady-seconds", type=float, default=60.0, help="steady duration (default 60)")
    parser.add_argument("--noise-pods", type=int, default=10000, help="unrelated Pods for 'noise' (default 10000)")
    parser.add_argument("--out", type=Path, help="results folder (default bench/results/<timestamp>)")
    parser.add_argument("--kubeconfig", type=Path, help="use this cluster (with kwok) instead of a local one")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds after the last RUNNING still counted (trailing Events, writes); more while "
                        "the operator or client still writes about tasks (default 3)")
    parser.add_argument("--settle-max", type=float, default=60.0,
                        help="at most this many seconds after the last RUNNING (default 60)")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds the operator idles before a scenario")
    parser.add_argument("--healthy-after", type=int, default=5,
                        help="svc, roll: a task counts as healthy this long after RUNNING (the operator's "
                        "ECS_SERVICE_HEALTHY_AFTER; ECS: 40); deploy: the Deployment's minReadySeconds (default 5)")
    parser.add_argument("--timeout", type=float, default=0.0, help="per scenario (default 300 s + 0.5 s per task)")
    parser.add_argument("--operator-log-level", default="info", choices=["debug", "info", "warning", "error"],
                        help="as the chart deploys it (default info)")
    parser.add_argument("--no-plot", action="store_true", help="no bench.png (matplotlib not needed)")
    parser.add_argument("--write-docs", nargs="?", const="", metavar="RESULTS_JSON[,RESULTS_JSON]",
                        help="write docs/benchmarks.md: from this run, or, given a results.json, from it alone; "
                        "given two (comma-separated: `make bench`'s, then the services run's), from both")
    args = parser.parse_args(argv)
    args.scenario_list = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenario_list) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))} (choose from {', '.join(SCENARIOS)})")
    if args.nodes < len(CLUSTERS):
        parser.error(f"--nodes must be at least {len(CLUSTERS)}")
    if args.write_docs == "" and not set(args.scenario_list) & set(DEFAULT_SCENARIOS):
        parser.error("--write-docs from a run of services alone would drop the figures of docs/benchmarks.md: "
                     "render it afterwards with --write-docs MAIN/results.json,SERVICES/results.json")
    if args.healthy_after < 0:
        parser.error("--healthy-after: seconds, 0 or more")
    return args


def interrupt(signum: int, _: object) -> None:
    """SIGTERM as Ctrl-C: the `finally` blocks stop the operator and the control plane."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.write_docs:  # results.json given: regenerate the docs from them, nothing runs
        runs = [json.loads(Path(path).read_text()) for path in args.write_docs.split(",") if path]
        print(f"wrote {bench_report.write_docs(bench_report.merge_runs(runs), REPO / 'docs' / 'benchmarks.md')}")
        return 0
    signal.signal(signal.SIGTERM, interrupt)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = (args.out or REPO / "bench" / "results" / stamp).resolve()
    out.mkdir(parents=True, exist_ok=True)
    command = " ".join(["bench/bench.py", *(argv if argv is not None else sys.argv[1:])])
    work = Path(tempfile.mkdtemp(prefix="ecs-bench-"))
    try:
        if args.kubeconfig:
            # A dev cluster (`ecs-operator dev-cluster up`) records its pids; its audit log is beside them.
            state = args.kubeconfig.parent / "state.json"
            pids = {k: int(v) for k, v in json.loads(state.read_text())["pids"].items()} if state.exists() else {}
            audit = args.kubeconfig.parent / "logs" / "audit.log"
            bench = Bench(args, out, args.kubeconfig.resolve(), pids, audit if audit.exists() else None, work)
            results = run_benchmark(bench, command)
        else:
            if not build.binaries_ready():
                build.build()
            log(f"starting a local control plane in {work / 'plane'}")
            with running(work / "plane") as plane:
                bench = Bench(args, out, plane.kubeconfig, dict(plane.pids), plane.audit_log, work)
                results = run_benchmark(bench, command)
    except KeyboardInterrupt:
        print("\ninterrupted: the operator and the control plane are stopped; partial results (if any) are in "
              f"{out / 'results.json'}", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    plot = "(--no-plot)" if args.no_plot else bench_report.plot(results, out / "bench.png")
    report = bench_report.write_docs(results, out / "benchmarks.md")
    print()
    print(bench_report.tables(results))
    print(f"\nresults: {out / 'results.json'}  plot: {plot}  report: {report}")
    if args.write_docs is not None:
        print(f"docs: {bench_report.write_docs(results, REPO / 'docs' / 'benchmarks.md')}")
    print(bench_report.headline(results), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
