"""Label and annotation keys shared by the translation, the reconcilers and the dev cluster."""

API_GROUP = "ecs.compat.dev"
API_VERSION = "v1alpha1"

# Nodes: membership of an ECS cluster's node group (its container instances).
CLUSTER_LABEL = f"{API_GROUP}/cluster"

# Pods of tasks: what they belong to, for selection and for the reconcilers.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "ecs-operator"
FAMILY_LABEL = f"{API_GROUP}/family"
REVISION_LABEL = f"{API_GROUP}/revision"
TASK_LABEL = f"{API_GROUP}/task"
INDEX_LABEL = f"{API_GROUP}/task-index"
GROUP_LABEL = f"{API_GROUP}/group"

ANNOTATION_TASK_ARN = f"{API_GROUP}/task-arn"
ANNOTATION_TASK_ID = f"{API_GROUP}/task-id"
ANNOTATION_ESSENTIAL = f"{API_GROUP}/essential-containers"
# Kubernetes container name → ECS container name, where they differ (e.g. "web_1" → "web-1").
ANNOTATION_CONTAINER_NAMES = f"{API_GROUP}/container-names"
# The roles (IAM role ARNs as written), log configuration and Docker labels of the task's containers,
# and the node labels its runtimePlatform needs ("kubernetes.io/arch=arm64,kubernetes.io/os=linux").
ANNOTATION_TASK_ROLE = f"{API_GROUP}/task-role-arn"
ANNOTATION_EXECUTION_ROLE = f"{API_GROUP}/execution-role-arn"
ANNOTATION_LOG_CONFIGURATION = f"{API_GROUP}/log-configuration"
ANNOTATION_DOCKER_LABELS = f"{API_GROUP}/docker-labels"
ANNOTATION_PLATFORM = f"{API_GROUP}/runtime-platform"

# ECSTaskDefinition: revisions deregistered (INACTIVE), as "1,3".
DEREGISTER_ANNOTATION = f"{API_GROUP}/deregistered-revisions"
# ECSTask: an imperative run (`kubectl ecs run-task`): deleted a while after it stops, as in ECS.
EPHEMERAL_LABEL = f"{API_GROUP}/ephemeral"

# Service tasks (ECSTasks an ECSService started): which service, which deployment (its digits).
SERVICE_LABEL = f"{API_GROUP}/service"
DEPLOYMENT_LABEL = f"{API_GROUP}/deployment"
# ECSTask: who asked it to stop ("ServiceSchedulerInitiated" for the service scheduler; absent:
# the user, stopCode UserInitiated).
STOP_CODE_ANNOTATION = f"{API_GROUP}/stop-code"
# ECSService: DeleteService was called (the value: when, RFC 3339). The service drains (DRAINING:
# its tasks stop), then stays describable as INACTIVE for a while, then the object goes.
DELETE_REQUESTED_ANNOTATION = f"{API_GROUP}/delete-requested"
# ECSCluster, ECSTaskDefinition, ECSTask: ECS tags (TagResource), as JSON {member: [{key, value}]}:
# member "" for the cluster, "container-instance/<id>" for its instances, the revision number for
# a task definition's revisions, the task index for the tasks of an ECSTask. (An ECSService keeps
# its tags in spec.tags, as CreateService's request has them.)
TAGS_ANNOTATION = f"{API_GROUP}/tags"
# ECSTaskDefinition: revisions DeleteTaskDefinitions was called for (DELETE_IN_PROGRESS), as JSON
# {revision: when (RFC 3339)}.
DELETED_REVISIONS_ANNOTATION = f"{API_GROUP}/deleted-revisions"
# ECSTask started by a RunTask with a clientToken (its name is derived from the token): the
# SHA-256 of the rest of that request, to tell a retry from another request with the same token.
CLIENT_REQUEST_ANNOTATION = f"{API_GROUP}/client-request"
# Pod: the first 40 hex of the SHA-256 of its task metadata token (the token itself is only in its
# containers' ECS_CONTAINER_METADATA_URI_V4): the ECS endpoint finds the Pod by it.
METADATA_TOKEN_LABEL = f"{API_GROUP}/metadata-token"
