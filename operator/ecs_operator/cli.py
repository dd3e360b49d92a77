"""The `ecs-operator` command: the operator (`run`), the demo, the local control plane.

The one module that wires the roles together; nothing imports it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def _dev_cluster_up(args: argparse.Namespace) -> int:
    from kubernetes import client, config

    from .devcluster import build
    from .devcluster.controlplane import ControlPlane, ControlPlaneError
    from .devcluster.nodes import NodeGroup, create_node_group

    started = time.monotonic()
    if not build.binaries_ready():
        build.build()
    plane = ControlPlane(Path(args.dir).resolve(), detached=True)
    print(f"starting control plane in {plane.dir} …", flush=True)
    try:
        plane.start(timeout=args.timeout)
        api = client.CoreV1Api(config.new_client_from_config(str(plane.kubeconfig)))
        nodes = create_node_group(api, NodeGroup(cluster=args.group, count=args.nodes))
    except (ControlPlaneError, TimeoutError) as err:
        plane.stop()
        print(f"error: {err}", file=sys.stderr)
        return 1
    except BaseException:
        plane.stop()
        raise
    print(f"ready in {time.monotonic() - started:.1f} s: {len(nodes)} node(s) in group {args.group!r}")
    print(f"  export KUBECONFIG={plane.kubeconfig}")
    print(f"  logs: {plane.log_dir}/    stop: ecs-operator dev-cluster down --dir {args.dir}")
    return 0


def _dev_cluster_down(args: argparse.Namespace) -> int:
    from .devcluster.controlplane import stop_dir

    if stop_dir(Path(args.dir).resolve()):
        print(f"stopped the control plane in {args.dir}")
    else:
        print(f"no control plane running in {args.dir}")
    return 0


def _controlplane_build(args: argparse.Namespace) -> int:
    from .devcluster import build

    build.build(force=args.force)
    return 0


def _run_operator(args: argparse.Namespace) -> int:
    """The operator itself: KUBECONFIG or in-cluster config; all namespaces or the listed ones."""
    # Settings are read from the environment when the controller is imported: set them first.
    if args.region:
        os.environ["ECS_REGION"] = args.region
    if args.account_id:
        os.environ["ECS_ACCOUNT_ID"] = args.account_id
    if args.stopped_task_retention is not None:
        os.environ["ECS_STOPPED_TASK_RETENTION"] = str(args.stopped_task_retention)
    if args.leader_elect:
        os.environ["ECS_LEADER_ELECT"] = "1"
    if args.leader_election_namespace:
        os.environ["ECS_LEADER_ELECTION_NAMESPACE"] = args.leader_election_namespace
    if args.leader_election_id:
        os.environ["ECS_LEADER_ELECTION_ID"] = args.leader_election_id
    from .controller import metrics
    from .controller.main import run

    metrics.serve(args.metrics_bind_address)  # on every replica, leader or not
    return run(tuple(args.namespace or ()), args.log_level, args.liveness)


def _serve_api(args: argparse.Namespace) -> int:
    from .frontends.endpoint.server import Settings, serve

    settings = Settings(credentials_namespace=args.credentials_namespace, workers=args.workers, rate=args.rate,
                        burst=args.burst)
    return serve(args.listen, settings, args.kubeconfig, args.tls_cert_file, args.tls_private_key_file)


def _demo(args: argparse.Namespace) -> int:
    from .devcluster.demo import run_demo

    return run_demo(Path(args.examples), Path(args.dir).resolve(), hold=args.hold, manifests=Path(args.manifests))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ecs-operator", description="Amazon ECS semantics on Kubernetes.")
    verbs = top.add_subparsers(dest="verb", required=True)

    dev = verbs.add_parser("dev-cluster", help="a local Kubernetes control plane with kwok nodes")
    dev_verbs = dev.add_subparsers(dest="action", required=True)
    up = dev_verbs.add_parser("up", help="start it in the background and return once it is ready")
    up.add_argument("--dir", required=True, help="state directory: kubeconfig, logs, pki, etcd data")
    up.add_argument("--nodes", type=int, default=3, help="kwok nodes in the node group (default 3)")
    up.add_argument("--group", default="default", help="ECS cluster whose node group they join")
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for readiness")
    up.set_defaults(func=_dev_cluster_up)
    down = dev_verbs.add_parser("down", help="stop everything started by `up` in DIR")
    down.add_argument("--dir", required=True)
    down.set_defaults(func=_dev_cluster_down)

    run = verbs.add_parser("run", help="run the operator (KUBECONFIG or in-cluster credentials)")
    run.add_argument("--namespace", "-n", action="append", help="watch only this namespace (repeatable); "
                     "default: all namespaces")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    run.add_argument("--region", help="region in ARNs (default us-east-1, or ECS_REGION)")
    run.add_argument("--account-id", help="12-digit account in ARNs (default 000000000000, or ECS_ACCOUNT_ID)")
    run.add_argument("--stopped-task-retention", type=float, default=None,
                     help="seconds a stopped ECSTask labelled ecs.compat.dev/ephemeral=true (kubectl ecs "
                     "run-task) stays describable before it is deleted (default 3600, as ECS)")
    run.add_argument("--liveness", default=None, help="health endpoint, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--metrics-bind-address", default="0",
                     help="serve Prometheus metrics at http://HOST:PORT/metrics, e.g. :8081 (default 0: off)")
    run.add_argument("--leader-elect", action="store_true", default=None,
                     help="run as one of several replicas: act only while holding a coordination.k8s.io "
                     "Lease (or ECS_LEADER_ELECT=1; the chart sets it); timings: ECS_LEASE_DURATION=15, "
                     "ECS_RENEW_DEADLINE=10, ECS_RETRY_PERIOD=2 (seconds)")
    run.add_argument("--leader-election-namespace", default=None,
                     help="namespace of the Lease (default: POD_NAMESPACE, the in-cluster ServiceAccount's, "
                     "else 'default')")
    run.add_argument("--leader-election-id", default=None, help="name of the Lease (default ecs-operator)")
    run.set_defaults(func=_run_operator)

    endpoint = verbs.add_parser("api", help="serve Amazon ECS's HTTP API (aws CLI, boto3, the SDKs) over the "
                                "custom resources (KUBECONFIG or in-cluster credentials)")
    endpoint.add_argument("--listen", default="127.0.0.1:5373", help="HOST:PORT (default 127.0.0.1:5373)")
    endpoint.add_argument("--tls-cert-file", help="serve HTTPS with this certificate (PEM) …")
    endpoint.add_argument("--tls-private-key-file", help="… and this key")
    endpoint.add_argument("--credentials-namespace", default="ecs-system",
                          help="namespace of the access keys, ECSAccessKeys (default ecs-system)")
    endpoint.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG, else in-cluster)")
    endpoint.add_argument("--workers", type=int, default=32, help="requests served at once (default 32)")
    endpoint.add_argument("--rate", type=float, default=50.0,
                          help="requests per second per access key before ThrottlingException (default 50)")
    endpoint.add_argument("--burst", type=float, default=100.0, help="burst above --rate (default 100)")
    endpoint.set_defaults(func=_serve_api)

    demo = verbs.add_parser("demo", help="the main job: operator + example tasks (local control plane unless "
                            "KUBECONFIG is set)")
    demo.add_argument("--examples", default="examples", help="folder with the example task definitions")
    demo.add_argument("--dir", default=".dev-cluster/demo", help="state directory of the local control plane")
    demo.add_argument("--manifests", default="manifests/ecs-operator.yaml",
                      help="the rendered chart, whose ClusterRoles ecs-full-access and ecs-read-only the demo applies")
    demo.add_argument("--hold", action="store_true", help="keep everything running until Ctrl-C")
    demo.set_defaults(func=_demo)

    cp = verbs.add_parser("controlplane", help="build the pinned control-plane binaries into the cache")
    cp.add_argument("--force", action="store_true", help="rebuild even when the cache is complete")
    cp.set_defaults(func=_controlplane_build)
    return top


def _one_line(err: BaseException) -> str:
    """What went wrong and what to do, in one line, for errors a newcomer can meet."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    if isinstance(err, ApiException):
        return (f"the Kubernetes API answered {err.status} {err.reason}; check that KUBECONFIG names a cluster "
                "you may use")
    if isinstance(err, HTTPError):
        return f"cannot reach the Kubernetes API server ({err}); check KUBECONFIG, or unset it for a local one"
    return str(err) or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        # Every failure is one line saying what to do; the traceback is there for the asking.
        if os.environ.get("ECS_OPERATOR_DEBUG"):
            raise
        print(f"error: {_one_line(err)} (ECS_OPERATOR_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
