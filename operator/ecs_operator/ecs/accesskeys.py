"""ECSAccessKey: an access key of the ECS endpoint, as `aws iam create-access-key` makes one.

A custom resource rather than a Secret, so that RBAC can give it to the endpoint alone: the
operator reads Secrets cluster-wide (a task definition's `secrets` must exist before its task
starts), and Kubernetes RBAC cannot take one namespace's Secrets back from a ClusterRole. Only
the endpoint (`get`, in its credentials namespace) and cluster administrators can read these.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ACCESS_KEY_ID_PATTERN = r"^AKIA[A-Z2-7]{16}$"


class AccessKeySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accessKeyId: str = Field(pattern=ACCESS_KEY_ID_PATTERN, description="The key's id (AKIA…), as the client sends it.")
    secretAccessKey: str = Field(min_length=40, max_length=40, description="The secret the client signs with.")
    userName: str = Field(min_length=1, description="The Kubernetes user the key acts as: its RBAC is the key's.")
    groups: list[str] = Field(default_factory=list, description="The user's Kubernetes groups.")
    namespace: str = Field(min_length=1, max_length=63, description="The namespace the key's ECS calls act in.")
    accountId: str = Field(default="000000000000", pattern=r"^[0-9]{12}$", description="The key's account id.")
    status: Literal["Active", "Inactive"] = Field(default="Active", description="An Inactive key is refused.")
    createDate: str = Field(description="When the key was made (RFC 3339).")
