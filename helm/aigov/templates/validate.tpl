{{/* Cross-field checks the JSON schema cannot express; rendered from every manifest entry point. */}}
{{- define "aigov.validate" -}}
{{- if and .Values.embeddedDatabase.enabled (eq .Values.mode "gateway") (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) }}
{{- fail "embeddedDatabase gives every pod its own private database: use it with replicaCount: 1 and no autoscaling, or set DATABASE_URL via existingSecret" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) }}
{{- fail "autoscaling.maxReplicas must be >= autoscaling.minReplicas" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both (null the other)" }}
{{- end }}
{{- range $file, $text := .Values.policies }}
{{- $parsed := fromYaml $text }}
{{- if hasKey $parsed "Error" }}
{{- fail (printf "policies.%s is not valid YAML: %s" $file (get $parsed "Error")) }}
{{- end }}
{{- end }}
{{- end }}
