#!/usr/bin/env bash
# Removes the network namespaces of the simulated internet (test/internet/simnet.ts) by hand:
# kills every process inside each, then deletes it (its veths and bridge go with it).
#   scripts/simnet/cleanup.sh            namespaces of runs whose test process is gone
#   scripts/simnet/cleanup.sh --all      every ksn… namespace, running tests' too
#   scripts/simnet/cleanup.sh <prefix>   the namespaces of one run (e.g. ksn1234x0a1b2c)
# Needs root. The harness does this itself on exit and sweeps stale runs when it starts.
set -euo pipefail

mode="${1:-stale}"
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^ksn(probe)?[0-9]+x' || true); do
  pid="$(sed -E 's/^ksn(probe)?([0-9]+)x.*/\2/' <<<"$ns")"
  case "$mode" in
    --all) ;;
    stale) if kill -0 "$pid" 2>/dev/null; then continue; fi ;;
    *) [[ "$ns" == "$mode"* ]] || continue ;;
  esac
  for _ in 1 2 3 4 5; do
    pids="$(ip netns pids "$ns" 2>/dev/null || true)"
    [ -z "$pids" ] && break
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
    sleep 0.1
  done
  ip netns del "$ns" && echo "removed $ns"
done
