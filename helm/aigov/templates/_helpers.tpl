{{/*
Names avoid .Chart on purpose: the sidecar templates are also included from a
parent chart (with the parent's .Chart), and must still resolve the ConfigMaps
this chart rendered. So the base name is the literal "aigov".
*/}}
{{- define "aigov.name" -}}
{{- default "aigov" .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "aigov.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "aigov.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "aigov.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aigov.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "aigov.labels" -}}
{{ include "aigov.selectorLabels" . }}
{{- with .Chart }}
helm.sh/chart: {{ printf "%s-%s" .Name .Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .AppVersion | default .Version | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service | default "Helm" }}
app.kubernetes.io/part-of: aigov
{{- end }}

{{- define "aigov.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "aigov.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference. A digest pins the exact image; the tag defaults to the chart's
appVersion, which a parent chart cannot see, so there a tag is required.
*/}}
{{- define "aigov.image" -}}
{{- $tag := .Values.image.tag }}
{{- if and (not $tag) .Chart (eq .Chart.Name "aigov") }}
{{- $tag = .Chart.AppVersion }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (required "image.tag is required when aigov is included from another chart" $tag) }}
{{- end }}
{{- end }}

{{- define "aigov.configMapName" -}}
{{- printf "%s-config" (include "aigov.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "aigov.policiesConfigMapName" -}}
{{- if .Values.existingPoliciesConfigMap }}
{{- .Values.existingPoliciesConfigMap }}
{{- else }}
{{- printf "%s-policies" (include "aigov.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "aigov.hasPolicies" -}}
{{- if or .Values.existingPoliciesConfigMap (gt (len .Values.policies) 0) }}true{{ end }}
{{- end }}

{{/* The config file the app deep-merges over config/default.yaml. */}}
{{- define "aigov.configYaml" -}}
{{- $cfg := deepCopy (default dict .Values.config) }}
{{- $sa := .Values.sidecar.serviceAccountAuth }}
{{- if and (eq .Values.mode "sidecar") $sa.enabled }}
{{- /* The cluster issuer joins any configured issuers; the token and CA come from the aigov-sa volume. */}}
{{- $issuer := dict "issuer" $sa.issuer "audiences" (list $sa.audience) "jwks_uri" $sa.jwksUri "ca_file" "/var/run/secrets/aigov-sa/ca.crt" "token_file" "/var/run/secrets/aigov-sa/token" "claims" $sa.claims }}
{{- $auth := default dict (get $cfg "auth") }}
{{- $_ := set $auth "jwt" (append (default list (get $auth "jwt")) $issuer) }}
{{- $_ := set $cfg "auth" $auth }}
{{- end }}
{{- if and (eq .Values.mode "gateway") (not .Values.autoscaling.enabled) }}
{{- /* In-process limit counters (no REDIS_URL) divide limits by this; a user value wins. */}}
{{- $cfg = mergeOverwrite (dict "limits" (dict "expected_replicas" (int .Values.replicaCount))) $cfg }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{- define "aigov.scheme" -}}
{{- if .Values.tls.enabled }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{/* One env var from the existing Secret; optional so the app, not the kubelet, decides what is required. */}}
{{- define "aigov.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
      optional: true
{{- end }}

{{/*
Environment shared by the gateway container, the sidecar container and (via
"aigov.dbEnv") the migration Job. Context: dict "root" $ "host" <listen address>.
*/}}
{{- define "aigov.dbEnv" -}}
- name: NODE_ENV
  value: production
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- if .Values.embeddedDatabase.enabled }}
- name: AIGOV_EMBEDDED_DB
  value: "true"
{{- end }}
{{- with .Values.existingSecret }}
{{ include "aigov.secretEnv" (dict "env" "DATABASE_URL" "secret" . "key" $.Values.secretKeys.databaseUrl) }}
{{- end }}
{{- end }}

{{- define "aigov.env" -}}
{{- $root := .root }}
{{- $v := $root.Values -}}
{{ include "aigov.dbEnv" $root }}
- name: HOST
  value: {{ .host | quote }}
- name: PORT
  value: {{ $v.port | quote }}
- name: AIGOV_CONFIG
  value: /etc/aigov/config.yaml
- name: POLICIES_PATH
  value: /app/policies
- name: AIGOV_AUDIT_SPOOL_DIR
  value: /var/lib/aigov/spool
- name: AIGOV_MIGRATE_ON_START
  value: {{ ternary "false" "true" (and $v.migrations.job.enabled (not $v.embeddedDatabase.enabled)) | quote }}
{{- with $v.providers.openaiBaseUrl }}
- name: OPENAI_BASE_URL
  value: {{ . | quote }}
{{- end }}
{{- with $v.providers.anthropicBaseUrl }}
- name: ANTHROPIC_BASE_URL
  value: {{ . | quote }}
{{- end }}
{{- if $v.tls.enabled }}
- name: TLS_CERT
  value: /etc/aigov/tls/tls.crt
- name: TLS_KEY
  value: /etc/aigov/tls/tls.key
{{- end }}
{{- with $v.existingSecret }}
{{ include "aigov.secretEnv" (dict "env" "REDIS_URL" "secret" . "key" $v.secretKeys.redisUrl) }}
{{ include "aigov.secretEnv" (dict "env" "OPENAI_API_KEY" "secret" . "key" $v.secretKeys.openaiApiKey) }}
{{ include "aigov.secretEnv" (dict "env" "ANTHROPIC_API_KEY" "secret" . "key" $v.secretKeys.anthropicApiKey) }}
{{ include "aigov.secretEnv" (dict "env" "ADMIN_TOKEN" "secret" . "key" $v.secretKeys.adminToken) }}
{{ include "aigov.secretEnv" (dict "env" "AIGOV_AUDIT_HMAC_KEY" "secret" . "key" $v.secretKeys.auditHmacKey) }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "aigov.volumeMounts" -}}
- name: aigov-tmp
  mountPath: /tmp
- name: aigov-spool
  mountPath: /var/lib/aigov/spool
- name: aigov-config
  mountPath: /etc/aigov/config.yaml
  subPath: config.yaml
  readOnly: true
{{- if include "aigov.hasPolicies" . }}
{{- /* Whole-folder mount (no subPath): ConfigMap updates arrive as a ..data symlink swap the watcher sees. */}}
- name: aigov-policies
  mountPath: /app/policies
  readOnly: true
{{- end }}
{{- if and (eq .Values.mode "sidecar") .Values.sidecar.serviceAccountAuth.enabled }}
- name: aigov-sa
  mountPath: /var/run/secrets/aigov-sa
  readOnly: true
{{- end }}
{{- if .Values.embeddedDatabase.enabled }}
- name: aigov-data
  mountPath: /app/data
{{- end }}
{{- if .Values.tls.enabled }}
- name: aigov-tls
  mountPath: /etc/aigov/tls
  readOnly: true
{{- end }}
{{- end }}

{{/* Pod volumes backing "aigov.volumeMounts"; sidecar users include this in their pod spec. */}}
{{- define "aigov.volumes" -}}
- name: aigov-tmp
  emptyDir:
    sizeLimit: {{ .Values.tmp.sizeLimit }}
- name: aigov-spool
  emptyDir:
    sizeLimit: {{ .Values.auditSpool.sizeLimit }}
- name: aigov-config
  configMap:
    name: {{ include "aigov.configMapName" . }}
{{- if include "aigov.hasPolicies" . }}
- name: aigov-policies
  configMap:
    name: {{ include "aigov.policiesConfigMapName" . }}
{{- end }}
{{- if .Values.embeddedDatabase.enabled }}
- name: aigov-data
  emptyDir:
    sizeLimit: {{ .Values.embeddedDatabase.sizeLimit }}
{{- end }}
{{- if .Values.tls.enabled }}
- name: aigov-tls
  secret:
    secretName: {{ .Values.tls.secretName }}
{{- end }}
{{- if and (eq .Values.mode "sidecar") .Values.sidecar.serviceAccountAuth.enabled }}
{{- /* aigov's own API-server token and the cluster CA: to fetch the issuer's JWKS. */}}
- name: aigov-sa
  projected:
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3600
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
{{- end }}
{{- end }}

{{/* The app container's token for aigov (sidecar mode, sidecar.serviceAccountAuth): a pod volume... */}}
{{- define "aigov.appTokenVolume" -}}
- name: aigov-app-token
  projected:
    sources:
      - serviceAccountToken:
          path: token
          audience: {{ .Values.sidecar.serviceAccountAuth.audience | quote }}
          expirationSeconds: {{ int .Values.sidecar.serviceAccountAuth.expirationSeconds }}
{{- end }}

{{/* ...and its mount in the app container: the app sends /var/run/secrets/aigov/token as Bearer. */}}
{{- define "aigov.appTokenMount" -}}
- name: aigov-app-token
  mountPath: /var/run/secrets/aigov
  readOnly: true
{{- end }}

{{/*
Probes. Gateway: kubelet httpGet against the pod IP. Sidecar: the server binds
127.0.0.1, which the kubelet cannot reach, so the probe runs node inside the
container against loopback instead.
*/}}
{{- define "aigov.probe" -}}
{{- $v := .root.Values }}
{{- $t := index $v.probes .kind }}
{{- if .loopback -}}
exec:
  command:
    - node
    - -e
    - {{ printf "require('%s').get({host:'127.0.0.1',port:%d,path:'%s',timeout:%d,rejectUnauthorized:false},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1)).on('timeout',()=>process.exit(1))" (ternary "https" "http" $v.tls.enabled) (int $v.port) .path (mul (int (default 3 $t.timeoutSeconds)) 1000) | quote }}
{{- else -}}
httpGet:
  path: {{ .path }}
  port: http
  scheme: {{ include "aigov.scheme" .root }}
{{- end }}
{{- toYaml $t | nindent 0 }}
{{- end }}

{{/*
The aigov container. Context: dict "root" $ "loopback" bool. Gateway mode
listens on all interfaces; sidecar mode only on 127.0.0.1 so nothing outside
the pod can use the provider credentials it injects.
*/}}
{{- define "aigov.container" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $host := ternary "127.0.0.1" "0.0.0.0" .loopback -}}
- name: aigov
  image: {{ include "aigov.image" $root | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  args: ["serve"]
  {{- if .native }}
  restartPolicy: Always
  {{- end }}
  {{- if not .loopback }}
  ports:
    - name: http
      containerPort: {{ $v.port }}
      protocol: TCP
  {{- end }}
  env:
    {{- include "aigov.env" (dict "root" $root "host" $host) | nindent 4 }}
  {{- with $v.extraEnvFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  startupProbe:
    {{- include "aigov.probe" (dict "root" $root "kind" "startup" "path" "/health" "loopback" .loopback) | nindent 4 }}
  livenessProbe:
    {{- include "aigov.probe" (dict "root" $root "kind" "liveness" "path" "/health" "loopback" .loopback) | nindent 4 }}
  readinessProbe:
    {{- include "aigov.probe" (dict "root" $root "kind" "readiness" "path" "/ready" "loopback" .loopback) | nindent 4 }}
  {{- if gt (int $v.preStopSleepSeconds) 0 }}
  lifecycle:
    preStop:
      exec:
        command: ["sleep", {{ $v.preStopSleepSeconds | quote }}]
  {{- end }}
  resources:
    {{- toYaml $v.resources | nindent 4 }}
  securityContext:
    {{- toYaml $v.securityContext | nindent 4 }}
  volumeMounts:
    {{- include "aigov.volumeMounts" $root | nindent 4 }}
{{- end }}

{{/*
Public: the aigov sidecar container, for your own pod spec's `containers:`
(or `initContainers:` with sidecar.native). From this chart:
  {{- include "aigov.sidecarContainer" $ | nindent 8 }}
From a parent chart that depends on aigov (values under `aigov:`):
  {{- include "aigov.sidecarContainer" (dict "Values" .Values.aigov "Release" .Release) | nindent 8 }}
Pair it with "aigov.sidecarVolumes" under the pod's `volumes:`.
*/}}
{{- define "aigov.sidecarContainer" -}}
{{- include "aigov.container" (dict "root" . "loopback" true "native" .Values.sidecar.native) }}
{{- end }}

{{- define "aigov.sidecarVolumes" -}}
{{- include "aigov.volumes" . }}
{{- end }}

{{- define "aigov.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}
