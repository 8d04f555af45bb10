#!/usr/bin/env bash
# Question 7's two other tools against the running local stack (capture.sh does cURL and
# the monitor): Postman's committed collections run by Newman, and Swagger UI executing
# a request. Writes
#   EVIDENCE_DIR/postman-collections.txt  each collection's requests: method, path, name
#   EVIDENCE_DIR/newman.txt               Newman's summary table for each collection
#   PICTURE                               Swagger UI after "Try it out" -> "Execute" of
#                                         GET /products, with the store's answer
#   report/tools/tools_capture.sh report/build/evidence report/build/swagger-executed.png
set -euo pipefail

OUT=${1:?usage: tools_capture.sh EVIDENCE_DIR PICTURE.png}
PICTURE=${2:?usage: tools_capture.sh EVIDENCE_DIR PICTURE.png}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BASE=${BASE_URL:-http://127.0.0.1:${NGINX_PORT:-8080}}
NEWMAN=postman/node_modules/.bin/newman
die() { printf 'tools_capture: %s\n' "$*" >&2; exit 1; }
cd "$ROOT"

curl -fsS -o /dev/null "$BASE/readyz" || die "the store does not answer at $BASE/readyz: run \`make up\` first"
# Newman as `make postman` installs it (npm ci, pinned by postman/package-lock.json).
make -s "$NEWMAN" >/dev/null
mkdir -p "$OUT"

collections=(postman/customer-path.postman_collection.json postman/store.postman_collection.json)
# One line a request, cut at 90 characters (the store's names are the OpenAPI summaries).
for collection in "${collections[@]}"; do
  jq -r --arg file "${collection#postman/}" '
    [.. | objects | select(has("request")) | .request] as $requests
    | "\($file): \"\(.info.name)\", \($requests | length) requests",
      (.. | objects | select(has("request"))
        | "  \(.request.method | . + " " * (7 - length))/\(.request.url.path | join("/")) - \(.name)"
        | if length > 90 then .[:89] + "…" else . end)' \
    "$collection"
done >"$OUT/postman-collections.txt"

# The summary table only: the request-by-request lines above it are the curl session's
# story again. A failed assertion fails the capture, with Newman's whole output.
: >"$OUT/newman.txt"
for collection in "${collections[@]}"; do
  run=$(mktemp)
  "$NEWMAN" run "$collection" -e postman/local.postman_environment.json \
    --env-var "baseUrl=$BASE" --color off >"$run" 2>&1 || {
    cat "$run" >&2
    rm -f "$run"
    die "Newman's run of $collection failed (its output above)"
  }
  {
    [[ ! -s $OUT/newman.txt ]] || echo
    echo "\$ newman run $collection -e postman/local.postman_environment.json"
    sed -n '/^┌/,/^└/p' "$run"
  } >>"$OUT/newman.txt"
  rm -f "$run"
done
grep -q '│ *assertions │' "$OUT/newman.txt" || die "no summary table in Newman's output"

"$ROOT/.venv/bin/python" "$ROOT/report/tools/swagger_shot.py" "$BASE" "$PICTURE"
echo "tools_capture: Postman collections, Newman's summaries and $PICTURE made"
