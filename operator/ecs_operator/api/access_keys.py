"""Access keys for the ECS endpoint, as `aws iam create-access-key` makes them: each one an
ECSAccessKey in the endpoint's own namespace (ecs/accesskeys.py says why not a Secret), binding a
Kubernetes user (and groups), the namespace its ECS calls act in and the account id of its ARNs.

An administrator mints them (`kubectl ecs create-access-key`) with their own Kubernetes
credentials; the endpoint only reads them, by name. What a key may do is the Kubernetes RBAC of
its user: the endpoint asks the API server (SubjectAccessReview) before every call.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ..ecs import arns
from ..ecs.accesskeys import AccessKeySpec
from ..ecs.labels import API_GROUP, API_VERSION
from ..ecs.times import parse, rfc3339
from .errors import EcsError

DEFAULT_CREDENTIALS_NAMESPACE = "ecs-system"
PLURAL = "ecsaccesskeys"
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # the base32 letters of AWS's key ids


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str
    user: str
    groups: tuple[str, ...]
    namespace: str  # where this key's ECS calls act
    account: str
    created: datetime
    active: bool = True

    def metadata(self) -> dict[str, Any]:
        """IAM's AccessKeyMetadata (what list-access-keys shows: never the secret)."""
        return {"UserName": self.user, "AccessKeyId": self.access_key_id,
                "Status": "Active" if self.active else "Inactive", "CreateDate": self.created}


def resource_name(access_key_id: str) -> str:
    return access_key_id.lower()


def new_access_key(user: str, groups: list[str], namespace: str, account: str = arns.DEFAULT_ACCOUNT) -> AccessKey:
    access_key_id = "AKIA" + "".join(secrets.choice(_ALPHABET) for _ in range(16))
    secret = base64.b64encode(secrets.token_bytes(30)).decode()  # 40 characters, as AWS's
    return AccessKey(access_key_id, secret, user, tuple(groups), namespace, account,
                     datetime.now(UTC).replace(microsecond=0))


def to_resource(key: AccessKey) -> dict[str, Any]:
    spec = AccessKeySpec(accessKeyId=key.access_key_id, secretAccessKey=key.secret_access_key, userName=key.user,
                         groups=list(key.groups), namespace=key.namespace, accountId=key.account,
                         status="Active" if key.active else "Inactive", createDate=rfc3339(key.created))
    return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ECSAccessKey",
            "metadata": {"name": resource_name(key.access_key_id)}, "spec": spec.model_dump()}


def from_resource(obj: dict[str, Any]) -> AccessKey | None:
    """The key an ECSAccessKey holds; None for one that does not validate."""
    try:
        spec = AccessKeySpec.model_validate(obj.get("spec") or {})
    except ValueError:
        return None
    return AccessKey(spec.accessKeyId, spec.secretAccessKey, spec.userName, tuple(spec.groups), spec.namespace,
                     spec.accountId, parse(spec.createDate) or datetime.fromtimestamp(0, UTC),
                     spec.status == "Active")


def _custom(core: Any) -> client.CustomObjectsApi:
    """The custom objects API on the client of `core` (any generated API object)."""
    return client.CustomObjectsApi(core.api_client)


def create_access_key(core: client.CoreV1Api, user: str, groups: list[str], namespace: str,
                      credentials_namespace: str = DEFAULT_CREDENTIALS_NAMESPACE,
                      account: str = arns.DEFAULT_ACCOUNT) -> AccessKey:
    """A new key stored as an ECSAccessKey (the credentials namespace created when missing)."""
    if not user:
        raise EcsError("InvalidParameterException", "--user must name the Kubernetes user the key acts as.")
    if not namespace:
        raise EcsError("InvalidParameterException", "--namespace must name the namespace the key's ECS calls act in.")
    key = new_access_key(user, groups, namespace, account)
    try:
        try:
            core.create_namespace({"metadata": {"name": credentials_namespace}})
        except ApiException as err:
            if err.status != 409:
                raise
        _custom(core).create_namespaced_custom_object(API_GROUP, API_VERSION, credentials_namespace, PLURAL,
                                                      to_resource(key))
    except ApiException as err:
        raise _error(err, credentials_namespace) from None
    return key


def list_access_keys(core: client.CoreV1Api, user: str | None = None,
                     credentials_namespace: str = DEFAULT_CREDENTIALS_NAMESPACE) -> list[AccessKey]:
    try:
        items = _custom(core).list_namespaced_custom_object(API_GROUP, API_VERSION, credentials_namespace,
                                                            PLURAL)["items"]
    except ApiException as err:
        raise _error(err, credentials_namespace) from None
    keys = [key for item in items if (key := from_resource(item)) is not None]
    return sorted((k for k in keys if user is None or k.user == user), key=lambda k: (k.user, k.created))


def delete_access_key(core: client.CoreV1Api, access_key_id: str,
                      credentials_namespace: str = DEFAULT_CREDENTIALS_NAMESPACE) -> None:
    try:
        _custom(core).delete_namespaced_custom_object(API_GROUP, API_VERSION, credentials_namespace, PLURAL,
                                                      resource_name(access_key_id))
    except ApiException as err:
        if err.status == 404 and "the server could not find the requested resource" not in (err.body or ""):
            raise EcsError("NoSuchEntity", f"The Access Key with id {access_key_id} cannot be found.") from None
        raise _error(err, credentials_namespace) from None


def read_access_key(core: client.CoreV1Api, access_key_id: str,
                    credentials_namespace: str = DEFAULT_CREDENTIALS_NAMESPACE) -> AccessKey | None:
    """The key of that id (None when there is none); what the endpoint calls, by name only."""
    if not access_key_id.isalnum() or len(access_key_id) > 128:
        return None
    try:
        obj = _custom(core).get_namespaced_custom_object(API_GROUP, API_VERSION, credentials_namespace, PLURAL,
                                                         resource_name(access_key_id))
    except ApiException as err:
        if err.status == 404 and "the server could not find the requested resource" not in (err.body or ""):
            return None
        raise _error(err, credentials_namespace) from None
    key = from_resource(obj)
    return key if key is not None and key.access_key_id == access_key_id else None


def _error(err: ApiException, credentials_namespace: str) -> EcsError:
    if err.status == 403:
        return EcsError("AccessDeniedException",
                        f"not allowed to manage ECSAccessKeys in namespace {credentials_namespace} (access keys are "
                        "minted by an administrator of the ECS endpoint)")
    if err.status == 404:
        return EcsError("ServerException", "the ECSAccessKey custom resource is not installed in this cluster "
                                           "(kubectl apply -f crds/)")
    return EcsError("ServerException", f"the Kubernetes API answered {err.status} {err.reason}")
