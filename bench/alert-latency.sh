#!/usr/bin/env bash
# Alert latency, live, at 50k events/s (BENCHMARKS.md, "Alert latency, live"): event time is the wall
# clock. A mixed population (gamers among regular people) is backfilled over the last day, then produced
# as it happens (`loadgen --realtime`) while a regular stream of 50k events/s runs beside it. Alerts
# fired after the backfill are the ones measured: (a) `tokenwatch_alert_emit_to_ack_seconds`, from the
# watermark passing an alert's snapshot time to the broker's acknowledgement, and
# `tokenwatch_alert_event_to_ack_seconds`, from that snapshot time (the event time the alert covers up
# to) to the acknowledgement, which bounds (b): an event produced at most one snapshot interval earlier.
#
#   swift build -c release && bench/alert-latency.sh [MIXED_USERS] [LIVE_MINUTES] [RATE]
set -euo pipefail
B=${TOKENWATCH:-$(swift build -c release --show-bin-path)/tokenwatch}
USERS=${1:-20000}
MINUTES=${2:-12}
RATE=${3:-50000}
PORT=19470
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
metrics() { curl -sf "127.0.0.1:$PORT/metrics"; }

# The dev broker keeps ~5 MB per partition: a day of 20,000 people needs a few hundred partitions.
"$B" dev-broker --port 0 --partitions 384 > "$WORK/broker.txt" 2> "$WORK/broker.log" &
until [ -s "$WORK/broker.txt" ]; do sleep 0.1; done
BR=$(head -1 "$WORK/broker.txt")
TOKENWATCH_HTTP_LISTEN=127.0.0.1:$PORT "$B" run --brokers "$BR" --state-dir "$WORK/state" > "$WORK/daemon.log" 2>&1 &

now_ms=$(date +%s%3N)
start=$(( (now_ms - 86400000) / 60000 * 60000 ))
span=$(( 1440 + MINUTES + 2 ))m
"$B" loadgen --brokers "$BR" --scenario mixed --users "$USERS" --seed 5 --start "$start" --span "$span" --realtime \
  > "$WORK/mixed.log" 2>&1 &

# The backfill is consumed when the daemon is ready (caught up) and its lag is 0.
until [ "$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$PORT/readyz")" = 200 ] \
   && [ "$(metrics | awk '/^tokenwatch_consumer_lag_messages/{s+=$2} END{print s+0}')" = 0 ]; do sleep 2; done
metrics > "$WORK/before.txt"
echo "backfill consumed; $RATE events/s beside the live mixed stream for $MINUTES minutes" >&2
"$B" loadgen --brokers "$BR" --scenario regular --users 2000 --seed 9 --rate "$RATE" --duration $(( MINUTES * 60 )) > "$WORK/regular.log" 2>&1
sleep 10
metrics > "$WORK/after.txt"

python3 - "$WORK/before.txt" "$WORK/after.txt" <<'EOF'
import re, sys
def read(path):
    out = {'lag': 0.0}
    for line in open(path):
        m = re.match(r'(tokenwatch_\w+_seconds)_bucket\{le="([^"]+)"\} (\S+)', line)
        if m: out.setdefault(m[1], []).append((float(m[2]), float(m[3])))
        m = re.match(r'tokenwatch_consumer_lag_messages\{.*\} (\S+)', line)
        if m: out['lag'] += float(m[1])
        m = re.match(r'process_resident_memory_bytes (\S+)', line)
        if m: out['rss'] = float(m[1])
    return out
before, after = read(sys.argv[1]), read(sys.argv[2])
# Each histogram over the live part only: the buckets' growth since the backfill was consumed.
for name in ('tokenwatch_alert_emit_to_ack_seconds', 'tokenwatch_alert_event_to_ack_seconds',
             'tokenwatch_batch_duration_seconds', 'tokenwatch_snapshot_duration_seconds', 'tokenwatch_processing_latency_seconds', 'tokenwatch_checkpoint_pause_seconds'):
    if name not in after: continue
    buckets = [(le, a - b) for (le, a), (_, b) in zip(after[name], before.get(name, [(le, 0) for le, _ in after[name]]))]
    total = buckets[-1][1]
    def quantile(q):
        for le, c in buckets:
            if c >= q * total: return le
    print(f"{name}: {int(total)} observations in the live part; p50 <= {quantile(0.5)} s, p99 <= {quantile(0.99)} s, max <= {quantile(1.0)} s")
print(f"lag at the end: {int(after['lag'])}, RSS {after.get('rss', 0) / 2**20:.0f} MB")
EOF
