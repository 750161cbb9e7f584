#!/usr/bin/env bash
# Drives the real binary in a real terminal (tmux, 80×24), the way an engineer at the cart would:
#   1. `preflight demo` (both facilities; the patient side in front): every item resolves live; the
#      planted failures show evidence and a remedy; a manual item is answered with evidence; L switches
#      to Japanese and back; the run is signed off with the demo engineer's key;
#      the record on disk carries the signer and the answer, and its SHA-256 is the one on the screen.
#   2. A second demo, answered, then its terminal is closed (tmux kill-session → SIGHUP): the record on
#      disk is marked interrupted and still carries the answer.
# Run by tui/tmux_test.go (go test ./tui), so by scripts/test.sh. Needs tmux (Debian package tmux).
# scripts/tui-tmux-peer-test.sh drives both facilities to OPERATION READY.
# The demo listens on fixed 127.77.x.y ports; when this host allows it, each demo runs in a private
# network namespace (unshare --net, loopback only), so it can never collide with another test's demo.
name=tui-tmux-test
. "$(dirname "$0")/tmux-lib.sh"

start_demo() { # SESSION LOGDIR
  t new-session -d -s "$1" -x 80 -y 24 \
    "ISOLATE=$isolate $work/pane.sh $work/preflight demo --lang en --log-dir $2 2>$work/$1.stderr"
  t set-option -s escape-time 10 >/dev/null
}

# Every probe of the demo profile resolved: "P/N done", P probes of N items (the rest are manual).
demo_profile=profiles/builtin/demo-patient.yaml # from the repository root (tmux-lib.sh cds there)
all_probed="$(grep -c '^ *probe:' "$demo_profile")/$(grep -c '^      - id:' "$demo_profile") done"

# --- 1. demo → answer with evidence → sign off -------------------------------------------------------
start_demo one "$work/log1"
wait_for one "$all_probed"
wait_for one "NO-GO"
sleep 0.3
resolved=$(screen one)
echo "tui-tmux-test: the demo at 80×24 after every probe resolved:"
echo "$resolved"
for want in "blocks:" "✘ FAIL" "✔ PASS" "✎ ASK" "V(1)-1" "waiting for you"; do
  grep -qF -- "$want" <<<"$resolved" || fail "resolved screen lacks '$want'"
done

keys one j j j j Enter # robot-ports: the planted open port
wait_for one "Remedy"
wait_for one "unexpected open  18023"
keys one Escape
keys one j j y # his-monitoring: evidence required
wait_for one "Answer: YES"
keys one Enter # refused without evidence
wait_for one "evidence is required for yes"
type_text one "SOC ticket 4411 (IDS console green)"
keys one Enter
wait_for one "his-monitoring answered: YES"
wait_for one "✔ YES"

keys one L
wait_for one "手術ID"
wait_for one "現地施設（患者側）"
keys one L
wait_for one "operation DEMO-OP-1"

keys one s
wait_for one "Statement you sign"
wait_for one "Hanako Sato (demo)" # the demo's engineer, whose key the demo made and rostered
keys one Enter
wait_for one "Record written"
signed=$(screen one)
hash=$(grep -oE '[0-9a-f]{64}' <<<"$signed" | head -1)
record=$(ls "$work"/log1/runs/*/record.json)
[ -n "$hash" ] || fail "no hash on the sign-off screen"
grep -qF "\"sha256\": \"$hash\"" "$record" || fail "the hash on screen is not the sealed record's sha256"
"$work/preflight" log verify --log-dir "$work/log1" >/dev/null || fail "log verify does not find the signed run intact"
grep -qF '"name": "Hanako Sato (demo)"' "$record" || fail "record lacks the signer"
grep -qF '"role": "Network engineer on duty"' "$record" || fail "record lacks the role"
grep -qF '"signature": "preflight sign-off v1' "$record" || fail "record is not signed with the demo engineer's key"
grep -qF '"evidence": "SOC ticket 4411 (IDS console green)"' "$record" || fail "record lacks the answer's evidence"
grep -qF '"verdict": "no-go"' "$record" || fail "record verdict is not no-go"
if grep -qF '"interrupted"' "$record"; then fail "a signed record is marked interrupted"; fi
keys one q
for _ in $(seq 50); do t has-session -t one 2>/dev/null || break; sleep 0.1; done
t has-session -t one 2>/dev/null && fail "q did not end the signed demo"
grep -qF "signed — record written to $record" "$work/one.stderr" || fail "no summary on stderr: $(cat "$work/one.stderr")"
echo "tui-tmux-test: signed record $record (sha256 $hash)"

# --- 2. answered, then the terminal is closed ---------------------------------------------------------
start_demo two "$work/log2"
wait_for two "$all_probed"
keys two j j j j j j y # his-monitoring
wait_for two "Answer: YES"
type_text two "SOC ticket 4412"
keys two Enter
wait_for two "✔ YES"
t kill-session -t two # the terminal goes away: SIGHUP
record2=""
for _ in $(seq 50); do
  record2=$(ls "$work"/log2/runs/*/record.json 2>/dev/null || true)
  [ -n "$record2" ] && break
  sleep 0.1
done
[ -n "$record2" ] || fail "closing the terminal left no record"
grep -qF '"interrupted": "SIGHUP (terminal closed)"' "$record2" || fail "record not marked interrupted: $(grep interrupted "$record2")"
grep -qF '"evidence": "SOC ticket 4412"' "$record2" || fail "the answer was lost when the terminal closed"
echo "tui-tmux-test: interrupted record $record2 keeps the answer"
echo "tui-tmux-test: PASS"
