#!/usr/bin/env bash
# Where an API worker spends its CPU on the hot path: wrk sends GET /products/{id}
# straight to api-1 (no NGINX) while py-spy samples both of its gunicorn workers,
# one into a flame graph, the other into collapsed stacks that profile_top.py sums
# up. --gil: only the thread holding the GIL is sampled, i.e. where the CPU goes,
# not the idle threads of the WSGI pool. Run it through the stack so that .env's ports are known:
#   deploy/local/stack run bench/profile.sh [seconds]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_TO_SAMPLE=${1:-12}
OUT="$ROOT/report/bench"
mkdir -p "$OUT" "$ROOT/.state/bench"
CTL=("$ROOT/.venv/bin/supervisorctl" -c "$ROOT/deploy/local/supervisord.conf")
master=$("${CTL[@]}" pid api-1)
mapfile -t workers < <(pgrep -P "$master")
((${#workers[@]} >= 2)) || { echo "api-1 has fewer than 2 workers: ${workers[*]}" >&2; exit 1; }

echo "==> wrk GET /products/{id} on api-1 (127.0.0.1:$API_1_PORT), py-spy on workers ${workers[0]} ${workers[1]} for ${SECONDS_TO_SAMPLE}s"
BENCH_LUA_DIR="$ROOT/bench/wrk" wrk -t2 -c16 -d$((SECONDS_TO_SAMPLE + 4))s -s "$ROOT/bench/wrk/product.lua" \
  "http://127.0.0.1:$API_1_PORT" >"$ROOT/.state/bench/profile-wrk.txt" &
wrk_pid=$!
sleep 2
"$ROOT/.venv/bin/py-spy" record --pid "${workers[0]}" --duration "$SECONDS_TO_SAMPLE" --rate 250 --gil \
  --format flamegraph --output "$OUT/profile-api.svg" >/dev/null 2>&1 &
spy_pid=$!
"$ROOT/.venv/bin/py-spy" record --pid "${workers[1]}" --duration "$SECONDS_TO_SAMPLE" --rate 250 --gil \
  --format raw --output "$ROOT/.state/bench/profile-api.folded" >/dev/null 2>&1
wait "$spy_pid" "$wrk_pid"
grep -E "Requests/sec|Latency" "$ROOT/.state/bench/profile-wrk.txt"
"$ROOT/.venv/bin/python" "$ROOT/bench/profile_top.py" "$ROOT/.state/bench/profile-api.folded" | tee "$OUT/profile-api.md"
echo "==> wrote $OUT/profile-api.svg (flame graph) and $OUT/profile-api.md"
