{{/* Names: "<fullname>-<component>", fullname as Helm's own chart template makes it. */}}
{{- define "merch.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "merch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels a NetworkPolicy selects a component's pods by. Call with (list $ "api"). */}}
{{- define "merch.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "merch.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "merch.labels" -}}
{{ include "merch.selectorLabels" . }}
app.kubernetes.io/part-of: merch-store
app.kubernetes.io/managed-by: {{ (index . 0).Release.Service }}
helm.sh/chart: {{ printf "%s-%s" (index . 0).Chart.Name (index . 0).Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* An image built from this repository. Call with (list $ .Values.images.api). */}}
{{- define "merch.image" -}}
{{- $image := index . 1 -}}
{{- printf "%s:%s" $image.repository (default (index . 0).Chart.AppVersion $image.tag) -}}
{{- end -}}

{{/* Service names, and the addresses the services dial. */}}
{{- define "merch.postgresHost" -}}{{ include "merch.fullname" . }}-postgres{{- end -}}
{{- define "merch.zookeeperService" -}}{{ include "merch.fullname" . }}-zookeeper-headless{{- end -}}
{{- define "merch.kafkaService" -}}{{ include "merch.fullname" . }}-kafka-headless{{- end -}}
{{- define "merch.dbsvcService" -}}{{ include "merch.fullname" . }}-dbsvc-headless{{- end -}}
{{- define "merch.logsvcService" -}}{{ include "merch.fullname" . }}-logsvc-headless{{- end -}}

{{/* Every broker by its stable name: the logging service checks each until one answers. */}}
{{- define "merch.kafkaBrokers" -}}
{{- $brokers := list -}}
{{- range $i := until (int .Values.kafka.replicas) -}}
{{- $brokers = append $brokers (printf "%s-kafka-%d.%s.%s.svc:9092" (include "merch.fullname" $) $i (include "merch.kafkaService" $) $.Release.Namespace) -}}
{{- end -}}
{{- join "," $brokers -}}
{{- end -}}

{{- define "merch.zookeeperConnect" -}}
{{- $servers := list -}}
{{- range $i := until (int .Values.zookeeper.replicas) -}}
{{- $servers = append $servers (printf "%s-zookeeper-%d.%s.%s.svc:2181" (include "merch.fullname" $) $i (include "merch.zookeeperService" $) $.Release.Namespace) -}}
{{- end -}}
{{- join "," $servers -}}
{{- end -}}

{{/* A value of the ConfigMap, for an env entry: (list $ "ENV_NAME_IN_POD" "KEY"). */}}
{{- define "merch.fromConfig" -}}
- name: {{ index . 1 }}
  valueFrom:
    configMapKeyRef:
      name: {{ include "merch.fullname" (index . 0) }}-config
      key: {{ index . 2 }}
{{- end -}}

{{/* A value of one of the Secrets: (list $ "ENV_NAME_IN_POD" "KEY"); the Secret is named for its key. */}}
{{- define "merch.fromSecret" -}}
- name: {{ index . 1 }}
  valueFrom:
    secretKeyRef:
      name: {{ include "merch.secretName" (list (index . 0) (index . 2)) }}
      key: {{ index . 2 }}
{{- end -}}

{{- define "merch.secretName" -}}
{{ include "merch.fullname" (index . 0) }}-{{ index . 1 | lower | replace "_" "-" }}
{{- end -}}

{{/* The pod's own name as INSTANCE_NAME: every log record names the replica that wrote it. */}}
{{- define "merch.instanceName" -}}
- name: INSTANCE_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end -}}

{{/* Pod-level security: never root, the runtime's seccomp profile, no API token. Call
     with (list uid fsGroup-or-nil). */}}
{{- define "merch.podSecurity" -}}
automountServiceAccountToken: false
# A Service named postgres or kafka would otherwise put POSTGRES_PORT=tcp://... and
# KAFKA_PORT=tcp://... into every pod's environment: dbsvc reads POSTGRES_PORT, and
# the cp-kafka image refuses to start when KAFKA_PORT is set.
enableServiceLinks: false
securityContext:
  runAsNonRoot: true
  runAsUser: {{ index . 0 }}
  runAsGroup: {{ index . 0 }}
  {{- if index . 1 }}
  fsGroup: {{ index . 1 }}
  fsGroupChangePolicy: OnRootMismatch
  {{- end }}
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{/* Container-level: read-only root, no privileges. Call with (list) or, for a container
     that runs as another user than its pod, (list uid). */}}
{{- define "merch.containerSecurity" -}}
securityContext:
  {{- if . }}
  runAsUser: {{ index . 0 }}
  runAsGroup: {{ index . 0 }}
  {{- end }}
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
{{- end -}}

{{/* Replicas of a component on different nodes where there are any: (list $ "api"). */}}
{{- define "merch.spread" -}}
{{- $root := index . 0 -}}
{{- $when := $root.Values.topologySpread.whenUnsatisfiable -}}
{{- if gt (len .) 2 }}{{ $when = index . 2 }}{{ end -}}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: {{ $root.Values.topologySpread.topologyKey }}
    whenUnsatisfiable: {{ $when }}
    labelSelector:
      matchLabels:
        {{- include "merch.selectorLabels" (list $root (index . 1)) | nindent 8 }}
{{- end -}}

{{/* A Secret's value: the one given, else the one already in the cluster (so an upgrade
     keeps it), else a new random one. */}}
{{- define "merch.secretValue" -}}
{{- $root := index . 0 -}}
{{- $key := index . 1 -}}
{{- $given := index $root.Values.secrets $key -}}
{{- if $given -}}
{{- $given | b64enc -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" $root.Release.Namespace (include "merch.secretName" (list $root $key)) -}}
{{- if and $existing (index ($existing.data | default dict) $key) -}}
{{- index $existing.data $key -}}
{{- else -}}
{{- /* Letters and digits only: 00005_dbsvc_role.sql puts DBSVC_DB_PASSWORD in a quoted literal. */ -}}
{{- randAlphaNum 48 | b64enc -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Mutual TLS between the services (templates/tls.yaml makes the certificates): each
     pod of api, dbsvc and logsvc mounts its own identity's Secret, and nothing else,
     where TLS_DIR says. Call the three with (list $ "dbsvc"). */}}
{{- define "merch.tlsDir" -}}/etc/merch-store/tls{{- end -}}

{{- define "merch.tlsSecretName" -}}
{{ include "merch.fullname" (index . 0) }}-tls-{{ index . 1 }}
{{- end -}}

{{- define "merch.tlsEnv" -}}
- {name: TLS_DIR, value: {{ include "merch.tlsDir" . }}}
{{- end -}}

{{- define "merch.tlsMount" -}}
- {name: tls, mountPath: {{ include "merch.tlsDir" . }}, readOnly: true}
{{- end -}}

{{- /* Files of a Secret volume belong to root; fsGroup makes them the pod's group, and
     0440 lets that group, not the world, read the key. 0400 would need the file to be
     the user's, which a Secret volume never is. */ -}}
{{- define "merch.tlsVolume" -}}
- name: tls
  secret:
    secretName: {{ include "merch.tlsSecretName" . }}
    defaultMode: 0440
{{- end -}}

{{/* A probe of a Go service's grpc.health.v1 over mutual TLS, with the service's own
     certificate: the kubelet's native gRPC probe cannot do TLS, and the services refuse
     plaintext. grpc_health_probe is in both images. Call with
     (list port identity service-name). */}}
{{- define "merch.grpcHealthProbe" -}}
{{- $dir := include "merch.tlsDir" . -}}
exec:
  command:
    - /usr/local/bin/grpc_health_probe
    - -addr=127.0.0.1:{{ index . 0 }}
    - -tls
    - -tls-ca-cert={{ $dir }}/ca.crt
    - -tls-client-cert={{ $dir }}/tls.crt
    - -tls-client-key={{ $dir }}/tls.key
    - -tls-server-name={{ index . 1 }}
    {{- with index . 2 }}
    - -service={{ . }}
    {{- end }}
{{- end -}}
