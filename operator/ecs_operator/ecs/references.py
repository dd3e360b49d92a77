"""The rules by which each AWS reference of a task definition names a Kubernetes object.

A task definition written for ECS refers to AWS: Secrets Manager secrets and SSM parameters,
S3 environment files, registry credentials, IAM roles, EFS and FSx file systems, Docker volumes
shared between tasks. Here each becomes an object in the task's namespace, named by a fixed rule
simple enough to script (a migration from AWS can create the objects), and documented with an
example in docs/mapping.md:

- a name becomes `object_name(name)`: lower-cased, every run of characters other than a-z 0-9
  becomes one "-", no "-" at either end (at most 253 characters; a longer one keeps its first 242
  and adds "-" and 10 hex of its SHA-256);
- Secrets Manager `arn:…:secret:NAME[:json-key[:stage[:id]]]` → Secret `object_name(NAME)`, key
  json-key (else `value`); SSM `arn:…:parameter/a/b` or a bare name `/a/b` → Secret
  `object_name("a/b")`, key `value`;
- environmentFiles `arn:aws:s3:::bucket/dir/app.env` → ConfigMap `object_name("bucket/dir/app.env")`;
- repositoryCredentials → a kubernetes.io/dockerconfigjson Secret named as a secret is;
- taskRoleArn `arn:aws:iam::…:role/path/NAME` (or `NAME`) → ServiceAccount `object_name(NAME)`;
- EFS → PersistentVolumeClaim `object_name(fileSystemId[-accessPointId])`; FSx for Windows →
  `object_name(fileSystemId)`; a `shared` Docker volume → `object_name(volume name)`.

Pure: no Kubernetes client. The reconciler checks that the objects exist before it creates a
task's Pod (a task whose object is missing stops with TaskFailedToStart, as ECS's does when it
cannot fetch a secret); `kubectl ecs convert` lists them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import TaskDefinition

SECRET_KEY_DEFAULT = "value"
DOCKER_CONFIG_KEY = ".dockerconfigjson"
DOCKER_CONFIG_TYPE = "kubernetes.io/dockerconfigjson"
MAX_OBJECT_NAME = 253


def object_name(text: str) -> str:
    """`text` as a Kubernetes object name (a DNS-1123 subdomain without dots), by the documented rule."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if len(name) > MAX_OBJECT_NAME:
        name = name[:242].rstrip("-") + "-" + hashlib.sha256(text.encode()).hexdigest()[:10]
    return name or "x-" + hashlib.sha256(text.encode()).hexdigest()[:10]


def secret_key(text: str) -> str:
    """A JSON key as a Secret key: characters other than letters, digits, '-', '_' and '.' become '_'."""
    key = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    return key if key not in ("", ".", "..") else SECRET_KEY_DEFAULT


@dataclass(frozen=True)
class SecretSource:
    """Where ECS would fetch a secret from, and the Secret and key it is here."""

    service: str  # "asm" (Secrets Manager) or "ssm" (Parameter Store), as the ECS agent says
    aws_name: str  # the secret's or parameter's name
    name: str  # Kubernetes Secret
    key: str  # its key


def secret_source(value_from: str) -> SecretSource:
    """secrets[].valueFrom (or a credentialsParameter) → the Secret and key by the rule."""
    text = value_from.strip()
    match = re.match(r"^arn:[^:]*:secretsmanager:[^:]*:[^:]*:secret:([^:]+)(?::([^:]*))?", text)
    if match:
        json_key = match.group(2)
        return SecretSource("asm", match.group(1), object_name(match.group(1)),
                            secret_key(json_key) if json_key else SECRET_KEY_DEFAULT)
    match = re.match(r"^arn:[^:]*:ssm:[^:]*:[^:]*:parameter/?(.+)$", text)
    path = match.group(1) if match else text
    path = path.strip("/")
    return SecretSource("ssm", path, object_name(path), SECRET_KEY_DEFAULT)


def config_map_for_env_file(arn: str) -> str:
    """environmentFiles[].value `arn:aws:s3:::bucket/key` → ConfigMap `object_name("bucket/key")`."""
    return object_name(arn.split(":::", 1)[-1])


def service_account_for_role(role: str) -> str:
    """taskRoleArn (an IAM role ARN, or a role name) → the ServiceAccount named after the role."""
    return object_name(role.strip().rsplit("/", 1)[-1].rsplit(":", 1)[-1])


@dataclass(frozen=True)
class Reference:
    """One Kubernetes object (and Secret key) a task needs, and the task definition field it is for."""

    kind: str  # Secret | ConfigMap | PersistentVolumeClaim | ServiceAccount
    name: str
    key: str | None  # a Secret key that must be there
    field: str  # e.g. containerDefinitions[0].secrets[1].valueFrom
    source: str  # the AWS reference as written
    purpose: str  # secret | pull | envfile | volume | role
    secret_type: str | None = None  # kubernetes.io/dockerconfigjson for pull secrets
    env: str | None = None  # the variable (or log option) a secret sets
    service: str | None = None  # asm | ssm for secrets

    def failure(self, namespace: str, problem: str) -> str:
        """ECS's stoppedReason for a task that cannot start without this object (ResourceInitializationError)."""
        what = f"{self.kind} {namespace}/{self.name}"
        where = f"(for {self.field}: {self.source})"
        if self.purpose == "secret":
            missing = f"has no key {self.key!r}" if problem == "key" else "not found"
            return (f"ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
                    f"retrieval failed: unable to retrieve secret from {self.service}: {what} {missing} {where}")
        if self.purpose == "pull":
            missing = (f"has no key {self.key!r}" if problem == "key" else
                       f"is not of type {self.secret_type}" if problem == "type" else "not found")
            return (f"ResourceInitializationError: unable to pull secrets or registry auth: pull command failed: "
                    f"registry credentials {what} {missing} {where}")
        if self.purpose == "envfile":
            return f"ResourceInitializationError: failed to download env files: {what} not found {where}"
        if self.purpose == "volume":
            return f"ResourceInitializationError: failed to mount volumes: {what} not found {where}"
        return f"ResourceInitializationError: unable to assume the task role: {what} not found {where}"


def task_references(td: TaskDefinition) -> list[Reference]:
    """Every object (and Secret key) `td`'s tasks need, each once, in the order of the definition."""
    found: list[Reference] = []
    seen: set[tuple[str, str, str | None]] = set()

    def add(ref: Reference) -> None:
        if (ref.kind, ref.name, ref.key) not in seen:
            seen.add((ref.kind, ref.name, ref.key))
            found.append(ref)

    if td.taskRoleArn:
        add(Reference("ServiceAccount", service_account_for_role(td.taskRoleArn), None, "taskRoleArn",
                      td.taskRoleArn, "role"))
    for i, c in enumerate(td.containerDefinitions):
        path = f"containerDefinitions[{i}]"
        if c.repositoryCredentials is not None:
            source = secret_source(c.repositoryCredentials.credentialsParameter)
            add(Reference("Secret", source.name, DOCKER_CONFIG_KEY,
                          f"{path}.repositoryCredentials.credentialsParameter",
                          c.repositoryCredentials.credentialsParameter, "pull", secret_type=DOCKER_CONFIG_TYPE))
        for j, env_file in enumerate(c.environmentFiles or []):
            add(Reference("ConfigMap", config_map_for_env_file(env_file.value), None,
                          f"{path}.environmentFiles[{j}].value", env_file.value, "envfile"))
        for j, secret in enumerate(c.secrets or []):
            source = secret_source(secret.valueFrom)
            add(Reference("Secret", source.name, source.key, f"{path}.secrets[{j}].valueFrom", secret.valueFrom,
                          "secret", env=secret.name, service=source.service))
        log = c.logConfiguration
        for j, secret in enumerate((log.secretOptions if log else None) or []):
            source = secret_source(secret.valueFrom)
            add(Reference("Secret", source.name, source.key, f"{path}.logConfiguration.secretOptions[{j}].valueFrom",
                          secret.valueFrom, "secret", env=secret.name, service=source.service))
    for i, volume in enumerate(td.volumes or []):
        claim = volume_claim(volume)
        if claim is not None:
            add(Reference("PersistentVolumeClaim", claim[0], None, f"volumes[{i}].{claim[2]}", claim[3], "volume"))
    return found


def volume_claim(volume: object) -> tuple[str, str | None, str, str] | None:
    """(claim name, subPath, the volume field, what it names) of a volume that is a PersistentVolumeClaim
    (EFS, FSx for Windows, a shared Docker volume); None for the others."""
    efs = getattr(volume, "efsVolumeConfiguration", None)
    if efs is not None:
        auth = efs.authorizationConfig
        point = auth.accessPointId if auth and auth.accessPointId else None
        sub = (efs.rootDirectory or "").strip("/") or None
        return (object_name(f"{efs.fileSystemId}-{point}" if point else efs.fileSystemId), None if point else sub,
                "efsVolumeConfiguration", efs.fileSystemId + (f" (access point {point})" if point else ""))
    fsx = getattr(volume, "fsxWindowsFileServerVolumeConfiguration", None)
    if fsx is not None:
        sub = fsx.rootDirectory.replace("\\", "/").strip("/") or None
        return object_name(fsx.fileSystemId), sub, "fsxWindowsFileServerVolumeConfiguration", fsx.fileSystemId
    docker = getattr(volume, "dockerVolumeConfiguration", None)
    if docker is not None and docker.scope == "shared":
        name = str(getattr(volume, "name", ""))
        return object_name(name), None, "dockerVolumeConfiguration", f"shared Docker volume {name}"
    return None


def how_to_create(ref: Reference, keys: list[str]) -> str:
    """A kubectl command (or what to do) that makes the object `ref` names."""
    if ref.kind == "Secret" and ref.purpose == "pull":
        return (f"kubectl create secret docker-registry {ref.name} --docker-server=<registry> "
                "--docker-username=<user> --docker-password=<password>")
    if ref.kind == "Secret":
        return f"kubectl create secret generic {ref.name} " + " ".join(f"--from-literal={k}=<value>" for k in keys)
    if ref.kind == "ConfigMap":
        return f"kubectl create configmap {ref.name} --from-env-file=<the .env file of {ref.source}>"
    if ref.kind == "ServiceAccount":
        return (f"kubectl create serviceaccount {ref.name}  # on EKS: kubectl annotate serviceaccount {ref.name} "
                f"eks.amazonaws.com/role-arn=<the role's ARN>")
    return (f"a PersistentVolumeClaim {ref.name} (ReadWriteMany) bound to {ref.source} (EFS CSI driver on EKS, "
            "NFS/SMB elsewhere)")


def needed_objects(td: TaskDefinition) -> list[dict[str, object]]:
    """The objects `td`'s tasks need, one entry per object: kind, name, keys, what for, how to create it."""
    grouped: dict[tuple[str, str], dict[str, object]] = {}
    refs: dict[tuple[str, str], Reference] = {}
    for ref in task_references(td):
        entry = grouped.setdefault((ref.kind, ref.name), {"kind": ref.kind, "name": ref.name, "keys": [], "for": []})
        refs.setdefault((ref.kind, ref.name), ref)
        keys = entry["keys"]
        assert isinstance(keys, list)
        if ref.key and ref.key not in keys:
            keys.append(ref.key)
        uses = entry["for"]
        assert isinstance(uses, list)
        uses.append(f"{ref.field}: {ref.source}")
    for key, entry in grouped.items():
        keys = entry["keys"]
        assert isinstance(keys, list)
        entry["create"] = how_to_create(refs[key], keys)
        if not keys:
            del entry["keys"]
    return list(grouped.values())
