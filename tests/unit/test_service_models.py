"""ECSService spec (ECS's CreateService request): every rule, one table row each, and the CRD's copy.

Each invalid row is a minimal bad spec and the message the model gives, field path first. The
rules the CRD states as CEL must carry the same text, so `kubectl apply` and the API layer agree;
the last tests check that against the generated CRD.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ecs_operator.ecs import services
from ecs_operator.ecs.crds import crds
from ecs_operator.ecs.errors import InvalidInput, describe_validation_error
from ecs_operator.ecs.services import DeploymentCircuitBreaker, ServiceSpec

ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3"


def svc(**fields: Any) -> dict[str, Any]:
    """A valid REPLICA service spec, changed by `fields` (None removes a field)."""
    body: dict[str, Any] = {"taskDefinition": "web", "desiredCount": 2, **fields}
    return {k: v for k, v in body.items() if v is not None}


def daemon(**fields: Any) -> dict[str, Any]:
    """A valid DAEMON service spec (no desiredCount), changed by `fields`."""
    return svc(**{"schedulingStrategy": "DAEMON", "desiredCount": None, **fields})


def problems_of(body: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        ServiceSpec.model_validate(body)
    problems = describe_validation_error(caught.value)
    assert problems, "ValidationError without a message"
    return problems


# --------------------------------------------------------------------------- valid

VALID: list[tuple[str, dict[str, Any]]] = [
    ("minimal-replica", svc()),
    ("replica-zero", svc(desiredCount=0)),
    ("daemon", daemon()),
    ("daemon-empty-placement-strategy", daemon(placementStrategy=[])),
    ("daemon-max-100-min-50", daemon(deploymentConfiguration={"maximumPercent": 100, "minimumHealthyPercent": 50})),
    ("terraform-empty-deployment-configuration", svc(desiredCount=0, deploymentConfiguration={})),
    ("terraform-daemon-empty-deployment-configuration", daemon(deploymentConfiguration={})),
    ("task-definition-revision", svc(taskDefinition="web:12")),
    ("task-definition-arn", svc(taskDefinition=ARN)),
    ("task-definition-arn-gov",
     svc(taskDefinition="arn:aws-us-gov:ecs:us-gov-west-1:123456789012:task-definition/w_1:9")),
    ("service-name", svc(serviceName="My_Service-1")),
    ("bounds", svc(desiredCount=100000, healthCheckGracePeriodSeconds=2**31 - 1,
                   deploymentConfiguration={"minimumHealthyPercent": 0, "maximumPercent": 100})),
    ("min-equals-max", svc(deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 100})),
    ("circuit-breaker", svc(deploymentConfiguration={"deploymentCircuitBreaker": {
        "enable": True, "rollback": True, "resetOnHealthyTask": False,
        "thresholdConfiguration": {"type": "UNBOUNDED_PERCENT", "value": 100}}})),
    ("circuit-breaker-count", svc(deploymentConfiguration={"deploymentCircuitBreaker": {
        "enable": True, "rollback": False, "thresholdConfiguration": {"type": "COUNT", "value": 1000}}})),
    ("circuit-breaker-removed-by-terraform", svc(deploymentConfiguration={
        "deploymentCircuitBreaker": {"enable": False, "rollback": False}})),
    ("placement", svc(placementConstraints=[{"type": "distinctInstance"}] * 10,
                      placementStrategy=[{"type": "spread", "field": "instanceId"}] * 5)),
    ("tags", svc(tags=[{"key": f"k{i}", "value": "v" * 256} for i in range(50)],
                 propagateTags="SERVICE")),
    ("tag-without-value", svc(tags=[{"key": "team"}])),
    ("tag-aws-inside", svc(tags=[{"key": "my-aws:key", "value": "x-aws:y"}])),
    ("launch-types", svc(launchType="MANAGED_INSTANCES")),
    ("daemon-ec2", daemon(launchType="EC2")),
    ("force-new-deployment-token", svc(forceNewDeploymentToken="x" * 128)),
]


@pytest.mark.parametrize("body", [row[1] for row in VALID], ids=[row[0] for row in VALID])
def test_valid_service_is_accepted(body: dict[str, Any]) -> None:
    spec = ServiceSpec.model_validate(body)
    assert spec.dump()["taskDefinition"] == body["taskDefinition"]


# --------------------------------------------------------------------------- invalid

DAEMON_MAX = ("deploymentConfiguration.maximumPercent: The daemon scheduling strategy does not support values "
              "above 100 for maximumPercent on a deployment configuration. Change the maximumPercent value to 100, "
              "and try again")

INVALID: list[tuple[str, dict[str, Any], str]] = [
    # --- ECS's own messages
    ("daemon-desiredCount", daemon(desiredCount=1),
     "desiredCount: The daemon scheduling strategy does not support a desired count for services. Remove the "
     "desired count value and try again"),
    ("daemon-desiredCount-zero", daemon(desiredCount=0),
     "desiredCount: The daemon scheduling strategy does not support a desired count for services."),
    ("daemon-placementStrategy", daemon(placementStrategy=[{"type": "random"}]),
     "placementStrategy: The daemon scheduling strategy does not support placement strategies. Remove the "
     "placement strategy and try again"),
    ("daemon-maximumPercent", daemon(deploymentConfiguration={"maximumPercent": 200}), DAEMON_MAX),
    # --- ours
    ("replica-desiredCount-required", svc(desiredCount=None),
     "desiredCount: required for the REPLICA scheduling strategy (the default)"),
    ("explicit-replica-desiredCount-required", svc(desiredCount=None, schedulingStrategy="REPLICA"),
     "desiredCount: required for the REPLICA scheduling strategy (the default)"),
    ("daemon-fargate", daemon(launchType="FARGATE"),
     "launchType: the DAEMON scheduling strategy does not support the FARGATE launch type"),
    ("threshold-percent-above-100", svc(deploymentConfiguration={"deploymentCircuitBreaker": {
        "enable": True, "rollback": True, "thresholdConfiguration": {"type": "BOUNDED_PERCENT", "value": 101}}}),
     "deploymentConfiguration.deploymentCircuitBreaker.thresholdConfiguration.value: a percentage "
     "(BOUNDED_PERCENT, UNBOUNDED_PERCENT) must be 1-100"),
    ("threshold-zero", svc(deploymentConfiguration={"deploymentCircuitBreaker": {
        "enable": True, "rollback": True, "thresholdConfiguration": {"type": "COUNT", "value": 0}}}),
     "deploymentConfiguration.deploymentCircuitBreaker.thresholdConfiguration.value: Input should be greater "
     "than or equal to 1"),
    ("tag-key-aws", svc(tags=[{"key": "aws:cloudformation:stack-name", "value": "x"}]),
     "tags[0].key: the aws: prefix is reserved for AWS use"),
    ("tag-key-AWS", svc(tags=[{"key": "ok"}, {"key": "AwS:x"}]),
     "tags[1].key: the aws: prefix is reserved for AWS use"),
    ("tag-value-aws", svc(tags=[{"key": "k", "value": "aws:x"}]),
     "tags[0].value: the aws: prefix is reserved for AWS use"),
    # --- shapes and bounds
    ("taskDefinition-required", svc(taskDefinition=None), "taskDefinition: Field required"),
    ("taskDefinition-revision-zero", svc(taskDefinition="web:0"), "taskDefinition: String should match pattern"),
    ("taskDefinition-space", svc(taskDefinition="my web"), "taskDefinition: String should match pattern"),
    ("taskDefinition-arn-without-revision",
     svc(taskDefinition="arn:aws:ecs:us-east-1:123456789012:task-definition/web"),
     "taskDefinition: String should match pattern"),
    ("taskDefinition-arn-other-resource", svc(taskDefinition="arn:aws:ecs:us-east-1:123456789012:service/web:1"),
     "taskDefinition: String should match pattern"),
    ("serviceName-pattern", svc(serviceName="my.service"), "serviceName: String should match pattern"),
    ("serviceName-too-long", svc(serviceName="s" * 256), "serviceName: String should have at most 255 characters"),
    ("cluster-pattern", svc(cluster="my cluster"), "cluster: String should match pattern"),
    ("desiredCount-negative", svc(desiredCount=-1), "desiredCount: Input should be greater than or equal to 0"),
    ("desiredCount-too-big", svc(desiredCount=100001), "desiredCount: Input should be less than or equal to 100000"),
    ("schedulingStrategy-unknown", svc(schedulingStrategy="SINGLETON"),
     "schedulingStrategy: Input should be 'REPLICA' or 'DAEMON'"),
    ("minimumHealthyPercent-above-100", svc(deploymentConfiguration={"minimumHealthyPercent": 101}),
     "deploymentConfiguration.minimumHealthyPercent: Input should be less than or equal to 100"),
    ("minimumHealthyPercent-negative", svc(deploymentConfiguration={"minimumHealthyPercent": -1}),
     "deploymentConfiguration.minimumHealthyPercent: Input should be greater than or equal to 0"),
    ("maximumPercent-below-100", svc(deploymentConfiguration={"maximumPercent": 50}),
     "deploymentConfiguration.maximumPercent: Input should be greater than or equal to 100"),
    ("maximumPercent-above-200", svc(deploymentConfiguration={"maximumPercent": 300}),
     "deploymentConfiguration.maximumPercent: Input should be less than or equal to 200"),
    ("circuit-breaker-rollback-required", svc(deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True}}),
     "deploymentConfiguration.deploymentCircuitBreaker.rollback: Field required"),
    ("threshold-type-unknown", svc(deploymentConfiguration={"deploymentCircuitBreaker": {
        "enable": True, "rollback": True, "thresholdConfiguration": {"type": "PERCENT", "value": 5}}}),
     "deploymentConfiguration.deploymentCircuitBreaker.thresholdConfiguration.type: Input should be"),
    ("placementConstraints-more-than-10", svc(placementConstraints=[{"type": "distinctInstance"}] * 11),
     "placementConstraints: List should have at most 10 items"),
    ("placementStrategy-more-than-5", svc(placementStrategy=[{"type": "random"}] * 6),
     "placementStrategy: List should have at most 5 items"),
    ("placementConstraint-memberOf-without-expression", svc(placementConstraints=[{"type": "memberOf"}]),
     "placementConstraints[0]: memberOf needs an expression"),
    ("healthCheckGracePeriodSeconds-negative", svc(healthCheckGracePeriodSeconds=-1),
     "healthCheckGracePeriodSeconds: Input should be greater than or equal to 0"),
    ("propagateTags-unknown", svc(propagateTags="TASK"),
     "propagateTags: Input should be 'NONE', 'TASK_DEFINITION' or 'SERVICE'"),
    ("tags-more-than-50", svc(tags=[{"key": f"k{i}"} for i in range(51)]), "tags: List should have at most 50 items"),
    ("tag-key-too-long", svc(tags=[{"key": "k" * 129}]), "tags[0].key: String should have at most 128 characters"),
    ("tag-value-too-long", svc(tags=[{"key": "k", "value": "v" * 257}]),
     "tags[0].value: String should have at most 256 characters"),
    ("launchType-unknown", svc(launchType="LAMBDA"), "launchType: Input should be"),
    ("forceNewDeploymentToken-too-long", svc(forceNewDeploymentToken="x" * 129),
     "forceNewDeploymentToken: String should have at most 128 characters"),
    ("unknown-field", svc(desiredCnt=3), "desiredCnt: unknown field (not part of the ECS API)"),
    ("unknown-deployment-field", svc(deploymentConfiguration={"maxPercent": 150}),
     "deploymentConfiguration.maxPercent: unknown field (not part of the ECS API)"),
]


@pytest.mark.parametrize(("body", "expected"), [row[1:] for row in INVALID], ids=[row[0] for row in INVALID])
def test_invalid_service_is_refused_naming_the_field(body: dict[str, Any], expected: str) -> None:
    problems = problems_of(body)
    assert any(expected in problem for problem in problems), problems


def test_all_daemon_problems_are_reported_at_once() -> None:
    body = daemon(desiredCount=3, placementStrategy=[{"type": "random"}], launchType="FARGATE",
                  deploymentConfiguration={"maximumPercent": 200})
    assert problems_of(body) == [services.DAEMON_DESIRED_COUNT, services.DAEMON_PLACEMENT_STRATEGY,
                                 services.DAEMON_MAXIMUM_PERCENT, services.DAEMON_FARGATE]


# --------------------------------------------------------------------------- defaults and helpers


@pytest.mark.parametrize(("body", "expected"), [
    (svc(), (100, 200)),
    (svc(deploymentConfiguration={}), (100, 200)),
    (svc(deploymentConfiguration={"minimumHealthyPercent": 50}), (50, 200)),
    (svc(deploymentConfiguration={"maximumPercent": 150}), (100, 150)),
    (svc(deploymentConfiguration={"minimumHealthyPercent": 0, "maximumPercent": 100}), (0, 100)),
    (daemon(), (0, 100)),
    (daemon(deploymentConfiguration={}), (0, 100)),
    (daemon(deploymentConfiguration={"minimumHealthyPercent": 50}), (50, 100)),
], ids=["replica", "replica-empty", "replica-min", "replica-max", "replica-both", "daemon", "daemon-empty",
        "daemon-min"])
def test_effective_deployment_configuration_fills_ecs_defaults(body: dict[str, Any], expected: tuple[int, int]) -> None:
    assert ServiceSpec.model_validate(body).effective_deployment_configuration() == expected


def test_spec_defaults() -> None:
    spec = ServiceSpec.model_validate(svc())
    assert (spec.cluster, spec.schedulingStrategy, spec.healthCheckGracePeriodSeconds) == ("default", "REPLICA", 0)
    assert not spec.is_daemon and spec.circuit_breaker() is None and spec.ignored_fields() == []
    assert ServiceSpec.model_validate(daemon()).is_daemon


@pytest.mark.parametrize(("task_definition", "ref", "family_and_revision"), [
    ("web", "web", ("web", None)),
    ("web:12", "web:12", ("web", 12)),
    (ARN, "web:3", ("web", 3)),
    ("arn:aws-cn:ecs:cn-north-1:123456789012:task-definition/my_app-2:40", "my_app-2:40", ("my_app-2", 40)),
])
def test_task_definition_reference(task_definition: str, ref: str, family_and_revision: tuple[str, int | None]) -> None:
    spec = ServiceSpec.model_validate(svc(taskDefinition=task_definition))
    assert spec.task_definition_ref() == ref
    assert spec.family_and_revision() == family_and_revision


def test_service_name_defaults_to_metadata_name() -> None:
    assert ServiceSpec.model_validate(svc()).name("web-svc") == "web-svc"
    assert ServiceSpec.model_validate(svc(serviceName="Web_1")).name("web-svc") == "Web_1"
    assert ServiceSpec.model_validate(svc(serviceName="Web_1")).name("web.svc") == "Web_1"
    with pytest.raises(InvalidInput) as caught:
        ServiceSpec.model_validate(svc()).name("web.svc")
    assert caught.value.problems == [services.SERVICE_NAME_FROM_METADATA]


def test_known_but_ignored_fields_are_accepted_and_listed() -> None:
    body = svc(
        loadBalancers=[{"targetGroupArn": "arn:aws:elasticloadbalancing:x", "containerName": "web",
                        "containerPort": 80}],
        serviceRegistries=[{"registryArn": "arn:x"}], networkConfiguration={"awsvpcConfiguration": {"subnets": ["s"]}},
        enableECSManagedTags=True, enableExecuteCommand=True, capacityProviderStrategy=[{"capacityProvider": "x"}],
        platformVersion="LATEST", role="arn:aws:iam::123456789012:role/x", deploymentController={"type": "CODE_DEPLOY"},
        serviceConnectConfiguration={"enabled": True}, volumeConfigurations=[{"name": "v"}],
        vpcLatticeConfigurations=[{"roleArn": "x"}], availabilityZoneRebalancing="ENABLED", clientToken="abc",
        deploymentConfiguration={"alarms": {"alarmNames": ["a"], "enable": True, "rollback": True},
                                 "strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5, "lifecycleHooks": [{}],
                                 "linearConfiguration": {"stepPercent": 10},
                                 "canaryConfiguration": {"canaryPercent": 5},
                                 "earlySuccessCriteria": {"enable": True}},
    )
    assert ServiceSpec.model_validate(body).ignored_fields() == [
        *services.IGNORED_SERVICE_FIELDS,
        *(f"deploymentConfiguration.{name}" for name in services.IGNORED_DEPLOYMENT_FIELDS),
    ]


def test_ignored_fields_asking_for_what_happens_anyway_are_not_listed() -> None:
    """Terraform always sends the booleans; ECS, ROLLING and DISABLED are what this controller does."""
    body = svc(enableECSManagedTags=False, enableExecuteCommand=False, deploymentController={"type": "ECS"},
               availabilityZoneRebalancing="DISABLED", loadBalancers=[], serviceRegistries=[],
               deploymentConfiguration={"strategy": "ROLLING", "bakeTimeInMinutes": 0})
    assert ServiceSpec.model_validate(body).ignored_fields() == []


@pytest.mark.parametrize(("breaker", "desired", "threshold"), [
    ({}, 1, 3), ({}, 25, 13), ({}, 400, 200), ({}, 800, 200), ({}, 0, 3),
    ({"thresholdConfiguration": {"type": "BOUNDED_PERCENT", "value": 100}}, 10, 10),
    ({"thresholdConfiguration": {"type": "UNBOUNDED_PERCENT", "value": 50}}, 800, 400),
    ({"thresholdConfiguration": {"type": "UNBOUNDED_PERCENT", "value": 50}}, 1, 1),
    ({"thresholdConfiguration": {"type": "COUNT", "value": 7}}, 1000, 7),
])
def test_circuit_breaker_threshold(breaker: dict[str, Any], desired: int, threshold: int) -> None:
    model = DeploymentCircuitBreaker.model_validate({"enable": True, "rollback": False, **breaker})
    assert model.threshold(desired) == threshold
    assert model.resets_on_healthy_task


def test_circuit_breaker_is_returned_only_when_enabled() -> None:
    on = ServiceSpec.model_validate(svc(deploymentConfiguration={
        "deploymentCircuitBreaker": {"enable": True, "rollback": True, "resetOnHealthyTask": False}}))
    off = ServiceSpec.model_validate(svc(deploymentConfiguration={
        "deploymentCircuitBreaker": {"enable": False, "rollback": False}}))
    breaker = on.circuit_breaker()
    assert breaker is not None and breaker.rollback and not breaker.resets_on_healthy_task
    assert off.circuit_breaker() is None


# --------------------------------------------------------------------------- the generated CRD


def crd() -> dict[str, Any]:
    return crds()["ecs.compat.dev_ecsservices.yaml"]


def root_schema() -> dict[str, Any]:
    schema: dict[str, Any] = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def rules(schema: dict[str, Any]) -> dict[str, dict[str, str]]:
    """message → rule, for the x-kubernetes-validations of one schema node."""
    return {r["message"]: r for r in schema.get("x-kubernetes-validations", [])}


def test_crd_names_columns_and_status() -> None:
    manifest = crd()
    names = manifest["spec"]["names"]
    assert (names["kind"], names["plural"], names["categories"]) == ("ECSService", "ecsservices", ["ecs"])
    assert "ecssvc" in names["shortNames"] and manifest["spec"]["scope"] == "Namespaced"
    version = manifest["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert root_schema()["properties"]["status"]["x-kubernetes-preserve-unknown-fields"] is True
    columns = {c["name"]: (c["jsonPath"], c.get("priority", 0)) for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Cluster": (".spec.cluster", 0), "Status": (".status.status", 0),
        "Task Definition": (".status.taskDefinition", 0), "Desired": (".status.desiredCount", 0),
        "Running": (".status.runningCount", 0), "Pending": (".status.pendingCount", 0),
        "Rollout": (".status.deployments[0].rolloutState", 0), "Age": (".metadata.creationTimestamp", 0),
    }


def test_crd_carries_every_model_rule_as_cel_with_the_same_text() -> None:
    spec = root_schema()["properties"]["spec"]
    spec_rules = rules(spec)
    for message, field_path in [
        (services.DAEMON_DESIRED_COUNT, ".desiredCount"), (services.REPLICA_DESIRED_COUNT, ".desiredCount"),
        (services.DAEMON_PLACEMENT_STRATEGY, ".placementStrategy"),
        (services.DAEMON_MAXIMUM_PERCENT, ".deploymentConfiguration.maximumPercent"),
        (services.DAEMON_FARGATE, ".launchType"),
    ]:
        assert spec_rules[message]["fieldPath"] == field_path, message
        assert "oldSelf" not in spec_rules[message]["rule"]
    threshold = spec["properties"]["deploymentConfiguration"]["properties"]["deploymentCircuitBreaker"][
        "properties"]["thresholdConfiguration"]
    assert rules(threshold)[services.THRESHOLD_PERCENT]["fieldPath"] == ".value"
    tag = rules(spec["properties"]["tags"]["items"])
    assert set(tag) == {services.TAG_KEY_RESERVED, services.TAG_VALUE_RESERVED}
    assert rules(root_schema())[services.SERVICE_NAME_FROM_METADATA]["fieldPath"] == ".spec.serviceName"


def test_crd_makes_cluster_service_name_and_scheduling_strategy_immutable() -> None:
    spec_rules = rules(root_schema()["properties"]["spec"])
    for message, field in [(services.CLUSTER_IMMUTABLE, "cluster"),
                           (services.SCHEDULING_STRATEGY_IMMUTABLE, "schedulingStrategy")]:
        assert spec_rules[message]["rule"] == f"self.{field} == oldSelf.{field}"
        assert spec_rules[message]["fieldPath"] == f".{field}"
    name_rule = rules(root_schema())[services.SERVICE_NAME_IMMUTABLE]
    assert "oldSelf.spec.serviceName" in name_rule["rule"] and "oldSelf.metadata.name" in name_rule["rule"]


def test_crd_accepts_the_terraform_shapes_and_lists_ignored_fields_open() -> None:
    spec = root_schema()["properties"]["spec"]
    assert spec["required"] == ["taskDefinition"]
    config = spec["properties"]["deploymentConfiguration"]
    assert "required" not in config  # {} is valid
    assert (config["properties"]["maximumPercent"]["minimum"], config["properties"]["maximumPercent"]["maximum"]) \
        == (100, 200)
    for name in services.IGNORED_SERVICE_FIELDS:
        assert spec["properties"][name]["x-kubernetes-preserve-unknown-fields"] is True, name
        assert spec["properties"][name]["description"].startswith("Accepted for ECS compatibility"), name
    for name in services.IGNORED_DEPLOYMENT_FIELDS:
        assert config["properties"][name]["x-kubernetes-preserve-unknown-fields"] is True, name
    assert (spec["properties"]["cluster"]["default"], spec["properties"]["schedulingStrategy"]["default"]) \
        == ("default", "REPLICA")


def test_every_spec_field_has_a_description() -> None:
    def walk(node: dict[str, Any], path: str) -> list[str]:
        missing = []
        for name, prop in node.get("properties", {}).items():
            if "description" not in prop:
                missing.append(f"{path}.{name}")
            missing += walk(prop, f"{path}.{name}")
        if "items" in node:
            missing += walk(node["items"], f"{path}[]")
        return missing

    spec = root_schema()["properties"]["spec"]
    # The reused placement shapes (models.py) carry none on their type/field/expression.
    assert [m for m in walk(spec, "spec") if not m.startswith(("spec.placement",))] == []
