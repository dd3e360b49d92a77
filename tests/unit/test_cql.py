"""ECS cluster query language (memberOf expressions) → node selector terms, one row per rule."""

from __future__ import annotations

from typing import Any

import pytest

from ecs_operator.ecs.cql import QueryError, combine_terms, member_of_terms

TYPE = "node.kubernetes.io/instance-type"
ZONE = "topology.kubernetes.io/zone"
ARCH = "kubernetes.io/arch"
HOST = "kubernetes.io/hostname"


def req(key: str, operator: str, *values: str) -> dict[str, Any]:
    out: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        out["values"] = list(values)
    return out


def terms(*alternatives: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Node selector terms: each argument is one term (its requirements ANDed); terms are ORed."""
    return [{"matchExpressions": list(term)} for term in alternatives]


TRANSLATED: list[tuple[str, str, list[dict[str, Any]]]] = [
    # --- operators
    ("equals", "attribute:ecs.instance-type == t2.small", terms([req(TYPE, "In", "t2.small")])),
    ("not-equals", "attribute:ecs.availability-zone != us-east-1d", terms([req(ZONE, "NotIn", "us-east-1d")])),
    ("in-list", "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
     terms([req(ZONE, "In", "us-east-1a", "us-east-1b")])),
    ("not-in-list", "attribute:ecs.instance-type !in [t2.micro, t2.nano]",
     terms([req(TYPE, "NotIn", "t2.micro", "t2.nano")])),
    ("in-parenthesised-list", "attribute:ecs.availability-zone in (us-east-1a, us-east-1b)",
     terms([req(ZONE, "In", "us-east-1a", "us-east-1b")])),
    ("not-in-parenthesised-list", "attribute:ecs.instance-type !in (t2.micro)",
     terms([req(TYPE, "NotIn", "t2.micro")])),
    ("exists", "attribute:ecs.ami-id exists", terms([req("ecs.compat.dev/ami-id", "Exists")])),
    ("not-exists", "attribute:stack !exists", terms([req("stack", "DoesNotExist")])),
    ("greater", "attribute:gpus > 2", terms([req("gpus", "Gt", "2")])),
    ("greater-or-equal", "attribute:gpus >= 2", terms([req("gpus", "Gt", "1")])),
    ("less", "attribute:gpus < 4", terms([req("gpus", "Lt", "4")])),
    ("less-or-equal", "attribute:gpus <= 4", terms([req("gpus", "Lt", "5")])),
    ("negative-number", "attribute:offset > -1", terms([req("offset", "Gt", "-1")])),
    ("no-spaces", "attribute:ecs.instance-type==t2.small", terms([req(TYPE, "In", "t2.small")])),
    ("quoted-value", "attribute:stack == 'prod'", terms([req("stack", "In", "prod")])),
    # ECS's word forms of the operators
    ("word-equals", "attribute:stack equals prod", terms([req("stack", "In", "prod")])),
    ("word-not-in", "attribute:stack not_in (dev, test)", terms([req("stack", "NotIn", "dev", "test")])),
    ("word-not-exists", "attribute:stack not_exists", terms([req("stack", "DoesNotExist")])),
    # --- combinators
    ("and", "attribute:ecs.instance-type == t2.small and attribute:ecs.availability-zone == us-east-1a",
     terms([req(TYPE, "In", "t2.small"), req(ZONE, "In", "us-east-1a")])),
    ("and-symbol", "attribute:a == 1 && attribute:b == 2", terms([req("a", "In", "1"), req("b", "In", "2")])),
    ("or", "attribute:ecs.instance-type == t2.small or attribute:ecs.instance-type == t2.medium",
     terms([req(TYPE, "In", "t2.small")], [req(TYPE, "In", "t2.medium")])),
    ("or-symbol", "attribute:a == 1 || attribute:b == 2", terms([req("a", "In", "1")], [req("b", "In", "2")])),
    ("and-binds-tighter-than-or", "attribute:a == 1 or attribute:b == 2 and attribute:c == 3",
     terms([req("a", "In", "1")], [req("b", "In", "2"), req("c", "In", "3")])),
    ("parentheses", "(attribute:a == 1 or attribute:b == 2) and attribute:c == 3",
     terms([req("a", "In", "1"), req("c", "In", "3")], [req("b", "In", "2"), req("c", "In", "3")])),
    ("not", "not(attribute:ecs.instance-type == t2.small)", terms([req(TYPE, "NotIn", "t2.small")])),
    ("not-symbol", "!(attribute:stack exists)", terms([req("stack", "DoesNotExist")])),
    ("not-not-equals", "not attribute:a != 1", terms([req("a", "In", "1")])),
    ("not-in", "not(attribute:a in (1, 2))", terms([req("a", "NotIn", "1", "2")])),
    ("not-greater", "not(attribute:gpus > 3)", terms([req("gpus", "Lt", "4")])),
    ("not-less", "not(attribute:gpus < 3)", terms([req("gpus", "Gt", "2")])),
    ("not-or-is-and-of-nots", "not (attribute:a == 1 or attribute:b == 2)",
     terms([req("a", "NotIn", "1"), req("b", "NotIn", "2")])),
    ("not-and-is-or-of-nots", "not (attribute:a == 1 and attribute:b == 2)",
     terms([req("a", "NotIn", "1")], [req("b", "NotIn", "2")])),
    ("keywords-any-case", "attribute:a == 1 AND NOT attribute:b exists",
     terms([req("a", "In", "1"), req("b", "DoesNotExist")])),
    # --- subjects and attribute mapping
    ("attribute-instance-type", "attribute:ecs.instance-type exists", terms([req(TYPE, "Exists")])),
    ("attribute-availability-zone", "attribute:ecs.availability-zone exists", terms([req(ZONE, "Exists")])),
    ("attribute-os-type", "attribute:ecs.os-type == linux", terms([req("kubernetes.io/os", "In", "linux")])),
    ("attribute-cpu-architecture-x86_64", "attribute:ecs.cpu-architecture == x86_64",
     terms([req(ARCH, "In", "amd64")])),
    ("attribute-cpu-architecture-arm64", "attribute:ecs.cpu-architecture != arm64",
     terms([req(ARCH, "NotIn", "arm64")])),
    ("attribute-cpu-architecture-list", "attribute:ecs.cpu-architecture in (x86_64, aarch64)",
     terms([req(ARCH, "In", "amd64", "arm64")])),
    ("attribute-x86_64-only-mapped-for-arch", "attribute:platform == x86_64", terms([req("platform", "In", "x86_64")])),
    ("attribute-vpc-subnet", "attribute:ecs.vpc-id == vpc-1 and attribute:ecs.subnet-id == subnet-1",
     terms([req("ecs.compat.dev/vpc-id", "In", "vpc-1"), req("ecs.compat.dev/subnet-id", "In", "subnet-1")])),
    ("attribute-custom", "attribute:team == payments", terms([req("team", "In", "payments")])),
    ("ec2InstanceId", "ec2InstanceId == i-0abc", terms([req(HOST, "In", "i-0abc")])),
    ("ec2InstanceId-list", "ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']",
     terms([req(HOST, "In", "i-abcd1234", "i-wxyx7890")])),
]


@pytest.mark.parametrize(("expression", "expected"), [row[1:] for row in TRANSLATED],
                         ids=[row[0] for row in TRANSLATED])
def test_member_of_expression_becomes_node_selector_terms(expression: str, expected: list[dict[str, Any]]) -> None:
    assert member_of_terms(expression) == expected


REFUSED: list[tuple[str, str, str]] = [
    ("regex-match", "attribute:ecs.instance-type =~ t2.*",
     "attribute:ecs.instance-type =~: regular expressions cannot be expressed as node affinity; use == or in"),
    ("regex-mismatch", "attribute:ecs.instance-type !~ t2.*", "regular expressions cannot be expressed"),
    ("task-group", "task:group == service:production", "subject 'task:group' is not supported"),
    ("task-group-negated", "not(task:group == database)", "subject 'task:group' is not supported"),
    ("running-tasks-count", "runningTasksCount == 1", "subject 'runningTasksCount' is not supported"),
    ("agent-version", "agentVersion >= 1.0.0", "subject 'agentVersion' is not supported"),
    ("attribute-without-name", "attribute: == a", "attribute: needs a name"),
    ("non-numeric-comparison", "attribute:gpus > many", "attribute:gpus > many: only whole numbers can be compared"),
    ("unknown-operator", "attribute:a like b", "unknown operator 'like' after attribute:a"),
    ("missing-value", "attribute:a ==", "expression ends too early"),
    ("unclosed-parenthesis", "(attribute:a == 1", "expression ends too early"),
    ("stray-parenthesis", "attribute:a == 1)", "unexpected ')'"),
    ("trailing-word", "attribute:a == 1 2", "unexpected '2'"),
    ("in-without-list", "attribute:a in b", "in needs a list"),
    ("too-many-alternatives",
     " and ".join(f"(attribute:k{i} == 1 or attribute:k{i} == 2)" for i in range(6)),
     "expression expands to more than 32 alternatives"),
]


@pytest.mark.parametrize(("expression", "message"), [row[1:] for row in REFUSED], ids=[row[0] for row in REFUSED])
def test_member_of_expression_refused_with_message(expression: str, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        member_of_terms(expression)
    assert message in str(caught.value)


def test_several_constraints_must_all_hold() -> None:
    combined = combine_terms(["attribute:a == 1 or attribute:a == 2", "attribute:ecs.os-type == linux"])
    assert combined == terms([req("a", "In", "1"), req("kubernetes.io/os", "In", "linux")],
                             [req("a", "In", "2"), req("kubernetes.io/os", "In", "linux")])


def test_combined_constraints_refused_beyond_32_alternatives() -> None:
    four = "attribute:a == 1 or attribute:a == 2 or attribute:a == 3 or attribute:a == 4"
    with pytest.raises(QueryError, match="memberOf constraints expand to more than 32 alternatives"):
        combine_terms([four, four, four])
