"""Bad input, from every side a user has: refused or marked, and nothing half-created.

Every validation rule gets one invalid resource (the table of tests/unit/test_models.py), sent as
`kubectl apply` YAML and as ECS JSON through `kubectl ecs register-task-definition`. The apiserver
refuses what the CRD's schema and CEL rules can see, naming the field; what only the operator's
model can see (cycles, port clashes across containers, names Kubernetes cannot take, …) is
stored, then marked Ready=False with the field named and a Warning Event. Either way no revision
ConfigMap and no Pod may appear. Invalid run-task requests (ECSTask) get the same treatment.

The fuzz test feeds the CRD's own spec schema (hypothesis-jsonschema) and mutations of valid task
definitions to the real apiserver and operator, and classifies every case: refused at admission,
registered, or refused by the operator. A case left without a condition is a stuck handler; a
Traceback in the operator's log is a crash. ECS_FUZZ_CASES sets the number of cases (default 40;
`make fuzz` runs 1000), ECS_FUZZ_SEED replays a run.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import time
import types
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from kubernetes.client.exceptions import ApiException

from ecs_operator.ecs.errors import InvalidInput
from ecs_operator.ecs.labels import API_GROUP, API_VERSION
from ecs_operator.ecs.normalize import parse_task_definition
from ecs_operator.ecs.translate import label_value
from ecs_operator.frontends import kubectl as plugin
from tests.helpers import wait_for
from tests.integration.test_reconcilers import Ecs
from tests.integration.test_translation_cluster import task_definitions
from tests.realworld import AWS_CONTAINER_FIELDS, AWS_TASK_FIELDS
from tests.unit.test_models import INVALID, VALID, c

pytestmark = pytest.mark.controlplane

REPO = Path(__file__).resolve().parents[2]
TD_LABEL = f"{API_GROUP}/task-definition"
DEREGISTER_ANNOTATION = f"{API_GROUP}/deregistered-revisions"
FUZZ_CASES = int(os.environ.get("ECS_FUZZ_CASES", "40"))


@pytest.fixture
def ecs(kube, namespace, operator_process) -> Ecs:
    return Ecs(kube, namespace)


# --------------------------------------------------------------------------- what a user sees


def ready(obj: dict[str, Any]) -> dict[str, Any] | None:
    return next((x for x in (obj.get("status") or {}).get("conditions", []) if x.get("type") == "Ready"), None)


def listed(ecs: Ecs, plural: str) -> dict[str, dict[str, Any]]:
    items = ecs.custom.list_namespaced_custom_object(API_GROUP, API_VERSION, ecs.namespace, plural)["items"]
    return {o["metadata"]["name"]: o for o in items}


def warnings(ecs: Ecs, reason: str) -> dict[str, list[str]]:
    """Warning Events with `reason` in the namespace, by the name of the object they are about."""
    found: dict[str, list[str]] = {}
    for event in ecs.kube.core.list_namespaced_event(ecs.namespace).items:
        if event.type == "Warning" and event.reason == reason:
            found.setdefault(event.involved_object.name, []).append(event.message or "")
    return found


def created(ecs: Ecs) -> list[str]:
    """Revision ConfigMaps and Pods in the namespace: what a refused request must never leave behind."""
    maps = ecs.kube.core.list_namespaced_config_map(ecs.namespace, label_selector=TD_LABEL).items
    pods = ecs.kube.core.list_namespaced_pod(ecs.namespace).items
    return [f"ConfigMap/{m.metadata.name}" for m in maps] + [f"Pod/{p.metadata.name}" for p in pods]


def settle(probe: Callable[[], set[str]], timeout: float, interval: float = 1.0) -> set[str]:
    """Poll `probe` (the names still pending) until it is empty or `timeout` has passed; the rest."""
    deadline = time.monotonic() + timeout
    pending = probe()
    while pending and time.monotonic() < deadline:
        time.sleep(interval)
        pending = probe()
    return pending


def resource(kind: str, name: str, spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": kind, "metadata": {"name": name}, "spec": spec}


def apply_all(kubectl, namespace: str, documents: list[dict[str, Any]]) -> list[Any]:
    """`kubectl apply` of each document on its own (each answer is the user's), a few at a time."""
    def apply(document: dict[str, Any]) -> Any:
        return kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document, sort_keys=False))

    with ThreadPoolExecutor(3) as pool:
        return list(pool.map(apply, documents))


# --------------------------------------------------------------------------- the corpus: one case per rule

# Where the apiserver's answer names the field in its own way (a CEL rule on the enclosing list, a
# cross-field rule reported on networkMode, a shape the CRD does not have), the words it must show.
# Every other refusal must name `spec.<the field the model names>`.
ADMISSION_SAYS: dict[str, list[str]] = {
    "name-unique": ["spec.containerDefinitions", "container names must be unique"],
    "memory-required": ["spec.containerDefinitions", "each container needs memory or memoryReservation"],
    "host-mode-hostPort-differs": ["spec.networkMode", "hostPort must equal containerPort"],
    "awsvpc-mode-hostPort-differs": ["spec.networkMode", "hostPort must equal containerPort"],
    "none-mode-portMappings": ["spec.networkMode", "portMappings: not allowed in network mode none"],
    "links-awsvpc": ["spec.networkMode", "links: only allowed in bridge network mode"],
    "links-host": ["spec.networkMode", "links: only allowed in bridge network mode"],
    "links-unknown-container": ["spec.containerDefinitions", "links: must name a container of this task definition"],
    "links-self": ["spec.containerDefinitions[0].links", "a container cannot link to itself"],
    "dependsOn-unknown": ["spec.containerDefinitions", "dependsOn: containerName must name a container"],
    "dependsOn-self": ["spec.containerDefinitions[0].dependsOn", "a container cannot depend on itself"],
    "mountPoints-unknown-volume": ["spec.containerDefinitions", "mountPoints: sourceVolume must name a volume"],
    "volumesFrom-unknown-container": ["spec.containerDefinitions",
                                      "volumesFrom: sourceContainer must name a container"],
    "input-not-object": ["spec: Invalid value", "must be of type object"],
    "containerDefinitions-required": ["spec: Invalid value", "set containerDefinitions (or the 2014 preview's "
                                                             "containers), exactly one"],
    "preview-and-current-shape": ["spec: Invalid value", "set containerDefinitions (or the 2014 preview's "
                                                         "containers), exactly one"],
    "describe-output-invalid": ['unknown field "spec.taskDefinition"'],  # the aws CLI's wrapper is no CR shape
    "preview-shape-invalid": ["spec.containers", "container names must be unique"],
}


def model_field(expected: str) -> str:
    """'containerDefinitions[0].cpu: Input should be …' → 'containerDefinitions[0].cpu'."""
    return expected.split(": ", 1)[0]


def admission_words(rule: str, expected: str) -> list[str]:
    return ADMISSION_SAYS.get(rule, [f"spec.{model_field(expected)}"])


CORPUS = [(f"{i:03d}-{rule.lower()}"[:63].rstrip("-"), rule, document, expected)
          for i, (rule, document, expected) in enumerate(INVALID)]


def test_every_invalid_task_definition_applied_as_yaml_is_refused_or_marked_and_nothing_is_created(ecs, kubectl):
    results = apply_all(kubectl, ecs.namespace, [resource("ECSTaskDefinition", name, document)
                                                 for name, _, document, _ in CORPUS])
    problems: list[str] = []
    accepted: dict[str, tuple[str, str]] = {}  # name → (rule, what the model says)
    for (name, rule, _, expected), result in zip(CORPUS, results, strict=True):
        if result.returncode == 0:
            accepted[name] = (rule, expected)
            continue
        missing = [words for words in admission_words(rule, expected) if words not in result.stderr]
        if missing:
            problems.append(f"{rule}: refused at admission without naming the field {missing}: {result.stderr!r}")

    # Everything the apiserver took must be marked by the operator; nothing it refused was stored.
    stored: dict[str, dict[str, Any]] = {}

    def unmarked() -> set[str]:
        stored.clear()
        stored.update(listed(ecs, "ecstaskdefinitions"))
        return {n for n in accepted if not ready(stored.get(n, {}))}

    for name in sorted(settle(unmarked, timeout=60)):
        problems.append(f"{accepted[name][0]}: accepted by the apiserver, then no Ready condition (stuck handler)")
    if set(stored) != set(accepted):
        problems.append(f"stored {sorted(set(stored) - set(accepted))} though kubectl apply failed for them")
    for name, (rule, expected) in sorted(accepted.items()):
        condition = ready(stored.get(name, {}))
        if condition is None:
            continue
        if condition["status"] != "False" or condition["reason"] != "InvalidTaskDefinition":
            problems.append(f"{rule}: neither the CRD nor the operator refused it: Ready={condition}")
        elif expected not in condition["message"]:
            problems.append(f"{rule}: the condition does not say {expected!r}: {condition['message']!r}")
        if (stored[name].get("status") or {}).get("latestRevision"):
            problems.append(f"{rule}: a revision was registered")

    def without_event() -> set[str]:
        events = warnings(ecs, "InvalidTaskDefinition")
        return {n for n, (_, expected) in accepted.items() if not any(expected in m for m in events.get(n, []))}

    for name in sorted(settle(without_event, timeout=30)):
        problems.append(f"{accepted[name][0]}: no Warning Event InvalidTaskDefinition saying {accepted[name][1]!r}")
    leftovers = created(ecs)
    if leftovers:
        problems.append(f"half-created: {leftovers}")
    print(f"\ncorpus (kubectl apply): rules={len(CORPUS)} refused_at_admission={len(CORPUS) - len(accepted)} "
          f"marked_by_operator={len(accepted)}")
    assert not problems, "\n".join(problems)
    assert accepted, "the corpus has rules only the operator's model checks: some cases must reach it"


def run_plugin(capsys, *argv: str) -> tuple[int | str | None, str, str]:
    capsys.readouterr()
    try:
        code: int | str | None = plugin.main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def test_every_invalid_task_definition_sent_through_the_plugin_exits_254_naming_the_field(
        kube, namespace, operator_process, capsys, tmp_path):
    ecs = Ecs(kube, namespace)
    problems: list[str] = []
    for i, (rule, document, expected) in enumerate(INVALID):
        path = tmp_path / f"{i:03d}.json"
        path.write_text(json.dumps(document))
        try:
            code, out, err = run_plugin(capsys, "register-task-definition", "--cli-input-json", f"file://{path}",
                                        "--kubeconfig", str(kube.kubeconfig), "--namespace", namespace)
        except Exception as crash:  # a traceback is what the user would see
            problems.append(f"{rule}: the plugin crashed: {crash!r}")
            continue
        if code != 254:
            problems.append(f"{rule}: exit status {code!r}, not 254; stderr {err!r}")
        if "An error occurred (ClientException) when calling the RegisterTaskDefinition operation" not in err:
            problems.append(f"{rule}: not an ECS ClientException: {err!r}")
        if expected not in err:
            problems.append(f"{rule}: stderr does not name the field ({expected!r}): {err!r}")
        if out:
            problems.append(f"{rule}: printed {out!r} on stdout")
    stored = listed(ecs, "ecstaskdefinitions")
    if stored:
        problems.append(f"ECSTaskDefinitions created: {sorted(stored)}")
    if created(ecs):
        problems.append(f"half-created: {created(ecs)}")
    assert not problems, "\n".join(problems)


def test_malformed_json_in_plugin_arguments_is_a_usage_error_naming_the_argument(
        kube, namespace, operator_process, capsys):
    """The aws CLI says `Error parsing parameter '--container-definitions': Invalid JSON`; no traceback."""
    ecs = Ecs(kube, namespace)
    ecs.create("ecsclusters", "ECSCluster", "main", {})
    ecs.task_definition({"family": "web", "containerDefinitions": [c("web")]})
    base = ["--kubeconfig", str(kube.kubeconfig), "--namespace", namespace]
    calls = {
        "--container-definitions": ["register-task-definition", "--family", "bad",
                                    "--container-definitions", '[{"name": "a",'],
        "--overrides": ["run-task", "--cluster", "main", "--task-definition", "web", "--overrides", "{containerOv"],
        "--placement-constraints": ["run-task", "--cluster", "main", "--task-definition", "web",
                                    "--placement-constraints", "[{'type': 'memberOf'}]"],
    }
    problems = []
    for argument, argv in calls.items():
        try:
            code, _, err = run_plugin(capsys, *argv, *base)
        except Exception as crash:
            problems.append(f"{argument}: the plugin crashed with {type(crash).__name__}: {crash}")
            continue
        if code in (0, None) or argument not in err or "Traceback" in err:
            problems.append(f"{argument}: exit {code!r}, stderr {err!r}")
    assert not listed(ecs, "ecstasks") and not [p for p in created(ecs) if p.startswith("Pod/")]
    assert not problems, "\n".join(problems)


def test_a_task_definition_named_at_the_length_limit_is_registered_or_refused_never_stuck(ecs, operator_process):
    """Kubernetes names may have 253 characters; the revision ConfigMap `<name>-r<N>` then cannot be named."""
    name = "n" * 253
    log_start = operator_process.stat().st_size
    try:
        ecs.create("ecstaskdefinitions", "ECSTaskDefinition", name,
                   {"family": "longname", "containerDefinitions": [c("web")]})
    except ApiException as err:  # a CRD rule on metadata.name (as ECSTask has) is a fine answer too
        assert err.status == 422 and "metadata.name" in err.body, err.body
        return
    try:
        pending = settle(lambda: set() if ready(ecs.get("ecstaskdefinitions", name)) else {name}, timeout=20)
        condition = ready(ecs.get("ecstaskdefinitions", name))
    finally:  # a handler failing in a loop must not go on logging into the tests that follow
        ecs.custom.delete_namespaced_custom_object(API_GROUP, API_VERSION, ecs.namespace, "ecstaskdefinitions", name)
        wait_for(lambda: name not in listed(ecs, "ecstaskdefinitions"), what="the long-named definition deleted")
    log = operator_process.read_text(errors="replace")[log_start:]
    errors = [line[:200] for line in log.splitlines() if " ERROR " in line]
    refusals = [m[-160:] for m in re.findall(r'"message":"((?:[^"\\]|\\.)*)"', log)]
    assert not pending, (f"a task definition named with 253 characters has no Ready condition after 20 s; the "
                         f"operator logged {log.count('Traceback')} tracebacks, the first {errors[:1]}, "
                         f"the apiserver said {refusals[:1]}")
    assert condition and (condition["status"] == "True" or "metadata.name" in condition["message"]), condition
    assert "Traceback" not in log, errors


# --------------------------------------------------------------------------- run-task (ECSTask)

RUN_TASK_ADMISSION: dict[str, tuple[dict[str, Any], list[str]]] = {
    "count-eleven": ({"cluster": "main", "taskDefinition": "web", "count": 11},
                     ["spec.count", "less than or equal to 10"]),
    "count-zero": ({"cluster": "main", "taskDefinition": "web", "count": 0},
                   ["spec.count", "greater than or equal to 1"]),
    "reference-revision-zero": ({"cluster": "main", "taskDefinition": "web:0"}, ["spec.taskDefinition", "match"]),
    "reference-with-space": ({"cluster": "main", "taskDefinition": "my web"}, ["spec.taskDefinition", "match"]),
    "reference-two-colons": ({"cluster": "main", "taskDefinition": "web:1:2"}, ["spec.taskDefinition", "match"]),
    "desired-status-pending": ({"cluster": "main", "taskDefinition": "web", "desiredStatus": "PENDING"},
                               ["spec.desiredStatus", "Unsupported value"]),
    "unknown-field": ({"cluster": "main", "taskDefinition": "web", "launchTyp": "EC2"},
                      ['unknown field "spec.launchTyp"']),
    "name-" + "x" * 52: ({"cluster": "main", "taskDefinition": "web"}, ["metadata.name", "at most 56 characters"]),
}

# name → (spec, Ready reason and Warning Event reason, what the condition must say)
RUN_TASK_MARKED: dict[str, tuple[dict[str, Any], str, str]] = {
    "overrides-unknown-container": (
        {"cluster": "main", "taskDefinition": "web", "overrides": {"containerOverrides": [{"name": "nope"}]}},
        "TaskRefused", "overrides.containerOverrides[0].name: no container named 'nope'"),
    "overrides-invalid-task-cpu": (
        {"cluster": "main", "taskDefinition": "web", "overrides": {"cpu": "fast"}},
        "TaskRefused", "taskDefinition.cpu: cpu 'fast' must be CPU units"),
    "inactive-revision": ({"cluster": "main", "taskDefinition": "old:1"},
                          "TaskRefused", "taskDefinition: TaskDefinition is inactive"),
    "unknown-revision": ({"cluster": "main", "taskDefinition": "web:7"},
                         "TaskRefused", "taskDefinition: Unable to describe task definition web:7"),
    "missing-cluster": ({"cluster": "nowhere", "taskDefinition": "web"},
                        "Unresolved", "ClusterNotFoundException: cluster 'nowhere' not found"),
    "unknown-family": ({"cluster": "main", "taskDefinition": "nosuchfamily"},
                       "Unresolved", "no family 'nosuchfamily'"),
    "refused-task-definition": ({"cluster": "main", "taskDefinition": "cycle"},
                                "Unresolved", "family 'cycle' has no registered revision"),
}


def test_invalid_run_task_requests_are_refused_or_marked_and_no_pod_is_created(ecs, kubectl):
    ecs.create("ecsclusters", "ECSCluster", "main", {})  # no nodes: a Pod that slipped through would stay Pending
    ecs.task_definition({"family": "web", "containerDefinitions": [c("web")]})
    ecs.task_definition({"family": "old", "containerDefinitions": [c("old")]})
    ecs.patch("ecstaskdefinitions", "old", {"metadata": {"annotations": {DEREGISTER_ANNOTATION: "1"}}})
    wait_for(lambda: ecs.get("ecstaskdefinitions", "old")["status"]["revisions"][0]["status"] == "INACTIVE",
             what="old:1 INACTIVE")
    ecs.create("ecstaskdefinitions", "ECSTaskDefinition", "cycle", {"family": "cycle", "containerDefinitions": [
        c("a", links=["b"]), c("b", links=["a"])]})
    wait_for(lambda: ready(ecs.get("ecstaskdefinitions", "cycle")), what="the cycle refused")

    cases = [(name, spec) for name, (spec, _) in RUN_TASK_ADMISSION.items()]
    cases += [(name, spec) for name, (spec, _, _) in RUN_TASK_MARKED.items()]
    results = dict(zip([n for n, _ in cases], apply_all(kubectl, ecs.namespace, [
        resource("ECSTask", name, spec) for name, spec in cases]), strict=True))
    problems: list[str] = []
    for name, (_, words) in RUN_TASK_ADMISSION.items():
        result = results[name]
        if result.returncode == 0:
            problems.append(f"{name}: accepted by the apiserver")
        elif missing := [w for w in words if w not in result.stderr]:
            problems.append(f"{name}: refused without {missing}: {result.stderr!r}")
    for name in RUN_TASK_MARKED:
        if results[name].returncode != 0:
            problems.append(f"{name}: refused at admission, expected the operator to mark it: {results[name].stderr}")

    tasks: dict[str, dict[str, Any]] = {}

    def unmarked() -> set[str]:
        tasks.clear()
        tasks.update(listed(ecs, "ecstasks"))
        return {n for n in RUN_TASK_MARKED if not ready(tasks.get(n, {}))}

    problems += [f"{n}: no Ready condition (stuck handler)" for n in sorted(settle(unmarked, timeout=60))]
    if stray := set(tasks) - set(RUN_TASK_MARKED):
        problems.append(f"stored though refused at admission: {sorted(stray)}")
    for name, (_, reason, words) in RUN_TASK_MARKED.items():
        status = tasks.get(name, {}).get("status") or {}
        condition = ready(tasks.get(name, {}))
        if condition is None:
            continue
        if (condition["status"], condition["reason"]) != ("False", reason) or words not in condition["message"]:
            problems.append(f"{name}: expected Ready=False {reason} saying {words!r}, got {condition}")
        if reason == "TaskRefused" and not any(words in f.get("detail", "") for f in status.get("failures", [])):
            problems.append(f"{name}: status.failures does not say {words!r}: {status.get('failures')}")
        if status.get("resolved") or status.get("tasks"):
            problems.append(f"{name}: resolved into tasks: {status.get('tasks')}")

    def without_event() -> set[str]:
        events = {reason: warnings(ecs, reason) for reason in ("TaskRefused", "Unresolved")}
        return {n for n, (_, reason, words) in RUN_TASK_MARKED.items()
                if not any(words in m for m in events[reason].get(n, []))}

    problems += [f"{n}: no Warning Event {RUN_TASK_MARKED[n][1]}" for n in sorted(settle(without_event, 30))]
    if pods := [p for p in created(ecs) if p.startswith("Pod/")]:
        problems.append(f"Pods created for refused tasks: {pods}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- fuzz: inputs

CRD_SPEC = yaml.safe_load((REPO / "crds" / "ecs.compat.dev_ecstaskdefinitions.yaml").read_text())[
    "spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
MAX_STRING, MAX_ITEMS = 16, 3


def bounded(schema: Any) -> Any:
    """A copy of a CRD schema for generating from: no x-kubernetes-* keys (a bare preserve-unknown-fields
    becomes "anything"), no descriptions, strings and lists kept short, and objects closed, as a
    structural schema is (Strict field validation refuses unknown fields; the mutations add those)."""
    if isinstance(schema, list):
        return [bounded(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: bounded(value) for key, value in schema.items()
           if not key.startswith("x-kubernetes-") and key != "description"}
    if "properties" in schema:
        out["properties"] = {name: bounded(value) for name, value in schema["properties"].items()}
        out.setdefault("additionalProperties", False)
    if out.get("type") == "string":
        out["maxLength"] = min(out.get("maxLength", MAX_STRING), MAX_STRING)
    if out.get("type") == "array":
        out["maxItems"] = min(out.get("maxItems", MAX_ITEMS), MAX_ITEMS)
    return out


def schema_specs() -> st.SearchStrategy[dict[str, Any]]:
    """Specs drawn from the CRD's schema: as it stands, and with what the model needs to look deeper
    (containerDefinitions rather than the preview's containers, memory on every container)."""
    from hypothesis_jsonschema import from_schema

    raw = bounded(CRD_SPEC)
    deeper = copy.deepcopy(raw)
    deeper["properties"].pop("containers")
    deeper["required"] = ["family", "containerDefinitions"]
    deeper["properties"]["containerDefinitions"]["items"]["required"] = ["name", "image", "memory"]
    return st.one_of(from_schema(raw), from_schema(deeper))


class _ManyWithMore:
    """hypothesis-jsonschema 0.23.1 drives hypothesis's private `many` with `.more()`, which
    hypothesis 6.17x replaced by a context manager and an iterator: the old calls, on the new API."""

    def __init__(self, *args: Any, **kwargs: Any):
        from hypothesis.internal.conjecture import utils

        self._many = utils.many(*args, **kwargs)
        self._many.__enter__()
        self._elements = iter(self._many)

    def more(self) -> bool:
        if next(self._elements, StopIteration) is StopIteration:
            self._many.__exit__(None, None, None)
            return False
        return True

    def reject(self, why: str | None = None) -> None:
        self._many.reject(why)


def _jsonschema_on_this_hypothesis(monkeypatch: pytest.MonkeyPatch) -> None:
    import hypothesis_jsonschema._from_schema as from_schema_module
    from hypothesis.internal.conjecture import utils

    if not hasattr(utils.many, "more"):
        monkeypatch.setattr(from_schema_module, "cu", types.SimpleNamespace(many=_ManyWithMore))


# Mutations of valid task definitions: each takes `draw` and a spec and returns the changed spec.
ODD_VALUES: list[Any] = [None, True, False, 0, -1, 1.5, "", " ", "x", "0", [], {}, [1], {"a": 1}, [None], "\x00",
                         "é", "\U0001f600", "a" * 5000]
OUT_OF_RANGE: list[Any] = [-1, 0, 5, 65536, 262145, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63,
                           -(2**63) - 1, 10**30, 0.5, 1e300]
UNKNOWN_KEYS = ["memoryLimit", "Name", "", " ", "status", "metadata", "apiVersion", "containerDefinition",
                "x-kubernetes-foo", "$ref", "__proto__", "名前"]
TASK_SIZES = ["0", "-1", "1 vCPU", "0.1 vcpu", "1e9", "NaN", "inf", " 256 ", "1024.9999", "9" * 32, "1,024", "2 gb",
              "0.0001 GB", "1 TB", "½", "0x400", "1_024"]
ODD_STRINGS = ["", " ", "a b", "\x00", "é", "\U0001f600", "-", "_", "\n", "a:b", "A" * 300, "../..", "*", "web"]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `value` (not the root itself)."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        found.append((*prefix, key))
        found += _paths(item, (*prefix, key))
    return found


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _pick(draw, doc: dict[str, Any], keep: Callable[[Any], bool] = lambda _: True) -> tuple[Any, ...] | None:
    paths = [p for p in _paths(doc) if keep(_at(doc, p))]
    return draw(st.sampled_from(paths)) if paths else None


def _containers(doc: dict[str, Any]) -> list[Any]:
    found = doc.get("containerDefinitions", doc.get("containers"))
    return found if isinstance(found, list) else []


def drop_container(draw, doc):
    if cs := _containers(doc):
        del cs[draw(st.integers(0, len(cs) - 1))]
    return doc


def duplicate_container(draw, doc):
    if cs := _containers(doc):
        twin = copy.deepcopy(draw(st.sampled_from(cs)))
        if isinstance(twin, dict) and isinstance(twin.get("name"), str):
            twin["name"] = draw(st.sampled_from([twin["name"], twin["name"].upper(), twin["name"] + "_2",
                                                 twin["name"].replace("-", "_"), twin["name"] + "2"]))
        cs.append(twin)
    return doc


def swap_type(draw, doc):
    if path := _pick(draw, doc):
        current = _at(doc, path)
        _at(doc, path[:-1])[path[-1]] = draw(st.sampled_from([v for v in ODD_VALUES if type(v) is not type(current)]))
    return doc


def out_of_range(draw, doc):
    path = _pick(draw, doc, lambda v: isinstance(v, int | float) and not isinstance(v, bool))
    if path is None and (cs := _containers(doc)) and isinstance(cs[0], dict):
        field = draw(st.sampled_from(["cpu", "memory", "memoryReservation", "stopTimeout"]))
        cs[0][field] = 1
        path = ("containerDefinitions" if "containerDefinitions" in doc else "containers", 0, field)
    if path is not None:
        _at(doc, path[:-1])[path[-1]] = draw(st.sampled_from(OUT_OF_RANGE))
    return doc


def unknown_field(draw, doc):
    path = _pick(draw, doc, lambda v: isinstance(v, dict))
    target = _at(doc, path) if path and draw(st.booleans()) else doc
    key = draw(st.sampled_from(UNKNOWN_KEYS) | st.text(max_size=10))
    target[key] = draw(st.sampled_from(ODD_VALUES))
    return doc


def delete_field(draw, doc):
    path = _pick(draw, doc) if draw(st.booleans()) else (draw(st.sampled_from(list(doc))),) if doc else None
    if path:
        del _at(doc, path[:-1])[path[-1]]
    return doc


def null_field(draw, doc):
    if path := _pick(draw, doc):
        _at(doc, path[:-1])[path[-1]] = None
    return doc


def odd_string(draw, doc):
    if path := _pick(draw, doc, lambda v: isinstance(v, str)):
        _at(doc, path[:-1])[path[-1]] = draw(st.sampled_from(ODD_STRINGS))
    return doc


def task_size(draw, doc):
    doc[draw(st.sampled_from(["cpu", "memory"]))] = draw(st.sampled_from(TASK_SIZES))
    return doc


def preview_shape(draw, doc):
    if "containerDefinitions" in doc:
        doc["containers"] = doc.pop("containerDefinitions")
        doc["version"] = draw(st.sampled_from(["1", "9a56714", "", "v" * 256, 7, None, ["x"]]))
    return doc


def cross_reference(draw, doc):
    """links / dependsOn / volumesFrom / mountPoints between containers, to names that may not exist."""
    cs = [x for x in _containers(doc) if isinstance(x, dict)]
    if not cs:
        return doc
    names = [x.get("name") for x in cs if isinstance(x.get("name"), str)] + ["ghost", "data"]
    source, target = draw(st.sampled_from(cs)), draw(st.sampled_from(names))
    kind = draw(st.sampled_from(["links", "dependsOn", "volumesFrom", "mountPoints"]))
    if kind == "links":
        source.setdefault("links", []).append(draw(st.sampled_from([target, f"{target}:alias", f"{target}:my_db"])))
    elif kind == "dependsOn":
        condition = draw(st.sampled_from(["START", "COMPLETE", "SUCCESS", "HEALTHY"]))
        source.setdefault("dependsOn", []).append({"containerName": target, "condition": condition})
    elif kind == "volumesFrom":
        source.setdefault("volumesFrom", []).append({"sourceContainer": target})
    else:
        if draw(st.booleans()):
            doc.setdefault("volumes", []).append({"name": target})
        source.setdefault("mountPoints", []).append({"sourceVolume": target, "containerPath": "/data"})
    return doc


def port_clash(draw, doc):
    cs = [x for x in _containers(doc) if isinstance(x, dict)]
    if cs:
        port = draw(st.sampled_from([80, 8080, 53]))
        mapping = {"containerPort": port, "hostPort": draw(st.sampled_from([0, port, 8080]))}
        for container in draw(st.lists(st.sampled_from(cs), min_size=1, max_size=2)):
            container.setdefault("portMappings", []).append(dict(mapping))
    return doc


def aws_reference(draw, doc):
    """A field that refers to AWS, on a container or the task, with a good or an odd value."""
    cs = [x for x in _containers(doc) if isinstance(x, dict)]
    if cs and draw(st.booleans()):
        field = draw(st.sampled_from(sorted(AWS_CONTAINER_FIELDS)))
        draw(st.sampled_from(cs))[field] = copy.deepcopy(draw(st.sampled_from(AWS_CONTAINER_FIELDS[field])))
    else:
        field = draw(st.sampled_from(sorted(AWS_TASK_FIELDS)))
        doc[field] = copy.deepcopy(draw(st.sampled_from(AWS_TASK_FIELDS[field])))
    return doc


MUTATIONS = [drop_container, duplicate_container, swap_type, out_of_range, unknown_field, delete_field,
             null_field, odd_string, task_size, preview_shape, cross_reference, port_clash, aws_reference]
EXAMPLES = [json.loads(p.read_text()) for p in sorted((REPO / "examples").glob("*.json"))]
VALID_SPECS = [doc for _, doc in VALID if "taskDefinition" not in doc] + EXAMPLES  # CR-shaped ones


@st.composite
def mutated_specs(draw) -> dict[str, Any]:
    """A valid task definition, changed by up to three mutations (none: it must register)."""
    doc = copy.deepcopy(draw(st.sampled_from(VALID_SPECS) | task_definitions()))
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), max_size=3)):
        doc = mutation(draw, doc)
    return doc


def fuzz_inputs(count: int, seed: int) -> list[dict[str, Any]]:
    drawn: list[dict[str, Any]] = []
    strategy = schema_specs() | mutated_specs()

    @hypothesis_seed(seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def collect(data):
        if len(drawn) < count:
            drawn.append(data.draw(strategy))

    collect()
    return drawn


# --------------------------------------------------------------------------- fuzz: the run


def operator_pids(log: Path) -> list[int]:
    """Processes whose stdout is the operator's log: the `ecs-operator run` the fixture started."""
    pids = []
    for fd in Path("/proc").glob("[0-9]*/fd/1"):
        try:
            if os.readlink(fd) == str(log):
                pids.append(int(fd.parts[2]))
        except OSError:
            continue
    return pids


def local_verdict(spec: Any) -> str:
    """What the operator's model says of a stored spec: 'valid', or the condition message it must show."""
    try:
        parse_task_definition(spec)
    except InvalidInput as err:
        return "; ".join(err.problems)
    except Exception as err:  # the operator would crash on it the same way
        return f"the model crashed: {type(err).__name__}: {err}"
    return "valid"


def test_fuzz_task_definitions_are_classified_and_the_operator_survives(ecs, operator_process, monkeypatch):
    _jsonschema_on_this_hypothesis(monkeypatch)
    seed = int(os.environ.get("ECS_FUZZ_SEED") or random.randrange(2**32))
    print(f"\nfuzz: seed={seed} (ECS_FUZZ_SEED={seed} replays these inputs)")
    inputs = fuzz_inputs(FUZZ_CASES, seed)
    log = operator_process
    watched = log != Path("/dev/null")
    log_start = log.stat().st_size if watched else 0
    pids = operator_pids(log) if watched else []

    outcome: dict[str, str] = {}  # name → refused_at_admission | registered | refused_by_operator
    stored: dict[str, dict[str, Any]] = {}  # name → the object the apiserver stored
    problems: list[str] = []

    def create(item: tuple[int, dict[str, Any]]) -> None:
        i, spec = item
        name = f"fz-{i:04d}"
        if isinstance(spec.get("family"), str):
            # One resource per family (a second one is refused as FamilyTaken): keep cases apart.
            spec = {**spec, "family": f"{spec['family'][:240]}-{i:04d}"}
        body = resource("ECSTaskDefinition", name, spec)
        try:
            stored[name] = ecs.custom.create_namespaced_custom_object(
                API_GROUP, API_VERSION, ecs.namespace, "ecstaskdefinitions", body, field_validation="Strict")
        except ApiException as err:
            if err.status in (400, 422):
                outcome[name] = "refused_at_admission"
            else:
                problems.append(f"{name}: the apiserver answered {err.status}: {err.body}\n  spec: {json.dumps(spec)}")
        except Exception as err:  # the client could not even send it
            problems.append(f"{name}: {type(err).__name__}: {err}\n  spec: {json.dumps(spec)[:2000]}")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, enumerate(inputs)))

    latest: dict[str, dict[str, Any]] = {}

    def unclassified() -> set[str]:
        latest.update(listed(ecs, "ecstaskdefinitions"))
        return {n for n in stored if not ready(latest.get(n, {}))}

    stuck = settle(unclassified, timeout=60 + 0.2 * len(inputs), interval=2.0)
    for name in sorted(stored):
        obj = latest.get(name, {})
        condition = ready(obj)
        if condition is None:
            continue
        revision = (obj.get("status") or {}).get("latestRevision")
        outcome[name] = "registered" if condition["status"] == "True" and revision else "refused_by_operator"
        # The operator must say what its model says of the spec the apiserver stored.
        verdict = local_verdict(stored[name]["spec"])
        said = "valid" if outcome[name] == "registered" else condition["message"]
        if said != verdict[:32768]:
            problems.append(f"{name}: the operator says {said!r}, the model says {verdict!r}\n"
                            f"  spec: {json.dumps(stored[name]['spec'])[:2000]}")
    refused = {n for n, o in outcome.items() if o == "refused_by_operator"}
    without_event = settle(lambda: refused - set(warnings(ecs, "InvalidTaskDefinition")), timeout=30)
    problems += [f"{n}: refused by the operator without a Warning Event" for n in sorted(without_event)]
    orphans = [m.metadata.name for m in ecs.kube.core.list_namespaced_config_map(
        ecs.namespace, label_selector=TD_LABEL).items
        if m.metadata.labels.get(TD_LABEL) in {label_value(n) for n in refused}]
    if orphans:
        problems.append(f"revision ConfigMaps of refused task definitions: {orphans}")
    problems += [f"{n}: no Ready condition after the deadline (stuck handler)\n  spec: "
                 f"{json.dumps(stored[n]['spec'])[:2000]}" for n in sorted(stuck)]

    # The operator is still there, still working, and logged no traceback.
    crash_log = log.read_text(errors="replace")[log_start:] if watched else ""
    crashes = crash_log.count("Traceback")
    alive = not watched or (bool(pids) and all(Path(f"/proc/{pid}").exists() for pid in pids))
    counts = {o: sum(v == o for v in outcome.values()) for o in
              ("refused_at_admission", "registered", "refused_by_operator")}
    print(f"fuzz: inputs={len(inputs)} refused_at_admission={counts['refused_at_admission']} "
          f"registered={counts['registered']} refused_by_operator={counts['refused_by_operator']} "
          f"stuck={len(stuck)} crashes={crashes + (not alive)}")
    assert alive, f"the operator process is gone (pids {pids}); its log:\n{crash_log[-5000:]}"
    if not problems:  # a fresh valid definition still registers: the operator is not wedged
        ecs.task_definition({"family": f"after-fuzz-{uuid.uuid4().hex[:6]}", "containerDefinitions": [c()]},
                            name="after-fuzz")
    assert crashes == 0, f"{crashes} tracebacks in the operator's log:\n{crash_log[-5000:]}"
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
    assert len(inputs) == FUZZ_CASES
