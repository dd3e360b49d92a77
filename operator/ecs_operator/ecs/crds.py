"""Generate the CRDs in crds/ from the pydantic models (`make crds`; `--check` in CI).

pydantic's JSON Schema is not a Kubernetes structural schema: it uses `$ref`/`$defs`, `anyOf`
with `null` for optional fields, `const`, `title`, `additionalProperties: false` and
`propertyNames`. This module inlines references and rewrites those constructs, keeping
descriptions (for `kubectl explain`), bounds, enums, defaults and CEL rules.
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from .accesskeys import AccessKeySpec
from .labels import API_GROUP, API_VERSION
from .models import ClusterSpec, TaskDefinition, TaskSpec
from .services import ServiceSpec, service_root_rules

DROP_KEYS = {"title", "additionalProperties_false", "propertyNames"}


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        extra = {k: v for k, v in node.items() if k != "$ref"}
        target.update(extra)
        return _structural(target, defs)
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"cannot express anyOf with {len(branches)} non-null branches: {node}")
        merged = dict(branches[0])
        merged.update({k: v for k, v in node.items() if k != "anyOf"})
        return _structural(merged, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "propertyNames", "$defs"):
            continue
        if key == "additionalProperties" and value is False:
            continue  # extra="forbid": the apiserver prunes, kubectl's strict validation rejects
        if key == "default" and value is None:
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        if key in ("properties",):
            out[key] = {name: _structural(prop, defs) for name, prop in value.items()}
            continue
        out[key] = _structural(value, defs)
    if out.get("x-kubernetes-int-or-string"):  # a number or a string (ECS's task cpu and memory): no type
        out.pop("type", None)
        out.pop("maxLength", None)
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if out.get("x-kubernetes-preserve-unknown-fields") and "type" not in out:
        out.pop("default", None)
    if "description" in out:
        out["description"] = re.sub(r"\s+", " ", out["description"]).strip()
    return out


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(mode="validation", by_alias=True)
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _structural(raw, defs)
    return schema


def _with_preview_shape(schema: dict[str, Any]) -> dict[str, Any]:
    """Also accept the 2014 preview shape in the CR: `containers` for containerDefinitions, `version`."""
    props = schema["properties"]
    props["containers"] = copy.deepcopy(props["containerDefinitions"])
    props["containers"]["description"] = "The 2014 preview's name for containerDefinitions (read, never written)."
    props["version"] = {
        "type": "string", "maxLength": 255,
        "description": "The 2014 preview's version label of this definition (e.g. a git SHA): shown with the "
                       "revision, and `family:version` resolves to it.",
    }
    schema["required"] = [r for r in schema.get("required", []) if r != "containerDefinitions"]
    rules = []
    for rule in schema.get("x-kubernetes-validations", []):
        text = rule["rule"]
        if "self.containerDefinitions" not in text:
            rules.append(rule)
            continue
        for field in ("containerDefinitions", "containers"):
            rewritten = text.replace("self.containerDefinitions", f"self.{field}")
            rules.append({**rule, "rule": f"!has(self.{field}) || ({rewritten})",
                          "fieldPath": rule.get("fieldPath", "").replace("containerDefinitions", field) or None})
    rules.insert(0, {"rule": "has(self.containerDefinitions) != has(self.containers)",
                     "message": "set containerDefinitions (or the 2014 preview's containers), exactly one"})
    schema["x-kubernetes-validations"] = [{k: v for k, v in r.items() if v is not None} for r in rules]
    return schema


def _status_schema(description: str) -> dict[str, Any]:
    return {"type": "object", "description": description, "x-kubernetes-preserve-unknown-fields": True}


def _crd(kind: str, plural: str, short: list[str], spec: dict[str, Any], status_description: str,
         columns: list[dict[str, Any]], description: str, root_rules: list[dict[str, str]] | None = None
         ) -> dict[str, Any]:
    root: dict[str, Any] = {
        "type": "object",
        "description": description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": _status_schema(status_description),
        },
    }
    if root_rules:
        root["x-kubernetes-validations"] = root_rules
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{API_GROUP}"},
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower(),
                      "shortNames": short, "categories": ["ecs"]},
            "versions": [{
                "name": API_VERSION, "served": True, "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": root},
            }],
        },
    }


def _col(name: str, path: str, type_: str = "string", priority: int = 0) -> dict[str, Any]:
    col: dict[str, Any] = {"name": name, "type": type_, "jsonPath": path}
    if priority:
        col["priority"] = priority
    return col


AGE = _col("Age", ".metadata.creationTimestamp", "date")


def crds() -> dict[str, dict[str, Any]]:
    """File name → CRD manifest."""
    task_definition = _with_preview_shape(model_schema(TaskDefinition))
    task_definition["description"] = (
        "An ECS task definition family. Each distinct spec registers a new immutable revision "
        "(family:1, family:2, …); the shape is ECS's RegisterTaskDefinition input.")
    cluster = model_schema(ClusterSpec)
    task = model_schema(TaskSpec)
    service = model_schema(ServiceSpec)
    return {
        f"{API_GROUP}_ecsclusters.yaml": _crd(
            "ECSCluster", "ecsclusters", ["ecscluster", "ecsc"], cluster,
            "ECS's Cluster shape (clusterArn, status, counts) and the container instances.",
            [_col("Status", ".status.status"),
             _col("Instances", ".status.registeredContainerInstancesCount", "integer"),
             _col("Running", ".status.runningTasksCount", "integer"),
             _col("Pending", ".status.pendingTasksCount", "integer"),
             AGE,
             _col("ARN", ".status.clusterArn", priority=1)],
            "An ECS cluster: its container instances are the Kubernetes nodes its nodeSelector matches.",
        ),
        f"{API_GROUP}_ecstaskdefinitions.yaml": _crd(
            "ECSTaskDefinition", "ecstaskdefinitions", ["ecstd", "taskdef"], task_definition,
            "Revisions with their ARNs and status, the fields Kubernetes ignores, conditions.",
            [_col("Family", ".spec.family"),
             _col("Revision", ".status.latestRevision", "integer"),
             _col("Status", ".status.status"),
             _col("Ready", '.status.conditions[?(@.type=="Ready")].status'),
             AGE,
             _col("ARN", ".status.taskDefinitionArn", priority=1)],
            "An ECS task definition family with immutable revisions.",
            root_rules=[{"rule": "size(self.metadata.name) <= 240",
                         "message": "metadata.name: at most 240 characters (revisions are ConfigMaps "
                                    "named <name>-r<revision>)"}],
        ),
        f"{API_GROUP}_ecstasks.yaml": _crd(
            "ECSTask", "ecstasks", ["ecstask", "ecst"], task,
            "ECS's Task shape for each task (lastStatus, containers, exit codes, stoppedReason), conditions.",
            [_col("Cluster", ".spec.cluster"),
             _col("Task Definition", ".status.taskDefinitionArn"),
             _col("Last Status", ".status.lastStatus"),
             _col("Desired", ".status.desiredStatus"),
             _col("Count", ".spec.count", "integer", priority=1),
             _col("Reason", ".status.stoppedReason", priority=1),
             AGE],
            "A run-task request: count tasks of one task definition revision on one ECS cluster.",
            root_rules=[{"rule": "size(self.metadata.name) <= 56",
                         "message": "metadata.name: at most 56 characters (Pods are named <name>-<index>)"}],
        ),
        f"{API_GROUP}_ecsservices.yaml": _crd(
            "ECSService", "ecsservices", ["ecsservice", "ecssvc"], service,
            "ECS's Service shape (serviceArn, status, counts, deployments with rolloutState, events).",
            [_col("Cluster", ".spec.cluster"),
             _col("Status", ".status.status"),
             _col("Task Definition", ".status.taskDefinition"),
             _col("Desired", ".status.desiredCount", "integer"),
             _col("Running", ".status.runningCount", "integer"),
             _col("Pending", ".status.pendingCount", "integer"),
             _col("Rollout", ".status.deployments[0].rolloutState"),
             AGE],
            "An ECS service: desiredCount tasks (or one per container instance) of a task definition, kept "
            "running and replaced by rolling deployments.",
            root_rules=service_root_rules(),
        ),
        f"{API_GROUP}_ecsaccesskeys.yaml": _access_key_crd(),
    }


def _access_key_crd() -> dict[str, Any]:
    crd = _crd(
        "ECSAccessKey", "ecsaccesskeys", ["ecsak"], model_schema(AccessKeySpec), "Unused.",
        [_col("User", ".spec.userName"), _col("Namespace", ".spec.namespace"), _col("Status", ".spec.status"),
         _col("Access Key Id", ".spec.accessKeyId"), AGE],
        "An access key of the ECS endpoint (kubectl ecs create-access-key): readable by the endpoint alone.")
    version = crd["spec"]["versions"][0]
    version.pop("subresources")
    version["schema"]["openAPIV3Schema"]["properties"].pop("status")
    crd["spec"]["names"].pop("categories")  # not in `kubectl get ecs`: tenants may not read them
    return crd


def render(manifest: dict[str, Any]) -> str:
    header = "# Generated by `make crds` from operator/ecs_operator/ecs/models.py: do not edit.\n"
    return header + yaml.safe_dump(manifest, sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    out_dirs = [Path(a) for a in args if not a.startswith("--")] or [Path("crds")]
    stale = []
    for out_dir in out_dirs:  # crds/ and the Helm chart's crds/: the same files
        for name, manifest in crds().items():
            path = out_dir / name
            text = render(manifest)
            if check:
                if not path.exists() or path.read_text() != text:
                    stale.append(str(path))
            else:
                out_dir.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                print(f"wrote {path}")
    if stale:
        print(f"CRDs are stale (run `make crds`): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
