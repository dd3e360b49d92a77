"""Conformance of `ecs-operator api` with real, unmodified clients (boto3 and the aws CLI v1 from
PyPI), on the real control plane and operator: the run-task → wait → describe → stop → wait
cycle, typed exceptions, paginators, services to services-stable; and its security: every
refusal ECS's error, and nothing created by a refused request."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import uuid
from typing import Any

import boto3
import botocore
import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from ecs_operator.frontends.endpoint import protocol

pytestmark = pytest.mark.controlplane

CONTAINER = {"name": "web", "image": "nginx:1.27", "memory": 64}
FAST = {"Delay": 1, "MaxAttempts": 120}  # the waiters' own acceptors, polled every second


def client(endpoint, credentials, **config: Any):
    return boto3.client("ecs", endpoint_url=endpoint.url, region_name="us-east-1",
                        aws_access_key_id=credentials.access_key_id,
                        aws_secret_access_key=credentials.secret_access_key, config=Config(**config))


@pytest.fixture
def ecs(endpoint, ecs_credentials, node_group):
    """boto3 on the endpoint, as a tenant with ECS full access in the test namespace; cluster `main`."""
    node_group(cluster="main", count=2)
    credentials = ecs_credentials()
    ecs = client(endpoint, credentials)
    ecs.create_cluster(clusterName="main")
    ecs.register_task_definition(family="web", containerDefinitions=[CONTAINER])
    return ecs


def ecs_objects(kube, namespace: str, plural: str) -> list[dict[str, Any]]:
    from kubernetes import client as k8s

    return k8s.CustomObjectsApi(kube.api).list_namespaced_custom_object(
        "ecs.compat.dev", "v1alpha1", namespace, plural)["items"]


def test_boto3_runs_waits_describes_and_stops_a_task(ecs):
    run = ecs.run_task(cluster="main", taskDefinition="web")
    assert run["failures"] == [] and len(run["tasks"]) == 1
    arn = run["tasks"][0]["taskArn"]
    assert arn.startswith("arn:aws:ecs:us-east-1:000000000000:task/main/")
    ecs.get_waiter("tasks_running").wait(cluster="main", tasks=[arn], WaiterConfig=FAST)
    described = ecs.describe_tasks(cluster="main", tasks=[arn, "0123456789abcdef0123456789abcdef"])
    task = described["tasks"][0]
    assert task["lastStatus"] == "RUNNING" and task["desiredStatus"] == "RUNNING"
    assert isinstance(task["createdAt"], datetime.datetime) and task["createdAt"].tzinfo is not None
    assert task["containers"][0]["name"] == "web" and task["containers"][0]["lastStatus"] == "RUNNING"
    assert described["failures"] == [{"arn": "0123456789abcdef0123456789abcdef", "reason": "MISSING"}]
    assert described["ResponseMetadata"]["RequestId"] and described["ResponseMetadata"]["RetryAttempts"] == 0
    stopped = ecs.stop_task(cluster="main", task=arn, reason="done")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    ecs.get_waiter("tasks_stopped").wait(cluster="main", tasks=[arn], WaiterConfig=FAST)
    task = ecs.describe_tasks(cluster="main", tasks=[arn])["tasks"][0]
    assert (task["lastStatus"], task["stopCode"], task["stoppedReason"]) == ("STOPPED", "UserInitiated", "done")


def test_errors_are_typed_exceptions_answered_once(ecs):
    with pytest.raises(ecs.exceptions.ClusterNotFoundException) as raised:
        ecs.describe_tasks(cluster="nope", tasks=["x"])
    error = raised.value.response
    assert error["Error"]["Message"] == "Cluster not found."
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400 and error["ResponseMetadata"]["RetryAttempts"] == 0
    with pytest.raises(ecs.exceptions.ClientException, match=r"Unable to describe task definition\."):
        ecs.describe_task_definition(taskDefinition="nope:1")
    with pytest.raises(ecs.exceptions.InvalidParameterException, match=r"Tasks cannot be empty\."):
        ecs.describe_tasks(cluster="main", tasks=[])
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.list_task_definitions(maxResults=1, nextToken="not-a-token")


def test_paginators_follow_next_token_over_pages(ecs):
    for cpu in (64, 65):
        ecs.register_task_definition(family="web", containerDefinitions=[{**CONTAINER, "cpu": cpu}])
    pages = list(ecs.get_paginator("list_task_definitions").paginate(familyPrefix="web",
                                                                     PaginationConfig={"PageSize": 1}))
    arns = [arn for page in pages for arn in page["taskDefinitionArns"]]
    assert len(pages) == 3 and [arn.rsplit(":", 1)[1] for arn in arns] == ["1", "2", "3"]
    assert "nextToken" not in pages[-1]
    whole = ecs.list_task_definitions(familyPrefix="web")
    assert whole["taskDefinitionArns"] == arns and "nextToken" not in whole


def test_boto3_service_reaches_services_stable_and_inactive(ecs):
    created = ecs.create_service(cluster="main", serviceName="api", taskDefinition="web", desiredCount=2)["service"]
    assert created["status"] == "ACTIVE" and created["deployments"][0]["id"].startswith("ecs-svc/")
    ecs.get_waiter("services_stable").wait(cluster="main", services=["api"], WaiterConfig=FAST)
    service = ecs.describe_services(cluster="main", services=["api"])["services"][0]
    assert (service["runningCount"], service["desiredCount"], len(service["deployments"])) == (2, 2, 1)
    assert isinstance(service["createdAt"], datetime.datetime)
    tasks = ecs.list_tasks(cluster="main", serviceName="api")["taskArns"]
    assert len(tasks) == 2
    ecs.update_service(cluster="main", service="api", desiredCount=0)
    ecs.delete_service(cluster="main", service="api")
    ecs.get_waiter("services_inactive").wait(cluster="main", services=["api"], WaiterConfig=FAST)
    missing = ecs.describe_services(cluster="main", services=["nope"])
    assert missing["services"] == [] and missing["failures"][0]["reason"] == "MISSING"


def aws(endpoint, credentials, *args: str) -> subprocess.CompletedProcess[str]:
    """The aws CLI v1 (from PyPI, in this virtualenv), configured only by its environment."""
    env = {**os.environ, **credentials.env(endpoint)}
    return subprocess.run([sys.executable, "-m", "awscli", "ecs", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_aws_cli_runs_waits_describes_and_stops_a_task(endpoint, ecs_credentials, node_group):
    node_group(cluster="main", count=1)
    credentials = ecs_credentials()
    assert aws(endpoint, credentials, "create-cluster", "--cluster-name", "main").returncode == 0
    registered = aws(endpoint, credentials, "register-task-definition", "--family", "web",
                     "--container-definitions", json.dumps([CONTAINER]))
    assert registered.returncode == 0, registered.stderr
    run = aws(endpoint, credentials, "run-task", "--cluster", "main", "--task-definition", "web")
    assert run.returncode == 0, run.stderr
    arn = json.loads(run.stdout)["tasks"][0]["taskArn"]
    waited = aws(endpoint, credentials, "wait", "tasks-running", "--cluster", "main", "--tasks", arn)
    assert waited.returncode == 0, waited.stderr
    described = json.loads(aws(endpoint, credentials, "describe-tasks", "--cluster", "main", "--tasks", arn).stdout)
    assert described["tasks"][0]["lastStatus"] == "RUNNING"
    assert aws(endpoint, credentials, "stop-task", "--cluster", "main", "--task", arn).returncode == 0
    assert aws(endpoint, credentials, "wait", "tasks-stopped", "--cluster", "main", "--tasks", arn).returncode == 0
    listed = json.loads(aws(endpoint, credentials, "list-tasks", "--cluster", "main", "--desired-status",
                            "STOPPED").stdout)
    assert listed["taskArns"] == [arn]
    missing = aws(endpoint, credentials, "describe-clusters", "--clusters", "main", "gone")
    assert json.loads(missing.stdout)["failures"] == [{"arn": "gone", "reason": "MISSING"}]
    refused = aws(endpoint, credentials, "list-tasks", "--cluster", "nope")
    assert refused.returncode == 255  # the aws CLI v1's status for a service error (v2: 254)
    assert ("An error occurred (ClusterNotFoundException) when calling the ListTasks operation: Cluster not found."
            in refused.stderr)


# --------------------------------------------------------------------------- security


def raw(endpoint, action: str, body: bytes, credentials=None, secret: str | None = None,
        when: datetime.datetime | None = None, sign_body: bytes | None = None,
        akid: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """One request as botocore's signer signs it (at `when`, over `sign_body`), sent as it is."""
    headers = {"Content-Type": protocol.CONTENT_TYPE, "X-Amz-Target": f"{protocol.TARGET_PREFIX}.{action}"}
    if credentials is not None:
        request = AWSRequest("POST", endpoint.url + "/", data=sign_body if sign_body is not None else body,
                             headers=headers)
        signer = SigV4Auth(Credentials(akid or credentials.access_key_id, secret or credentials.secret_access_key),
                           "ecs", "us-east-1")
        request.context["timestamp"] = (when or datetime.datetime.now(datetime.UTC)).strftime("%Y%m%dT%H%M%SZ")
        signer._modify_request_before_signing(request)  # X-Amz-Date from the timestamp above
        canonical = signer.canonical_request(request)
        signer._inject_signature_to_request(request, signer.signature(signer.string_to_sign(request, canonical),
                                                                      request))
        headers = dict(request.headers.items())
    answer = urllib3.request("POST", endpoint.url + "/", body=body, headers=headers, retries=False)
    return answer.status, json.loads(answer.data or b"{}"), dict(answer.headers)


def test_every_authentication_failure_is_refused_with_ecs_error_and_creates_nothing(kube, namespace, endpoint,
                                                                                   ecs_credentials):
    credentials = ecs_credentials()
    create = json.dumps({"clusterName": "sneaky"}).encode()
    now = datetime.datetime.now(datetime.UTC)
    cases = {
        "unsigned": (raw(endpoint, "CreateCluster", create), "MissingAuthenticationTokenException"),
        "wrong secret": (raw(endpoint, "CreateCluster", create, credentials, secret="x" * 40),
                         "InvalidSignatureException"),
        "unknown key": (raw(endpoint, "CreateCluster", create, credentials, akid="AKIA" + "Z" * 16),
                        "UnrecognizedClientException"),
        "expired": (raw(endpoint, "CreateCluster", create, credentials, when=now - datetime.timedelta(minutes=6)),
                    "InvalidSignatureException"),
        "future": (raw(endpoint, "CreateCluster", create, credentials, when=now + datetime.timedelta(minutes=6)),
                   "InvalidSignatureException"),
        "tampered body": (raw(endpoint, "CreateCluster", create, credentials, sign_body=b'{"clusterName": "ok"}'),
                          "InvalidSignatureException"),
    }
    for what, ((status, body, headers), code) in cases.items():
        assert (status, body.get("__type")) == (400, code), (what, body)
        assert headers["Content-Type"] == protocol.CONTENT_TYPE and headers["x-amzn-RequestId"], what
    assert cases["expired"][0][1]["message"].startswith("Signature expired: ")
    assert cases["future"][0][1]["message"].startswith("Signature not yet current: ")
    assert ecs_objects(kube, namespace, "ecsclusters") == []
    # the same request, signed right, is served: the refusals above were the signatures'
    assert raw(endpoint, "CreateCluster", create, credentials)[0] == 200


def test_a_key_acts_only_in_its_namespace_and_only_as_its_user_may(kube, namespace, endpoint, ecs_credentials):
    from kubernetes import client as k8s

    other = f"t-{uuid.uuid4().hex[:10]}"
    k8s.CoreV1Api(kube.api).create_namespace({"metadata": {"name": other}})
    try:
        mine, theirs = ecs_credentials(), ecs_credentials(target=other)
        client(endpoint, theirs).create_cluster(clusterName="theirs")
        ours = client(endpoint, mine)
        assert ours.describe_clusters(clusters=["theirs"])["failures"] == [{"arn": "theirs", "reason": "MISSING"}]
        with pytest.raises(ours.exceptions.ClusterNotFoundException):
            ours.run_task(cluster="theirs", taskDefinition="web")
        # a request of theirs replayed under my key id does not verify
        body = json.dumps({"clusterName": "replayed"}).encode()
        status, answer, _ = raw(endpoint, "CreateCluster", body, theirs, akid=mine.access_key_id)
        assert (status, answer["__type"]) == (400, "InvalidSignatureException")
        assert [o["metadata"]["name"] for o in ecs_objects(kube, other, "ecsclusters")] == ["theirs"]
        assert ecs_objects(kube, namespace, "ecsclusters") == []
    finally:
        k8s.CoreV1Api(kube.api).delete_namespace(other)


def test_rbac_decides_what_a_key_may_do(kube, namespace, endpoint, ecs_credentials):
    unbound = client(endpoint, ecs_credentials(granted=False))
    with pytest.raises(unbound.exceptions.AccessDeniedException, match="not authorized to perform: ecs:CreateCluster"):
        unbound.create_cluster(clusterName="nope")
    reader = client(endpoint, ecs_credentials(verbs=["get", "list", "watch"]))
    assert reader.list_clusters()["clusterArns"] == []
    with pytest.raises(reader.exceptions.AccessDeniedException) as raised:
        reader.register_task_definition(family="web", containerDefinitions=[CONTAINER])
    assert "'create' on ecstaskdefinitions.ecs.compat.dev" in str(raised.value)
    assert ecs_objects(kube, namespace, "ecsclusters") == []
    assert ecs_objects(kube, namespace, "ecstaskdefinitions") == []


def test_protocol_mistakes_are_named_400s(endpoint, ecs_credentials):
    credentials = ecs_credentials()
    status, body, _ = raw(endpoint, "NoSuchAction", b"{}", credentials)
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    status, body, _ = raw(endpoint, "RunTask", b"{not json", credentials)
    assert (status, body["__type"]) == (400, "SerializationException")
    status, body, _ = raw(endpoint, "RunTask", b'{"taskDefinition": 7}', credentials)
    assert (status, body["__type"], body["message"]) == (400, "SerializationException",
                                                        "taskDefinition must be a string, not an integer.")
    answer = urllib3.request("GET", endpoint.url + "/", retries=False)
    assert answer.status == 400 and json.loads(answer.data)["__type"] == "UnknownOperationException"


def test_the_endpoint_log_never_holds_a_secret(endpoint, ecs_credentials):
    credentials = ecs_credentials()
    ecs = client(endpoint, credentials)
    ecs.register_task_definition(family="secretive", containerDefinitions=[
        {**CONTAINER, "environment": [{"name": "PASSWORD", "value": "hunter2-very-secret"}]}])
    log = endpoint.log.read_text()
    assert "RegisterTaskDefinition 200" in log
    assert credentials.secret_access_key not in log and "hunter2-very-secret" not in log


def test_botocore_is_not_retrying_client_errors(endpoint, ecs_credentials):
    """A typo costs one request (KECS answers 500s, which every SDK retries)."""
    ecs = client(endpoint, ecs_credentials(), retries={"mode": "standard", "max_attempts": 5})
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        ecs.list_tasks(cluster="typo")
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 0


# --------------------------------------------------------------------------- task metadata endpoint v4


def test_containers_read_their_task_metadata_v4_by_an_unguessable_uri(kube, namespace, ecs):
    from ecs_operator.ecs.metadata import URI_V4

    ecs.register_task_definition(family="pair", containerDefinitions=[
        {"name": "app", "image": "nginx:1.27", "memory": 64, "cpu": 128},
        {"name": "log", "image": "fluent-bit:3", "memory": 32, "essential": False}])
    arn = ecs.run_task(cluster="main", taskDefinition="pair")["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_running").wait(cluster="main", tasks=[arn], WaiterConfig=FAST)
    pod = next(p for p in kube.core.list_namespaced_pod(namespace).items
               if p.metadata.annotations.get("ecs.compat.dev/task-arn") == arn)
    uris = {c.name: next(e.value for e in c.env if e.name == URI_V4) for c in pod.spec.containers}
    assert len(set(uris.values())) == 2 and all(u.startswith("http://127.0.0.1:") for u in uris.values())

    def get(url: str) -> tuple[int, Any]:
        answer = urllib3.request("GET", url, retries=False)
        return answer.status, json.loads(answer.data)

    status, container = get(uris["app"])
    assert status == 200
    assert (container["Name"], container["Image"], container["KnownStatus"]) == ("app", "nginx:1.27", "RUNNING")
    assert container["Labels"]["com.amazonaws.ecs.task-arn"] == arn
    assert container["Labels"]["com.amazonaws.ecs.task-definition-family"] == "pair"
    assert container["Limits"] == {"CPU": 128, "Memory": 64}
    status, task = get(uris["log"] + "/task")
    assert status == 200
    assert (task["TaskARN"], task["Family"], task["Revision"], task["KnownStatus"]) == (arn, "pair", "1", "RUNNING")
    assert task["Cluster"].endswith(":cluster/main") and task["LaunchType"] == "EC2"
    assert sorted(c["Name"] for c in task["Containers"]) == ["app", "log"]
    assert get(uris["app"] + "/task/stats")[0] == 200 and get(uris["app"] + "/stats")[0] == 200
    # no token, no data: a guessed token, a truncated one, another path
    base, _, index = uris["app"].rpartition("-")
    guessed = base[: -32] + "0" * 32 + "-" + index
    for url in (guessed, base, uris["app"] + "/other"):
        assert get(url)[0] == 404, url


# --------------------------------------------------------------------------- idempotency


def test_run_task_with_one_client_token_starts_one_set_of_tasks_even_across_a_kill_9(
        kube, namespace, operator_process, ecs_credentials, node_group, tmp_path):
    import threading
    import time

    from tests.conftest import Endpoint, free_port, start_endpoint

    node_group(cluster="main", count=2)
    credentials = ecs_credentials()
    port = free_port()
    log = tmp_path / "endpoint.log"
    own = Endpoint(f"http://127.0.0.1:{port}", log, start_endpoint(kube.kubeconfig, log, port))
    ecs = client(own, credentials)
    ecs.create_cluster(clusterName="main")
    ecs.register_task_definition(family="web", containerDefinitions=[CONTAINER])
    request = json.dumps({"cluster": "main", "taskDefinition": "web", "count": 3,
                          "clientToken": str(uuid.uuid4())}).encode()
    # sent twice in a row: one set of tasks
    first = raw(own, "RunTask", request, credentials)
    again = raw(own, "RunTask", request, credentials)
    assert first[0] == again[0] == 200
    arns = sorted(t["taskArn"] for t in first[1]["tasks"])
    assert len(arns) == 3 and sorted(t["taskArn"] for t in again[1]["tasks"]) == arns
    assert len(ecs_objects(kube, namespace, "ecstasks")) == 3

    # a new token, and the endpoint killed (-9) as soon as the first of its ECSTasks exists
    request = json.dumps({"cluster": "main", "taskDefinition": "web", "count": 3,
                          "clientToken": str(uuid.uuid4())}).encode()
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            outcome["answer"] = raw(own, "RunTask", request, credentials)
        except Exception as err:  # the connection the kill broke
            outcome["error"] = err

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 30
    while len(ecs_objects(kube, namespace, "ecstasks")) == 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    own.proc.kill()
    own.proc.wait()
    sender.join(timeout=30)
    assert "error" in outcome, f"the endpoint answered before the kill: {outcome}"
    # the SDK's retry: the same request, re-signed, to the endpoint started again
    own.proc = start_endpoint(kube.kubeconfig, log, port)
    try:
        status, answer, _ = raw(own, "RunTask", request, credentials)
    finally:
        own.proc.kill()
    assert status == 200 and len(answer["tasks"]) == 3 and answer["failures"] == []
    objects = ecs_objects(kube, namespace, "ecstasks")
    assert len(objects) == 6  # 3 + 3: nothing started twice
    records = [r["taskArn"] for o in objects for r in (o.get("status") or {}).get("tasks", [])]
    assert len(records) == len(set(records)) == 6


def test_the_endpoint_serves_https_with_the_certificate_given(kube, namespace, operator_process, ecs_credentials,
                                                             tmp_path):
    from ecs_operator.devcluster import pki
    from tests.conftest import Endpoint, free_port, start_endpoint

    certificates = pki.create(tmp_path / "pki")  # a CA and a serving certificate for 127.0.0.1
    port = free_port()
    log = tmp_path / "endpoint.log"
    proc = start_endpoint(kube.kubeconfig, log, port, "--tls-cert-file", str(certificates.serving_cert),
                          "--tls-private-key-file", str(certificates.serving_key), health_scheme="https")
    try:
        credentials = ecs_credentials()
        secure = Endpoint(f"https://127.0.0.1:{port}", log, proc)
        ecs = boto3.client("ecs", endpoint_url=secure.url, region_name="us-east-1",
                           aws_access_key_id=credentials.access_key_id,
                           aws_secret_access_key=credentials.secret_access_key, verify=str(certificates.ca_cert))
        assert ecs.list_clusters()["clusterArns"] == []
        with pytest.raises(urllib3.exceptions.HTTPError):  # plain HTTP is not served on that port
            urllib3.request("POST", f"http://127.0.0.1:{port}/", body=b"{}", retries=False, timeout=5)
    finally:
        proc.kill()
