{{/*
Names. Kubernetes names are at most 63 characters; the longest suffix appended below is
"-operator-leader-election" (25), so the base name is cut to 38.
*/}}
{{- define "vfio.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 38 | trimSuffix "-" -}}
{{- end -}}

{{- define "vfio.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 38 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 38 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 38 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "vfio.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vfio.labels" -}}
helm.sh/chart: {{ include "vfio.chart" . }}
app.kubernetes.io/name: {{ include "vfio.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: vfio-passthrough
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "node"). */}}
{{- define "vfio.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vfio.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "vfio.componentLabels" -}}
{{ include "vfio.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "vfio.operator.fullname" -}}
{{- printf "%s-operator" (include "vfio.fullname" .) -}}
{{- end -}}

{{- define "vfio.node.fullname" -}}
{{- printf "%s-node" (include "vfio.fullname" .) -}}
{{- end -}}

{{- define "vfio.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (include "vfio.operator.fullname" .) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- required "operator.serviceAccount.name must name an existing ServiceAccount when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "vfio.node.serviceAccountName" -}}
{{- if .Values.node.serviceAccount.create -}}
{{- default (include "vfio.node.fullname" .) .Values.node.serviceAccount.name -}}
{{- else -}}
{{- required "node.serviceAccount.name must name an existing ServiceAccount when node.serviceAccount.create is false" .Values.node.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
An image reference from values: [registry/]repository(:tag|@digest). The tag defaults to the chart's
appVersion; a digest, when given, wins over the tag. Call with (dict "root" $ "image" .Values.node.image).
*/}}
{{- define "vfio.image" -}}
{{- $registry := .image.registry | default .root.Values.global.imageRegistry | default "" | trimSuffix "/" -}}
{{- $repository := required "image repository must not be empty" .image.repository -}}
{{- $ref := ternary $repository (printf "%s/%s" $registry $repository) (empty $registry) -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (.image.tag | default .root.Chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}
