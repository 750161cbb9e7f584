# Shared by the scripts that drive preflight in a real terminal (tmux). Source it after setting `name`
# (the script's name, for messages); it leaves you in the repository root with:
#   $work        a temporary directory, removed on exit (with the tmux server)
#   $work/preflight   the binary, built from this tree
#   t ARGS       tmux on a private socket
#   $isolate     1 when demos can run in a private network namespace (unshare --net, loopback only), so
#                their fixed 127.77.x.y / 127.78.x.y ports never collide with another test's demo;
#                $work/pane.sh runs a pane's command there when ISOLATE=1
#   screen S, wait_for S TEXT [SECONDS], count S TEXT, wait_count S TEXT N [SECONDS], keys S KEY...,
#   type_text S TEXT, fail MESSAGE
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

if ! command -v tmux >/dev/null; then
  echo "$name: tmux is not installed (apt-get install tmux)" >&2
  exit 77
fi

work=$(mktemp -d)
sock="$work/tmux.sock"
t() { tmux -u -S "$sock" "$@"; }
cleanup() {
  t kill-server 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/preflight" ./cmd/preflight

cat >"$work/pane.sh" <<'EOF'
#!/bin/sh
if [ "$ISOLATE" = 1 ]; then
  exec unshare --net sh -c 'ip link set lo up && exec "$@"' sh "$@"
fi
exec "$@"
EOF
chmod +x "$work/pane.sh"
isolate=0
if unshare --net sh -c 'ip link set lo up' 2>/dev/null; then isolate=1; fi
echo "$name: demo in a private network namespace: $([ $isolate = 1 ] && echo yes || echo no)"

screen() { t capture-pane -p -t "$1"; }

fail() { echo "$name: FAIL: $*" >&2; exit 1; }

# wait_for SESSION TEXT [SECONDS]: until the screen shows TEXT.
wait_for() {
  local s=$1 text=$2 limit=${3:-20} i=0
  while [ $i -lt $((limit * 10)) ]; do
    if screen "$s" 2>/dev/null | grep -qF -- "$text"; then return 0; fi
    sleep 0.1
    i=$((i + 1))
  done
  screen "$s" >&2 || true
  fail "the screen never showed: $text"
}

count() { screen "$1" | grep -oF -- "$2" | wc -l; }

# wait_count SESSION TEXT N [SECONDS]: until TEXT shows N times.
wait_count() {
  local s=$1 text=$2 n=$3 limit=${4:-20} i=0
  while [ $i -lt $((limit * 10)) ]; do
    if [ "$(count "$s" "$text")" -ge "$n" ]; then return 0; fi
    sleep 0.1
    i=$((i + 1))
  done
  screen "$s" >&2 || true
  fail "the screen never showed '$text' $n times"
}

# keys SESSION KEY...: one key at a time, so that Escape is never read as Alt with the next key.
keys() {
  local s=$1
  shift
  for k in "$@"; do
    t send-keys -t "$s" "$k"
    sleep 0.15
  done
}

type_text() { t send-keys -t "$1" -l "$2"; sleep 0.2; }
