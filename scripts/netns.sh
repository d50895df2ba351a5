#!/usr/bin/env bash
# Runs a command in a network namespace of its own, cut off from every real network: `npm test`
# and `npm run bench:browser` run through it.
#
# Inside there is loopback (127.0.0.1, ::1) and one veth pair that leads nowhere but back into the
# namespace: kith0 198.18.0.1/24 (RFC 2544's benchmarking range) with a default route through it.
# Chromium's WebRTC gathers ICE candidates only from non-loopback interfaces that have a default
# route; on the host it would pick the machine's real address for browser-to-browser tests. Here
# the only such interface is kith0, and nothing sent to it leaves the namespace.
#
# Needs root (or CAP_SYS_ADMIN), util-linux's `unshare`, iproute2's `ip` and veth support (scripts/
# test-prepare.ts installs iproute2 when missing). Without them the command runs as it is, with
# KITH_NETNS unset: tests that need the namespace (WebRTC between browsers) skip themselves and say
# why. Inside, KITH_NETNS=1.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: scripts/netns.sh <command> [args…]" >&2
  exit 2
fi

if [ "${KITH_NETNS:-}" = 1 ]; then
  exec "$@"
fi

# The namespace's setup; tried once in a throwaway namespace first, so a machine where any step
# fails (no veth support in a container, say) falls back to the host instead of failing the run.
SETUP='ip link set lo up &&
  ip link add kith0 type veth peer name kith1 &&
  ip addr add 198.18.0.1/24 dev kith0 &&
  ip link set kith0 up &&
  ip link set kith1 up &&
  ip route add default via 198.18.0.2 dev kith0'

if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 &&
  unshare --net bash -c "$SETUP" >/dev/null 2>&1; then
  exec unshare --net -- env KITH_NETNS=1 bash -c "$SETUP"' && exec "$@"' bash "$@"
fi

echo "scripts/netns.sh: cannot make a network namespace here (needs root, unshare, ip and veth): running on the host; tests that need one (WebRTC between browsers) are skipped" >&2
exec "$@"
