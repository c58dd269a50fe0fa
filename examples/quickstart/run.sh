#!/usr/bin/env bash
# The Quick start: a local receiver, `hookd serve` on this folder's config, and a trickle of events
# written to the tailed file and the socket. Ctrl-C stops everything.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
command -v hookd >/dev/null || { echo "hookd is not on PATH; install it first (see README.md)" >&2; exit 2; }

# The database, the socket and the tailed file go to a temporary directory, removed on the way out,
# so the Quick start leaves nothing in the checkout.
state=$(mktemp -d "${TMPDIR:-/tmp}/hookd-quickstart.XXXXXX")
export QUICKSTART_STATE=$state
pids=()
cleanup() {
  # hookd first (it finishes in-flight deliveries), then the receiver, then their files.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The receiver and hookd run in sessions of their own, so a Ctrl-C in this terminal reaches only
# this script, whose cleanup then stops each of them once: hookd takes a second signal as "stop
# now, cancel what is in flight". (os.setsid rather than setsid(1), which macOS lacks.)
detached() { exec "$python" -c 'import os, sys; os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])' "$@"; }
detached "$python" "$here/receiver.py" --port "${RECEIVER_PORT:-8781}" &
pids+=($!)
hookd validate "$here/hookd.yaml"
detached hookd serve -c "$here/hookd.yaml" &
pids+=($!)

# Wait for the daemon's socket, then send events both ways: a line appended to the tailed file,
# and a line written to the socket (answered with an ack once stored).
for _ in $(seq 100); do [ -S "$state/hookd.sock" ] && break; sleep 0.1; done
n=0
while sleep 1; do
  n=$((n + 1))
  total=$(( (n * 67) % 300 ))
  echo "{\"type\": \"sales_order.created\", \"data\": {\"id\": $n, \"total\": $total, \"status\": \"paid\", \"customer\": {\"name\": \"Ada\"}}}" >> "$state/events.jsonl"
  "$python" - "$state/hookd.sock" "$n" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"type": "user.signed_up", "data": {"user": %s}}\n' % sys.argv[2].encode())
print("client: ack", s.makefile().readline().strip(), flush=True)
PY
  [ -n "${QUICKSTART_EVENTS:-}" ] && [ "$n" -ge "$QUICKSTART_EVENTS" ] && break
done
