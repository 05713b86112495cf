#!/usr/bin/env bash
# bench/floor.sh: the machine's floor for bench/notify-apart.sh. The same load (a storm of
# CONNS connections at 50,000 1 KB messages/s from a nice 19 process, a probe of 200
# messages/s at nice -10) served by bench/floor, a server that only appends each message
# to a file, fdatasyncs once per group and then answers: no MQTT, no JSON, no Pebble. Its
# p99 is what any hub that syncs before it notifies can reach on this machine.
#
#   bench/floor.sh              1,000 storm connections, as notify-apart
#   CONNS=100 RATE=40000 bench/floor.sh
#   BASELINE=1 bench/floor.sh   also time the probe alone first
set -euo pipefail
cd "$(dirname "$0")/.."

conns=${CONNS:-1000}
rate=${RATE:-50000}
probe_nice=${PROBE_NICE:--10}
if [ "$(nice -n "$probe_nice" nice 2>/dev/null)" != "$probe_nice" ]; then
	echo "floor: this user cannot run the probe at nice $probe_nice; it runs at nice 0" >&2
	probe_nice=0
fi
work=$(mktemp -d)
server=
cleanup() {
	[ -z "$server" ] || kill "$server" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/floor" ./bench/floor
"$work/floor" server -dir "$work" >"$work/addr" &
server=$!
for _ in $(seq 50); do
	[ -s "$work/addr" ] && break
	sleep 0.1
done
addr=$(head -1 "$work/addr")
if [ -n "${BASELINE:-}" ]; then
	echo "alone  $(nice -n "$probe_nice" "$work/floor" probe -addr "$addr" -d 10s)"
fi
nice -n 19 "$work/floor" storm -addr "$addr" -conns "$conns" -rate "$rate" -d 14s >"$work/storm.txt" &
storm=$!
sleep 3
probe=$(nice -n "$probe_nice" "$work/floor" probe -addr "$addr" -d 10s)
wait "$storm"
cat "$work/storm.txt"
echo "$probe"
