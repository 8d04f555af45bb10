#!/usr/bin/env bash
# Real output from the running store for question 7 of the report: a curl session
# through NGINX (every step a person would try), and what the administrator sees in
# the Kafka topic for exactly those requests. Run by report/build.sh through
# `deploy/local/stack run` (so .env is exported); writes into the folder $1:
#   curl.txt       the requests and the answers (status line, our headers, body)
#   throttle.txt   six wrong passwords for one username: five 401s, then a 429
#   balance.txt    which API replica answered six requests in a row
#   monitor.txt    scripts/log_monitor.py's lines for this session's request ids
#   record.txt     one raw record from the topic (key | JSON value)
#   status.txt     what runs where (deploy/local/stack status)
set -euo pipefail

OUT=${1:?usage: capture.sh OUTPUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BASE=${BASE_URL:-http://127.0.0.1:${NGINX_PORT:-8080}}
PY=$ROOT/.venv/bin/python
RUN=r$(date +%s)
mkdir -p "$OUT"
STEP=0
TOKEN=

# show TITLE METHOD PATH [JSON [HEADER]]: the command as a reader would type it, then
# the answer.
show() {
  local title=$1 method=$2 path=$3 data=${4:-} header=${5:-}
  STEP=$((STEP + 1))
  local rid
  rid=$(printf '%s-%02d' "$RUN" "$STEP")
  local args=(-s -X "$method" "$BASE$path" -H "X-Request-ID: $rid")
  local shown="curl -i -X $method localhost:8080$path"
  if [[ -n $TOKEN ]]; then
    args+=(-H "Authorization: Bearer $TOKEN")
    shown+=' -H "Authorization: Bearer $TOKEN"'
  fi
  if [[ -n $header ]]; then
    args+=(-H "$header")
    shown+=" -H '$header'"
  fi
  if [[ -n $data ]]; then
    # --json: the body, with Content-Type and Accept application/json.
    args+=(--json "$data")
    shown+=" --json '$data'"
  fi
  curl "${args[@]}" -D "$OUT/headers" -o "$OUT/body" >/dev/null
  {
    printf '# %d. %s\n$ %s\n' "$STEP" "$title" "$shown"
    # The status line, the headers the contract promises, and the body.
    tr -d '\r' <"$OUT/headers" | awk 'NR == 1 ||
      tolower($0) ~ /^(content-type|location|www-authenticate|retry-after|idempotent-replayed|x-request-id|x-served-by):/'
    sed -e '$a\' "$OUT/body" # a body without a final newline gets one
    printf '\n'
  } >>"$OUT/curl.txt"
}
body() { jq -r "$1" "$OUT/body"; }

: >"$OUT/curl.txt"

# The monitor starts first and follows new records, like an administrator who starts
# watching before the session; it stops by itself.
"$PY" "$ROOT/scripts/log_monitor.py" --timeout 25 >"$OUT/monitor-all.txt" 2>&1 &
MONITOR=$!
sleep 3

user="report_$RUN"
password="correct horse $RUN"
show "Greeting" GET /
show "The catalog (anonymous)" GET /products
show "One product (anonymous)" GET /products/1
show "Register" POST /users "{\"sid\": \"R${RUN: -9}\", \"username\": \"$user\", \"email\": \"$user@example.com\", \"password\": \"$password\"}"
user_id=$(body .id)
show "Log in with a wrong password" POST /auth/login "{\"username\": \"$user\", \"password\": \"wrong password\"}"
show "Log in" POST /auth/login "{\"username\": \"$user\", \"password\": \"$password\"}"
token=$(body .access_token)
show "My account without a token" GET /users/me
TOKEN=$token
show "My account with the token" GET /users/me
# Another account's id: user 1, unless this session's account is the first of a new store.
show "Someone else's account" GET "/users/$((user_id == 1 ? 2 : 1))"
show "Order 4 notebooks (more than 3)" POST /orders '{"product_id": 3, "quantity": 4}'
key="order-$RUN"
show "Order 3 notebooks, with an Idempotency-Key" POST /orders '{"product_id": 3, "quantity": 3}' "Idempotency-Key: $key"
order_id=$(body .id)
show "The same request again (a client's retry)" POST /orders '{"product_id": 3, "quantity": 3}' "Idempotency-Key: $key"
show "My orders" GET /orders
show "The order" GET "/orders/$order_id"
show "Cancel it" DELETE "/orders/$order_id"
show "Cancel it again" DELETE "/orders/$order_id"
show "Change the password" PATCH "/users/$user_id" "{\"password\": \"new $password\", \"current_password\": \"$password\"}"
show "The old token after the password change" GET /users/me
TOKEN=
show "Log in with the new password" POST /auth/login "{\"username\": \"$user\", \"password\": \"new $password\"}"
TOKEN=$(body .access_token)
show "Close the account" DELETE "/users/$user_id" "{\"current_password\": \"new $password\"}"
show "The token after closing the account" GET /orders
TOKEN=
show "Log in to the closed account" POST /auth/login "{\"username\": \"$user\", \"password\": \"new $password\"}"
# What is in the token: header and claims are base64url JSON (the signature is not).
claims=$(cut -d. -f2 <<<"$token" | tr '_-' '/+')
while ((${#claims} % 4)); do claims+='='; done
printf '%s' "$claims" | base64 -d | jq -c . >"$OUT/claims.txt"

# Login throttling: six wrong passwords in a row for one (unknown) username from this
# address. The request ids are not "$RUN-..", so the monitor's check below skips them.
victim="nobody_$RUN"
for attempt in 1 2 3 4 5 6; do
  curl -s -o "$OUT/body" -D "$OUT/headers" -X POST "$BASE/auth/login" -H "X-Request-ID: ${RUN}t-$attempt" \
    --json "{\"username\": \"$victim\", \"password\": \"guess number $attempt\"}"
  printf 'attempt %d: %s%s\n' "$attempt" "$(head -n 1 "$OUT/headers" | tr -d '\r')" \
    "$(tr -d '\r' <"$OUT/headers" | awk 'tolower($0) ~ /^retry-after:/ {printf ", %s", $0}')"
done >"$OUT/throttle.txt"
{
  printf '\nThe body of the last answer:\n'
  jq . "$OUT/body"
} >>"$OUT/throttle.txt"

# Load balancing: NGINX's round robin over the two replicas.
: >"$OUT/balance.txt"
for _ in 1 2 3 4 5 6; do
  curl -s -o /dev/null -D - "$BASE/products" | tr -d '\r' | grep -i '^x-served-by' >>"$OUT/balance.txt"
done

wait "$MONITOR" || true
# In time order: the topic holds each shipper's batches as they arrived, so an API
# replica's record can follow a later one of the other replica or of the DB service.
{
  head -n 1 "$OUT/monitor-all.txt"
  grep -- "$RUN-" "$OUT/monitor-all.txt" | sort -s -k1,2 || true
} >"$OUT/monitor.txt"
rm -f "$OUT/monitor-all.txt" "$OUT/headers" "$OUT/body"

# One raw record as Kafka holds it: the login's, read back by its request id.
"$PY" - "$RUN-06" >"$OUT/record.txt" <<'PY'
import json, os, sys
from confluent_kafka import Consumer, TopicPartition

want = sys.argv[1]
topic = os.environ.get("KAFKA_TOPIC", "log-channel")
consumer = Consumer({"bootstrap.servers": f"127.0.0.1:{os.environ.get('KAFKA_EXTERNAL_PORT', '9093')}",
                     "group.id": "report-capture", "enable.auto.commit": False, "log_level": 0})
low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
consumer.assign([TopicPartition(topic, 0, max(low, high - 5000))])
while True:
    message = consumer.poll(5)
    if message is None:
        sys.exit(f"no record with request id {want}")
    if message.error() or message.key() != want.encode():
        continue
    record = json.loads(message.value())
    if record.get("service") == "api":
        print(f"key: {message.key().decode()}  (partition {message.partition()}, offset {message.offset()})")
        print(json.dumps(record, indent=2))
        break
consumer.close()
PY

"$ROOT/deploy/local/stack" status >"$OUT/status.txt" 2>&1 || true

# The session is evidence only if it went as the contract says and every request reached
# Kafka; a store disturbed meanwhile (a restart, a drill) fails the capture instead.
want="200 200 200 201 401 200 401 200 403 400 201 201 200 200 200 409 200 401 200 204 401 401"
got=$(awk '/^HTTP\// {print $2}' "$OUT/curl.txt" | xargs)
throttled=$(awk '/^attempt/ {print $4}' "$OUT/throttle.txt" | xargs)
[[ $throttled == "401 401 401 401 401 429" ]] || { echo "capture: the six wrong passwords got: $throttled" >&2; exit 1; }
grep -qi "^idempotent-replayed: true" "$OUT/curl.txt" || { echo "capture: the retried order was not a replay" >&2; exit 1; }
[[ $got == "$want" ]] || { echo "capture: statuses were: $got; expected: $want" >&2; exit 1; }
api_records=$(grep -c -- " api/.*$RUN-" "$OUT/monitor.txt" || true)
((api_records == STEP)) || { echo "capture: $api_records of $STEP requests in the monitor's output" >&2; exit 1; }
echo "captured run $RUN into $OUT"
