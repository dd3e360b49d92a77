"""The ECS API layer's pure parts: paging, shapes and timestamps, request checks, errors; and
`kubectl ecs` turning flags into requests and answers into the aws CLI's output.

The actions themselves run against the real control plane (tests/integration/test_api.py and
test_plugin_verbs.py)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from ecs_operator.api import ACTIONS, EcsError, call
from ecs_operator.api.pagination import page
from ecs_operator.api.session import _ecs_error
from ecs_operator.api.shapes import iso_timestamps, task_definition_shape, task_shape, timestamp
from ecs_operator.api.tasks import describe_tasks
from ecs_operator.frontends import kubectl

ARNS = [f"arn:aws:ecs:us-east-1:000000000000:task/main/{i:032x}" for i in range(250)]
ENTRIES = [((f"t{i:04d}", 0), arn) for i, arn in enumerate(ARNS)]


def walk(entries: list[Any], request: dict[str, Any], **kwargs: Any) -> tuple[list[str], list[str]]:
    """Every page in turn, as a client follows nextToken: (all values, the tokens given)."""
    values: list[str] = []
    tokens: list[str] = []
    answer = page(entries, request, "taskArns", **kwargs)
    values += answer["taskArns"]
    while "nextToken" in answer:
        tokens.append(answer["nextToken"])
        answer = page(entries, {**request, "nextToken": answer["nextToken"]}, "taskArns", **kwargs)
        values += answer["taskArns"]
    return values, tokens


def test_lists_page_100_by_default_and_the_last_page_has_no_token():
    first = page(ENTRIES, {}, "taskArns")
    assert first["taskArns"] == ARNS[:100] and first["nextToken"]
    values, tokens = walk(ENTRIES, {})
    assert values == ARNS and len(tokens) == 2 and len(set(tokens)) == 2
    assert page(ENTRIES[:100], {}, "taskArns") == {"taskArns": ARNS[:100]}
    assert page([], {}, "taskArns") == {"taskArns": []}


@pytest.mark.parametrize("size", [1, 7, 100])
def test_max_results_sets_the_page_size(size):
    values, tokens = walk(ENTRIES, {"maxResults": size})
    assert values == ARNS and len(tokens) == -(-len(ARNS) // size) - 1


def test_paging_skips_and_repeats_nothing_when_an_item_before_the_cursor_goes():
    answer = page(ENTRIES, {"maxResults": 10}, "taskArns")
    remaining = ENTRIES[:5] + ENTRIES[6:]  # one of the first page went meanwhile
    following = page(remaining, {"maxResults": 10, "nextToken": answer["nextToken"]}, "taskArns")
    assert following["taskArns"] == ARNS[10:20]


def test_descending_lists_page_in_their_own_order():
    entries = sorted([(("web", n), f"web:{n}") for n in range(1, 13)], reverse=True)
    values, _ = walk(entries, {"maxResults": 5}, descending=True)
    assert values == [f"web:{n}" for n in range(12, 0, -1)]


@pytest.mark.parametrize("request_", [{"maxResults": 0}, {"maxResults": 101}, {"maxResults": "5"},
                                      {"maxResults": True}, {"nextToken": "not base64 json"},
                                      {"nextToken": "eyJhIjogMX0="}, {"nextToken": "WzEsIDJd"}])
def test_bad_paging_parameters_are_invalid_parameter_exceptions(request_):
    with pytest.raises(EcsError) as raised:
        page(ENTRIES, request_, "taskArns")
    assert raised.value.code == "InvalidParameterException" and raised.value.client_fault


def test_task_shape_drops_our_own_fields_and_turns_timestamps_into_datetimes():
    record = {"taskArn": "arn:t", "podName": "t-0", "nodeName": "n1", "lastStatus": "RUNNING",
              "createdAt": "2026-11-25T12:00:00Z", "startedAt": "2026-11-25T12:00:03Z"}
    shape = task_shape(record)
    assert set(shape) == {"taskArn", "lastStatus", "createdAt", "startedAt"}
    assert shape["createdAt"] == datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.UTC)
    assert timestamp("not a time") is None and timestamp(None) is None


def test_an_inactive_revision_has_a_deregistration_time():
    resource = {"metadata": {"namespace": "ns", "name": "web"}}
    revision = {"taskDefinitionArn": "arn:td/web:1", "revision": 1, "status": "INACTIVE",
                "registeredAt": "2026-11-25T12:00:00Z"}
    shape = task_definition_shape(resource, revision, {"family": "web", "containerDefinitions": []})
    assert shape["deregisteredAt"] == shape["registeredAt"] == timestamp("2026-11-25T12:00:00Z")
    assert shape["registeredBy"] == "kubernetes:ns/web" and shape["compatibilities"] == ["EC2"]


@pytest.mark.parametrize(("tasks", "message"), [([], "Tasks cannot be empty."),
                                                (["x"] * 101, "taskIds can have at most 100 items.")])
def test_describe_tasks_checks_its_list_before_anything_else(tasks, message):
    with pytest.raises(EcsError) as raised:
        describe_tasks(None, {"cluster": "main", "tasks": tasks})  # type: ignore[arg-type]
    assert (raised.value.code, raised.value.message) == ("InvalidParameterException", message)


def test_an_unknown_action_is_a_client_error_naming_it():
    with pytest.raises(EcsError) as raised:
        call(None, "LaunchRockets", {})  # type: ignore[arg-type]
    assert raised.value.code == "UnknownOperationException" and "LaunchRockets" in raised.value.message


def test_every_kubectl_verb_is_an_action_of_the_api_layer():
    assert {verb.operation for verb in kubectl.VERBS} == set(ACTIONS)


@pytest.mark.parametrize(("status", "body", "code"), [
    (404, "the server could not find the requested resource", "ServerException"),
    (422, json.dumps({"message": "spec.count: must be at most 10"}), "ClientException"),
    (403, "forbidden", "AccessDeniedException"),
    (500, "etcd timeout", "ServerException"),
])
def test_api_errors_become_ecs_errors(status, body, code):
    error = _ecs_error(ApiException(status=status, reason="r", body=body))
    assert error.code == code and error.client_fault == (code != "ServerException")
    if status == 422:
        assert error.message == "spec.count: must be at most 10"


def parse(*argv: str) -> tuple[kubectl.Verb, Any]:
    args = kubectl.parser().parse_args(list(argv))
    return next(v for v in kubectl.VERBS if v.name == argv[0]), args


def test_flags_become_the_ecs_request():
    verb, args = parse("run-task", "--cluster", "main", "--task-definition", "web:3", "--count", "2",
                       "--overrides", '{"containerOverrides": []}', "--started-by", "ci")
    assert kubectl.request_of(verb, args) == {"cluster": "main", "taskDefinition": "web:3", "count": 2,
                                              "overrides": {"containerOverrides": []}, "startedBy": "ci"}
    verb, args = parse("describe-tasks", "--tasks", "a", "b")
    assert kubectl.request_of(verb, args) == {"cluster": "default", "tasks": ["a", "b"]}
    verb, args = parse("list-task-definitions", "--sort", "DESC")
    assert kubectl.request_of(verb, args) == {"status": "ACTIVE", "sort": "DESC"}


def test_register_reads_cli_input_json_and_the_flags_override_it(tmp_path):
    path = tmp_path / "td.json"
    path.write_text(json.dumps({"family": "web", "containerDefinitions": [{"name": "a"}], "cpu": "256"}))
    verb, args = parse("register-task-definition", "--cli-input-json", f"file://{path}", "--family", "other")
    assert kubectl.request_of(verb, args) == {"family": "other", "containerDefinitions": [{"name": "a"}],
                                              "cpu": "256"}
    path.write_text("[1, 2]")
    verb, args = parse("register-task-definition", "--cli-input-json", f"file://{path}")
    with pytest.raises(EcsError, match="must be a JSON object"):
        kubectl.request_of(verb, args)


def test_bad_json_in_a_flag_is_a_parameter_error_naming_the_flag():
    verb, args = parse("run-task", "--task-definition", "web", "--placement-strategy", "[{")
    with pytest.raises(EcsError) as raised:
        kubectl.request_of(verb, args)
    assert raised.value.code == "ParamValidation" and raised.value.message.startswith("--placement-strategy:")


def test_timestamps_are_printed_as_the_records_hold_them():
    moment = datetime.datetime(2026, 11, 25, 12, 0, 3, tzinfo=datetime.UTC)
    assert iso_timestamps({"tasks": [{"createdAt": moment, "n": 1}]}) == {
        "tasks": [{"createdAt": "2026-11-25T12:00:03Z", "n": 1}]}
    assert iso_timestamps(moment.replace(microsecond=5000)) == "2026-11-25T12:00:03.005000+00:00"
