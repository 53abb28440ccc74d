#!/usr/bin/env python3
"""Makes the OTLP metric fixtures of Tests/TokenwatchCoreTests/OTLPMetricsTests.swift with the real SDK.

Claude Code-shaped Sum metrics, each collection one ExportMetricsServiceRequest (`metrics/NN.pb`, in
the order a Collector would forward them), encoded by the SDK's own OTLP encoder:
- `claude_code.commit.count`, cumulative: 3, then 5 (+2); the tool restarts (a new MeterProvider: a
  new start time) and counts 1 (+1), then 5 (+4); then, as Claude Code's counters do within a
  session, the value drops to 2 with the same start time (+2): deltas 3 2 1 4 2 = 12;
- `claude_code.pull_request.count`, delta temporality: 1, then 2: summed, 3;
- `claude_code.token.usage`, cumulative, two series told apart by the `type` attribute: input 100
  then 250 (+150), output 40 then 70 (+30);
- the last request is the second one again (re-delivered): adds nothing.
`expected.json` holds the total each (metric, type) must reach. CI needs no pip; regenerate with
    pip install opentelemetry-proto opentelemetry-sdk opentelemetry-exporter-otlp-proto-common
    python3 Tests/Fixtures/otlp/make_metric_fixtures.py
"""
import json
import os

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metrics")
ATTRS = {"user.email": "alice@example.com", "session.id": "s-1", "user.account_uuid": "uuid-alice"}


def provider(temporality):
    reader = InMemoryMetricReader(preferred_temporality={Counter: temporality})
    resource = Resource.create({"service.name": "claude-code", "team.id": "payments"})
    return MeterProvider(metric_readers=[reader], resource=resource), reader


def main():
    os.makedirs(HERE, exist_ok=True)
    requests = []
    cumulative, reader = provider(AggregationTemporality.CUMULATIVE)
    meter = cumulative.get_meter("com.anthropic.claude_code", "2.0.0")
    commits = meter.create_counter("claude_code.commit.count")
    tokens = meter.create_counter("claude_code.token.usage", unit="tokens")
    commits.add(3, ATTRS)
    tokens.add(100, dict(ATTRS, type="input", model="claude-sonnet-4-5"))
    tokens.add(40, dict(ATTRS, type="output", model="claude-sonnet-4-5"))
    requests.append(encode_metrics(reader.get_metrics_data()))
    commits.add(2, ATTRS)
    tokens.add(150, dict(ATTRS, type="input", model="claude-sonnet-4-5"))
    tokens.add(30, dict(ATTRS, type="output", model="claude-sonnet-4-5"))
    requests.append(encode_metrics(reader.get_metrics_data()))
    cumulative.shutdown()

    restarted, reader = provider(AggregationTemporality.CUMULATIVE)
    commits = restarted.get_meter("com.anthropic.claude_code", "2.0.0").create_counter("claude_code.commit.count")
    commits.add(1, ATTRS)
    requests.append(encode_metrics(reader.get_metrics_data()))
    commits.add(4, ATTRS)
    fifth = encode_metrics(reader.get_metrics_data())
    requests.append(fifth)
    # A reset inside the session: the SDK never lowers a counter, so the last request's value is set
    # to 2 with its start time kept, as Claude Code's own counters have been seen to do.
    dropped = type(fifth)()
    dropped.CopyFrom(fifth)
    point = dropped.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0]
    point.as_int = 2
    point.time_unix_nano += 1_000_000_000
    requests.append(dropped)
    restarted.shutdown()

    delta, reader = provider(AggregationTemporality.DELTA)
    prs = delta.get_meter("com.anthropic.claude_code", "2.0.0").create_counter("claude_code.pull_request.count")
    prs.add(1, ATTRS)
    requests.append(encode_metrics(reader.get_metrics_data()))
    prs.add(2, ATTRS)
    requests.append(encode_metrics(reader.get_metrics_data()))
    delta.shutdown()
    requests.append(requests[1])  # re-delivered

    for i, r in enumerate(requests):
        with open(os.path.join(HERE, "%02d.pb" % i), "wb") as f:
            f.write(r.SerializeToString())
    expected = {"claude_code.commit.count": 12, "claude_code.pull_request.count": 3,
                "claude_code.token.usage|input": 250, "claude_code.token.usage|output": 70}
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump({"requests": len(requests), "totals": expected}, f, indent=1)


if __name__ == "__main__":
    main()
