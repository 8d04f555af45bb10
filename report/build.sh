#!/usr/bin/env bash
# Builds report/report.pdf from report/report.md (`make report`), with every figure and
# every piece of output made fresh from the code and the RUNNING store:
#   Debian: pandoc (Markdown -> HTML), chromium (screenshot, HTML -> PDF), graphviz (the
#           architecture diagram), poppler-utils (page count and page previews);
#   Maven Central: PlantUML (the sequence diagrams), run with the stack's Java;
#   .venv:  report/requirements.txt.
# Needs the store up (`make up`), a `make bench` run (report/bench/results.json), and a
# Docker engine with the store's images for the compose run of question 6.
# Intermediate files go to report/build/ (git-ignored). Besides report/report.pdf it
# writes report/build-info.json: the commit, whether the tree was clean, and hashes of the
# code and of the PDF, which tests/test_report.py compares with the checkout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPORT=$ROOT/report
BUILD=$REPORT/build
VENV=$ROOT/.venv
STACK=$ROOT/deploy/local/stack
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

install_tools() {
  local missing=()
  command -v pandoc >/dev/null || missing+=(pandoc)
  command -v chromium >/dev/null || missing+=(chromium)
  command -v dot >/dev/null || missing+=(graphviz)
  command -v pdftoppm >/dev/null || missing+=(poppler-utils)
  fc-list 2>/dev/null | grep -q DejaVuSans || missing+=(fonts-dejavu-core)
  ((${#missing[@]})) || return 0
  [[ $EUID -eq 0 ]] || die "missing Debian packages: ${missing[*]}; install them with: sudo apt-get install --no-install-recommends ${missing[*]}"
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# PlantUML from Maven Central into .state/tools, once.
PLANTUML_VERSION=1.2025.10
PLANTUML_JAR=$ROOT/.state/tools/plantuml-$PLANTUML_VERSION.jar
install_plantuml() {
  [[ -f $PLANTUML_JAR ]] && return 0
  command -v mvn >/dev/null && command -v java >/dev/null || die "no mvn or java: run \`make up\` first"
  say "fetching PlantUML $PLANTUML_VERSION from Maven Central"
  mvn -q -B dependency:copy -Dartifact="net.sourceforge.plantuml:plantuml:$PLANTUML_VERSION" \
    -DoutputDirectory="$ROOT/.state/tools" >/dev/null
}

install_python() {
  [[ -x $VENV/bin/python ]] || die "no .venv: run \`make up\` first"
  local stamp
  stamp=$ROOT/.state/stamps/report-$(sha256sum "$REPORT/requirements.txt" | cut -c1-16)
  if [[ ! -f $stamp ]]; then
    say "installing report/requirements.txt into .venv"
    "$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes -r "$REPORT/requirements.txt"
    mkdir -p "$(dirname "$stamp")" && touch "$stamp"
  fi
}

# Debian's chromium wrapper, as root and without a display: no sandbox, no GPU.
chromium_headless() {
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --user-data-dir="$BUILD/chromium-profile" "$@" 2> >(grep -v -e '^\[' -e 'unexpected operator' -e 'bytes written to file' >&2)
}

install_tools
install_plantuml
install_python
[[ -f $REPORT/bench/results.json ]] || die "no report/bench/results.json: run \`make bench\` first"
# The caller's IMAGE_SOURCE (debian where Docker Hub is unreachable) over .env's, for the
# compose run, as deploy/compose/stack itself lets the environment win.
CALLER_IMAGE_SOURCE=${IMAGE_SOURCE:-}
# shellcheck disable=SC1091
set -a && source "$ROOT/.env" && set +a
BASE=http://127.0.0.1:${NGINX_PORT:-8080}
curl -sf "$BASE/readyz" >/dev/null || die "the store does not answer at $BASE/readyz: run \`make up\` first"

rm -rf "$BUILD/evidence" && mkdir -p "$BUILD/evidence"

say "architecture diagram (graphviz) and sequence diagrams (PlantUML)"
dot -Tsvg "$REPORT/figures/architecture.dot" -o "$BUILD/architecture.svg"
java -Djava.awt.headless=true -jar "$PLANTUML_JAR" -tsvg -o "$BUILD" "$REPORT"/figures/*.puml

say "curl session and log monitor against the running store (about 30 s)"
for attempt in 1 2 3; do
  "$STACK" run "$REPORT/tools/capture.sh" "$BUILD/evidence" && break
  ((attempt < 3)) || die "the capture failed three times: is the store healthy? (make status)"
  say "capture attempt $attempt failed; trying again in 10 s"
  sleep 10
done

say "Prometheus: its targets, and a graph of 30 s of requests (headless chromium)"
PROMETHEUS=http://127.0.0.1:${PROMETHEUS_PORT:-9090}
curl -sf "$PROMETHEUS/-/ready" >/dev/null || die "Prometheus does not answer at $PROMETHEUS: run \`make up\`"
"$VENV/bin/python" - "$BASE" <<'PY'
import sys, time, urllib.request
# A few requests a second over four routes, so the graph has something to show.
base, end, n = sys.argv[1], time.monotonic() + 30, 0
paths = ["/products", "/products/1", "/products/2", "/", "/products/404404"]
while time.monotonic() < end:
    try:
        urllib.request.urlopen(base + paths[n % len(paths)], timeout=5).close()
    except OSError:
        pass  # the 404 is one of the routes on purpose
    n += 1
    time.sleep(0.05)
PY
sleep 6  # one more scrape
curl -sf "$PROMETHEUS/api/v1/query" --data-urlencode 'query=up' \
  | jq -r '.data.result | sort_by(.metric.job, .metric.instance)[] | "\(.metric.job)\t\(.metric.instance)\tup=\(.value[1])"' \
  | column -t >"$BUILD/evidence/targets.txt"
curl -sf "$PROMETHEUS/api/v1/query" \
  --data-urlencode 'query=sort_desc(sum by (route) (rate(http_server_request_duration_seconds_count{job="api"}[1m])) > 0)' \
  | jq -r '.data.result[] | "\(.metric.route)\t\(.value[1] | tonumber | . * 100 | round / 100) req/s"' \
  | column -t -s $'\t' >"$BUILD/evidence/routes.txt"
GRAPH_QUERY='sum by (route) (rate(http_server_request_duration_seconds_count{job="api"}[30s]))'
chromium_headless --window-size=1200,900 --virtual-time-budget=8000 --screenshot="$BUILD/prometheus.png" \
  "$PROMETHEUS/graph?g0.expr=$(jq -rn --arg q "$GRAPH_QUERY" '$q|@uri')&g0.tab=0&g0.range_input=5m" >/dev/null

say "type table (tests/test_type_table.py) and byte-by-byte encoding (report/wire)"
"$VENV/bin/python" "$ROOT/tests/test_type_table.py" >"$BUILD/evidence/type-table.md"
(cd "$ROOT" && "$VENV/bin/python" report/wire/wire_encoding.py) >"$BUILD/evidence/wire.txt"
(cd "$ROOT" && "$VENV/bin/pytest" -q -p no:cacheprovider tests/test_type_table.py tests/test_wire_encoding.py) \
  | tail -n 1 >"$BUILD/evidence/pytest.txt"

say "docker compose config: what Compose resolves from docker-compose.yml, and its tests"
"$VENV/bin/python" "$REPORT/tools/compose_evidence.py" >"$BUILD/evidence/compose.md"
(cd "$ROOT" && "$VENV/bin/pytest" -q -p no:cacheprovider -o addopts= -rA tests/test_compose.py) \
  | sed -n 's/^PASSED tests\/test_compose.py::\(test_[a-z0-9_]*\).*/\1/p' | tr '_' ' ' | sed 's/^test //' \
  >"$BUILD/evidence/compose-tests.txt"
[[ -s $BUILD/evidence/compose-tests.txt ]] || die "tests/test_compose.py passed no test"

# Question 6 from a real `docker compose up` (its own project on 28080/29093, beside the
# local stack, down -v at the end), and question 7's Postman/Newman and Swagger UI
# against the local stack: evidence/compose-*, newman.txt, postman-collections.txt and
# swagger-executed.png.
say "docker compose for real, Newman and Swagger UI (about a minute)"
IMAGE_SOURCE=${CALLER_IMAGE_SOURCE:-${IMAGE_SOURCE:-official}} \
  "$REPORT/tools/compose_capture.sh" "$BUILD/evidence"
"$REPORT/tools/tools_capture.sh" "$BUILD/evidence" "$BUILD/swagger-executed.png"

say "the benchmark's table and quoted figures (report/bench/results.json)"
"$VENV/bin/python" "$REPORT/tools/bench_section.py" "$REPORT/bench/results.json" "$BUILD/bench"
cp "$REPORT/bench/results.png" "$BUILD/bench.png"

say "the two tests on edited copies must fail (report/tools/mutants.py, about a minute)"
"$VENV/bin/python" "$REPORT/tools/mutants.py" >"$BUILD/evidence/mutants.md"

say "the numbers quoted in the text"
echo "Built $(date -u '+%Y-%m-%d %H:%M UTC') from commit $(git -C "$ROOT" rev-parse --short HEAD)$([[ -z $(git -C "$ROOT" status --porcelain -- . ':!report/report.pdf' ':!report/build-info.json') ]] || echo ' (with uncommitted changes)') on $(nproc) cores, $(. /etc/os-release && echo "$PRETTY_NAME"), $(go version | cut -d' ' -f3), Python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())')." \
  >"$BUILD/evidence/meta.txt"

say "Markdown -> HTML (pandoc) -> PDF (chromium)"
cp "$REPORT/style.css" "$BUILD/style.css"
"$VENV/bin/python" "$REPORT/tools/assemble.py" "$REPORT/report.md" "$BUILD" "$BUILD/report.md"
pandoc "$BUILD/report.md" --from markdown --to html5 --standalone --toc --toc-depth=2 --columns=1000 \
  --css style.css --metadata lang=en --output "$BUILD/report.html"
chromium_headless --no-pdf-header-footer --print-to-pdf="$BUILD/report.pdf" \
  "file://$BUILD/report.html" >/dev/null
cp "$BUILD/report.pdf" "$REPORT/report.pdf"
"$VENV/bin/python" "$ROOT/tests/test_report.py" --record "$REPORT/build-info.json"

# Page previews for a look before committing: report/build/pages/page-N.png.
rm -rf "$BUILD/pages" && mkdir -p "$BUILD/pages"
pdftoppm -png -r 50 "$REPORT/report.pdf" "$BUILD/pages/page"
say "report/report.pdf: $(pdfinfo "$REPORT/report.pdf" | awk '/^Pages:/ {print $2}') pages (previews in report/build/pages/)"
