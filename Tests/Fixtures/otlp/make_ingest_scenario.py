#!/usr/bin/env python3
"""Makes the OTLP input of Tests/IntegrationTests/OTLPIngestTests.swift with the real OpenTelemetry SDK.

Forty minutes of Claude Code-shaped `claude_code.api_request` log records from several people, each
export batch written as the Collector's Kafka exporter writes it (one ExportLogsServiceRequest per
message), alternately protobuf (`batch-NN.pb`) and OTLP/JSON (`batch-NN.json`):
- alice and carol are identified by e-mail, bob and dan only by `user.account_uuid`, and some
  records name nobody (an API-key login without the uuid): those are unattributed, never ranked;
- teams come from the resource attribute `team.id` (OTEL_RESOURCE_ATTRIBUTES), dan has none;
- some records are delivered twice, in another batch of the other encoding (same `request_id`, or
  only the same `client_request_id`), and must count once;
- `clock-P.pb` is one batch per partition P from the service account `svc-clock` at minute 50,
  so every partition's watermark passes the end of the data.

`expected.json` lists every record as the test's brute force reads it: request id (the event id),
time, person (null when unresolved), team, tokens, and the partition its batch goes to. The outputs
are committed, so CI needs no pip. Regenerate (from the repository root):
    pip install opentelemetry-proto opentelemetry-sdk opentelemetry-exporter-otlp-proto-common
    python3 Tests/Fixtures/otlp/make_ingest_scenario.py
"""
import json
import os
import random

from google.protobuf.json_format import MessageToJson
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ingest")
T0_MS = 1_795_555_200_000  # 2026-11-25T16:00:00Z
PARTITIONS = 4

# name: (identity attributes, team.id or None, person as tokenwatch must resolve it or None)
PEOPLE = {
    "alice": ({"user.email": "alice@example.com", "user.account_uuid": "uuid-alice"}, "payments", "alice@example.com"),
    "bob": ({"user.account_uuid": "uuid-bob"}, "infra", "uuid-bob"),
    "carol": ({"user.email": "carol@example.com"}, "ml", "carol@example.com"),
    "dan": ({"user.account_uuid": "uuid-dan"}, None, "uuid-dan"),
    "nobody": ({}, "payments", None),
}


def record(name, ts_ms, seq, ids, tokens):
    attributes, _, _ = PEOPLE[name]
    a = {"event.name": "api_request", "session.id": "sess-%s" % name, "user.id": "install-%s" % name,
         "app.entrypoint": "cli", "model": "claude-sonnet-4-5", "query_source": "main",
         "input_tokens": str(tokens[0]), "output_tokens": str(tokens[1]), "cache_read_tokens": str(seq % 7),
         "duration_ms": "1200", "cost_usd": "0.001"}
    a.update(attributes)
    a.update(ids)
    return LogRecord(timestamp=ts_ms * 1_000_000, observed_timestamp=ts_ms * 1_000_000 + 5,
                     body="claude_code.api_request", attributes=a, event_name="claude_code.api_request")


def encode(groups):
    """One request with a ResourceLogs per team (as one Collector batch of several Claude Code installs)."""
    requests = []
    for team, records in groups:
        exporter = InMemoryLogRecordExporter()
        resource = {"service.name": "claude-code", "service.version": "2.0.0"}
        if team:
            resource["team.id"] = team
        provider = LoggerProvider(resource=Resource.create(resource))
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        logger = provider.get_logger("com.anthropic.claude_code.events", "2.0.0")
        for r in records:
            logger.emit(r)
        provider.shutdown()
        requests.append(encode_logs(exporter.get_finished_logs()))
    first = requests[0]
    for other in requests[1:]:
        first.resource_logs.extend(other.resource_logs)
    return first


def main():
    rng = random.Random(11)
    os.makedirs(HERE, exist_ok=True)
    expected = []
    batches = []  # (partition, [(team, LogRecord)], [expected rows])
    resend = []
    seq = 0
    for slot in range(20):  # a batch per two minutes of event time
        partition = slot % PARTITIONS
        rows, records = [], []
        for _ in range(rng.randint(4, 9)):
            seq += 1
            name = rng.choice(list(PEOPLE))
            ts = T0_MS + slot * 120_000 + rng.randint(0, 119_999)
            tokens = (rng.randint(1, 5000), rng.randint(1, 2000))
            ids = {"request_id": "req_%04d" % seq, "client_request_id": "creq_%04d" % seq}
            if seq % 9 == 0:
                ids = {"client_request_id": "creq_%04d" % seq}  # no request_id: the client's id dedups
            event_id = ids.get("request_id", ids["client_request_id"])
            row = {"id": event_id, "ts": ts, "user": PEOPLE[name][2], "team": PEOPLE[name][1] or "unassigned",
                   "input": tokens[0], "output": tokens[1], "partition": partition}
            records.append((PEOPLE[name][1], record(name, ts, seq, ids, tokens)))
            rows.append(row)
            if rng.random() < 0.2:
                resend.append((slot + 1, (PEOPLE[name][1], record(name, ts, seq, ids, tokens)), row))
        # Re-sent records of the previous slot go into this batch (another partition, another encoding).
        for (when, rec, row) in [r for r in resend if r[0] == slot]:
            records.append(rec)
            rows.append(dict(row, partition=partition))
        batches.append((partition, records, rows))
    for i, (partition, records, rows) in enumerate(batches):
        teams = sorted({t or "" for t, _ in records})
        request = encode([(t or None, [r for tt, r in records if (tt or "") == t]) for t in teams])
        name = "batch-%02d.%s" % (i, "pb" if i % 2 == 0 else "json")
        data = request.SerializeToString() if i % 2 == 0 else MessageToJson(request, indent=None).encode()
        write(name, data)
        for row in rows:
            expected.append(dict(row, file=name))
    clock_ts = T0_MS + 50 * 60_000
    for p in range(PARTITIONS):
        exporter_request = encode([("ops", [LogRecord(
            timestamp=clock_ts * 1_000_000, body="claude_code.api_request", event_name="claude_code.api_request",
            attributes={"event.name": "api_request", "user.email": "svc-clock", "input_tokens": "1",
                        "output_tokens": "1", "request_id": "clock-%d" % p})])])
        write("clock-%d.pb" % p, exporter_request.SerializeToString())
        expected.append({"id": "clock-%d" % p, "ts": clock_ts, "user": "svc-clock", "team": "ops", "input": 1,
                         "output": 1, "partition": p, "file": "clock-%d.pb" % p})
    write("expected.json", (json.dumps({"partitions": PARTITIONS, "records": expected}, indent=1) + "\n").encode())


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
