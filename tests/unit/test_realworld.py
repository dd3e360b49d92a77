"""Real task definitions (../shared/realworld/) and the rules that turn their AWS references into
Kubernetes objects (docs/mapping.md, "AWS references"). Each of the 60 registers and translates,
with every reference resolved in its Pod as the rules say, or is refused as ECS refuses it."""

from __future__ import annotations

import copy
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ecs_operator.ecs.errors import InvalidInput
from ecs_operator.ecs.models import (
    ClusterPolicy,
    ClusterSpec,
    TaskDefinition,
    TaskSpec,
    task_cpu_units,
    task_memory_mib,
)
from ecs_operator.ecs.normalize import parse_task_definition
from ecs_operator.ecs.references import (
    config_map_for_env_file,
    needed_objects,
    object_name,
    secret_source,
    service_account_for_role,
    task_references,
)
from ecs_operator.ecs.status import placement_failures
from ecs_operator.ecs.translate import ClusterRef, TaskRef, task_pod
from ecs_operator.frontends.kubectl import main
from tests.realworld import (
    AWS_CONTAINER_FIELDS,
    AWS_TASK_FIELDS,
    CORPUS,
    PERMISSIVE,
    REFUSED,
    assert_resolved,
    corpus,
    load,
    number,
)

UID = "2b7c5bd6-3f0e-4d55-8a5e-6a1f0c2d9e10"


def translate(definition: TaskDefinition, cluster: ClusterSpec = PERMISSIVE, name: str = "rw") -> dict[str, Any]:
    return task_pod(definition, 1, TaskSpec(taskDefinition=definition.family), ClusterRef(name, cluster),
                    TaskRef("t", "ns", UID))


@pytest.mark.parametrize("n", [f"{i:02d}" for i in range(1, 61)])
def test_each_real_definition_registers_or_is_refused_as_ecs_refuses_it(n: str) -> None:
    path = next((p for p in corpus() if number(p) == n), None)
    assert path is not None, f"no {n}-*.json in {CORPUS}"
    if n in REFUSED:
        with pytest.raises(InvalidInput) as caught:
            parse_task_definition(load(path))
        for words in REFUSED[n]:
            assert any(words in problem for problem in caught.value.problems), (words, caught.value.problems)
        return
    definition = parse_task_definition(load(path)).definition
    pod = translate(definition)
    assert_resolved(definition, pod)


def test_the_corpus_is_sixty_definitions_and_fifty_three_register() -> None:
    files = corpus()
    assert len(files) == 60 and (CORPUS / "SOURCES.md").exists()
    assert len([p for p in files if number(p) not in REFUSED]) == 53


# --------------------------------------------------------------------------- the rules, one example each

@pytest.mark.parametrize(("value_from", "name", "key"), [
    ("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf", "prod-db-abcdef", "value"),
    ("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf:password::", "prod-db-abcdef", "password"),
    ("arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1a2b:username:AWSCURRENT:", "rds-db-1a2b",
     "username"),
    ("arn:aws:ssm:us-east-1:123456789012:parameter/redash/database_url", "redash-database-url", "value"),
    ("/lgtm-cat/prod/DB_PASSWORD", "lgtm-cat-prod-db-password", "value"),
    ("MONGO_URI", "mongo-uri", "value"),
])
def test_secret_rule(value_from: str, name: str, key: str) -> None:
    source = secret_source(value_from)
    assert (source.name, source.key) == (name, key)


def test_other_rules() -> None:
    assert config_map_for_env_file("arn:aws:s3:::my-bucket/envs/prod.env") == "my-bucket-envs-prod-env"
    assert service_account_for_role("arn:aws:iam::123456789012:role/service/AppRole") == "approle"
    assert service_account_for_role("ecsTaskRole") == "ecstaskrole"
    assert object_name("x" * 300).startswith("x" * 242 + "-") and len(object_name("x" * 300)) == 253
    assert object_name("***") .startswith("x-")


def test_volumes_become_claims_with_root_directory_as_sub_path() -> None:
    definition = parse_task_definition({"family": "f", "containerDefinitions": [
        {"name": "app", "image": "nginx", "memory": 64, "mountPoints": [
            {"sourceVolume": "efs", "containerPath": "/data"}, {"sourceVolume": "ap", "containerPath": "/ap"},
            {"sourceVolume": "shared", "containerPath": "/shared"},
            {"sourceVolume": "scratch", "containerPath": "/s"}]}],
        "volumes": [
            {"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-12345678", "rootDirectory": "/exports/app"}},
            {"name": "ap", "efsVolumeConfiguration": {"fileSystemId": "fs-12345678", "transitEncryption": "ENABLED",
                                                      "authorizationConfig": {"accessPointId": "fsap-0abc"}}},
            {"name": "shared", "dockerVolumeConfiguration": {"scope": "shared", "driver": "local"}},
            {"name": "scratch", "dockerVolumeConfiguration": {"scope": "task", "driverOpts": {"type": "tmpfs"}}}]})
    pod = translate(definition.definition)
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in pod["spec"]["containers"][0]["volumeMounts"]}
    assert volumes["efs"]["persistentVolumeClaim"] == {"claimName": "fs-12345678"}
    assert mounts["/data"]["subPath"] == "exports/app"
    assert volumes["ap"]["persistentVolumeClaim"] == {"claimName": "fs-12345678-fsap-0abc"}
    assert "subPath" not in mounts["/ap"]
    assert volumes["shared"]["persistentVolumeClaim"] == {"claimName": "shared"}
    assert volumes["scratch"]["emptyDir"] == {"medium": "Memory"}


@pytest.mark.parametrize(("cpu", "units"), [("0.25 vCPU", 256), (".25 vcpu", 256), ("512", 512), ("1 VCPU", 1024),
                                            ("2vcpu", 2048), ("1.", 1)])
def test_task_cpu_in_every_form_ecs_takes(cpu: str, units: int) -> None:
    assert task_cpu_units(cpu) == units


@pytest.mark.parametrize(("memory", "mib"), [("1 GB", 1024), (".5 gb", 512), ("512", 512), ("2GB", 2048),
                                             ("0.5 GB", 512)])
def test_task_memory_in_every_form_ecs_takes(memory: str, mib: int) -> None:
    assert task_memory_mib(memory) == mib


def test_numbers_and_nulls_where_ecs_takes_them() -> None:
    definition = parse_task_definition({"family": "f", "cpu": 256, "memory": 512, "taskRoleArn": None,
                                        "containerDefinitions": [{"name": "a", "image": "x", "memory": "64",
                                                                  "secrets": None, "resourceRequirements": [
                                                                      {"type": "GPU", "value": 1}]}]}).definition
    assert (definition.cpu, definition.memory) == ("256", "512")
    assert definition.containerDefinitions[0].resourceRequirements[0].value == "1"  # type: ignore[index]


@pytest.mark.parametrize(("document", "words"), [
    ({"inferenceAccelerators": [{"deviceName": "d", "deviceType": "eia2.medium"}]},
     "inferenceAccelerators: Amazon Elastic Inference (EI) is no longer available to customers."),
    ({"containerDefinitions": [{"name": "a", "image": "x", "memory": 64, "resourceRequirements": [
        {"type": "InferenceAccelerator", "value": "d"}]}]},
     "containerDefinitions[0].resourceRequirements[0].type: Amazon Elastic Inference"),
    ({"containerDefinitions": [{"name": "a", "image": "x", "memory": 64, "resourceRequirements": [
        {"type": "GPU", "value": "two"}]}]}, "containerDefinitions[0].resourceRequirements[0].value"),
    ({"volumes": [{"name": "v", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "rootDirectory": "/x",
                                                           "authorizationConfig": {"accessPointId": "fsap-1"}}}]},
     "volumes[0].efsVolumeConfiguration.rootDirectory: must be omitted or set to /"),
    ({"cpu": "fast"}, "cpu: cpu 'fast' must be CPU units"),
    ({"containerDefinitions": [{"name": "a", "image": "x", "memory": 64, "secrets": [{"name": "A"}]}]},
     "containerDefinitions[0].secrets[0].valueFrom: Field required"),
])
def test_strict_where_ecs_is_strict(document: dict[str, Any], words: str) -> None:
    body = {"family": "f", "containerDefinitions": [{"name": "a", "image": "x", "memory": 64}], **document}
    with pytest.raises(InvalidInput) as caught:
        parse_task_definition(body)
    assert any(words in p for p in caught.value.problems), caught.value.problems


def test_gpu_and_platform_placement() -> None:
    definition = parse_task_definition({"family": "f", "runtimePlatform": {"cpuArchitecture": "ARM64",
                                                                           "operatingSystemFamily": "LINUX"},
                                        "containerDefinitions": [{"name": "a", "image": "x", "memory": 64,
                                                                  "resourceRequirements": [{"type": "GPU",
                                                                                            "value": "2"}]}]})
    pod = translate(definition.definition, ClusterSpec(gpuResourceName="amd.com/gpu"))
    assert pod["spec"]["containers"][0]["resources"]["limits"]["amd.com/gpu"] == "2"
    assert pod["spec"]["nodeSelector"]["kubernetes.io/arch"] == "arm64"
    assert pod["spec"]["nodeSelector"]["kubernetes.io/os"] == "linux"

    def unschedulable(message: str) -> dict[str, Any]:
        return {**pod, "status": {"conditions": [{"type": "PodScheduled", "status": "False", "message": message}]}}

    assert placement_failures(unschedulable("0/3 nodes are available: 3 Insufficient amd.com/gpu."))[0] == \
        "RESOURCE:GPU"
    assert placement_failures(unschedulable("0/3 nodes are available: 3 node(s) didn't match Pod's node "
                                            "affinity/selector.")) == ["ATTRIBUTE"]


def test_windows_definitions_are_placed_on_windows_nodes() -> None:
    for n in ("56", "59", "60"):
        path = next(p for p in corpus() if number(p) == n)
        pod = translate(parse_task_definition(load(path)).definition)
        assert pod["spec"]["nodeSelector"]["kubernetes.io/os"] == "windows" and pod["spec"]["os"] == {
            "name": "windows"}
        assert "seccompProfile" not in pod["spec"].get("securityContext", {})


def test_sysctls_namespaced_ones_by_policy_others_refused() -> None:
    def body(name: str) -> TaskDefinition:
        return parse_task_definition({"family": "f", "containerDefinitions": [
            {"name": "a", "image": "x", "memory": 64, "systemControls": [{"namespace": name, "value": "1"}]}]}
        ).definition

    assert translate(body("net.ipv4.tcp_syncookies"), ClusterSpec())["spec"]["securityContext"]["sysctls"] == [
        {"name": "net.ipv4.tcp_syncookies", "value": "1"}]
    with pytest.raises(InvalidInput, match=r"containerDefinitions\[0\].systemControls\[0\].namespace: "
                                           r"net.core.somaxconn is not allowed on cluster rw \(ECSCluster "
                                           r"spec.policy.allowedSysctls\)"):
        translate(body("net.core.somaxconn"), ClusterSpec())
    assert translate(body("net.core.somaxconn"))["spec"]["securityContext"]["sysctls"][0]["name"] == \
        "net.core.somaxconn"
    with pytest.raises(InvalidInput, match=r"systemControls\[0\].namespace: vm.swappiness is not a namespaced"):
        translate(body("vm.swappiness"))


def test_docker_labels_log_configuration_tmpfs_init_and_kwok_facility() -> None:
    definition = parse_task_definition({"family": "f", "containerDefinitions": [{
        "name": "web", "image": "x", "memory": 64,
        "dockerLabels": {"com.example.team": "payments", "odd key": "v", "exit.kwok.ecs-operator.dev/web": "3"},
        "logConfiguration": {"logDriver": "awsfirelens", "options": {"Name": "datadog"}, "secretOptions": [
            {"name": "apikey", "valueFrom": "arn:aws:secretsmanager:us-east-1:1:secret:dd-AbCdEf"}]},
        "linuxParameters": {"initProcessEnabled": True, "tmpfs": [{"containerPath": "/run", "size": 64,
                                                                   "mountOptions": ["ro"]}]}}]}).definition
    pod = translate(definition, ClusterSpec())
    meta = pod["metadata"]
    assert meta["annotations"]["com.example.team"] == "payments" and meta["labels"]["com.example.team"] == "payments"
    assert meta["annotations"]["exit.kwok.ecs-operator.dev/web"] == "3"  # the kwok facility still works
    assert '"odd key": "v"' in meta["annotations"]["ecs.compat.dev/docker-labels"]
    assert '"secretKeyRef": {"key": "value", "name": "dd-abcdef"}' in meta["annotations"][
        "ecs.compat.dev/log-configuration"]
    assert pod["spec"]["shareProcessNamespace"] is True
    assert pod["spec"]["containers"][0]["volumeMounts"] == [{"name": "tmpfs-web-0", "mountPath": "/run",
                                                              "readOnly": True}]
    assert [r.name for r in task_references(definition)] == ["dd-abcdef"]


def test_missing_object_messages_are_ecs_words_naming_the_object() -> None:
    definition = parse_task_definition({"family": "f", "containerDefinitions": [{
        "name": "web", "image": "x", "memory": 64,
        "secrets": [{"name": "DB", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/db/pass"}]}]}).definition
    (ref,) = task_references(definition)
    assert ref.failure("team", "missing") == (
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
        "unable to retrieve secret from ssm: Secret team/db-pass not found (for containerDefinitions[0].secrets[0]."
        "valueFrom: arn:aws:ssm:us-east-1:1:parameter/db/pass)")
    assert "Secret team/db-pass has no key 'value'" in ref.failure("team", "key")


def test_convert_lists_the_objects_and_translates_for_the_cluster_given(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = next(p for p in corpus() if number(p) == "39")  # host network, three kinds of secrets
    with pytest.raises(SystemExit):  # the default policy refuses host networking
        main(["convert", "--cli-input-json", f"file://{path}", "--pod"])
    assert "networkMode: host networking is not allowed on cluster default" in capsys.readouterr().err
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(yaml.safe_dump({"apiVersion": "ecs.compat.dev/v1alpha1", "kind": "ECSCluster",
                                       "metadata": {"name": "daemons"},
                                       "spec": {"policy": {"allowHostNetwork": True}}}))
    assert main(["convert", "--cli-input-json", f"file://{path}", "--pod", "--cluster", str(cluster)]) == 0
    out = capsys.readouterr().out
    assert "#   Secret ecspresso-test-foo (keys: value) for containerDefinitions[0].secrets[0].valueFrom" in out
    assert "#   ServiceAccount ecstaskrole for taskRoleArn" in out
    pod = list(yaml.safe_load_all(out))[1]
    assert pod["spec"]["hostNetwork"] is True and pod["spec"]["nodeSelector"] == {"ecs.compat.dev/cluster": "daemons"}
    assert [o["kind"] for o in needed_objects(parse_task_definition(load(path)).definition)] == [
        "ServiceAccount", "Secret", "Secret", "Secret"]


def test_task_id_is_stable() -> None:  # the helper's TaskRef uid is a valid UUID
    assert uuid.UUID(UID)
    assert ClusterPolicy().allowedSysctls == []


# --------------------------------------------------------------------------- property: the new fields never crash


@st.composite
def with_aws_references(draw) -> dict[str, Any]:
    """A small valid definition with AWS-reference fields (good and odd values) on its container and task."""
    container: dict[str, Any] = {"name": "app", "image": "nginx", "memory": 64,
                                 "mountPoints": [{"sourceVolume": "efs", "containerPath": "/data"}]}
    doc: dict[str, Any] = {"family": "f", "containerDefinitions": [container],
                           "volumes": [{"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}]}
    for field in draw(st.lists(st.sampled_from(sorted(AWS_CONTAINER_FIELDS)), max_size=4, unique=True)):
        container[field] = copy.deepcopy(draw(st.sampled_from(AWS_CONTAINER_FIELDS[field])))
    for field in draw(st.lists(st.sampled_from(sorted(AWS_TASK_FIELDS)), max_size=3, unique=True)):
        doc[field] = copy.deepcopy(draw(st.sampled_from(AWS_TASK_FIELDS[field])))
    return doc


FIELD_NAMED = re.compile(r"^(containerDefinitions|volumes|cpu|memory|family|runtimePlatform|taskRoleArn|"
                         r"executionRoleArn|inferenceAccelerators|networkMode|pidMode|links|dependsOn)[\[.:]")


@settings(max_examples=300, deadline=None)
@given(with_aws_references(), st.sampled_from([ClusterSpec(), PERMISSIVE]))
def test_aws_reference_fields_never_crash_and_every_refusal_names_the_field(doc: dict[str, Any],
                                                                            cluster: ClusterSpec) -> None:
    try:
        definition = parse_task_definition(doc).definition
        pod = translate(definition, cluster)
    except InvalidInput as err:
        assert err.problems and all(FIELD_NAMED.match(p) for p in err.problems), err.problems
        return
    assert_resolved(definition, pod)
    for ref in task_references(definition):
        assert ref.name and len(ref.name) <= 253 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", ref.name)
