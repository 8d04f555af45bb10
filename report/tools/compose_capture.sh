#!/usr/bin/env bash
# Question 6's evidence from a real run of docker-compose.yml: the store goes up under a
# project and ports of its own (beside the local stack, which the rest of the report
# reads), a few requests go through it, what Docker and the services say is written into
# the folder $1, and the project goes down with its volumes whatever happened:
#   compose-ps.txt        docker compose ps: every service healthy, the one-shots done
#   compose-ports.txt     the two published ports (docker compose port), and no other
#   compose-networks.txt  each network and the services on it (docker network inspect)
#   compose-trace.md      one request from NGINX to a replica to the DB service to Kafka
#   compose-consumer.txt  kafka-console-consumer in the kafka container: the run's records
#   compose-images.txt    the image each service ran, and the official default
# Images: IMAGE_SOURCE from the environment (debian: built here from Debian's packages,
# deploy/images/); deploy/compose/stack does the up and down.
#   report/tools/compose_capture.sh report/build/evidence    (about 2 minutes)
set -euo pipefail

OUT=${1:?usage: compose_capture.sh OUTPUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
STACK=$ROOT/deploy/compose/stack
PY=$ROOT/.venv/bin/python
# Ports of their own, so that this run never touches the local stack (8080/9093) nor a
# `make compose-test` (18080/19093) running at the same time.
export COMPOSE_PROJECT_NAME=${REPORT_COMPOSE_PROJECT:-merch-store-report}
export NGINX_PORT=${REPORT_NGINX_PORT:-28080}
export KAFKA_EXTERNAL_PORT=${REPORT_KAFKA_PORT:-29093}
# The default file and profiles only: the evidence is of what a plain `docker compose up`
# publishes, whatever the caller's shell had set.
unset COMPOSE_FILE COMPOSE_PROFILES
TOPIC=${KAFKA_TOPIC:-log-channel}
BASE=http://127.0.0.1:$NGINX_PORT
RUN=c$(date +%s)
die() { printf 'compose_capture: %s\n' "$*" >&2; exit 1; }
compose() { "$STACK" compose "$@"; }

[[ -x $PY ]] || die "no .venv: run \`make up\` first"
mkdir -p "$OUT"
# Scratch files (the resolved config holds .env's secrets) stay out of the evidence.
TMP=$(mktemp -d)
down() { "$STACK" down -v --remove-orphans >/dev/null 2>&1 || true; }
trap 'down; rm -rf "$TMP"' EXIT
down # what an interrupted run may have left
"$STACK" up >"$TMP/up.log" 2>&1 || {
  tail -n 40 "$TMP/up.log" >&2
  die "the store did not come up in compose (the end of deploy/compose/stack up above)"
}

# Every long-running service healthy and every one-shot finished with 0, or no evidence.
compose ps -a --format '{{.Service}}|{{.State}}|{{.Health}}|{{.ExitCode}}' | while IFS='|' read -r service state health code; do
  case $state/$health in
    running/healthy) ;;
    exited/*) [[ $code == 0 ]] || die "the one-shot $service exited with $code" ;;
    *) die "$service is $state ${health:-without a health check}: see docker compose logs $service" ;;
  esac
done
compose ps -a --format 'table {{.Service}}\t{{.Status}}\t{{.Ports}}' >"$OUT/compose-ps.txt"

# --- The published ports: exactly NGINX's and Kafka's external listener, on the loopback.
published=$(docker ps --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" --format '{{.Ports}}' \
  | tr ',' '\n' | grep -c -- '->' || true)
((published == 2)) || die "the run published $published ports, not 2: $(docker ps --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" --format '{{.Names}} {{.Ports}}')"
{
  echo "# The two published ports: this run put them on $NGINX_PORT and $KAFKA_EXTERNAL_PORT, beside the"
  echo "# local stack; the defaults (NGINX_PORT, KAFKA_EXTERNAL_PORT in .env): 8080 and 9093."
  for pair in "nginx 8080" "kafka 9093"; do
    read -r service port <<<"$pair"
    echo "\$ docker compose port $service $port"
    compose port "$service" "$port"
  done
  echo "# No other container of the run publishes a port (docker ps: $published in all)."
} >"$OUT/compose-ports.txt"
grep -q '^0\.0\.0\.0\|^\[::\]' "$OUT/compose-ports.txt" && die "a port is published on every interface, not 127.0.0.1"

# --- The networks and who is on each (running containers; the one-shots have exited).
declare -A service_of
while read -r name service; do service_of[$name]=$service; done < <(
  docker ps -a --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
    --format '{{.Names}} {{.Label "com.docker.compose.service"}}')
{
  printf 'NETWORK\tINTERNAL\tSERVICES\n'
  for network in $(docker network ls --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" --format '{{.Name}}' | sort); do
    members=$(docker network inspect "$network" --format '{{range .Containers}}{{.Name}} {{end}}')
    services=$(for m in $members; do echo "${service_of[$m]:-$m}"; done | sort | xargs)
    internal=$(docker network inspect "$network" --format '{{if .Internal}}yes{{else}}no{{end}}')
    printf '%s\t%s\t%s\n' "${network#"${COMPOSE_PROJECT_NAME}_"}" "$internal" "$services"
  done
} | column -t -s $'\t' >"$OUT/compose-networks.txt"
echo "(running containers; the one-shots certs, db-migrate and kafka-init have exited)" >>"$OUT/compose-networks.txt"

# --- A few requests; the register is the one followed through the store. NGINX's edge
# limit for POST /users allows a burst of 10, so one register meets no 429.
request() { # request RID METHOD PATH [JSON]: the answer's headers into $TMP/headers
  local rid=$1 method=$2 path=$3 data=${4:-} args=()
  [[ -z $data ]] || args=(--json "$data")
  curl -sS -o /dev/null -D "$TMP/headers" -X "$method" "$BASE$path" -H "X-Request-ID: $rid" \
    -H 'Cache-Control: no-cache' "${args[@]}"
}
request "$RUN-1" GET /
request "$RUN-2" GET /products/1
traced=$RUN-3
request "$traced" POST /users "{\"sid\": \"C${RUN: -9}\", \"username\": \"compose_$RUN\", \"password\": \"correct horse $RUN\"}"
status=$(head -n 1 "$TMP/headers" | awk '{print $2}')
[[ $status == 201 ]] || die "the register through NGINX answered $status, not 201"
served_by=$(tr -d '\r' <"$TMP/headers" | awk 'tolower($1) == "x-served-by:" {print $2}')

# The run's records, read through Kafka's external listener (the monitor's way in): the
# shippers send in batches, so this waits for all four (one per request, one from the
# DB service for the register). The end offset bounds the console consumer below, which
# otherwise never stops: the healthchecks' requests keep the topic busy.
"$PY" - "$KAFKA_EXTERNAL_PORT" "$TOPIC" "$RUN-" 4 >"$TMP/records.json" <<'PY'
import json, sys, time
from confluent_kafka import Consumer, TopicPartition

port, topic, prefix, want = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
consumer = Consumer({"bootstrap.servers": f"127.0.0.1:{port}", "group.id": "report-compose",
                     "enable.auto.commit": False, "log_level": 0})
found, deadline = {}, time.monotonic() + 60
while len(found) < want and time.monotonic() < deadline:
    _, end = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    consumer.assign([TopicPartition(topic, 0, 0)])
    while (message := consumer.poll(5)) is not None:
        if not message.error():
            record = json.loads(message.value())
            if record["request_id"].startswith(prefix):
                found[record["event_id"]] = {"offset": message.offset(), **record}
        if message.offset() >= end - 1:
            break
    if len(found) < want:
        time.sleep(2)
consumer.close()
if len(found) < want:
    sys.exit(f"compose_capture: {len(found)} of {want} records of {prefix}* in {topic} after 60 s")
print(json.dumps({"end": end, "records": sorted(found.values(), key=lambda r: r["offset"])}))
PY
end=$(jq .end "$TMP/records.json")

# --- kafka-console-consumer as a student types it, bounded by that end offset.
consumer_cmd=(kafka-console-consumer --bootstrap-server kafka:9092 --topic "$TOPIC"
  --from-beginning --max-messages "$end" --property print.key=true)
{
  # The command as typed, over three lines that fit the page.
  echo "\$ docker compose exec kafka ${consumer_cmd[*]:0:3} \\"
  echo "    ${consumer_cmd[*]:3} \\"
  echo "    | grep $RUN-"
  echo "# The key (the request id), a tab, the record; a space added after each comma, so that"
  echo "# a record wraps between its fields."
  compose exec -T kafka "${consumer_cmd[@]}" 2>/dev/null | grep -- "{.*\"request_id\":\"$RUN-" \
    | sed 's/,"/, "/g' | expand -t 16 | fold -s -w 90
} >"$OUT/compose-consumer.txt"
(($(grep -c '"request_id"' "$OUT/compose-consumer.txt") == 4)) \
  || die "kafka-console-consumer did not show the run's 4 records (see $OUT/compose-consumer.txt)"

# --- The trace of the register: each hop's own output, found by the request id.
access=$(compose logs --no-log-prefix nginx | grep -F "request_id=$traced" | head -n 1)
upstream=$(grep -o 'upstream=[0-9.]*' <<<"$access" | cut -d= -f2)
edge_member=$(docker network inspect "${COMPOSE_PROJECT_NAME}_edge" \
  --format '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{"\n"}}{{end}}' | awk -v ip="$upstream" '$2 ~ "^"ip"/" {print $1}')
[[ ${service_of[$edge_member]:-} == "$served_by" ]] \
  || die "NGINX's upstream $upstream is ${edge_member:-no container}, but X-Served-By says $served_by"
dbsvc_line=$(compose logs --no-log-prefix dbsvc | grep -F "\"request_id\":\"$traced\"" | head -n 1)
[[ -n $access && -n $dbsvc_line ]] || die "the access log or the DB service's log has no line for $traced"
api_record=$(jq -c --arg r "$traced" '.records[] | select(.request_id == $r and .service == "api")' "$TMP/records.json")
db_record=$(jq -c --arg r "$traced" '.records[] | select(.request_id == $r and .service == "db")' "$TMP/records.json")
container() { docker ps -a --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
  --filter "label=com.docker.compose.service=$1" --format '{{.Names}}'; }
{
  echo "| hop | what was seen for \`X-Request-ID: $traced\` | from |"
  echo "| --- | --- | --- |"
  echo "| 1. NGINX | its access log: \`${access}\` | \`docker compose logs nginx\` ($(container nginx)) |"
  echo "| 2. API replica | \`$upstream\` is $served_by on the edge network (the answer's \`X-Served-By: $served_by\` says so too); its log record: \`$(jq -r '"\(.message) \(.latency_ms)ms, instance \(.instance)"' <<<"$api_record")\` | $(container "$served_by"), its record shipped through the logging service |"
  echo "| 3. DB service | its own log line: \`$dbsvc_line\` | \`docker compose logs dbsvc\` ($(container dbsvc)) |"
  echo "| 4. Kafka | topic \`$TOPIC\`, key \`$traced\`: the API's record at offset $(jq .offset <<<"$api_record"), the DB service's (\`$(jq -r .message <<<"$db_record")\`) at offset $(jq .offset <<<"$db_record") | \`kafka-console-consumer\` in $(container kafka) |"
} >"$OUT/compose-trace.md"

# --- The images this run used, and the default of each (IMAGE_SOURCE=official).
compose config --format json >"$TMP/config-run.json"
IMAGE_SOURCE=official compose config --format json >"$TMP/config-official.json"
"$PY" - "$ROOT" "$TMP/config-run.json" "$TMP/config-official.json" "${IMAGE_SOURCE:-official}" \
  >"$OUT/compose-images.txt" <<'PY'
import json, pathlib, re, sys

root, source = pathlib.Path(sys.argv[1]), sys.argv[4]
run, official = (json.loads(pathlib.Path(p).read_text()) for p in sys.argv[2:4])


def image(spec):
    """The image a service runs, or for a built one the base of its last stage."""
    if "build" not in spec:
        return spec["image"].split("@")[0]
    dockerfile = (root / spec["build"]["dockerfile"]).read_text()
    base = re.findall(r"^FROM \$\{(\w+)\}", dockerfile, re.M)[-1]
    value = (spec["build"].get("args") or {}).get(base) or re.search(
        rf"^ARG {base}=(\S+)", dockerfile, re.M).group(1)
    return f"on {value.split('@')[0]}"


if source == "debian":
    print("# IMAGE_SOURCE=debian: every image built on this machine from Debian's packages")
    print("# (deploy/images/), since Docker Hub cannot be reached from it. The default,")
    print("# IMAGE_SOURCE=official, runs the official images on the right.")
else:
    print("# IMAGE_SOURCE=official (the default): the official images of docker-compose.yml.")
print("# \"on IMAGE\": the store's own Dockerfile, built here on that base image.")
rows = [("SERVICE", "THIS RUN", "DEFAULT (OFFICIAL)")]
for name, spec in sorted(run["services"].items()):
    rows.append((name, image(spec), image(official["services"][name])))
widths = [max(len(r[i]) for r in rows) for i in range(2)]
for r in rows:
    print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}".rstrip())
PY
echo "compose_capture: captured run $RUN (project $COMPOSE_PROJECT_NAME) into $OUT"
