"""Kubernetes-style status conditions (type, status, reason, message, observedGeneration)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .times import now


def set_condition(status: dict[str, Any], type_: str, ok: bool, reason: str, message: str, generation: int | None
                  ) -> None:
    conditions = [c for c in status.get("conditions", []) if c.get("type") != type_]
    old = next((c for c in status.get("conditions", []) if c.get("type") == type_), None)
    value = "True" if ok else "False"
    transition = old["lastTransitionTime"] if old and old.get("status") == value else now()
    conditions.append({"type": type_, "status": value, "reason": reason, "message": message[:32768],
                       "lastTransitionTime": transition, "observedGeneration": generation})
    status["conditions"] = conditions


def condition_writer(type_: str, ok: bool, reason: str, message: str, generation: int | None
                     ) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A status mutation that only sets one condition (for kube.update_status)."""

    def mutate(status: dict[str, Any]) -> dict[str, Any]:
        set_condition(status, type_, ok, reason, message, generation)
        return status

    return mutate
