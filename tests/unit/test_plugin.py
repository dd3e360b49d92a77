"""`kubectl-ecs convert`: ECS JSON in (three shapes, file or stdin), YAML manifests out, errors on stderr."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecs_operator.frontends.kubectl import main

CONTAINER = {"name": "web", "image": "nginx:1.27", "cpu": 256, "memory": 512,
             "portMappings": [{"containerPort": 80, "hostPort": 8080, "protocol": "tcp"}], "essential": True}

REGISTER_INPUT = {"family": "web", "networkMode": "bridge", "containerDefinitions": [CONTAINER]}

DESCRIBE_OUTPUT = {
    "taskDefinition": {
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7",
        "containerDefinitions": [{**CONTAINER, "environment": [], "mountPoints": [], "volumesFrom": []}],
        "family": "web",
        "networkMode": "bridge",
        "revision": 7,
        "volumes": [],
        "status": "ACTIVE",
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
        "placementConstraints": [],
        "compatibilities": ["EXTERNAL", "EC2"],
        "registeredAt": "2024-05-01T12:00:00.000Z",
        "registeredBy": "arn:aws:iam::123456789012:root",
    },
    "tags": [{"key": "team", "value": "payments"}],
}

PREVIEW_2014 = {"family": "web", "version": "9a56714245e7e603127", "containers": [CONTAINER]}

SHAPES = [
    pytest.param(REGISTER_INPUT, {"family": "web", "containerDefinitions": [CONTAINER], "networkMode": "bridge"},
                 id="register-task-definition-input"),
    pytest.param(DESCRIBE_OUTPUT,
                 {"family": "web", "containerDefinitions": [
                     {**CONTAINER, "environment": [], "mountPoints": [], "volumesFrom": []}],
                  "networkMode": "bridge", "volumes": [], "placementConstraints": []},
                 id="describe-task-definition-output"),
    pytest.param(PREVIEW_2014, {"family": "web", "containerDefinitions": [CONTAINER], "version": "9a56714245e7e603127"},
                 id="preview-2014"),
]


def write(tmp_path: Path, document: Any) -> str:
    path = tmp_path / "task-definition.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return f"file://{path}"


def convert(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["convert", *args]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return list(yaml.safe_load_all(out))


@pytest.mark.parametrize(("document", "spec"), SHAPES)
def test_convert_prints_the_custom_resource(tmp_path: Path, capsys: pytest.CaptureFixture[str], document: Any,
                                            spec: dict[str, Any]) -> None:
    documents = convert(capsys, "--cli-input-json", write(tmp_path, document))
    assert documents == [{"apiVersion": "ecs.compat.dev/v1alpha1", "kind": "ECSTaskDefinition",
                          "metadata": {"name": "web"}, "spec": spec}]


@pytest.mark.parametrize(("document", "spec"), SHAPES)
def test_convert_pod_prints_resource_then_pod(tmp_path: Path, capsys: pytest.CaptureFixture[str], document: Any,
                                              spec: dict[str, Any]) -> None:
    resource, pod = convert(capsys, "--cli-input-json", write(tmp_path, document), "--pod")
    assert (resource["kind"], resource["spec"]) == ("ECSTaskDefinition", spec)
    assert (pod["apiVersion"], pod["kind"]) == ("v1", "Pod")
    assert pod["metadata"]["name"] == "web-0"
    assert pod["metadata"]["namespace"] == "default"
    assert pod["spec"]["nodeSelector"] == {"ecs.compat.dev/cluster": "default"}
    assert pod["spec"]["containers"] == [{
        "name": "web", "image": "nginx:1.27",
        "ports": [{"containerPort": 80, "protocol": "TCP", "hostPort": 8080}],
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}},
    }]


def test_convert_output_is_a_multi_document_yaml_stream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["convert", "--cli-input-json", write(tmp_path, REGISTER_INPUT), "--pod"])
    out = capsys.readouterr().out
    assert out.startswith("---\n")
    assert out.count("\n---\n") == 1


def test_convert_pod_is_reproducible(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(tmp_path, REGISTER_INPUT)
    first = convert(capsys, "--cli-input-json", source, "--pod")[1]
    second = convert(capsys, "--cli-input-json", source, "--pod")[1]
    assert first == second


def test_convert_the_seed_example(capsys: pytest.CaptureFixture[str]) -> None:
    seed = Path(__file__).resolve().parents[2] / "examples" / "seed-three-tier.json"
    resource, pod = convert(capsys, "--cli-input-json", f"file://{seed}", "--pod")
    assert resource["metadata"]["name"] == "application-name"
    assert resource["spec"]["version"] == "9a56714245e7e603127"
    assert "containers" not in resource["spec"]
    assert [c["name"] for c in resource["spec"]["containerDefinitions"]] == ["load-balancer", "web", "database"]
    lb = next(c for c in pod["spec"]["containers"] if c["name"] == "load-balancer")
    assert lb["ports"] == [{"containerPort": 9443, "protocol": "TCP", "hostPort": 443}]
    assert pod["spec"]["hostAliases"] == [{"ip": "127.0.0.1", "hostnames": ["database", "db", "web"]}]


def test_ignored_fields_are_listed_in_a_comment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = {**REGISTER_INPUT, "tags": [{"key": "team", "value": "web"}],
                "containerDefinitions": [{**CONTAINER, "hostname": "web"}]}
    main(["convert", "--cli-input-json", write(tmp_path, document)])
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "# accepted, but not used on Kubernetes: tags, containerDefinitions[0].hostname"
    (resource,) = yaml.safe_load_all(out)
    assert resource["spec"]["tags"] == [{"key": "team", "value": "web"}]


def test_no_comment_when_nothing_is_ignored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["convert", "--cli-input-json", write(tmp_path, REGISTER_INPUT)])
    assert not capsys.readouterr().out.startswith("#")


def test_resource_name_from_family(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    documents = convert(capsys, "--cli-input-json", write(tmp_path, {**REGISTER_INPUT, "family": "My_App"}), "--pod")
    assert documents[0]["metadata"]["name"] == "my-app"
    assert documents[0]["spec"]["family"] == "My_App"
    assert documents[1]["metadata"]["name"] == "my-app-0"
    assert documents[1]["metadata"]["labels"]["ecs.compat.dev/family"] == "My_App"


@pytest.mark.parametrize("argument", ["-", "file://-"])
def test_convert_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                             argument: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(PREVIEW_2014)))
    (resource,) = convert(capsys, "--cli-input-json", argument)
    assert resource["spec"]["containerDefinitions"] == [CONTAINER]
    assert resource["spec"]["version"] == "9a56714245e7e603127"


def test_convert_takes_inline_json(capsys: pytest.CaptureFixture[str]) -> None:
    (resource,) = convert(capsys, "--cli-input-json", json.dumps(REGISTER_INPUT))
    assert resource["spec"]["family"] == "web"


INVALID = [
    pytest.param({"family": "web", "containerDefinitions": [{"name": "web", "image": "nginx"}]}, [],
                 "containerDefinitions[0].memory: set memory or memoryReservation", id="memory-missing"),
    pytest.param({**REGISTER_INPUT, "containerDefinitions": [{**CONTAINER, "memoryReservaton": 64}]}, [],
                 "containerDefinitions[0].memoryReservaton: unknown field (not part of the ECS API)",
                 id="unknown-field"),
    pytest.param({"taskDefinition": {**DESCRIBE_OUTPUT["taskDefinition"], "networkMode": "awsvpc"}}, [],
                 "containerDefinitions[0].portMappings[0].hostPort: must equal containerPort (80) in awsvpc",
                 id="describe-output-invalid"),
    pytest.param({**PREVIEW_2014, "containers": [CONTAINER, {**CONTAINER, "name": "db", "links": ["cache"]}]}, [],
                 "containerDefinitions[1].links[0]: no container named 'cache'", id="preview-2014-invalid"),
    pytest.param({**REGISTER_INPUT, "networkMode": "host",
                  "containerDefinitions": [{**CONTAINER, "portMappings": [{"containerPort": 80}]}]}, ["--pod"],
                 "networkMode: host networking is not allowed on cluster default", id="pod-refused-by-cluster-policy"),
    pytest.param([REGISTER_INPUT], [], "(input): a task definition must be a JSON object", id="not-an-object"),
    pytest.param("{\"family\": ", [], "error: --cli-input-json is not valid JSON", id="not-json"),
]


@pytest.mark.parametrize(("document", "extra", "message"), INVALID)
def test_invalid_input_exits_1_with_the_field_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        document: Any, extra: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["convert", "--cli-input-json", write(tmp_path, document), *extra])
    out, err = capsys.readouterr()
    assert caught.value.code == 1
    assert out == ""
    assert message in err
    assert "Traceback" not in err


def test_invalid_input_reads_like_the_aws_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = {"family": "web", "containerDefinitions": [{"name": "web", "image": "nginx", "cpu": -1}]}
    with pytest.raises(SystemExit):
        main(["convert", "--cli-input-json", write(tmp_path, document)])
    assert capsys.readouterr().err == (
        "An error occurred (ClientException) when calling the RegisterTaskDefinition operation:\n"
        "  containerDefinitions[0].cpu: Input should be greater than or equal to 0\n"
    )


def test_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["convert", "--cli-input-json", f"file://{tmp_path / 'absent.json'}"])
    out, err = capsys.readouterr()
    assert caught.value.code == 1
    assert out == ""
    assert err.startswith(f"error: cannot read {tmp_path / 'absent.json'}: ")
    assert "Traceback" not in err


def test_invalid_stdin_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"family": "web", "containerDefinitions": []})))
    with pytest.raises(SystemExit) as caught:
        main(["convert", "--cli-input-json", "-"])
    out, err = capsys.readouterr()
    assert (caught.value.code, out) == (1, "")
    assert "containerDefinitions: List should have at least 1 item" in err


def test_cli_input_json_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["convert"])
    assert caught.value.code == 2
    assert "--cli-input-json" in capsys.readouterr().err
