#!/usr/bin/env bash
# Operations benchmarks (BENCHMARKS.md, "Several instances, failover, rebuild and restore"):
# the time from start to ready for a daemon that rebuilds its state from the input, the same with a
# checkpoint to restore, a failover to a standby after kill -9, and the catch-up rate of one instance
# alone and of the active one of three. Runs the release binary against the dev broker on loopback.
#
#   swift build -c release && bench/operations.sh [EVENTS] [USERS]
set -euo pipefail
B=${TOKENWATCH:-$(swift build -c release --show-bin-path)/tokenwatch}
EVENTS=${1:-400000}
USERS=${2:-20000}
WORK=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

"$B" dev-broker --port 0 --partitions 32 > "$WORK/broker.txt" 2> "$WORK/broker.log" &
until [ -s "$WORK/broker.txt" ]; do sleep 0.1; done
BR=$(head -1 "$WORK/broker.txt")
"$B" loadgen --brokers "$BR" --scenario regular --users "$USERS" --events "$EVENTS" --start 2026-11-24T00:00:00Z --span 24h > /dev/null 2>&1

n=0
# daemon NAME GROUP: starts `tokenwatch run` with its own state dir and HTTP port; sets PID and PORT.
daemon() {
  n=$((n + 1))
  PORT=$((19500 + n))
  TOKENWATCH_HTTP_LISTEN=127.0.0.1:$PORT TOKENWATCH_KAFKA_LIBRDKAFKA_SESSION_TIMEOUT_MS=6000 TOKENWATCH_KAFKA_GROUP_ID=$2 \
    TOKENWATCH_STATE_CHECKPOINT_INTERVAL=1h \
    "$B" run --brokers "$BR" --state-dir "$WORK/state-$1" > /dev/null 2> "$WORK/$1.log" &
  PID=$!
}
ready() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz" 2>/dev/null | grep -q 200; }
wait_ready() { until ready "$1"; do sleep 0.05; done; }
stop() { kill -TERM "$1"; wait "$1" || true; }

echo "events: $EVENTS, users: $USERS, input partitions: 32"

t=$(now); daemon a solo; wait_ready $PORT
echo "start to ready, rebuilding from the input (no checkpoint): $(since "$t") s"
stop $PID
t=$(now); daemon a solo; wait_ready $PORT
echo "start to ready, restoring the checkpoint: $(since "$t") s"
stop $PID

# Three instances of one group: the first to win the election is active; kill -9 it and time the takeover.
t=$(now)
daemon x1 trio; p1=$PID; q1=$PORT
daemon x2 trio; p2=$PID; q2=$PORT
daemon x3 trio; p3=$PID; q3=$PORT
active=""
while [ -z "$active" ]; do
  for i in 1 2 3; do eval "q=\$q$i"; ready $q && active=$i && break; done
  sleep 0.05
done
echo "three instances, start to the active one ready (rebuilt from the input): $(since "$t") s"
eval "kill -KILL \$p$active"
t=$(now); took=""
while [ -z "$took" ]; do
  for i in 1 2 3; do [ $i != $active ] && eval "q=\$q$i" && ready $q && took=$i && break; done
  sleep 0.05
done
echo "failover after kill -9 (session timeout 6 s + election + rebuild from the input): $(since "$t") s"
for i in 1 2 3; do [ $i != $active ] && eval "stop \$p$i"; done
