{{- define "ecs-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ecs-operator.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ecs-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ecs-operator.serviceAccountName" -}}
{{- default (include "ecs-operator.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The application's rules on namespaced resources: exactly the verbs the operator uses. */}}
{{- define "ecs-operator.namespacedRules" -}}
# Application: the ECS custom resources. patch: kopf's finalizers and annotations (clusters and
# task definitions only; ECSTasks and ECSServices are reconciled from watches); get on
# ecstaskdefinitions: the read before a registration's status write (clusters' status starts from
# the watched object); update on status: the Task/Cluster/Service records (written with
# resourceVersion); create and patch on ecstasks: the service scheduler starts service tasks and
# stops them; delete on ecstasks: expiry of stopped `kubectl ecs run-task` and service tasks; delete
# on ecsservices: a deleted (INACTIVE) service goes after its retention.
- apiGroups: ["ecs.compat.dev"]
  resources: ["ecsclusters"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["ecs.compat.dev"]
  resources: ["ecstaskdefinitions"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["ecs.compat.dev"]
  resources: ["ecstasks"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["ecs.compat.dev"]
  resources: ["ecsservices"]
  verbs: ["list", "watch", "delete"]
- apiGroups: ["ecs.compat.dev"]
  resources: ["ecsclusters/status", "ecstaskdefinitions/status", "ecstasks/status", "ecsservices/status"]
  verbs: ["update"]
# Application: one Pod per task; immutable ConfigMaps hold task definition revisions.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch", "create", "delete"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "create"]
# Application: before a task's Pod is created, a get of each object its task definition's AWS
# references name (docs/mapping.md): the Secret (and its keys), ServiceAccount and claim must exist,
# or the task stops with TaskFailedToStart, as ECS's does when it cannot fetch a secret. get only:
# no list or watch of Secrets.
- apiGroups: [""]
  resources: ["secrets", "serviceaccounts", "persistentvolumeclaims"]
  verbs: ["get"]
# Framework and application: Events about the objects handled (kopf's and the reconciler's).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/* "true" when a watched namespace is a glob pattern (kopf then lists namespaces). */}}
{{- define "ecs-operator.hasGlob" -}}
{{- range .Values.watchNamespaces }}{{ if or (contains "*" .) (contains "?" .) }}true{{ end }}{{ end -}}
{{- end -}}

{{/* The ECS endpoint (`ecs-operator api`): its own name, so that neither Deployment's selector
matches the other's Pods. */}}
{{- define "ecs-operator.endpoint.fullname" -}}
{{- printf "%s-endpoint" (include "ecs-operator.fullname" . | trunc 54 | trimSuffix "-") -}}
{{- end -}}

{{- define "ecs-operator.endpoint.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}-endpoint
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ecs-operator.endpoint.labels" -}}
{{ include "ecs-operator.endpoint.selectorLabels" . }}
app.kubernetes.io/component: endpoint
app.kubernetes.io/part-of: {{ .Chart.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ecs-operator.endpoint.serviceAccountName" -}}
{{- default (include "ecs-operator.endpoint.fullname" .) .Values.endpoint.serviceAccount.name -}}
{{- end -}}

{{/* The namespace of the access-key Secrets (`--credentials-namespace`). */}}
{{- define "ecs-operator.endpoint.credentialsNamespace" -}}
{{- default .Release.Namespace .Values.endpoint.credentialsNamespace -}}
{{- end -}}

{{/* The endpoint's own rules, cluster-wide (an access key may name any namespace). */}}
{{- define "ecs-operator.endpoint.rules" -}}
# Every call is authorized for the key's user first.
- apiGroups: ["authorization.k8s.io"]
  resources: ["subjectaccessreviews"]
  verbs: ["create"]
# The ECS API layer's reads and writes of the custom resources; list and watch: the endpoint
# reads them from watched caches (frontends/endpoint/cache.py). delete:
# DeleteCluster, and CreateService over an INACTIVE service's name; StopTask, DeregisterTaskDefinition
# and DeleteTaskDefinitions patch (the operator deletes tasks and revisions).
- apiGroups: ["ecs.compat.dev"]
  resources: ["ecsclusters", "ecsservices"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["ecs.compat.dev"]
  resources: ["ecstaskdefinitions", "ecstasks"]
  verbs: ["get", "list", "watch", "create", "patch"]
# A task definition revision's body: its immutable ConfigMap.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get"]
# The task metadata endpoint (v4) finds a task's Pod by its label.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
{{- end -}}
