"""Tables, plot, headline and docs/benchmarks.md from the results of bench/bench.py (a results.json)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

TITLES = {
    "a": "Kubernetes floor: the translated Pods created directly (no operator)",
    "b": "the irreducible ECS writes from a plain client: ECSTask, Pod, one status write (no operator)",
    "op1": "the operator, a burst of N ECSTasks of count 1",
    "op10": "the operator, a burst of N/10 ECSTasks of count 10",
    "steady": "the operator at a steady arrival rate",
    "noise": "the operator, a burst of N ECSTasks of count 1 beside unrelated Pods in another namespace",
    "rs": "baseline of svc: a ReplicaSet of the service task's Pod (restartPolicy Always) scaled 0 → N",
    "svc": "the operator, an ECSService scaled from desiredCount 0 to N",
    "deploy": "baseline of roll: a Deployment of N/2 replicas (maxSurge 100%, maxUnavailable 0) whose template "
              "changes",
    "roll": "the operator, a rolling update of an ECSService of N/2 tasks (min 100 / max 200) to revision 2",
}
# Scenarios whose throughput is their own (a burst): the steady one is bounded by its arrival rate.
BURSTS = ("a", "b", "op1", "op10", "noise")
# The services and the baseline each is compared with (measured in the same run).
SERVICE_SCENARIOS = ("rs", "svc", "deploy", "roll")
BASELINES = {"rs": "rs", "svc": "rs", "deploy": "deploy", "roll": "deploy"}
# Scenarios without the operator: the client (or Kubernetes' own controllers) does the work.
NO_OPERATOR = ("a", "b", "rs", "deploy")
# The operator's writes for a service task, by kind (audit log "verb resource"), as the Services table shows them.
SERVICE_WRITES = (("create ecstasks", "ECSTask creates"), ("create pods", "Pod creates"),
                  ("update ecstasks/status", "ECSTask status"), ("update ecsservices/status", "service status"),
                  ("patch ecstasks", "ECSTask stops"), ("delete pods", "Pod deletes"), ("create events", "Events"))
PROCESSES = ("kube-apiserver", "etcd", "kube-scheduler", "kube-controller-manager", "kwok", "operator",
             "bench client")


def add_ratios(results: dict[str, Any]) -> None:
    """Each burst's throughput as a fraction of A's and of B's, both measured in the same run."""
    scenarios = results["scenarios"]
    for name, result in scenarios.items():
        for base in ("a", "b"):
            reference = scenarios.get(base, {}).get("throughput_tasks_per_s")
            mine = result.get("throughput_tasks_per_s")
            result[f"ratio_{base}"] = (mine / reference if name in BURSTS and reference and mine is not None
                                       else None)
        if name in BASELINES:  # svc against rs, roll against deploy: tasks/s, so deploy s ÷ roll s for a rollout
            reference = scenarios.get(BASELINES[name], {}).get("throughput_tasks_per_s")
            mine = result.get("throughput_tasks_per_s")
            result["ratio_baseline"] = mine / reference if reference and mine is not None else None


def fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def one_line(name: str, r: dict[str, Any]) -> str:
    latency = r.get("latency_s", {})
    state = "" if r.get("complete") else " (INCOMPLETE)"
    line = (f"{name}: {r['tasks_running']}/{r['tasks']} tasks RUNNING in {r['elapsed_s']:.1f} s = "
            f"{r['throughput_tasks_per_s']:.1f} tasks/s{state}; latency p50 {fmt(latency.get('p50'))} s "
            f"p99 {fmt(latency.get('p99'))} s; {r['api_requests_per_task']:.1f} API requests/task")
    if "operator" in r and name not in NO_OPERATOR:
        line += f"; operator {r['operator']['writes_per_task']:.2f} writes/task"
    if "service_status_writes_per_task" in r:
        line += f" (service status {r['service_status_writes_per_task']:.3f})"
    if r.get("task_created_s"):
        line += (f"; ECSTasks created by the service after p50 {fmt(r['task_created_s'].get('p50'))} s, "
                 f"max {fmt(r['task_created_s'].get('max'))} s")
    if name in BASELINES and name != BASELINES[name]:
        line += f"; ÷{BASELINES[name]} {fmt(r.get('ratio_baseline'))}"
    if r.get("completed_s") is not None:
        line += f"; rollout completed in {r['completed_s']:.1f} s (all new RUNNING at {r['all_new_running_s']:.1f} s)"
    if r.get("operator_errors"):
        line += f"; {r['operator_errors']} operator ERROR lines, e.g. {r['operator_error_examples'][0][:200]}"
    if r.get("operator_exit") is not None:
        line += f"; the operator EXITED ({r['operator_exit']}) during the scenario"
    if r.get("create_failures"):
        line += f"; {r['create_failures']} create failures, e.g. {r['create_failure_examples'][0]}"
    return line


def controller(name: str, r: dict[str, Any]) -> dict[str, Any]:
    """Who does the ECS work: the client itself in A and B (the baselines: Kubernetes' controllers, not
    audited), the operator otherwise."""
    return r.get("client" if name in NO_OPERATOR else "operator") or {}


def chosen(results: dict[str, Any], names: tuple[str, ...] | None) -> list[tuple[str, dict[str, Any]]]:
    return [(n, r) for n, r in results["scenarios"].items() if names is None or n in names]


def rows_throughput(results: dict[str, Any], names: tuple[str, ...] | None = None
                    ) -> tuple[list[str], list[list[str]]]:
    scenarios = chosen(results, names)
    services = any(n in BASELINES for n, _ in scenarios)
    header = ["scenario", "tasks", "RUNNING", "seconds", "tasks/s", "÷A", "÷B", *(["÷base"] if services else []),
              "p50 s", "p95 s", "p99 s", "Pod p50 s", "lag p50 s", "lag p99 s", "settle s", "other CPU s"]
    rows = []
    for name, r in scenarios:
        latency = r.get("latency_s", {})
        rows.append([name, str(r["tasks"]), str(r["tasks_running"]) + ("" if r.get("complete") else "!"),
                     fmt(r["elapsed_s"], 1), fmt(r["throughput_tasks_per_s"], 1), fmt(r.get("ratio_a")),
                     fmt(r.get("ratio_b")), *([fmt(r.get("ratio_baseline"))] if services else []),
                     fmt(latency.get("p50")), fmt(latency.get("p95")),
                     fmt(latency.get("p99")), fmt((r.get("pod_latency_s") or {}).get("p50")),
                     fmt((r.get("status_lag_s") or {}).get("p50")), fmt((r.get("status_lag_s") or {}).get("p99")),
                     fmt(r.get("settle_s"), 1),
                     fmt(r.get("machine", {}).get("other_cpu_s"), 1)])
    return header, rows


def rows_requests(results: dict[str, Any], names: tuple[str, ...] | None = None
                  ) -> tuple[list[str], list[list[str]]]:
    header = ["scenario", "API req/task", "API writes/task", "client req/task", "client writes/task",
              "operator req/task", "operator writes/task", "operator Events/task", "ECS-path writes/task"]
    rows = []
    for name, r in chosen(results, names):
        client, operator = r.get("client") or {}, (r.get("operator") or {}) if name not in NO_OPERATOR else {}
        path_writes = None
        if client and name not in BASELINES.values():  # rs, deploy: kube-controller-manager's, not audited
            path_writes = client["writes_per_task"] + (operator.get("writes_per_task") or 0.0)
        rows.append([name, fmt(r["api_requests_per_task"]), fmt(r["api_writes_per_task"]),
                     fmt(client.get("requests_per_task")), fmt(client.get("writes_per_task")),
                     fmt(operator.get("requests_per_task")), fmt(operator.get("writes_per_task")),
                     fmt(operator.get("events_per_task")), fmt(path_writes)])
    return header, rows


def rows_cpu(results: dict[str, Any], names: tuple[str, ...] | None = None) -> tuple[list[str], list[list[str]]]:
    short = {"kube-apiserver": "apiserver", "kube-scheduler": "scheduler", "kube-controller-manager": "kcm",
             "bench client": "client"}
    header = ["scenario", *[f"{short.get(p, p)} ms" for p in PROCESSES], "RSS idle MiB", "RSS peak MiB",
              "MiB/1k tasks"]
    rows = []
    for name, r in chosen(results, names):
        cpu = r.get("cpu_ms_per_task", {})
        rss = r.get("operator_rss") or {}
        rows.append([name, *[fmt(cpu.get(p), 1) for p in PROCESSES], fmt(rss.get("idle_mib"), 1),
                     fmt(rss.get("peak_mib"), 1), fmt(rss.get("per_1000_tasks_mib"), 1)])
    return header, rows


def rows_time(results: dict[str, Any], names: tuple[str, ...] | None = None) -> tuple[list[str], list[list[str]]]:
    """Where a task's create→RUNNING goes: waiting for its Pod, the Pod to Running, the status after;
    and, from the operator's /metrics, its task reconciles and their mean waits."""
    header = ["scenario", "Pod wait p50 s", "Pod wait p99 s", "Pod Running p99 s", "lag p99 s", "reconciles/task",
              "queue wait ms", "reconcile ms", "create Pod ms", "status write ms"]
    rows = []
    for name, r in chosen(results, names):
        if not r.get("pod_wait_s") or name in BASELINES:
            continue
        work = r.get("operator_work") or {}
        rows.append([name, fmt(r["pod_wait_s"].get("p50")), fmt(r["pod_wait_s"].get("p99")),
                     fmt((r.get("pod_latency_s") or {}).get("p99")), fmt((r.get("status_lag_s") or {}).get("p99")),
                     fmt(work.get("reconciles_per_task")), fmt(work.get("queue_wait_ms"), 1),
                     fmt(work.get("reconcile_ms"), 1), fmt(work.get("create_pod_ms"), 1),
                     fmt(work.get("update_status_ms"), 1)])
    return header, rows


def rows_burst(results: dict[str, Any], names: tuple[str, ...] | None = None) -> tuple[list[str], list[list[str]]]:
    """A burst's arrivals against its service: the client's creates per second, the system's RUNNING
    per second, and the tasks not yet RUNNING when the last create returned (the tail waits behind
    them); its p99 beside A's, whose client floods the same Pods straight into Kubernetes."""
    header = ["scenario", "client creates/s", "creates over s", "RUNNING tasks/s", "not RUNNING at last create",
              "p99 s", "p99 ÷ A p99", "client's create ms", "Pod create ms"]
    a_p99 = ((results["scenarios"].get("a") or {}).get("latency_s") or {}).get("p99")
    rows = []
    for name, r in chosen(results, names):
        if "arrivals_per_s" not in r or name in BASELINES:
            continue
        p99 = (r.get("latency_s") or {}).get("p99")
        # the apiserver's time (audit log: received → response complete) for the client's first
        # create, and for the Pod creates, whoever makes them: the client (A, B) or the operator
        client_took = (r.get("client") or {}).get("apiserver_ms_by_kind") or {}
        pods_took = client_took if name in NO_OPERATOR else (r.get("operator") or {}).get("apiserver_ms_by_kind") or {}
        first = "create pods" if name == "a" else "create ecstasks"
        rows.append([name, fmt(r["arrivals_per_s"], 1), fmt(r["created_in_s"], 1),
                     fmt(r["throughput_tasks_per_s"], 1), str(r["backlog_at_last_create"]), fmt(p99),
                     fmt(p99 / a_p99 if p99 and a_p99 else None), fmt(client_took.get(first), 1),
                     fmt(pods_took.get("create pods"), 1)])
    return header, rows


def rows_services(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The services beside their baselines: time, ratio, and the operator's writes per service task by kind."""
    header = ["scenario", "tasks", "RUNNING", "seconds", "tasks/s", "÷base", "p50 s", "p99 s", "API writes/task",
              "operator writes/task", *[label for _, label in SERVICE_WRITES], "operator errors"]
    rows = []
    for name, r in chosen(results, SERVICE_SCENARIOS):
        latency = r.get("latency_s", {})
        kinds = r.get("operator_writes_by_kind_per_task") or {}
        operated = name not in NO_OPERATOR
        rows.append([name, str(r["tasks"]), str(r["tasks_running"]) + ("" if r.get("complete") else "!"),
                     fmt(r["elapsed_s"], 1), fmt(r["throughput_tasks_per_s"], 1), fmt(r.get("ratio_baseline")),
                     fmt(latency.get("p50")), fmt(latency.get("p99")), fmt(r["api_writes_per_task"]),
                     fmt((r.get("operator") or {}).get("writes_per_task")) if operated else "—",
                     *[fmt(kinds.get(kind, 0.0), 3) if operated else "—" for kind, _ in SERVICE_WRITES],
                     str(r.get("operator_errors", 0)) if operated else "—"])
    return header, rows


def render(header: list[str], rows: list[list[str]], markdown: bool = False) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def top_requests(counts: dict[str, float], limit: int = 12) -> str:
    shown = [(k, v) for k, v in counts.items() if v >= 0.005][:limit]  # what rounds to 0.00 says nothing
    more = len(counts) - len(shown)
    text = ", ".join(f"{k} {v:.2f}" for k, v in shown)
    if more > 0:  # (rs's client: one scale patch for 1,000 tasks, nothing shown)
        text = f"{text}, … ({more} more)" if text else f"{more} kind{'s' * (more > 1)} under 0.005 each"
    return text


def tables(results: dict[str, Any]) -> str:
    if not results["scenarios"]:
        return "(no scenario ran)"
    parts = [
        "Throughput and create→RUNNING latency (÷A, ÷B: tasks/s as a fraction of A's and B's in this run; "
        "'!' = not all RUNNING; Pod p50: create → the task's Pod Running; lag: Pod Running → the ECSTask shows "
        "RUNNING; settle s: window after the last RUNNING until task writes stopped; other CPU s: CPU used on the "
        "machine outside the benchmark's processes)",
        render(*rows_throughput(results)),
        "",
        "Requests per task (API: every apiserver request, from apiserver_request_total; client and operator: "
        "their own, from the audit log; ECS-path writes: client + operator)",
        render(*rows_requests(results)),
        "",
        "CPU milliseconds per task, and the operator's resident memory",
        render(*rows_cpu(results)),
        "",
    ]
    if rows_time(results)[1]:
        parts += ["Where the time goes (create→Pod seen, Pod→Running, Running→RUNNING; the operator's reconciles)",
                  render(*rows_time(results)), ""]
    if rows_burst(results, BURSTS)[1]:
        parts += ["The burst: the client's creates against the tasks RUNNING per second",
                  render(*rows_burst(results, BURSTS)), ""]
    if any(n in BASELINES for n in results["scenarios"]):
        parts += [
            "Services (÷base: tasks/s against rs for svc, against deploy for roll; for a rolling update seconds "
            "and tasks/s run to the rollout's end; operator writes per service task, by kind; the baselines' "
            "writes are kube-controller-manager's, in API writes/task only)",
            render(*rows_services(results)),
            "",
        ]
    for name, r in results["scenarios"].items():
        ecs = controller(name, r)
        if ecs.get("requests_by_kind_per_task"):
            who = "client" if name in NO_OPERATOR else "operator"
            parts.append(f"{name} {who} requests/task: {top_requests(ecs['requests_by_kind_per_task'])}")
    parts += [f"{name}: CPU outside the benchmark, by command: {other_cpu(r)}"
              for name, r in results["scenarios"].items() if r.get("machine", {}).get("other_top")]
    return "\n".join(parts)


def other_cpu(r: dict[str, Any]) -> str:
    return ", ".join(f"{command} {seconds:.1f} s" for command, seconds in r["machine"]["other_top"].items())


def headline(results: dict[str, Any]) -> str:
    """The last lines printed: the default scenarios' figures if any ran, then the services' if any ran."""
    s = results["scenarios"]
    lines = []
    if any(n not in BASELINES for n in s) or not s:
        lines += headline_default(results)
    if any(n in BASELINES for n in s):
        lines += headline_services(results)
    return "\n".join(lines)


def headline_services(results: dict[str, Any]) -> list[str]:
    s = results["scenarios"]

    def value(name: str, key: str, digits: int = 2) -> str:
        return fmt(s.get(name, {}).get(key), digits)

    def writes(name: str) -> str:
        return fmt((s.get(name, {}).get("operator") or {}).get("writes_per_task"))

    return [
        f"services tasks/s: rs={value('rs', 'throughput_tasks_per_s', 1)} "
        f"svc={value('svc', 'throughput_tasks_per_s', 1)}"
        f"  rollout s: deploy={value('deploy', 'completed_s', 1)} roll={value('roll', 'completed_s', 1)}"
        f"  healthy after: {fmt(results['settings'].get('healthy_after_s'), 0)} s (ECS: 40 s)",
        f"svc_ratio_rs={value('svc', 'ratio_baseline')} roll_ratio_deploy={value('roll', 'ratio_baseline')} "
        f"svc_operator_writes_per_task={writes('svc')} "
        f"svc_service_status_writes_per_task={value('svc', 'service_status_writes_per_task', 3)} "
        f"roll_operator_writes_per_task={writes('roll')}",
    ]


def headline_default(results: dict[str, Any]) -> list[str]:
    s = results["scenarios"]

    def tput(name: str) -> str:
        return fmt(s[name]["throughput_tasks_per_s"], 1) if name in s else "—"

    def ratio(name: str, base: str) -> str:
        return fmt(s.get(name, {}).get(f"ratio_{base}"))

    steady = s.get("steady", {}).get("latency_s", {})
    operated = [n for n in ("op1", "op10", "steady", "noise") if n in s]
    lines = [
        f"tasks/s: A={tput('a')} B={tput('b')} op1={tput('op1')} op10={tput('op10')} noise={tput('noise')}  "
        f"steady p50={fmt(steady.get('p50'))} s p95={fmt(steady.get('p95'))} s p99={fmt(steady.get('p99'))} s",
        "operator writes/task: " + "  ".join(
            f"{n}={fmt((s[n].get('operator') or {}).get('writes_per_task'))}" for n in operated)
        + "  RSS MiB/1k tasks: " + "  ".join(
            f"{n}={fmt((s[n].get('operator_rss') or {}).get('per_1000_tasks_mib'), 1)}" for n in operated),
        f"op10_ratio_A={ratio('op10', 'a')} op10_ratio_B={ratio('op10', 'b')} "
        f"noise_ratio_A={ratio('noise', 'a')}",
        f"ratio_A={ratio('op1', 'a')} ratio_B={ratio('op1', 'b')}",
    ]
    return lines


def plot(results: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (cdf, rate) = plt.subplots(1, 2, figsize=(14, 5.5))
    for name, r in results["scenarios"].items():
        latencies = r.get("latencies_s") or []
        if latencies:
            ys = [(i + 1) / len(latencies) for i in range(len(latencies))]
            cdf.step([max(x, 1e-3) for x in latencies], ys, where="post", label=f"{name} (p99 "
                     f"{fmt(r['latency_s'].get('p99'))} s)")
        series = r.get("running_per_second") or []
        if series:
            rate.stairs(series, range(len(series) + 1),
                        label=f"{name} ({fmt(r['throughput_tasks_per_s'], 1)} tasks/s)")
    cdf.set_xscale("log")
    cdf.set_xlabel("create → RUNNING latency (s, log scale)")
    cdf.set_ylabel("fraction of tasks")
    cdf.set_title("Latency distribution (CDF)")
    cdf.grid(True, which="both", alpha=0.3)
    cdf.legend(fontsize=8)
    rate.set_xlabel("seconds since the first create")
    rate.set_ylabel("tasks reaching RUNNING per second")
    rate.set_title("Throughput over time (1 s buckets)")
    rate.grid(True, alpha=0.3)
    rate.legend(fontsize=8)
    settings = results["settings"]
    figure.suptitle(f"ECS path vs Kubernetes floor — {settings['tasks']} tasks, {settings['nodes']} kwok nodes, "
                    f"{results['machine']['nproc']} CPUs, commit {results['versions']['git_commit']}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


METHOD = """\
Each scenario runs in a fresh namespace on the project's own local control plane (etcd,
kube-apiserver, kube-scheduler, kube-controller-manager, kwok standing in for the kubelets); the
namespace is deleted, and gone, before the next scenario starts.

- **a**, Kubernetes floor: the Pods the translation produces (`task_pod`, built as the operator
  builds them), created directly by a plain client (8 threads); done when a watch sees every Pod
  Running. No operator.
- **b**, the irreducible writes of any operator of this API shape, from a plain client: create the
  ECSTask, create its Pod (8 threads), and when the client's Pod watch sees the Pod Running, one
  status write on the ECSTask (8 more threads). No operator.
- **op1**, the operator (`ecs-operator run --namespace NS`): the client creates N ECSTasks of
  count 1 (8 threads); done when a watch on ecstasks sees every `status.lastStatus` and
  `status.tasks[].lastStatus` RUNNING.
- **op10**: the same with N/10 ECSTasks of count 10 (N tasks, N Pods).
- **steady**: the operator at a fixed arrival rate (creates paced by the clock, 8 threads).
- **noise**: op1 while unrelated single-container Pods (created first, all Running) live in
  another namespace.

- **tasks/s**: tasks RUNNING ÷ (last RUNNING − first create call). **÷A, ÷B**: a scenario's tasks/s
  divided by A's and B's from the same run (bursts only; steady is bounded by its arrival rate).
- **Latency**: create call returned → the watch first saw the task RUNNING (per ECS task; for
  op10 per task record). **Pod p50**: create call returned → a Pod watch first saw the task's Pod
  Running; **lag**: the task's Pod Running → its ECSTask record RUNNING (status reporting).
- **API req/task**: delta of kube-apiserver's `apiserver_request_total` over the scenario, all
  clients (scheduler, kwok, controllers, operator, benchmark), per task. Writes: POST, PUT, PATCH,
  DELETE.
- **client / operator req/task**: from the apiserver's audit log, which records the
  ServiceAccounts of namespace `ecs-system`: the operator runs as one with exactly the chart's
  ClusterRole rules, the benchmark client as another; a request counts once and only if it was
  received inside the scenario's window. Events/task: the operator's Event writes.
- **ECS-path writes/task**: client writes + operator writes (A: the Pod; B: ECSTask, Pod, status).
- **CPU ms/task**: utime+stime deltas from /proc of each process over the window. **other CPU s**:
  machine CPU used outside the benchmark's processes in the window (another job on the machine, some
  kernel work); a run where it is large is slower than the code.
- **Operator RSS**: idle = after start-up and registration, before any task; peak = the highest
  0.5 s sample in the scenario; MiB/1k tasks = (RSS with the scenario's tasks alive − idle) per 1,000 tasks.
- **settle s**: the window goes on after the last RUNNING until neither the operator nor the client
  has written anything about tasks (all but ECSCluster status) for 2.5 s, at least 3 s and at most
  60 s: writes and Events the operator still has queued are part of its cost per task.
"""


def write_docs(results: dict[str, Any], path: Path) -> Path:
    m, v, st = results["machine"], results["versions"], results["settings"]
    definition = st["task_definition"]
    containers = ", ".join(
        f"{c['name']} ({c['cpu']} CPU units, {c['memory']} MiB, containerPort "
        f"{c['portMappings'][0]['containerPort']}" + (f", links {', '.join(c['links'])}" if c.get("links") else "")
        + ")" for c in definition["containerDefinitions"])
    shape = st["node_shape"]
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by bench/bench.py from a results.json; regenerate with",
        "     .venv/bin/python bench/bench.py --write-docs bench/results/<stamp>/results.json -->",
        "",
        "How fast the ECS path is, what it costs the API server per task, and how it compares with the",
        "Kubernetes floor (A) and with the least any operator of this API shape must write (B), all",
        "measured in one run on one machine. Run it with `make bench` (`TASKS=N`, default 1000;",
        "`DOCS=1` also rewrites this file; `BENCH_ARGS=...` passes more flags) or",
        "`.venv/bin/python bench/bench.py --help`.",
        "",
        "## Method",
        "",
        METHOD,
        "## This run",
        "",
        f"- Command: `{results['command']}`",
        f"- Started {results['started_at']}, finished {results.get('finished_at', '—')}; "
        f"commit {v['git_commit']}",
        f"- Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB memory, kernel {m['kernel']}",
        f"- Versions: Kubernetes {v['kubernetes']}, kwok {v['kwok']}, etcd {v['etcd']}, kopf {v['kopf']}, "
        f"kubernetes Python client {v['kubernetes_python_client']}, Python {v['python']}",
        f"- Settings: kube-scheduler client QPS {st['scheduler_qps']} / burst {st['scheduler_burst']}; "
        f"{st['nodes']} kwok nodes in {st['node_groups']} node groups (one per ECSCluster), each "
        f"{shape['cpu']} CPU, {shape['memory']}, {shape['pods']} pods; {st['client_threads']} client threads; "
        f"N = {st['tasks']} tasks; steady {st['steady_rate']:g} tasks/s for {st['steady_seconds']:g} s; "
        f"{st['noise_pods']} noise Pods; settle ≥ {st['settle_s']:g} s (quiet {st.get('quiet_s', 0):g} s, "
        f"≤ {st.get('settle_max_s', st['settle_s']):g} s); operator log level "
        f"{st['operator_log_level']}",
        f"- Task definition `{definition['family']}`: {containers}",
        "",
    ]
    main = tuple(n for n in results["scenarios"] if n not in SERVICE_SCENARIOS)
    if main:
        lines += [
            "## Figures",
            "",
            "Throughput and create→RUNNING latency ('!' after RUNNING: not every task got there):",
            "",
            render(*rows_throughput(results, main), markdown=True),
            "",
            "Requests per task:",
            "",
            render(*rows_requests(results, main), markdown=True),
            "",
            "CPU milliseconds per task, and the operator's resident memory:",
            "",
            render(*rows_cpu(results, main), markdown=True),
            "",
            "Where a task's time goes: its ECSTask created → its Pod first seen (Pod wait: the operator's "
            "queue), → the Pod Running, → the ECSTask RUNNING (lag); and from the operator's `/metrics`: "
            "task reconciles per task, and the mean wait in its work queue, reconcile, Pod create and "
            "status write:",
            "",
            render(*rows_time(results, main), markdown=True),
            "",
            "The burst's arrivals against its service: how fast the client's creates came (all of them "
            "at once, from 8 threads), how fast tasks became RUNNING, and how many were not RUNNING yet "
            "when the last create returned; the tail of a burst waits behind those. A's client floods "
            "the Pods straight into Kubernetes; B's makes two writes per task before its next, so its "
            "creates come no faster than the tasks they start; the operator's scenarios' client, one "
            "write per task, like A's. The last two columns: the apiserver's mean time (audit log, "
            "received → response complete) for the client's create, and for the Pod creates (the "
            "client's in A and B, the operator's otherwise):",
            "",
            render(*rows_burst(results, BURSTS), markdown=True),
            "",
            "Headline (the last lines `make bench` prints):",
            "",
            "```",
            "\n".join(headline_default(results)),
            "```",
            "",
            "### Requests per task by verb and resource",
            "",
            *requests_by_kind(results, main),
            "",
        ]
    if any(n in SERVICE_SCENARIOS for n in results["scenarios"]):
        lines += services_section(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def requests_by_kind(results: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    lines = []
    for name, r in chosen(results, names):
        lines.append(f"- **{name}** — all clients (apiserver_request_total): "
                     f"{top_requests(r.get('api_requests_by_kind_per_task', {}))}")
        for role in ("client", "operator"):
            counts = (r.get(role) or {}).get("requests_by_kind_per_task")
            if counts:
                lines.append(f"  - {role} (audit log): {top_requests(counts, limit=20)}")
    return lines


SERVICES_METHOD = """\
ECS services: an `ECSService` (CreateService's shape) reconciled by the operator's service
scheduler, each service task an ECSTask of count 1 whose Pod the ECSTask reconciler creates; each
scenario beside the same Pods driven by Kubernetes' own controller in the same run. Not part of
`make bench`: `make bench-services` (`bench/bench.py --tasks 1000 --scenarios rs,svc,deploy,roll`);
this file from both runs: `bench/bench.py --write-docs MAIN/results.json,SERVICES/results.json`.

- **rs**, baseline of svc: a ReplicaSet whose Pod template is the Pod the operator builds for a
  service task (task definition `bench` translated, with the service's group and ECS's default
  spread over instances), except **restartPolicy Always, which a ReplicaSet requires** (the
  operator's Pods have Never: ECS replaces a stopped task, never restarts it); created with 0
  replicas, then scaled to N; done when a watch sees N Pods Running.
- **svc**: an ECSService with desiredCount 0 (steady), patched to desiredCount N; done when a watch
  on its ECSTasks (label `ecs.compat.dev/service`) sees N RUNNING. The measured window then goes on
  until the service reports its steady state (its last status write), then settles.
- **deploy**, baseline of roll: a Deployment of N/2 replicas of the same Pod, RollingUpdate with
  maxSurge 100% and maxUnavailable 0 (ECS's minimumHealthyPercent 100 / maximumPercent 200) and
  minReadySeconds the healthy delay below; once available, its template becomes revision 2's Pod
  (one environment variable more); done when updatedReplicas = availableReplicas = replicas = N/2
  and every old Pod is gone.
- **roll**: an ECSService of N/2 tasks (min 100 / max 200), steady; revision 2 of the task
  definition registered (its ECSTaskDefinition's spec patched); then the service's taskDefinition
  set to `bench:2`; done when its one deployment is COMPLETED with N/2 RUNNING tasks of revision 2
  and every old task STOPPED.
- **Healthy**: a task without a health check counts as healthy a fixed delay after it is RUNNING
  (the operator's `ECS_SERVICE_HEALTHY_AFTER`; **ECS's default is 40 s**), and the Deployment's
  minReadySeconds is the same delay: both sides wait the same.
- A service runs in one ECS cluster: its tasks, and the baselines' Pods, on that cluster's node
  group alone.
- **seconds**: the scale or update call → the last task RUNNING (rs, svc), or → the rollout's end
  (deploy, roll). **tasks/s**: N (rollouts: the N/2 tasks replaced) ÷ seconds. **÷base**: tasks/s ÷
  the baseline's in the same run (svc ÷ rs; roll ÷ deploy, i.e. deploy's seconds ÷ roll's).
  **Latency**: the call → each task (Pod) RUNNING.
- **operator writes/task**: the operator's writes (audit log) ÷ the service tasks started (roll:
  ÷ the tasks replaced), and by kind: ECSTask creates, Pod creates, ECSTask status writes, service
  status writes (counts are written at most once a second: batched, so a fraction per task),
  ECSTask stops, Pod deletes, Events. The baselines' writes are kube-controller-manager's (not
  audited): in API writes/task only.
- The window of svc runs on to the service's steady state, the healthy delay after the last
  RUNNING: its CPU per task includes that wait, which rs does not have.
"""


def services_section(results: dict[str, Any]) -> list[str]:
    """docs/benchmarks.md's Services section: the services beside their baselines."""
    st = results["settings"]
    lines = ["## Services", "", SERVICES_METHOD]
    run = next((r for r in results.get("other_runs", []) if set(r["scenarios"]) & set(SERVICE_SCENARIOS)), None)
    if run is not None:  # measured in a run of their own
        st = run["settings"]
        lines += [f"- Run: `{run['command']}`, started {run['started_at']}, finished {run.get('finished_at', '—')}; "
                  f"commit {run['versions']['git_commit']}"]
    shape = st["node_shape"]
    lines += [
        f"- Settings: N = {st['tasks']}; healthy after {fmt(st.get('healthy_after_s'), 0)} s (ECS: 40 s), "
        f"minReadySeconds the same; service cluster {st.get('service_cluster', '—')} on "
        f"{st.get('service_cluster_nodes', '—')} of {st['nodes']} kwok nodes, each {shape['cpu']} CPU, "
        f"{shape['memory']}, {shape['pods']} pods; revision 2: {st.get('revision_2_change', '—')}",
        "",
        render(*rows_services(results), markdown=True),
        "",
        "Throughput and latency (the columns of the Figures' table), and CPU milliseconds per task:",
        "",
        render(*rows_throughput(results, SERVICE_SCENARIOS), markdown=True),
        "",
        render(*rows_cpu(results, SERVICE_SCENARIOS), markdown=True),
        "",
        "```",
        "\n".join(headline_services(results)),
        "```",
        "",
        *requests_by_kind(results, SERVICE_SCENARIOS),
        "",
    ]
    return lines


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several results.json as one for the docs (`make bench`'s, then the services run's): the first
    run's header and settings; every run's scenarios; the other runs' headers under `other_runs`."""
    if len(runs) == 1:
        return runs[0]
    merged = {**runs[0], "scenarios": dict(runs[0]["scenarios"]), "other_runs": []}
    for run in runs[1:]:
        merged["other_runs"].append({**{k: v for k, v in run.items() if k != "scenarios"},
                                     "scenarios": list(run["scenarios"])})
        merged["scenarios"].update(run["scenarios"])
    return merged
