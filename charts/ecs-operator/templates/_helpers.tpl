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
# Framework and application: Events about the objects handled (kopf's and the reconciler's).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/* "true" when a watched namespace is a glob pattern (kopf then lists namespaces). */}}
{{- define "ecs-operator.hasGlob" -}}
{{- range .Values.watchNamespaces }}{{ if or (contains "*" .) (contains "?" .) }}true{{ end }}{{ end -}}
{{- end -}}
