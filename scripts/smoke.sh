#!/usr/bin/env bash
# Every operation of the REST API once, with curl and jq, the way the README
# shows a person to try the store. Exits non-zero at the first surprise.
#   BASE_URL=http://127.0.0.1:8080 scripts/smoke.sh
set -euo pipefail

BASE=${BASE_URL:-http://127.0.0.1:${NGINX_PORT:-8080}}
RUN=$(date +%s)$RANDOM
BODY=$(mktemp)
trap 'rm -f "$BODY"' EXIT
TOKEN=

# call EXPECTED_STATUS METHOD PATH [JSON]: prints the step, leaves the body in $BODY.
call() {
  local expected=$1 method=$2 path=$3 data=${4:-} status
  local args=(-s -o "$BODY" -w '%{http_code}' -X "$method" "$BASE$path")
  [[ -z $TOKEN ]] || args+=(-H "Authorization: Bearer $TOKEN")
  [[ -z $data ]] || args+=(-H 'Content-Type: application/json' -d "$data")
  status=$(curl "${args[@]}")
  printf '%-7s %-28s -> %s\n' "$method" "$path" "$status"
  if [[ $status != "$expected" ]]; then
    echo "expected $expected; the answer was:" >&2
    cat "$BODY" >&2
    exit 1
  fi
}
field() { jq -er "$1" "$BODY"; }
check() { jq -e "$1" "$BODY" >/dev/null || { echo "unexpected body (wanted $1):" >&2; cat "$BODY" >&2; exit 1; }; }

call 200 GET /
call 200 GET /products
check 'length == 3 and .[0].price == "49.99"'
call 200 GET /products/3
check '.name == "SUSTech Notebook" and .price == "9.99"'
stock_before=$(field .stock)
call 404 GET /products/999

user="smoke_$RUN"
call 201 POST /users "{\"sid\": \"S${RUN: -10}\", \"username\": \"$user\", \"email\": \"$user@example.com\", \"password\": \"correct horse\"}"
user_id=$(field .id)
check 'has("password") or has("password_hash") | not'
call 409 POST /users "{\"sid\": \"T${RUN: -10}\", \"username\": \"$user\", \"password\": \"correct horse\"}"
call 400 POST /users "{\"sid\": \"x\", \"username\": \"ab\", \"password\": \"short\"}"
call 422 POST /users "{\"sid\": \"U${RUN: -10}\", \"username\": \"u$user\", \"password\": \"password\"}"
check '.detail | test("too easy to guess")'
call 409 POST /users "{\"sid\": \"V${RUN: -10}\", \"username\": \"${user^^}\", \"password\": \"correct horse\"}"
call 401 POST /auth/login "{\"username\": \"$user\", \"password\": \"wrong password\"}"
call 200 POST /auth/login "{\"username\": \"$user\", \"password\": \"correct horse\"}"
TOKEN=$(field .access_token)

call 200 GET /users/me
check ".id == $user_id"
call 400 PATCH "/users/$user_id" "{\"email\": \"new-$user@example.com\"}"
check '.detail | test("current_password is required")'
call 403 PATCH "/users/$user_id" "{\"email\": \"new-$user@example.com\", \"current_password\": \"wrong horse\"}"
call 200 PATCH "/users/$user_id" "{\"email\": \"new-$user@example.com\", \"current_password\": \"correct horse\"}"
check ".email == \"new-$user@example.com\""

call 201 POST /orders '{"product_id": 3, "quantity": 3}'
order_id=$(field .id)
check '.total_price == "29.97" and .status == "placed"'
call 200 GET /products/3
check ".stock == $stock_before - 3"
call 200 GET /orders
check "any(.[]; .id == $order_id)"
call 200 GET "/orders/$order_id"
call 400 POST /orders '{"product_id": 3, "quantity": 4}'
call 404 POST /orders '{"product_id": 999, "quantity": 1}'
call 200 DELETE "/orders/$order_id"
check '.status == "cancelled"'
call 409 DELETE "/orders/$order_id"
call 200 GET /products/3
check ".stock == $stock_before"

call 400 DELETE "/users/$user_id"
call 403 DELETE "/users/$user_id" '{"current_password": "wrong horse"}'
call 200 GET /users/me
call 204 DELETE "/users/$user_id" '{"current_password": "correct horse"}'
call 401 GET /users/me
TOKEN=
call 401 POST /auth/login "{\"username\": \"$user\", \"password\": \"correct horse\"}"
call 401 GET /orders

call 200 GET /healthz
call 200 GET /readyz
call 200 GET /openapi.yaml
call 200 GET /ui/
echo "smoke test passed: every operation answered as the contract says"
