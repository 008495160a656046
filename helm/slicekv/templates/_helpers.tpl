{{/* Chart name, truncated to the 63 characters a label value may hold. */}}
{{- define "slicekv.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name; the release name alone when it already contains the chart name. */}}
{{- define "slicekv.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "slicekv.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object the chart renders. */}}
{{- define "slicekv.labels" -}}
helm.sh/chart: {{ include "slicekv.chart" . }}
app.kubernetes.io/name: {{ include "slicekv.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: slicekv
{{- end -}}

{{/* Selects the operator's pods. */}}
{{- define "slicekv.operatorSelectorLabels" -}}
app.kubernetes.io/name: {{ include "slicekv.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/*
Selects the data-plane pods. The operator creates them (not this chart) and labels them
slicekv.io/component=dataplane and slicekv.io/cluster=<KVCluster name> (operator/core/clusterObjects.ts).
*/}}
{{- define "slicekv.dataplaneSelectorLabels" -}}
slicekv.io/component: dataplane
{{- end -}}

{{- define "slicekv.operatorServiceAccountName" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (printf "%s-operator" (include "slicekv.fullname" .)) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "slicekv.dataplaneServiceAccountName" -}}
{{- if .Values.dataplane.serviceAccount.create -}}
{{- default (printf "%s-dataplane" (include "slicekv.fullname" .)) .Values.dataplane.serviceAccount.name -}}
{{- else -}}
{{- required "dataplane.serviceAccount.name is required when dataplane.serviceAccount.create is false" .Values.dataplane.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The namespaces the operator reconciles: watchNamespaces, or the release namespace. */}}
{{- define "slicekv.watchNamespaces" -}}
{{- if .Values.watchNamespaces -}}
{{- join "," (uniq .Values.watchNamespaces) -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- define "slicekv.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}
