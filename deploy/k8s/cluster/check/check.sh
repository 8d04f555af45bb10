# cluster check: what the store will need of the cluster, on a running node. Sourced by
# `cluster` (its kubectl, helm, load and settings). Each step prints ok or FAILED; the last
# line counts them. Leaves nothing behind: the namespace goes at the end.
# shellcheck shell=bash

CHECK_NS=merch-store-check
CHECK_PORT=${NODE_PORTS[0]}
passed=0 failed=0

# step TITLE COMMAND...: one check; its output is shown only when it fails.
step() {
  local title=$1 out t0=$SECONDS
  shift
  if out=$("$@" 2>&1); then
    passed=$((passed + 1))
    printf 'ok      %-66s %3d s\n' "$title" $((SECONDS - t0))
  else
    failed=$((failed + 1))
    printf 'FAILED  %-66s %3d s\n%s\n' "$title" $((SECONDS - t0)) "$out"
  fi
}

node_ready() {
  [[ $(kubectl get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]
}
load_check_image() {
  docker image inspect "$CHECK_IMAGE" >/dev/null 2>&1 || check_image "$(base_tarball)"
  load "$CHECK_IMAGE"
}
release() {
  helm upgrade --install check "$HERE/check/chart" --namespace "$CHECK_NS" --create-namespace \
    --set image="$CHECK_IMAGE" --set nodePort="$CHECK_PORT" --wait --timeout 120s
}
logs_show_requests() { kubectl -n "$CHECK_NS" logs deployment/web | grep -q 'url:/'; }
exec_reads_page() { kubectl -n "$CHECK_NS" exec deployment/web -- cat /data/index.html | grep -q '^hello from web-'; }
claim_bound() {
  [[ $(kubectl -n "$CHECK_NS" get pvc data -o jsonpath='{.status.phase} {.spec.storageClassName}') == "Bound local" ]]
}
uninstall() {
  local pv
  pv=$(kubectl -n "$CHECK_NS" get pvc data -o jsonpath='{.spec.volumeName}')
  helm uninstall check --namespace "$CHECK_NS" --wait --timeout 60s \
    && kubectl wait --for=delete "pv/$pv" --timeout=30s
}
node_port() { curl -sf --max-time 5 "http://127.0.0.1:$CHECK_PORT/" | grep -q '^hello from web-'; }
clean_up() { kubectl delete namespace "$CHECK_NS" --wait --timeout=60s; }

kubectl delete namespace "$CHECK_NS" --ignore-not-found --wait --timeout=60s >/dev/null
step "node $NODE Ready" node_ready
step "docker save | ctr import of $CHECK_IMAGE (cluster load)" load_check_image
step "helm install --wait: that image's pod Ready, with a volume" release
step "its claim Bound through the default StorageClass" claim_bound
step "helm test: another pod reaches the Service by DNS name" helm test check --namespace "$CHECK_NS" --timeout 60s
step "kubectl logs shows the requests" logs_show_requests
step "kubectl exec in the pod" exec_reads_page
step "the NodePort from this machine: 127.0.0.1:$CHECK_PORT" node_port
step "helm version" helm version
step "helm uninstall; the claim's volume deleted" uninstall
step "the namespace deleted" clean_up
echo "cluster check: $passed passed, $failed failed"
((failed == 0))
