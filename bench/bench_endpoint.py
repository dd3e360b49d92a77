"""The ECS endpoint (`ecs-operator api`) against its two references, measured in one run:

    make bench-endpoint                      # TASKS=1000, CLIENTS=32
    .venv/bin/python bench/bench_endpoint.py --tasks 300 --clients 16

On the project's local control plane with kwok nodes, the operator running:

  stack     What the server stack costs: the endpoint's request handling for a request refused
            before any Kubernetes call (unsigned: MissingAuthenticationTokenException), served by
            aiohttp (the endpoint) and by the standard library's ThreadingHTTPServer around the same
            handler, --clients connections each for --seconds.
  op1       The operator's floor for RunTask: N ECSTasks (count 1) created through the Kubernetes
            API by --clients threads; create→RUNNING per task, tasks/s to the last RUNNING.
  runtask   The same N tasks as N RunTask calls through the endpoint by --clients clients (each
            waits for its answer, as SDK callers do; signed by botocore, sent by urllib3);
            create (request sent)→RUNNING.
  describe  DescribeTasks of 100 RUNNING tasks, --clients signed requests at a time for --seconds:
            the endpoint (over the control plane) and moto's server (`moto[server]`, in memory, the
            floor of a Python ECS endpoint) in the same run. Requests are signed by botocore and
            sent with urllib3, so that the client's decoding of 100 tasks does not set the pace.

Prints one line per scenario and the ratios: runtask ÷ op1 tasks/s (goal ≥ 0.9), describe
endpoint ÷ moto requests/s (goal ≥ 1); the CPU seconds each process spent, per task or request,
say where the time goes. Writes results.json into --out.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.server
import json
import os
import signal
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import urllib3
from bench import Rest, free_port, request_totals  # bench/bench.py: the apiserver's own request counters
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from kubernetes import client, config, watch

from ecs_operator.api import access_keys
from ecs_operator.api.tasks import client_token_name
from ecs_operator.devcluster import build
from ecs_operator.devcluster.controlplane import running
from ecs_operator.devcluster.demo import install_crds
from ecs_operator.devcluster.nodes import NodeGroup, create_node_group
from ecs_operator.ecs.labels import API_GROUP, API_VERSION
from ecs_operator.ecs.resources import task_resource
from ecs_operator.frontends.endpoint import protocol

REPO = Path(__file__).resolve().parents[1]
CONTAINER = {"name": "web", "image": "nginx:1.27", "cpu": 64, "memory": 64}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
USER = "bench-user"


def log(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", flush=True)


def cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return 0.0


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)
    return {"p50": statistics.median(ordered), "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            "max": ordered[-1]}


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited at start (status {proc.returncode})")
        try:
            urllib3.request("GET", url, retries=False, timeout=1)
            return
        except urllib3.exceptions.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer {url} in 60 s")


@contextlib.contextmanager
def process(args: list[str], log_path: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class RunningWatch(threading.Thread):
    """When each ECSTask of a namespace first reports a RUNNING task (its status, as clients see it)."""

    def __init__(self, api: client.ApiClient, namespace: str):
        super().__init__(daemon=True)
        self.api, self.namespace = api, namespace
        self.running: dict[str, float] = {}
        self.stopped = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        custom = client.CustomObjectsApi(self.api)
        while not self.stopped.is_set():
            stream = watch.Watch()
            try:
                self.ready.set()
                for event in stream.stream(custom.list_namespaced_custom_object, API_GROUP, API_VERSION,
                                           self.namespace, "ecstasks", timeout_seconds=30):
                    obj = event["object"]
                    name = obj["metadata"]["name"]
                    records = (obj.get("status") or {}).get("tasks", [])
                    if name not in self.running and records and all(r.get("lastStatus") == "RUNNING"
                                                                    for r in records):
                        self.running[name] = time.monotonic()
                    if self.stopped.is_set():
                        break
            except urllib3.exceptions.HTTPError:
                continue  # the stream ended (the server's timeout): watch again
            finally:
                stream.stop()

    def wait(self, names: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(n in self.running for n in names):
            time.sleep(0.05)
        missing = [n for n in names if n not in self.running]
        if missing:
            raise RuntimeError(f"{len(missing)} tasks not RUNNING after {timeout:.0f} s (e.g. {missing[:3]})")


class Run:
    def __init__(self, args: argparse.Namespace, out: Path, kubeconfig: Path):
        self.args, self.out, self.kubeconfig = args, out, kubeconfig
        self.api = config.new_client_from_config(str(kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.rest = Rest(self.api)

    def namespace(self, name: str) -> str:
        self.core.create_namespace({"metadata": {"name": name}})
        rbac = client.RbacAuthorizationV1Api(self.api)
        rbac.create_namespaced_role(name, {"metadata": {"name": "ecs"}, "rules": [{
            "apiGroups": [API_GROUP], "resources": ["ecsclusters", "ecstaskdefinitions", "ecstasks", "ecsservices"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]})
        rbac.create_namespaced_role_binding(name, {
            "metadata": {"name": "ecs"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                     "name": "ecs"},
            "subjects": [{"kind": "User", "name": USER, "apiGroup": "rbac.authorization.k8s.io"}]})
        return name

    def boto(self, url: str, key: access_keys.AccessKey) -> Any:
        return boto3.client("ecs", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key.access_key_id,
                            aws_secret_access_key=key.secret_access_key,
                            config=Config(max_pool_connections=self.args.clients, retries={"max_attempts": 1},
                                          read_timeout=120))


def burst(run: Run, label: str, namespace: str, create: Callable[[int], str], pids: dict[str, int]
          ) -> dict[str, Any]:
    """N tasks created by --clients threads; done when each one's ECSTask reports RUNNING."""
    tasks = run.args.tasks
    watcher = RunningWatch(run.api, namespace)
    watcher.start()
    watcher.ready.wait()
    time.sleep(0.5)
    created: dict[str, float] = {}
    requests_before = request_totals(run.rest)
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.monotonic()

    def one(i: int) -> None:
        sent = time.monotonic()
        name = create(i)
        created[name] = sent

    with ThreadPoolExecutor(run.args.clients) as pool:
        list(pool.map(one, range(tasks)))
    watcher.wait(list(created), 300 + tasks)
    watcher.stopped.set()
    last = max(watcher.running[n] for n in created)
    latency = [watcher.running[n] - created[n] for n in created]
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    requests = request_totals(run.rest) - requests_before
    result = {"tasks": tasks, "seconds": last - started, "tasks_per_s": tasks / (last - started),
              "create_to_running_s": percentiles(latency),
              "cpu_ms_per_task": {name: 1000 * seconds / tasks for name, seconds in cpu.items()},
              "api_requests_per_task": {kind: round(n / tasks, 2) for kind, n in requests.most_common()
                                        if n / tasks >= 0.05}}
    spread = result["create_to_running_s"]
    log(f"{label}: {tasks} tasks in {result['seconds']:.1f} s = {result['tasks_per_s']:.1f} tasks/s; "
        f"create→RUNNING p50 {spread['p50']:.2f} s p99 {spread['p99']:.2f} s; CPU ms/task "
        + ", ".join(f"{k} {v:.1f}" for k, v in result["cpu_ms_per_task"].items())
        + "; API requests/task " + ", ".join(f"{k} {v}" for k, v in result["api_requests_per_task"].items()))
    return result


def signed(url: str, key_id: str, secret: str, action: str, body: bytes) -> dict[str, str]:
    request = AWSRequest("POST", url + "/", data=body, headers={"Content-Type": protocol.CONTENT_TYPE,
                                                                "X-Amz-Target": f"{protocol.TARGET_PREFIX}.{action}"})
    SigV4Auth(Credentials(key_id, secret), "ecs", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def hammer(url: str, headers_of: Callable[[], dict[str, str]], body: bytes, clients: int, seconds: float,
           pid: int | None, expect: int = 200) -> dict[str, Any]:
    """`clients` threads sending the request for `seconds`: requests/s, latency, server CPU per request."""
    pool = urllib3.PoolManager(maxsize=clients, retries=False, timeout=urllib3.Timeout(connect=5, read=60))
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    stop = time.monotonic() + seconds
    cpu_before = cpu_seconds(pid) if pid else 0.0

    def worker(i: int) -> None:
        while time.monotonic() < stop:
            headers = headers_of()
            sent = time.monotonic()
            answer = pool.request("POST", url + "/", body=body, headers=headers)
            latencies[i].append(time.monotonic() - sent)
            if answer.status != expect:
                failures[i] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    every = [x for part in latencies for x in part]
    cpu = (cpu_seconds(pid) - cpu_before) if pid else 0.0
    return {"requests": len(every), "requests_per_s": len(every) / elapsed, "latency_s": percentiles(every),
            "unexpected": sum(failures), "server_cpu_ms_per_request": 1000 * cpu / max(len(every), 1)}


def scenario_stack(run: Run, port: int, pid: int) -> dict[str, Any]:
    """aiohttp (the endpoint itself) against ThreadingHTTPServer around the same handler."""
    from ecs_operator.frontends.endpoint.server import Endpoint

    body = b"{}"
    headers = {"Content-Type": protocol.CONTENT_TYPE, "X-Amz-Target": f"{protocol.TARGET_PREFIX}.ListClusters"}
    aio = hammer(f"http://127.0.0.1:{port}", lambda: headers, body, run.args.clients, run.args.seconds, pid, 400)
    handler_endpoint = Endpoint(run.api)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, answer, _ = handler_endpoint.serve("POST", self.path, "", self.headers, data)
            self.send_response(status)
            self.send_header("Content-Type", protocol.CONTENT_TYPE)
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_: Any) -> None:
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    std_port = free_port()
    server = Server(("127.0.0.1", std_port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # in this process: its CPU is the client's too, so only requests/s and latency compare
        std = hammer(f"http://127.0.0.1:{std_port}", lambda: headers, body, run.args.clients, run.args.seconds,
                     None, 400)
    finally:
        server.shutdown()
    log(f"stack: aiohttp {aio['requests_per_s']:.0f} req/s (p99 {1000 * aio['latency_s']['p99']:.1f} ms, "
        f"{aio['server_cpu_ms_per_request']:.2f} ms CPU/request); ThreadingHTTPServer {std['requests_per_s']:.0f} "
        f"req/s (p99 {1000 * std['latency_s']['p99']:.1f} ms)")
    return {"aiohttp": aio, "threading_http_server": std}


def moto_setup(url: str, count: int) -> list[str]:
    kw: dict[str, Any] = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "moto",
                          "aws_secret_access_key": "moto"}
    ec2, ecs = boto3.client("ec2", **kw), boto3.client("ecs", **kw)
    ecs.create_cluster(clusterName="main")
    ecs.register_task_definition(family="web", containerDefinitions=[CONTAINER])
    for _ in range(4):
        instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                     InstanceType="m5.4xlarge")["Instances"][0]
        ecs.register_container_instance(cluster="main", instanceIdentityDocument=json.dumps(
            {"instanceId": instance["InstanceId"], "region": "us-east-1"}))
    arns: list[str] = []
    while len(arns) < count:
        arns += [t["taskArn"] for t in ecs.run_task(cluster="main", taskDefinition="web",
                                                    count=min(10, count - len(arns)))["tasks"]]
    return arns


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000, help="RunTask burst size N (default 1000)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of stack and describe runs (default 10)")
    parser.add_argument("--nodes", type=int, default=10, help="kwok nodes (default 10)")
    parser.add_argument("--out", type=Path, help="results folder (default bench/results/endpoint-<stamp>)")
    args = parser.parse_args(argv)
    out = (args.out or REPO / "bench" / "results" / f"endpoint-{datetime.datetime.now():%Y%m%d-%H%M%S}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not build.binaries_ready():
        build.build()
    results: dict[str, Any] = {"command": " ".join(["bench/bench_endpoint.py", *(argv or sys.argv[1:])]),
                               "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                               "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="ecs-bench-endpoint-") as work, running(Path(work) / "plane") as plane:
        run = Run(args, out, plane.kubeconfig)
        log("CRDs, nodes")
        install_crds(run.api)
        per_node = -(-2 * args.tasks // args.nodes) + 10
        create_node_group(run.core, NodeGroup(cluster="main", count=args.nodes, cpu=str(max(4, per_node // 8)),
                                              memory=f"{max(8, per_node // 8)}Gi", pods=str(per_node)), timeout=120)
        env = {"KUBECONFIG": str(plane.kubeconfig)}
        port, moto_port = free_port(), free_port()
        python = sys.executable
        with (process([python, "-m", "ecs_operator.cli", "run", "--log-level", "warning"], out / "operator.log",
                      env) as operator,
              process([python, "-m", "ecs_operator.cli", "api", "--listen", f"127.0.0.1:{port}", "--workers",
                       str(max(32, 2 * args.clients)), "--rate", "100000", "--burst", "100000"],
                      out / "endpoint.log", env) as endpoint,
              process([str(Path(python).parent / "moto_server"), "-p", str(moto_port)], out / "moto.log") as moto):
            url = f"http://127.0.0.1:{port}"
            wait_http(url + "/healthz", endpoint, "ecs-operator api")
            wait_http(f"http://127.0.0.1:{moto_port}/moto-api/", moto, "moto_server")
            pids = {"operator": operator.pid, "endpoint": endpoint.pid, **plane.pids}
            results["stack"] = scenario_stack(run, port, endpoint.pid)

            op1 = run.namespace("bench-op1")
            run.custom.create_namespaced_custom_object(API_GROUP, API_VERSION, op1, "ecsclusters",
                                                       {"apiVersion": f"{API_GROUP}/{API_VERSION}",
                                                        "kind": "ECSCluster", "metadata": {"name": "main"},
                                                        "spec": {}})
            key_op1 = access_keys.create_access_key(run.core, USER, [], op1)
            setup = run.boto(url, key_op1)
            setup.register_task_definition(family="web", containerDefinitions=[CONTAINER])
            time.sleep(2)  # the operator registers the revision

            def create_ecstask(i: int) -> str:
                name = f"t{i}"
                run.custom.create_namespaced_custom_object(API_GROUP, API_VERSION, op1, "ecstasks", task_resource(
                    name, {"cluster": "main", "taskDefinition": "web", "count": 1}))
                return name

            log(f"op1: {args.tasks} ECSTasks through the Kubernetes API, {args.clients} threads")
            results["op1"] = burst(run, "op1", op1, create_ecstask, pids)

            ns = run.namespace("bench-runtask")
            key = access_keys.create_access_key(run.core, USER, [], ns)
            ecs = run.boto(url, key)
            ecs.create_cluster(clusterName="main")
            ecs.register_task_definition(family="web", containerDefinitions=[CONTAINER])
            time.sleep(2)
            answers: list[dict[str, Any]] = []
            pool = urllib3.PoolManager(maxsize=args.clients, retries=False,
                                       timeout=urllib3.Timeout(connect=5, read=120))

            def run_task(i: int) -> str:
                # signed by botocore, sent by urllib3, as DescribeTasks below: boto3's own request
                # and answer handling (about as much CPU as the endpoint's) would set the pace
                token = str(uuid.uuid4())
                body = json.dumps({"cluster": "main", "taskDefinition": "web", "clientToken": token}).encode()
                answer = pool.request("POST", url + "/", body=body, headers=signed(
                    url, key.access_key_id, key.secret_access_key, "RunTask", body))
                answers.append(json.loads(answer.data))
                return client_token_name(token)

            log(f"runtask: {args.tasks} RunTask calls through the endpoint, {args.clients} clients")
            results["runtask"] = burst(run, "runtask", ns, run_task, pids)
            results["runtask"]["failures"] = sum(len(a.get("failures", [])) for a in answers)
            results["runtask"]["errors"] = sum(1 for a in answers if "__type" in a)
            arns = [t["taskArn"] for a in answers for t in a.get("tasks", [])][:100]

            body = json.dumps({"cluster": "main", "tasks": arns}).encode()
            log(f"describe: DescribeTasks of {len(arns)} tasks, {args.clients} clients, {args.seconds:.0f} s each")
            results["describe_endpoint"] = hammer(
                url, lambda: signed(url, key.access_key_id, key.secret_access_key, "DescribeTasks", body), body,
                args.clients, args.seconds, endpoint.pid)
            moto_url = f"http://127.0.0.1:{moto_port}"
            moto_arns = moto_setup(moto_url, len(arns))
            moto_body = json.dumps({"cluster": "main", "tasks": moto_arns}).encode()
            results["describe_moto"] = hammer(
                moto_url, lambda: signed(moto_url, "moto", "moto", "DescribeTasks", moto_body), moto_body,
                args.clients, args.seconds, moto.pid)
            for label in ("describe_endpoint", "describe_moto"):
                r = results[label]
                log(f"{label}: {r['requests_per_s']:.1f} req/s, p50 {1000 * r['latency_s']['p50']:.0f} ms "
                    f"p99 {1000 * r['latency_s']['p99']:.0f} ms, server CPU {r['server_cpu_ms_per_request']:.1f} "
                    f"ms/request, unexpected answers {r['unexpected']}")
    ratios = {"runtask_vs_op1_tasks_per_s": results["runtask"]["tasks_per_s"] / results["op1"]["tasks_per_s"],
              "describe_endpoint_vs_moto_requests_per_s":
                  results["describe_endpoint"]["requests_per_s"] / results["describe_moto"]["requests_per_s"]}
    results["ratios"] = ratios
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"RunTask through the endpoint ÷ op1: {ratios['runtask_vs_op1_tasks_per_s']:.2f} tasks/s (goal ≥ 0.9); "
          f"DescribeTasks endpoint ÷ moto: {ratios['describe_endpoint_vs_moto_requests_per_s']:.2f} requests/s "
          f"(goal ≥ 1); results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
