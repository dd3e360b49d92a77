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
}
# Scenarios whose throughput is their own (a burst): the steady one is bounded by its arrival rate.
BURSTS = ("a", "b", "op1", "op10", "noise")
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
    if "operator" in r and name not in ("a", "b"):
        line += f"; operator {r['operator']['writes_per_task']:.2f} writes/task"
    if r.get("operator_exit") is not None:
        line += f"; the operator EXITED ({r['operator_exit']}) during the scenario"
    if r.get("create_failures"):
        line += f"; {r['create_failures']} create failures, e.g. {r['create_failure_examples'][0]}"
    return line


def controller(name: str, r: dict[str, Any]) -> dict[str, Any]:
    """Who does the ECS work: the client itself in A and B, the operator otherwise."""
    return r.get("client" if name in ("a", "b") else "operator") or {}


def rows_throughput(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["scenario", "tasks", "RUNNING", "seconds", "tasks/s", "÷A", "÷B", "p50 s", "p95 s", "p99 s",
              "Pod p50 s", "lag p50 s", "lag p99 s", "settle s", "other CPU s"]
    rows = []
    for name, r in results["scenarios"].items():
        latency = r.get("latency_s", {})
        rows.append([name, str(r["tasks"]), str(r["tasks_running"]) + ("" if r.get("complete") else "!"),
                     fmt(r["elapsed_s"], 1), fmt(r["throughput_tasks_per_s"], 1), fmt(r.get("ratio_a")),
                     fmt(r.get("ratio_b")), fmt(latency.get("p50")), fmt(latency.get("p95")),
                     fmt(latency.get("p99")), fmt((r.get("pod_latency_s") or {}).get("p50")),
                     fmt((r.get("status_lag_s") or {}).get("p50")), fmt((r.get("status_lag_s") or {}).get("p99")),
                     fmt(r.get("settle_s"), 1),
                     fmt(r.get("machine", {}).get("other_cpu_s"), 1)])
    return header, rows


def rows_requests(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["scenario", "API req/task", "API writes/task", "client req/task", "client writes/task",
              "operator req/task", "operator writes/task", "operator Events/task", "ECS-path writes/task"]
    rows = []
    for name, r in results["scenarios"].items():
        client, operator = r.get("client") or {}, (r.get("operator") or {}) if name not in ("a", "b") else {}
        path_writes = None
        if client:
            path_writes = client["writes_per_task"] + (operator.get("writes_per_task") or 0.0)
        rows.append([name, fmt(r["api_requests_per_task"]), fmt(r["api_writes_per_task"]),
                     fmt(client.get("requests_per_task")), fmt(client.get("writes_per_task")),
                     fmt(operator.get("requests_per_task")), fmt(operator.get("writes_per_task")),
                     fmt(operator.get("events_per_task")), fmt(path_writes)])
    return header, rows


def rows_cpu(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    short = {"kube-apiserver": "apiserver", "kube-scheduler": "scheduler", "kube-controller-manager": "kcm",
             "bench client": "client"}
    header = ["scenario", *[f"{short.get(p, p)} ms" for p in PROCESSES], "RSS idle MiB", "RSS peak MiB",
              "MiB/1k tasks"]
    rows = []
    for name, r in results["scenarios"].items():
        cpu = r.get("cpu_ms_per_task", {})
        rss = r.get("operator_rss") or {}
        rows.append([name, *[fmt(cpu.get(p), 1) for p in PROCESSES], fmt(rss.get("idle_mib"), 1),
                     fmt(rss.get("peak_mib"), 1), fmt(rss.get("per_1000_tasks_mib"), 1)])
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
    return ", ".join(f"{k} {v:.2f}" for k, v in shown) + (f", … ({more} more)" if more > 0 else "")


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
    for name, r in results["scenarios"].items():
        ecs = controller(name, r)
        if ecs.get("requests_by_kind_per_task"):
            who = "client" if name in ("a", "b") else "operator"
            parts.append(f"{name} {who} requests/task: {top_requests(ecs['requests_by_kind_per_task'])}")
    parts += [f"{name}: CPU outside the benchmark, by command: {other_cpu(r)}"
              for name, r in results["scenarios"].items() if r.get("machine", {}).get("other_top")]
    return "\n".join(parts)


def other_cpu(r: dict[str, Any]) -> str:
    return ", ".join(f"{command} {seconds:.1f} s" for command, seconds in r["machine"]["other_top"].items())


def headline(results: dict[str, Any]) -> str:
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
    return "\n".join(lines)


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
        "## Figures",
        "",
        "Throughput and create→RUNNING latency ('!' after RUNNING: not every task got there):",
        "",
        render(*rows_throughput(results), markdown=True),
        "",
        "Requests per task:",
        "",
        render(*rows_requests(results), markdown=True),
        "",
        "CPU milliseconds per task, and the operator's resident memory:",
        "",
        render(*rows_cpu(results), markdown=True),
        "",
        "Headline (the last lines `make bench` prints):",
        "",
        "```",
        headline(results),
        "```",
        "",
        "### Requests per task by verb and resource",
        "",
    ]
    for name, r in results["scenarios"].items():
        lines.append(f"- **{name}** — all clients (apiserver_request_total): "
                     f"{top_requests(r.get('api_requests_by_kind_per_task', {}))}")
        for role in ("client", "operator"):
            counts = (r.get(role) or {}).get("requests_by_kind_per_task")
            if counts:
                lines.append(f"  - {role} (audit log): {top_requests(counts, limit=20)}")
    lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path
