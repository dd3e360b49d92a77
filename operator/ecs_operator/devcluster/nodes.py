"""kwok nodes that stand in for the container instances of an ECS cluster.

A node group is a set of nodes labelled with the ECS cluster they belong to; the operator's
ECSCluster selects them by that label. Instance type and zone use Kubernetes' well-known labels,
which the translation maps to ECS's `ecs.instance-type` and `ecs.availability-zone` attributes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..ecs.labels import CLUSTER_LABEL
from .controlplane import KWOK_NODE_LABEL

INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
NODE_GROUP_LABEL = "ecs-operator.dev/node-group"


@dataclass(frozen=True)
class NodeGroup:
    """N identical kwok nodes of one ECS cluster (by default an m5.large's shape)."""

    cluster: str = "default"
    count: int = 1
    cpu: str = "2"
    memory: str = "8Gi"
    pods: str = "110"
    instance_type: str = "m5.large"
    region: str = "us-east-1"
    zones: tuple[str, ...] = ("us-east-1a", "us-east-1b", "us-east-1c")
    name: str | None = None  # node-name prefix; defaults to the cluster name
    os: str = "linux"  # kubernetes.io/os (windows: a Windows container instance)
    arch: str = "amd64"  # kubernetes.io/arch (arm64: Graviton)
    gpus: int = 0  # GPUs each node has, as the extended resource gpu_resource
    gpu_resource: str = "nvidia.com/gpu"

    def node_names(self) -> list[str]:
        return [f"{self.name or self.cluster}-node-{i}" for i in range(self.count)]

    def manifests(self) -> list[dict[str, Any]]:
        """Node objects; status carries capacity, which kwok keeps (nodes accept status on create)."""
        resources = {"cpu": self.cpu, "memory": self.memory, "pods": self.pods}
        if self.gpus:
            resources[self.gpu_resource] = str(self.gpus)
        return [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {
                        KWOK_NODE_LABEL: "fake",
                        CLUSTER_LABEL: self.cluster,
                        NODE_GROUP_LABEL: self.name or self.cluster,
                        INSTANCE_TYPE_LABEL: self.instance_type,
                        ZONE_LABEL: self.zones[i % len(self.zones)],
                        REGION_LABEL: self.region,
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": self.os,
                        "kubernetes.io/arch": self.arch,
                        "type": "kwok",
                    },
                    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                },
                "spec": {},
                "status": {"allocatable": dict(resources), "capacity": dict(resources)},
            }
            for i, name in enumerate(self.node_names())
        ]


def create_node_group(core_v1: Any, group: NodeGroup, timeout: float = 60.0) -> list[str]:
    """Create (or keep) the group's nodes and wait until kwok reports them Ready."""
    from kubernetes.client.exceptions import ApiException

    for manifest in group.manifests():
        try:
            core_v1.create_node(manifest)
        except ApiException as err:
            if err.status != 409:  # an existing node of this name is ours already
                raise
    names = group.node_names()
    deadline = time.monotonic() + timeout
    while True:
        ready = {
            node.metadata.name
            for node in core_v1.list_node(label_selector=f"{NODE_GROUP_LABEL}={group.name or group.cluster}").items
            if any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))
        }
        if ready.issuperset(names):
            return names
        if time.monotonic() > deadline:
            raise TimeoutError(f"nodes not Ready after {timeout:.0f} s: {sorted(set(names) - ready)}")
        time.sleep(0.1)
