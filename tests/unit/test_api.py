"""The ECS API layer's pure parts: paging, shapes and timestamps, request checks, errors; and
`kubectl ecs` turning flags into requests and answers into the aws CLI's output.

The actions themselves run against the real control plane (tests/integration/test_api.py and
test_plugin_verbs.py)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from ecs_operator.api import ACTIONS, EcsError, call
from ecs_operator.api.pagination import page
from ecs_operator.api.services import _merged, describe_services, update_service
from ecs_operator.api.session import _ecs_error
from ecs_operator.api.shapes import (
    iso_timestamps,
    service_shape,
    service_status,
    task_definition_shape,
    task_shape,
    timestamp,
)
from ecs_operator.api.tasks import describe_tasks
from ecs_operator.ecs.labels import DELETE_REQUESTED_ANNOTATION
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


# --------------------------------------------------------------------------- services

SHAPES = json.loads((Path(__file__).resolve().parents[1] / "data" / "ecs-output-shapes.json").read_text())["shapes"]
T0 = "2026-11-25T12:00:00Z"
OURS = {"revision": {"family": "web", "revision": 1}, "reference": "web", "token": "t1", "healthChecked": False,
        "counted": {"a": 1}, "firstRunAt": 1.5}


def service_object(status: dict[str, Any] | None = None, annotations: dict[str, str] | None = None,
                   **spec: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "web-svc", "namespace": "ns", "creationTimestamp": T0,
                                "annotations": annotations or {}}
    return {"metadata": metadata, "spec": {"cluster": "main", "serviceName": "Web_Svc", "taskDefinition": "web",
                                           "desiredCount": 2, **spec}, **({"status": status} if status else {})}


def operator_status() -> dict[str, Any]:
    deployment = {"id": "ecs-svc/1234567890123456789", "status": "PRIMARY",
                  "taskDefinition": "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1", "desiredCount": 2,
                  "pendingCount": 0, "runningCount": 2, "failedTasks": 0, "createdAt": T0,
                  "updatedAt": "2026-11-25T12:00:09Z", "launchType": "EC2", "rolloutState": "COMPLETED",
                  "rolloutStateReason": "ECS deployment ecs-svc/1234567890123456789 completed.", **OURS}
    return {"serviceArn": "arn:aws:ecs:us-east-1:000000000000:service/main/Web_Svc", "serviceName": "Web_Svc",
            "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/main", "status": "ACTIVE",
            "desiredCount": 2, "runningCount": 2, "pendingCount": 0, "taskDefinition": deployment["taskDefinition"],
            "deployments": [deployment],
            "events": [{"id": "e2", "createdAt": "2026-11-25T12:00:10Z", "message": "(service Web_Svc) has reached "
                                                                                    "a steady state."}],
            "schedulingStrategy": "REPLICA", "launchType": "EC2", "deploymentController": {"type": "ECS"},
            "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200}, "createdAt": T0,
            "lastCompletedDeployment": deployment, "steady": True, "throttle": {"failures": 0},
            "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 1}]}


def test_service_shape_has_only_ecs_s_members_and_datetimes():
    shape = service_shape(service_object(operator_status()))
    assert set(shape) <= set(SHAPES["Service"])
    assert not {"lastCompletedDeployment", "steady", "throttle", "conditions"} & set(shape)
    (deployment,) = shape["deployments"]
    assert set(deployment) <= set(SHAPES["Deployment"]) and not set(OURS) & set(deployment)
    assert deployment["createdAt"] == datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.UTC)
    assert deployment["updatedAt"] == datetime.datetime(2026, 11, 25, 12, 0, 9, tzinfo=datetime.UTC)
    assert shape["events"][0]["createdAt"] == datetime.datetime(2026, 11, 25, 12, 0, 10, tzinfo=datetime.UTC)
    assert set(shape["events"][0]) == set(SHAPES["ServiceEvent"])
    assert isinstance(shape["createdAt"], datetime.datetime)
    assert (shape["serviceName"], shape["status"], shape["runningCount"]) == ("Web_Svc", "ACTIVE", 2)
    assert shape["deploymentController"] == {"type": "ECS"} and shape["createdBy"] == "kubernetes:ns"
    assert (shape["loadBalancers"], shape["serviceRegistries"], shape["placementConstraints"]) == ([], [], [])
    assert (shape["propagateTags"], shape["enableECSManagedTags"], shape["enableExecuteCommand"]) == (
        "NONE", False, False)
    assert "tags" not in shape and "healthCheckGracePeriodSeconds" not in shape


def test_service_shape_before_the_operator_s_first_status():
    arn = "arn:aws:ecs:eu-west-1:111111111111:task-definition/web:1"
    shape = service_shape(service_object(tags=[{"key": "team", "value": "a"}], healthCheckGracePeriodSeconds=30,
                                         deploymentConfiguration={"maximumPercent": 150}),
                          tags=True, cluster_arn="arn:aws:ecs:eu-west-1:111111111111:cluster/main",
                          task_definition_arn=arn)
    assert shape["status"] == "ACTIVE" and (shape["runningCount"], shape["pendingCount"]) == (0, 0)
    assert shape["desiredCount"] == 2 and shape["deployments"] == [] and shape["events"] == []
    assert shape["serviceArn"] == "arn:aws:ecs:eu-west-1:111111111111:service/main/Web_Svc"
    assert shape["taskDefinition"] == arn and shape["tags"] == [{"key": "team", "value": "a"}]
    assert shape["deploymentConfiguration"] == {"maximumPercent": 150, "minimumHealthyPercent": 100}
    assert shape["healthCheckGracePeriodSeconds"] == 30
    daemon = service_shape(service_object(schedulingStrategy="DAEMON", desiredCount=None))
    assert daemon["deploymentConfiguration"] == {"minimumHealthyPercent": 0, "maximumPercent": 100}
    assert daemon["desiredCount"] == 0 and daemon["schedulingStrategy"] == "DAEMON"
    assert service_shape(service_object(taskDefinition="web:3"))["taskDefinition"] == (
        "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3")


def test_a_service_reads_draining_once_delete_service_was_called():
    asked = {DELETE_REQUESTED_ANNOTATION: T0}
    assert service_status(service_object(operator_status(), asked)) == "DRAINING"
    assert service_status(service_object(operator_status() | {"status": "INACTIVE"}, asked)) == "INACTIVE"
    assert service_status(service_object()) == "ACTIVE"


@pytest.mark.parametrize(("services", "message"), [([], "Services cannot be empty."),
                                                   (["s"] * 11, "service names can have at most 10 items.")])
def test_describe_services_checks_its_list_before_anything_else(services, message):
    with pytest.raises(EcsError) as raised:
        describe_services(None, {"cluster": "main", "services": services})  # type: ignore[arg-type]
    assert (raised.value.code, raised.value.message) == ("InvalidParameterException", message)


def test_update_service_needs_a_service_and_knows_its_members():
    with pytest.raises(EcsError) as raised:
        update_service(None, {"desiredCount": 1})  # type: ignore[arg-type]
    assert raised.value.code == "InvalidParameterException"
    with pytest.raises(EcsError) as raised:
        update_service(None, {"service": "web", "desiredcount": 1})  # type: ignore[arg-type]
    assert raised.value.message == "desiredcount: unknown field (not part of the ECS API)"


def test_update_service_patches_as_a_json_merge_patch():
    spec = {"desiredCount": 1, "deploymentConfiguration": {"minimumHealthyPercent": 50},
            "placementStrategy": [{"type": "random"}]}
    assert _merged(spec, {"deploymentConfiguration": {"maximumPercent": 150}, "placementStrategy": None}) == {
        "desiredCount": 1, "deploymentConfiguration": {"minimumHealthyPercent": 50, "maximumPercent": 150}}


def test_service_verbs_become_the_ecs_request():
    verb, args = parse("create-service", "--cluster", "main", "--service-name", "Web_Svc", "--task-definition",
                       "web:1", "--desired-count", "2", "--scheduling-strategy", "REPLICA",
                       "--deployment-configuration", '{"maximumPercent": 150}', "--placement-constraints",
                       '[{"type": "distinctInstance"}]', "--placement-strategy", '[{"type": "random"}]',
                       "--health-check-grace-period-seconds", "30", "--launch-type", "EC2")
    assert kubectl.request_of(verb, args) == {
        "cluster": "main", "serviceName": "Web_Svc", "taskDefinition": "web:1", "desiredCount": 2,
        "schedulingStrategy": "REPLICA", "deploymentConfiguration": {"maximumPercent": 150},
        "placementConstraints": [{"type": "distinctInstance"}], "placementStrategy": [{"type": "random"}],
        "healthCheckGracePeriodSeconds": 30, "launchType": "EC2"}
    verb, args = parse("update-service", "--cluster", "main", "--service", "Web_Svc", "--force-new-deployment",
                       "--desired-count", "0", "--deployment-configuration", '{"minimumHealthyPercent": 0}')
    assert kubectl.request_of(verb, args) == {"cluster": "main", "service": "Web_Svc", "desiredCount": 0,
                                              "forceNewDeployment": True,
                                              "deploymentConfiguration": {"minimumHealthyPercent": 0}}
    verb, args = parse("update-service", "--service", "s", "--no-force-new-deployment")
    assert kubectl.request_of(verb, args) == {"cluster": "default", "service": "s", "forceNewDeployment": False}
    verb, args = parse("update-service", "--service", "s", "--task-definition", "web:2")
    assert kubectl.request_of(verb, args) == {"cluster": "default", "service": "s", "taskDefinition": "web:2"}
    verb, args = parse("describe-services", "--cluster", "main", "--services", "a", "b", "--include", "TAGS")
    assert kubectl.request_of(verb, args) == {"cluster": "main", "services": ["a", "b"], "include": ["TAGS"]}
    verb, args = parse("list-services", "--launch-type", "EC2", "--scheduling-strategy", "DAEMON")
    assert kubectl.request_of(verb, args) == {"cluster": "default", "launchType": "EC2",
                                              "schedulingStrategy": "DAEMON"}
    assert verb.pages == "serviceArns"
    verb, args = parse("delete-service", "--service", "s")
    assert kubectl.request_of(verb, args) == {"cluster": "default", "service": "s"}
    verb, args = parse("delete-service", "--service", "s", "--force")
    assert kubectl.request_of(verb, args) == {"cluster": "default", "service": "s", "force": True}
    verb, args = parse("list-tasks", "--cluster", "main", "--service-name", "Web_Svc")
    assert kubectl.request_of(verb, args) == {"cluster": "main", "serviceName": "Web_Svc",
                                              "desiredStatus": "RUNNING"}


def test_create_service_reads_cli_input_json(tmp_path):
    path = tmp_path / "service.json"
    path.write_text(json.dumps({"cluster": "main", "serviceName": "a", "taskDefinition": "web", "desiredCount": 1}))
    verb, args = parse("create-service", "--cli-input-json", f"file://{path}", "--desired-count", "3")
    assert kubectl.request_of(verb, args) == {"cluster": "main", "serviceName": "a", "taskDefinition": "web",
                                              "desiredCount": 3}  # flags win, defaults do not


def test_the_services_table():
    shape = service_shape(service_object(operator_status()))
    assert kubectl._services_table({"services": [shape]}) == [
        ["NAME", "STATUS", "DESIRED", "RUNNING", "PENDING", "TASK DEFINITION", "ROLLOUT"],
        ["Web_Svc", "ACTIVE", "2", "2", "0", "web:1", "COMPLETED"]]
    assert kubectl._services_table({"service": service_shape(service_object())})[1][-1] == ""


# --------------------------------------------------------------------------- waiters

WAITERS = {w.command: w for w in kubectl.WAITERS}


def stable_service(**changes: Any) -> dict[str, Any]:
    return {"status": "ACTIVE", "desiredCount": 2, "runningCount": 2, "deployments": [{"id": "d1"}], **changes}


def run_waiter(command: str, *answers: Any) -> tuple[str | None, list[float]]:
    """The waiter over these answers in turn (an EcsError raised as the call would); its result and sleeps."""
    pending, sleeps = list(answers), []

    def ask() -> dict[str, Any]:
        answer = pending.pop(0) if len(pending) > 1 else pending[0]
        if isinstance(answer, EcsError):
            raise answer
        return answer  # type: ignore[no-any-return]

    return kubectl.poll(WAITERS[command], ask, 0.5, sleeps.append), sleeps


def test_the_waiters_are_botocore_s():
    assert {(w.name, w.operation, w.delay, w.max_attempts) for w in kubectl.WAITERS} == {
        ("ServicesStable", "DescribeServices", 15, 40), ("ServicesInactive", "DescribeServices", 15, 40),
        ("TasksRunning", "DescribeTasks", 6, 100), ("TasksStopped", "DescribeTasks", 6, 100)}
    assert [(a.matcher, a.argument, a.state, a.expected) for a in WAITERS["services-stable"].acceptors] == [
        ("pathAny", "failures[].reason", "failure", "MISSING"),
        ("pathAny", "services[].status", "failure", "DRAINING"),
        ("pathAny", "services[].status", "failure", "INACTIVE"),
        ("path", "length(services[?!(length(deployments) == `1` && runningCount == desiredCount)]) == `0`",
         "success", True)]


def test_services_stable_polls_until_one_deployment_runs_all_its_tasks():
    rolling = {"services": [stable_service(deployments=[{"id": "d2"}, {"id": "d1"}])], "failures": []}
    short = {"services": [stable_service(runningCount=1)], "failures": []}
    done = {"services": [stable_service(), stable_service()], "failures": []}
    assert run_waiter("services-stable", rolling, short, done) == (None, [0.5, 0.5])
    assert run_waiter("services-stable", {"services": [], "failures": []}) == (None, [])  # vacuously stable


@pytest.mark.parametrize(("answer", "reason"), [
    ({"services": [stable_service()], "failures": [{"arn": "x", "reason": "MISSING"}]},
     'For expression "failures[].reason" we matched expected path: "MISSING" at least once'),
    ({"services": [stable_service(status="DRAINING")], "failures": []},
     'For expression "services[].status" we matched expected path: "DRAINING" at least once'),
    ({"services": [stable_service(status="INACTIVE")], "failures": []},
     'For expression "services[].status" we matched expected path: "INACTIVE" at least once'),
])
def test_services_stable_fails_on_a_missing_draining_or_inactive_service(answer, reason):
    assert run_waiter("services-stable", answer) == (
        f"Waiter ServicesStable failed: Waiter encountered a terminal failure state: {reason}", [])


def test_a_waiter_gives_up_after_its_attempts_and_on_an_unmatched_error():
    failure, sleeps = run_waiter("services-stable", {"services": [stable_service(runningCount=0)], "failures": []})
    assert failure == "Waiter ServicesStable failed: Max attempts exceeded" and len(sleeps) == 39
    assert run_waiter("services-stable", EcsError("ClusterNotFoundException", "Cluster not found.")) == (
        "Waiter ServicesStable failed: An error occurred (ClusterNotFoundException): Cluster not found.", [])
    failure, _ = run_waiter("services-stable", {"services": [{"status": "ACTIVE"}], "failures": []})
    assert failure is not None and failure.startswith("In function length(), invalid type for value: None")


def test_services_inactive():
    assert run_waiter("services-inactive", {"services": [stable_service(status="DRAINING")], "failures": []},
                      {"services": [stable_service(status="INACTIVE")], "failures": []}) == (None, [0.5])
    failure, _ = run_waiter("services-inactive", {"services": [], "failures": [{"arn": "x", "reason": "MISSING"}]})
    assert failure == ('Waiter ServicesInactive failed: Waiter encountered a terminal failure state: For expression '
                       '"failures[].reason" we matched expected path: "MISSING" at least once')


def test_tasks_running_and_tasks_stopped():
    pending = {"tasks": [{"lastStatus": "RUNNING"}, {"lastStatus": "PENDING"}], "failures": []}
    running = {"tasks": [{"lastStatus": "RUNNING"}] * 2, "failures": []}
    assert run_waiter("tasks-running", pending, running) == (None, [0.5])
    stopped = {"tasks": [{"lastStatus": "RUNNING"}, {"lastStatus": "STOPPED"}], "failures": []}
    assert run_waiter("tasks-running", stopped)[0] == (
        'Waiter TasksRunning failed: Waiter encountered a terminal failure state: For expression '
        '"tasks[].lastStatus" we matched expected path: "STOPPED" at least once')
    failure, sleeps = run_waiter("tasks-running", {"tasks": [], "failures": []})  # an empty list never matches
    assert failure == "Waiter TasksRunning failed: Max attempts exceeded" and len(sleeps) == 99
    assert run_waiter("tasks-stopped", stopped, {"tasks": [{"lastStatus": "STOPPED"}] * 2}) == (None, [0.5])
    failure, _ = run_waiter("tasks-stopped", {"tasks": [], "failures": [{"arn": "x", "reason": "MISSING"}]})
    assert failure == "Waiter TasksStopped failed: Max attempts exceeded"  # no failure acceptor: polls to the end


def test_the_wait_delay_can_be_shortened_for_tests(monkeypatch):
    monkeypatch.delenv("ECS_WAIT_DELAY", raising=False)
    assert kubectl.wait_delay(WAITERS["services-stable"]) == 15
    monkeypatch.setenv("ECS_WAIT_DELAY", "0.5")
    assert kubectl.wait_delay(WAITERS["tasks-running"]) == 0.5
    args = kubectl.parser().parse_args(["wait", "tasks-running", "--cluster", "main", "--tasks", "a", "b"])
    assert (args.cluster, args.tasks, args.operation) == ("main", ["a", "b"], "DescribeTasks")
