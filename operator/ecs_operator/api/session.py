"""What one caller's ECS calls act on: a Kubernetes API client and the namespace its ECS lives in.

The API layer reads and writes only the custom resources (and, for a revision's body, its
immutable ConfigMap): what it does, `kubectl apply` could do too. API errors become ECS errors
here, once, for every action.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ..ecs.labels import API_GROUP, API_VERSION
from .errors import EcsError

T = TypeVar("T")
# How long an action waits for the operator to answer (a registration, a task's first status).
WAIT_SECONDS = 20.0


class Session:
    def __init__(self, api_client: client.ApiClient, namespace: str, wait_seconds: float = WAIT_SECONDS):
        self.namespace = namespace
        self.wait_seconds = wait_seconds
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str | None = None, context: str | None = None,
                        namespace: str | None = None) -> Session:
        """As kubectl chooses: the file (or KUBECONFIG, ~/.kube/config), the context, its namespace."""
        try:
            api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
            contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
        except (config.ConfigException, OSError, TypeError) as err:
            raise EcsError("ClientException", f"no usable kubeconfig: {err}") from None
        chosen = next((c for c in contexts if c["name"] == context), active) if context else active
        return cls(api_client, namespace or (chosen or {}).get("context", {}).get("namespace") or "default")

    # ---------------------------------------------------------------- custom resources

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with ecs_errors():
            return fn(API_GROUP, API_VERSION, self.namespace, *args, **kwargs)

    def list(self, plural: str, label_selector: str = "") -> list[dict[str, Any]]:
        answer: dict[str, Any] = self._call(self.custom.list_namespaced_custom_object, plural,
                                            label_selector=label_selector)
        items: list[dict[str, Any]] = answer["items"]
        return items

    def get(self, plural: str, name: str) -> dict[str, Any] | None:
        if not _KUBERNETES_NAME.fullmatch(name or ""):
            return None  # no object has it; and "" or ".." would make the URL name another resource
        with ecs_errors():
            try:
                obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
                    API_GROUP, API_VERSION, self.namespace, plural, name)
                return obj
            except ApiException as err:
                if err.status == 404 and not _not_installed(err):
                    return None
                raise

    def peek(self, plural: str, name: str) -> dict[str, Any] | None:
        """`get` for a caller that takes "not there" from a cache a moment behind (a cached session
        answers it without the API server): one that creates under a deterministic name next,
        which the API server refuses if the object exists after all."""
        return self.get(plural, name)

    def tasks_with_ids(self, task_ids: set[str]) -> builtins.list[dict[str, Any]]:
        """ECSTasks among which are all whose status records one of these task ids (32 hex): here
        every ECSTask of the namespace; a cached session finds them by an index."""
        return self.list("ecstasks")

    def _post(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        """The create request itself (ApiException as raised): what a cached session sends otherwise."""
        created: dict[str, Any] = self.custom.create_namespaced_custom_object(
            API_GROUP, API_VERSION, self.namespace, plural, body)
        return created

    def create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        with ecs_errors():
            return self._post(plural, body)

    def create_new(self, plural: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Create the object, or None when one of that name exists already (a deterministic
        name makes creation idempotent: of two concurrent callers, one creates it)."""
        with ecs_errors():
            try:
                return self._post(plural, body)
            except ApiException as err:
                if err.status == 409 and "AlreadyExists" in (err.body or ""):
                    return None
                raise

    def patch(self, plural: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        _check_name(name)
        patched: dict[str, Any] = self._call(self.custom.patch_namespaced_custom_object, plural, name, body)
        return patched

    def update(self, plural: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any] | None],
               attempts: int = 5) -> dict[str, Any] | None:
        """Read-modify-write: `change(current object)` → a merge patch (None: nothing to do), sent
        with the resourceVersion it was computed from and recomputed when the object changed
        meanwhile (409), so that two concurrent callers never lose each other's change.
        None when the object is gone."""
        for _ in range(attempts):
            current = self.get(plural, name)
            if current is None:
                return None
            patch = change(current)
            if patch is None:
                return current
            metadata = {**patch.get("metadata", {}), "resourceVersion": current["metadata"]["resourceVersion"]}
            with ecs_errors():
                try:
                    patched: dict[str, Any] = self.custom.patch_namespaced_custom_object(
                        API_GROUP, API_VERSION, self.namespace, plural, name, {**patch, "metadata": metadata})
                    return patched
                except ApiException as err:
                    if err.status != 409:
                        raise
        raise EcsError("ServerException", f"{plural}/{name} kept changing; try again")

    def delete(self, plural: str, name: str) -> None:
        """Delete one object; one already gone counts as deleted."""
        _check_name(name)
        with ecs_errors():
            try:
                self.custom.delete_namespaced_custom_object(API_GROUP, API_VERSION, self.namespace, plural, name)
            except ApiException as err:
                if err.status != 404:
                    raise

    def config_map_data(self, name: str) -> dict[str, str]:
        with ecs_errors():
            data: dict[str, str] = self.core.read_namespaced_config_map(name, self.namespace).data or {}
            return data

    # ---------------------------------------------------------------- waiting for the operator

    def wait(self, probe: Callable[[], T | None]) -> T | None:
        """`probe()` until it is truthy or `wait_seconds` have passed; its last value."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            value = probe()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.2)


# A Kubernetes object name (RFC 1123 subdomain).
_KUBERNETES_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _check_name(name: str) -> None:
    if len(name) > 253 or not _KUBERNETES_NAME.fullmatch(name):
        raise EcsError("ClientException", f"{name!r} is not the name of a Kubernetes object.")


def _not_installed(err: ApiException) -> bool:
    return err.status == 404 and "the server could not find the requested resource" in (err.body or "")


@contextlib.contextmanager
def ecs_errors() -> Iterator[None]:
    """API errors, and an unreachable API server, as ECS errors."""
    try:
        yield
    except ApiException as err:
        raise _ecs_error(err) from None
    except urllib3.exceptions.HTTPError as err:
        raise EcsError("ServerException", f"cannot reach the Kubernetes API server ({err}); check the "
                                          "kubeconfig (--kubeconfig, KUBECONFIG)") from None


def _ecs_error(err: ApiException) -> EcsError:
    if _not_installed(err):
        return EcsError("ServerException", "the ECS custom resources are not installed in this cluster "
                                           "(kubectl apply -f crds/)")
    if err.status in (400, 404, 409, 422):  # refused by admission, gone meanwhile, or a conflict
        try:
            message = json.loads(err.body).get("message", err.body)
        except (TypeError, ValueError):
            message = err.body
        return EcsError("ClientException", str(message))
    if err.status == 403:
        return EcsError("AccessDeniedException", str(err.reason))
    return EcsError("ServerException", f"the Kubernetes API answered {err.status} {err.reason}")
