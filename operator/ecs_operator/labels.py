"""Label and annotation keys shared by the translation, the reconcilers and the dev cluster."""

API_GROUP = "ecs.compat.dev"
API_VERSION = "v1alpha1"

# Nodes: membership of an ECS cluster's node group (its container instances).
CLUSTER_LABEL = f"{API_GROUP}/cluster"
