#!/usr/bin/env bash
# Where an API worker spends its CPU on the hot path: wrk sends GET /products/{id}
# straight to api-1 (no NGINX) while py-spy samples its granian worker processes (the
# children of granian's main process, WEB_CONCURRENCY of them), the first into a flame
# graph, the last into collapsed stacks that profile_top.py sums up. With one worker
# both come from it, one after the other: py-spy writes one format per run, and two
# samplers on one process lose most of their samples to each other.
# --gil: only the thread holding the GIL is sampled, i.e. where the CPU goes, not the
# idle threads of the worker. Run it through the stack so that .env's ports are known:
#   deploy/local/stack run bench/profile.sh [seconds]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_TO_SAMPLE=${1:-12}
OUT="$ROOT/report/bench"
mkdir -p "$OUT" "$ROOT/.state/bench"
CTL=("$ROOT/.venv/bin/supervisorctl" -c "$ROOT/deploy/local/supervisord.conf")
main=$("${CTL[@]}" pid api-1)
mapfile -t workers < <(pgrep -P "$main")
((${#workers[@]} >= 1)) || { echo "api-1 (pid $main) has no granian worker" >&2; exit 1; }
flame=${workers[0]} folded=${workers[-1]}
runs=1
[[ $flame != "$folded" ]] || runs=2

spy() { # pid format output
  "$ROOT/.venv/bin/py-spy" record --pid "$1" --duration "$SECONDS_TO_SAMPLE" --rate 250 --gil \
    --format "$2" --output "$3" >/dev/null 2>&1
}

echo "==> wrk GET /products/{id} on api-1 (127.0.0.1:$API_1_PORT), py-spy on granian worker(s) ${workers[*]} for ${SECONDS_TO_SAMPLE}s x $runs"
BENCH_LUA_DIR="$ROOT/bench/wrk" wrk -t2 -c16 -d$((runs * SECONDS_TO_SAMPLE + 4))s -s "$ROOT/bench/wrk/product.lua" \
  "http://127.0.0.1:$API_1_PORT" >"$ROOT/.state/bench/profile-wrk.txt" &
wrk_pid=$!
sleep 2
if ((runs == 1)); then
  spy "$flame" flamegraph "$OUT/profile-api.svg" &
  spy_pid=$!
  spy "$folded" raw "$ROOT/.state/bench/profile-api.folded"
  wait "$spy_pid"
else
  spy "$flame" flamegraph "$OUT/profile-api.svg"
  spy "$folded" raw "$ROOT/.state/bench/profile-api.folded"
fi
wait "$wrk_pid"
grep -E "Requests/sec|Latency" "$ROOT/.state/bench/profile-wrk.txt"
"$ROOT/.venv/bin/python" "$ROOT/bench/profile_top.py" "$ROOT/.state/bench/profile-api.folded" | tee "$OUT/profile-api.md"
echo "==> wrote $OUT/profile-api.svg (flame graph) and $OUT/profile-api.md"
