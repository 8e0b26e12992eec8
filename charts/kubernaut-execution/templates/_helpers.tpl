{{/* Chart name, overridable. */}}
{{- define "kubernaut-execution.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name; release-prefixed so two releases never collide cluster-wide. */}}
{{- define "kubernaut-execution.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The release-independent part of the execution contract, generated from the Go package execution
(files/contract.json): label keys, step names, the Task prefix and the name parts below. Templates and
admission policies read these names from here, never as literals, so the controller and the chart
cannot disagree.
*/}}
{{- define "kubernaut-execution.staticContract" -}}
{{- .Files.Get "files/contract.json" }}
{{- end }}

{{/* Name of an action's inert ClusterRole (and static ServiceAccount). Call with (list $ "<action>"). */}}
{{- define "kubernaut-execution.actionName" -}}
{{- $contract := include "kubernaut-execution.staticContract" (index . 0) | fromJson }}
{{- printf "%s%s%s" (include "kubernaut-execution.fullname" (index . 0)) $contract.actionClusterRolePrefix (index . 1) }}
{{- end }}

{{/* Prefix of the per-run ServiceAccounts the controller creates: <prefix><run id>. */}}
{{- define "kubernaut-execution.runServiceAccountPrefix" -}}
{{- $contract := include "kubernaut-execution.staticContract" . | fromJson }}
{{- printf "%s%s" (include "kubernaut-execution.fullname" .) $contract.runServiceAccountPrefix }}
{{- end }}

{{/* Name of the policy ConfigMap. */}}
{{- define "kubernaut-execution.policyConfigMapName" -}}
{{- printf "%s-policies" (include "kubernaut-execution.fullname" .) }}
{{- end }}

{{/* Hash of the policy ConfigMap's data: on the ConfigMap and the controller's pod template. */}}
{{- define "kubernaut-execution.policyHash" -}}
{{- print ((.Files.Glob "files/policies/*").AsConfig) (include "kubernaut-execution.gateConfig" .) | sha256sum }}
{{- end }}

{{/*
Namespaces no action may run in, as a JSON list, sorted: the contract's fixed ones (kube-system,
kube-public, kube-node-lease), the release namespace (its policy ConfigMap holds the gate) and
rbac.additionalProtectedNamespaces. Values can add to the list, never remove from it. The admission
policies and the gate all read it.
*/}}
{{- define "kubernaut-execution.protectedNamespaces" -}}
{{- $contract := include "kubernaut-execution.staticContract" . | fromJson }}
{{- concat $contract.targets.protectedNamespaces .Values.rbac.additionalProtectedNamespaces (list .Release.Namespace) | uniq | sortAlpha | toJson }}
{{- end }}

{{/* The chart's configuration the policies read at data.kubernaut.config (the _config.json key). */}}
{{- define "kubernaut-execution.gateConfig" -}}
{{- $config := dict "protectedNamespaces" (include "kubernaut-execution.protectedNamespaces" . | fromJsonArray) "allowedImageRegistries" (.Values.gate.allowedImageRegistries | sortAlpha) }}
{{- dict "kubernaut" (dict "config" $config) | toPrettyJson }}
{{- end }}

{{/* The execution contract's ConfigMap, which the controller and the helm test mount. */}}
{{- define "kubernaut-execution.contractName" -}}
{{- printf "%s-execution-contract" (include "kubernaut-execution.fullname" .) }}
{{- end }}

{{/* Name of the controller's ServiceAccount, ClusterRole, Role, bindings and NetworkPolicy. */}}
{{- define "kubernaut-execution.controllerName" -}}
{{- printf "%s-controller" (include "kubernaut-execution.fullname" .) }}
{{- end }}

{{/* The action pods' NetworkPolicy, which the helm test looks for. */}}
{{- define "kubernaut-execution.actionPodsPolicyName" -}}
{{- printf "%s-action-pods" (include "kubernaut-execution.fullname" .) }}
{{- end }}

{{/* RBAC data computed by the generator from the catalogue. */}}
{{- define "kubernaut-execution.rbac" -}}
{{- .Files.Get "files/rbac.json" }}
{{- end }}

{{/* Standard labels. Call with (list $ "<component>"). */}}
{{- define "kubernaut-execution.labels" -}}
{{- $ := index . 0 -}}
helm.sh/chart: {{ printf "%s-%s" $.Chart.Name $.Chart.Version | replace "+" "_" }}
{{ include "kubernaut-execution.selectorLabels" . }}
app.kubernetes.io/version: {{ $.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $.Release.Service }}
app.kubernetes.io/part-of: kubernaut
{{- with $.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The metadata annotations of every object: commonAnnotations plus the object's own, as a block already
indented under metadata (nothing at all when there are none). Call with $, or (list $ (dict ...)) for an
object with annotations of its own.
*/}}
{{- define "kubernaut-execution.annotations" -}}
{{- $root := . }}
{{- $own := dict }}
{{- if kindIs "slice" . }}
{{- $root = index . 0 }}
{{- $own = index . 1 }}
{{- end }}
{{- with merge (deepCopy $own) (deepCopy ($root.Values.commonAnnotations | default dict)) }}
{{- printf "annotations:\n%s" (toYaml . | indent 2) | nindent 2 }}
{{- end }}
{{- end }}

{{/* Labels that select one component's pods; the NetworkPolicies use them. Call with (list $ "<component>"). */}}
{{- define "kubernaut-execution.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "kubernaut-execution.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* repository:tag, or repository@digest when a digest is set (digest wins). */}}
{{- define "kubernaut-execution.image" -}}
{{- if .digest }}
{{- printf "%s@%s" .repository .digest }}
{{- else }}
{{- printf "%s:%s" .repository .tag }}
{{- end }}
{{- end }}

{{/*
The restricted pod and container settings and the /tmp volume, generated from package steps
(files/pod-settings.json): the Tasks' steps and the Jobs get the same from the same place.
*/}}
{{- define "kubernaut-execution.podSettings" -}}
{{- .Files.Get "files/pod-settings.json" }}
{{- end }}

{{/*
Pod-level settings of the restricted Pod Security Standard, shared by the controller and action pods.
runAsNonRoot is enforced by the kubelet against the image's user even when runAsUser is omitted (OpenShift).
*/}}
{{- define "kubernaut-execution.podSecurityContext" -}}
{{- toYaml (include "kubernaut-execution.podSettings" . | fromJson).pod }}
{{- with .Values.securityContext.runAsUser }}
runAsUser: {{ . }}
{{- end }}
{{- with .Values.securityContext.runAsGroup }}
runAsGroup: {{ . }}
{{- end }}
{{- end }}

{{/*
Container-level restricted settings. allowPrivilegeEscalation is spelled out because the restricted
standard requires it explicitly false; the root filesystem is read-only, writes go to the /tmp emptyDir.
*/}}
{{- define "kubernaut-execution.containerSecurityContext" -}}
{{- toYaml (include "kubernaut-execution.podSettings" . | fromJson).container }}
{{- end }}

{{/* HOME and kubectl's cache point into the /tmp emptyDir: the root filesystem is read-only. */}}
{{- define "kubernaut-execution.tmpEnv" -}}
{{- toYaml (include "kubernaut-execution.podSettings" . | fromJson).env }}
{{- end }}

{{- define "kubernaut-execution.tmpVolumeMount" -}}
{{- toYaml (include "kubernaut-execution.podSettings" . | fromJson).mounts }}
{{- end }}

{{- define "kubernaut-execution.tmpVolume" -}}
{{- toYaml (list (include "kubernaut-execution.podSettings" . | fromJson).volume) }}
{{- end }}

{{/*
How the generated Tasks are completed (files/task-slots.json, from package steps, by the generator): the chart
value each step image role takes its image from, and the policy volume's name.
*/}}
{{- define "kubernaut-execution.taskSlots" -}}
{{- .Files.Get "files/task-slots.json" }}
{{- end }}

{{/*
The image values (repository, tag, digest, pullPolicy) of a step image role: (list $ role). An unknown
role fails the render.
*/}}
{{- define "kubernaut-execution.stepImage" -}}
{{- $root := index . 0 }}
{{- $role := index . 1 }}
{{- $path := get (include "kubernaut-execution.taskSlots" $root | fromJson).images $role | required (printf "step image role %q has no value in files/task-slots.json" $role) }}
{{- $value := $root.Values }}
{{- range splitList "." $path }}
{{- $value = get $value . }}
{{- end }}
{{- toYaml $value }}
{{- end }}

{{/*
API-server egress: ipBlocks only. A namespaceSelector never matches the API server (host network or
outside the cluster), and NetworkPolicy may be enforced after the Service DNAT, so both the Service IP
(443) and the endpoint IPs (6443) are needed. Never a port-only rule: that allows every destination.
Overlays patch /spec/egress/0, so this rule stays first in both policies.
*/}}
{{- define "kubernaut-execution.apiServerEgress" -}}
{{- $np := .Values.networkPolicy }}
{{- $cidrs := $np.apiServer.cidrs }}
{{- if not $cidrs }}
{{- $svc := lookup "v1" "Service" "default" "kubernetes" }}
{{- $slice := lookup "discovery.k8s.io/v1" "EndpointSlice" "default" "kubernetes" }}
{{- if and $svc $slice }}
{{- $cidrs = list (printf "%s/32" $svc.spec.clusterIP) }}
{{- range $slice.endpoints }}
{{- range .addresses }}
{{- $cidrs = append $cidrs (printf "%s/%d" . (ternary 128 32 (contains ":" .))) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if not $np.apiServer.allowBroadCIDRs }}
{{- range $cidrs }}
{{- $min := ternary $np.apiServer.minPrefixLength.ipv6 $np.apiServer.minPrefixLength.ipv4 (contains ":" .) | int }}
{{- if lt (splitList "/" . | last | atoi) $min }}
{{- fail (printf "networkPolicy.apiServer.cidrs: %s is broader than /%d, which opens every address in it to action pods on the API server ports. List the kubernetes Service IP and each API server endpoint IP as /32 (/128 for IPv6), or set networkPolicy.apiServer.allowBroadCIDRs=true to accept it." . $min) }}
{{- end }}
{{- end }}
{{- end }}
{{- if not $cidrs }}
{{- fail "networkPolicy.apiServer.cidrs is empty and the API server addresses could not be looked up (helm template and client-side dry runs cannot look anything up). Set networkPolicy.apiServer.cidrs to the kubernetes Service IP and API server endpoint IPs, e.g. --set 'networkPolicy.apiServer.cidrs={10.96.0.1/32,172.18.0.2/32}' (see: kubectl get endpointslice -n default kubernetes), or set networkPolicy.enabled=false." }}
{{- end -}}
- to:
  {{- range $cidrs | uniq | sortAlpha }}
    - ipBlock:
        cidr: {{ . }}
  {{- end }}
  ports:
  {{- range $np.apiServer.ports }}
    - protocol: TCP
      port: {{ . }}
  {{- end }}
{{- end }}

{{/* DNS egress, UDP and TCP (large answers fall back to TCP). Overlays patch /spec/egress/1. */}}
{{- define "kubernaut-execution.dnsEgress" -}}
{{- $dns := .Values.networkPolicy.dns -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ $dns.namespace }}
      podSelector:
        matchLabels:
          {{- toYaml ($dns.podSelector | default (dict "k8s-app" "kube-dns")) | nindent 10 }}
  ports:
    - protocol: UDP
      port: {{ $dns.port }}
    - protocol: TCP
      port: {{ $dns.port }}
{{- end }}

{{/*
A map as a CEL literal whose values may differ in type: each value wrapped in dyn(), which CEL needs
for a map of mixed values (JSON alone is a valid CEL literal only when they agree).
*/}}
{{- define "kubernaut-execution.celMap" -}}
{{- $m := . -}}
{ {{- range $i, $k := keys $m | sortAlpha }}{{ if $i }}, {{ end }}{{ $k | toJson }}: dyn({{ index $m $k | toJson }}){{ end -}} }
{{- end }}

{{/* A map of maps as a CEL literal, each inner map through kubernaut-execution.celMap. */}}
{{- define "kubernaut-execution.celMapOfMaps" -}}
{{- $m := . -}}
{ {{- range $i, $k := keys $m | sortAlpha }}{{ if $i }}, {{ end }}{{ $k | toJson }}: {{ include "kubernaut-execution.celMap" (index $m $k) }}{{ end -}} }
{{- end }}
