"""`kubectl ecs` (console script `kubectl-ecs`): the `aws ecs` verbs, on Kubernetes.

Every verb works through the custom resources only (what it does, `kubectl apply` could do too)
and prints what the aws CLI prints: the same top-level keys and ECS shapes, as JSON (default),
YAML or a table. Errors are ECS's (`An error occurred (ClusterNotFoundException) …`) with exit
status 254, as the aws CLI's.

`convert` is the offline window onto the translation: ECS JSON in, the ECSTaskDefinition
custom resource (and with --pod, the Pod one task of it becomes on a cluster named `default`)
out, as a multi-document YAML stream, like `kompose convert` or `helm template`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from typing import Any, NoReturn

import yaml

from .ecs.errors import InvalidInput
from .ecs.models import ClusterSpec, TaskSpec
from .ecs.normalize import NormalizedTaskDefinition, parse_task_definition
from .ecs.translate import ClusterRef, TaskRef, task_pod
from .labels import API_GROUP, API_VERSION

OFFLINE_NAMESPACE = "default"
OFFLINE_CLUSTER = "default"
# Offline, nothing has a uid yet: derive a stable one so the output is reproducible.
OFFLINE_UID_NAMESPACE = uuid.UUID("2b0e4a44-9c1c-5d2e-9a55-1f0d0c7e6a01")


class UsageError(Exception):
    pass


def read_cli_input(value: str) -> Any:
    """`file://path`, `file://-` or `-` (stdin), or the JSON text itself, as the aws CLI takes it."""
    if value in ("-", "file://-"):
        text = sys.stdin.read()
    elif value.startswith("file://"):
        path = value.removeprefix("file://")
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as err:
            raise UsageError(f"cannot read {path}: {err.strerror}") from None
    else:
        text = value
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"--cli-input-json is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}")\
            from None


def resource_name(family: str) -> str:
    """A Kubernetes object name for an ECS family (families allow '_' and capitals)."""
    name = re.sub(r"[^a-z0-9-]", "-", family.lower()).strip("-")[:56].strip("-")
    return name or "task-definition"


def task_definition_resource(normalized: NormalizedTaskDefinition, namespace: str | None = None) -> dict[str, Any]:
    spec = normalized.definition.dump()
    if normalized.version is not None:
        spec["version"] = normalized.version
    metadata: dict[str, Any] = {"name": resource_name(normalized.definition.family)}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ECSTaskDefinition", "metadata": metadata,
            "spec": spec}


def convert(args: argparse.Namespace) -> int:
    normalized = parse_task_definition(read_cli_input(args.cli_input_json))
    resource = task_definition_resource(normalized)
    documents = [resource]
    if args.pod:
        family = normalized.definition.family
        task = TaskRef(name=resource["metadata"]["name"], namespace=OFFLINE_NAMESPACE,
                       uid=str(uuid.uuid5(OFFLINE_UID_NAMESPACE, family)))
        documents.append(task_pod(normalized.definition, 1, TaskSpec(taskDefinition=family),
                                  ClusterRef(OFFLINE_CLUSTER, ClusterSpec()), task))
    ignored = normalized.definition.ignored_fields()
    header = ""
    if ignored:
        header = "# accepted, but not used on Kubernetes: " + ", ".join(ignored) + "\n"
    sys.stdout.write(header + yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kubectl ecs", description="The aws ecs verbs, on Kubernetes.")
    verbs = top.add_subparsers(dest="verb", required=True)
    from .plugin_verbs import add_verbs

    add_verbs(verbs)
    conv = verbs.add_parser("convert", help="print the custom resource (and with --pod, the Pod) for ECS JSON, "
                                            "with no cluster")
    conv.add_argument("--cli-input-json", required=True, metavar="file://PATH",
                      help="a RegisterTaskDefinition input, describe-task-definition output, or the 2014 "
                           "preview shape; file://-  or - reads stdin")
    conv.add_argument("--pod", action="store_true", help="also print the Pod of one task on cluster 'default'")
    conv.set_defaults(func=convert)
    return top


def _fail(message: str) -> NoReturn:
    sys.stderr.write(message.rstrip() + "\n")
    raise SystemExit(1)


def main(argv: list[str] | None = None) -> int:
    from .plugin_verbs import EcsError

    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except InvalidInput as err:
        if args.verb != "convert":
            sys.stderr.write(f"\nAn error occurred (ClientException) when calling the {args.operation} operation: "
                             + "; ".join(err.problems) + "\n")
            raise SystemExit(254) from None
        _fail("An error occurred (ClientException) when calling the RegisterTaskDefinition operation:\n"
              + "\n".join(f"  {problem}" for problem in err.problems))
    except EcsError as err:
        sys.stderr.write(f"\nAn error occurred ({err.code}) when calling the {args.operation} operation: {err}\n")
        raise SystemExit(254) from None
    except UsageError as err:
        _fail(f"error: {err}")


if __name__ == "__main__":
    raise SystemExit(main())
