"""ECS's cluster query language (memberOf expressions) → Kubernetes node affinity.

Supported: `attribute:<name>` and `ec2InstanceId` subjects; operators `== != in !in exists
!exists > >= < <=` and their word forms (`equals`, `not_equals`, `not_in`, `not_exists`,
`greater_than`, …); lists as `[a, b]` (ECS's syntax) or `(a, b)`; `and`/`or`/`not` (also
`&& || !`) with parentheses. The expression becomes
node selector terms in disjunctive normal form (terms are ORed, requirements within a term
ANDed), which is exactly what `requiredDuringSchedulingIgnoredDuringExecution` means.

Refused with a message: regular expressions (`=~ !~`, node selectors have no regex), and
subjects that are not node properties (`task:group`, `runningTasksCount`, `agentVersion`, …).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# ECS built-in attributes → the node labels that carry them on Kubernetes.
ATTRIBUTE_LABELS = {
    "ecs.instance-type": "node.kubernetes.io/instance-type",
    "ecs.availability-zone": "topology.kubernetes.io/zone",
    "ecs.os-type": "kubernetes.io/os",
    "ecs.cpu-architecture": "kubernetes.io/arch",
    "ecs.ami-id": "ecs.compat.dev/ami-id",
    "ecs.vpc-id": "ecs.compat.dev/vpc-id",
    "ecs.subnet-id": "ecs.compat.dev/subnet-id",
    "ecs.os-family": "ecs.compat.dev/os-family",
}
# ECS names CPU architectures as the kernel does; Kubernetes as Go does.
ARCH_VALUES = {"x86_64": "amd64", "arm64": "arm64", "aarch64": "arm64", "i386": "386"}
# And back, for reporting a node's attributes: the name ECS itself reports for each.
ECS_ARCH = {"amd64": "x86_64", "arm64": "arm64", "386": "i386"}
# Node label → the ECS attribute it carries.
LABEL_ATTRIBUTES = {label: attribute for attribute, label in ATTRIBUTE_LABELS.items()}
HOSTNAME_LABEL = "kubernetes.io/hostname"
# ECS's word forms of the operators.
WORD_OPERATORS = {
    "equals": "==", "not_equals": "!=", "not_in": "!in", "not_exists": "!exists", "greater_than": ">",
    "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<=", "matches": "=~", "not_matches": "!~",
}


class QueryError(ValueError):
    pass


def attribute_label(attribute: str) -> str:
    return ATTRIBUTE_LABELS.get(attribute, attribute)


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lp>[(\[]) | (?P<rp>[)\]]) | (?P<comma>,) |
        (?P<op>==|!=|>=|<=|=~|!~|>|<|!in\b|!exists\b|&&|\|\||!) |
        (?P<str>"[^"]*"|'[^']*') |
        (?P<word>[^\s()\[\],"'!=<>~]+)
    )""",
    re.X,
)


def _tokens(expression: str) -> list[str]:
    out: list[str] = []
    pos = 0
    expression = expression.rstrip()
    while pos < len(expression):
        m = _TOKEN.match(expression, pos)
        if not m or m.end() == pos:
            raise QueryError(f"cannot read {expression[pos:pos + 20]!r} at position {pos}")
        pos = m.end()
        out.append(m.group(m.lastgroup or "word"))
    return out


@dataclass(frozen=True)
class Req:
    key: str
    operator: str  # In NotIn Exists DoesNotExist Gt Lt
    values: tuple[str, ...] = ()

    def negated(self) -> Req:
        flip = {"In": "NotIn", "NotIn": "In", "Exists": "DoesNotExist", "DoesNotExist": "Exists"}
        if self.operator in flip:
            return Req(self.key, flip[self.operator], self.values)
        # not (x > n) == x <= n == x < n+1 ; not (x < n) == x >= n == x > n-1
        n = int(self.values[0])
        if self.operator == "Gt":
            return Req(self.key, "Lt", (str(n + 1),))
        return Req(self.key, "Gt", (str(n - 1),))

    def manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "operator": self.operator}
        if self.values:
            out["values"] = list(self.values)
        return out


Dnf = list[list[Req]]  # OR of ANDs


class _Parser:
    def __init__(self, expression: str):
        self.tokens = _tokens(expression)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise QueryError("expression ends too early")
        self.pos += 1
        return tok

    def parse(self) -> Dnf:
        result = self.disjunction()
        if self.peek() is not None:
            raise QueryError(f"unexpected {self.peek()!r}")
        return result

    def disjunction(self) -> Dnf:
        terms = self.conjunction()
        while (self.peek() or "").lower() in ("or", "||"):
            self.take()
            terms = terms + self.conjunction()
        return terms

    def conjunction(self) -> Dnf:
        terms = self.negation()
        while (self.peek() or "").lower() in ("and", "&&"):
            self.take()
            right = self.negation()
            terms = [a + b for a in terms for b in right]
        return terms

    def negation(self) -> Dnf:
        if (self.peek() or "").lower() in ("not", "!"):
            self.take()
            return _negate(self.negation())
        if self.peek() == "(":
            self.take()
            inner = self.disjunction()
            if self.take() != ")":
                raise QueryError("missing ')'")
            return inner
        return [[self.comparison()]]

    def value(self) -> str:
        tok = self.take()
        if tok in ("(", ")", "[", "]", ",") or tok in ("==", "!=", ">", "<", ">=", "<="):
            raise QueryError(f"expected a value, found {tok!r}")
        return tok[1:-1] if tok[:1] in "\"'" else tok

    def comparison(self) -> Req:
        subject = self.take()
        key, arch = _subject_key(subject)
        op = self.take()
        op = WORD_OPERATORS.get(op.lower(), op)
        lower = op.lower()
        if lower in ("exists", "!exists"):
            return Req(key, "Exists" if lower == "exists" else "DoesNotExist")
        if lower in ("=~", "!~"):
            raise QueryError(f"{subject} {op}: regular expressions cannot be expressed as node affinity; "
                             "use == or in with the exact values")
        if lower in ("in", "!in"):
            opening = self.take()
            if opening not in ("[", "("):
                raise QueryError(f"{op} needs a list: [a, b]")
            values = [self.value()]
            while self.peek() == ",":
                self.take()
                values.append(self.value())
            closing = self.take()
            if closing != {"[": "]", "(": ")"}[opening]:
                raise QueryError(f"the list after {op} is not closed")
            return Req(key, "In" if lower == "in" else "NotIn", tuple(_map(v, arch) for v in values))
        if op in ("==", "!="):
            return Req(key, "In" if op == "==" else "NotIn", (_map(self.value(), arch),))
        if op in (">", ">=", "<", "<="):
            raw = self.value()
            if not re.fullmatch(r"-?\d+", raw):
                raise QueryError(f"{subject} {op} {raw}: only whole numbers can be compared")
            n = int(raw)
            if op == ">":
                return Req(key, "Gt", (str(n),))
            if op == ">=":
                return Req(key, "Gt", (str(n - 1),))
            if op == "<":
                return Req(key, "Lt", (str(n),))
            return Req(key, "Lt", (str(n + 1),))
        raise QueryError(f"unknown operator {op!r} after {subject}")


def _map(value: str, arch: bool) -> str:
    return ARCH_VALUES.get(value, value) if arch else value


def _subject_key(subject: str) -> tuple[str, bool]:
    if subject.startswith("attribute:"):
        attribute = subject.removeprefix("attribute:")
        if not attribute:
            raise QueryError("attribute: needs a name")
        return attribute_label(attribute), attribute == "ecs.cpu-architecture"
    if subject == "ec2InstanceId":
        return HOSTNAME_LABEL, False
    raise QueryError(f"subject {subject!r} is not supported (use attribute:<name> or ec2InstanceId)")


def _negate(dnf: Dnf) -> Dnf:
    # not (A or B) = not A and not B; not (a and b) = not a or not b
    result: Dnf = [[]]
    for term in dnf:
        alternatives = [[req.negated()] for req in term]
        result = [a + b for a in result for b in alternatives]
    return result


def member_of_terms(expression: str) -> list[dict[str, Any]]:
    """Node selector terms for one memberOf expression."""
    dnf = _Parser(expression).parse()
    if len(dnf) > 32:
        raise QueryError("expression expands to more than 32 alternatives")
    return [{"matchExpressions": [req.manifest() for req in term]} for term in dnf]


def combine_terms(expressions: list[str]) -> list[dict[str, Any]]:
    """All memberOf expressions must hold: AND them (cross product of their terms)."""
    combined: list[list[dict[str, Any]]] = [[]]
    for expression in expressions:
        terms = member_of_terms(expression)
        combined = [a + t["matchExpressions"] for a in combined for t in terms]
        if len(combined) > 32:
            raise QueryError("memberOf constraints expand to more than 32 alternatives")
    return [{"matchExpressions": reqs} for reqs in combined if reqs]


def terms_match(terms: list[dict[str, Any]], labels: dict[str, str]) -> bool:
    """Whether a node with `labels` satisfies node selector terms (any term, every expression of it),
    as the scheduler decides: for DAEMON services, which instances are eligible."""

    def holds(req: dict[str, Any]) -> bool:
        key, op, values = req["key"], req["operator"], req.get("values") or []
        present = key in labels
        if op == "Exists":
            return present
        if op == "DoesNotExist":
            return not present
        if op == "In":
            return present and labels[key] in values
        if op == "NotIn":
            return not present or labels[key] not in values
        if not present or not labels[key].lstrip("-").isdigit():
            return False
        return int(labels[key]) > int(values[0]) if op == "Gt" else int(labels[key]) < int(values[0])

    return not terms or any(all(holds(r) for r in term.get("matchExpressions", [])) for term in terms)
