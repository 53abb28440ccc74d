#!/usr/bin/env python3
"""Makes the outcome-metric fixtures of OTLPOutcomeMetricsTests (Tests/TokenwatchCoreTests) and the
metric part of the OTLP integration test, with the real OpenTelemetry SDK and its OTLP encoder.

Claude Code-shaped metrics of three installs, one MeterProvider each (one resource each, `team.id`
set as OTEL_RESOURCE_ATTRIBUTES would), collected once a minute into one ExportMetricsServiceRequest
per collection (`outcomes/NN.pb`, in the order a Collector would forward them):
- alice (`user.email`, cumulative): commits, lines added/removed, edit decisions (by her and by
  configuration), active time user/cli, token usage (never counted: the logs carry tokens); then the
  tool restarts (a new start time) and, later, a counter drops within the session (a reset);
- bob (`user.account_uuid` only, delta temporality): pull requests, commits, lines, hook-approved edits;
- an install naming nobody (`user.id` only): commits, unattributed;
- the second collection is delivered again at the end (adds nothing).
The SDK stamps collections with the wall clock; the times are rewritten to minutes after T0 (each
distinct start time kept distinct), so the fixtures' boards are stable.

`expected.json`: per person (as tokenwatch names them without an identities file) the truth that was
added (commits, prs, lines, accepted/rejected/auto-approved edits, active ms) and how many events
(outcome points whose delta is not 0) it makes; and the unattributed events. Regenerate with
    pip install opentelemetry-proto opentelemetry-sdk opentelemetry-exporter-otlp-proto-common
    python3 Tests/Fixtures/otlp/make_outcome_metrics.py
"""
import json
import zlib
import os

from google.protobuf.json_format import MessageToJson
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "outcomes")
T0_MS = 1_795_555_200_000
NAMES = ["commit.count", "pull_request.count", "lines_of_code.count", "code_edit_tool.decision",
         "active_time.total", "token.usage"]


class Install:
    def __init__(self, who, ids, team, temporality):
        self.who, self.ids = who, ids
        self.reader = InMemoryMetricReader(preferred_temporality={Counter: temporality})
        resource = Resource.create({"service.name": "claude-code", "team.id": team})
        self.provider = MeterProvider(metric_readers=[self.reader], resource=resource)
        meter = self.provider.get_meter("com.anthropic.claude_code", "2.0.0")
        self.c = {n: meter.create_counter("claude_code." + n) for n in NAMES}

    def add(self, name, value, **attrs):
        a = {"session.id": "sess-" + self.who, "user.id": "install-" + self.who}
        a.update(self.ids)
        a.update(attrs)
        self.c[name].add(value, a)

    def collect(self):
        return encode_metrics(self.reader.get_metrics_data())


def merge(parts):
    """One Collector batch: the ResourceMetrics of several installs in one request."""
    out = type(parts[0])()
    for p in parts:
        out.resource_metrics.extend(p.resource_metrics)
    return out


def points(request):
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for dp in m.sum.data_points:
                    yield dp


def restamp(requests):
    """Wall-clock times → T0 + minute i (+ 1 s per distinct original start, so equal starts stay equal)."""
    starts = sorted({dp.start_time_unix_nano for r in requests for dp in points(r)})
    rank = {s: k for k, s in enumerate(starts)}
    for i, r in enumerate(requests):
        for dp in points(r):
            dp.time_unix_nano = (T0_MS + (i + 1) * 60_000) * 1_000_000
            dp.start_time_unix_nano = (T0_MS + rank[dp.start_time_unix_nano] * 1000) * 1_000_000


PERSON = {"alice@example.com": "alice@example.com", "uuid-bob": "uuid-bob"}


def oracle_events(requests):
    """The outcome events the requests make, by a delta rule written apart from tokenwatch's: per series
    (resource, name, attributes) a cumulative point adds its value minus the last newer-than-before one (all
    of it after a new start time or a drop), a delta point its value; a point adding 0 makes no event; a
    re-delivered delta point has its first delivery's id. Only attributed ones (who is None: unattributed)."""
    last, events = {}, []
    for r in requests:
        for rm in r.resource_metrics:
            res = tuple(sorted((kv.key, kv.value.string_value) for kv in rm.resource.attributes if kv.key != "service.instance.id"))
            team = dict(res).get("team.id", "unassigned")
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == "claude_code.token.usage":
                        continue
                    for dp in m.sum.data_points:
                        attrs = {kv.key: kv.value.string_value for kv in dp.attributes}
                        series = (res, m.name, tuple(sorted(attrs.items())))
                        value = dp.as_int or dp.as_double
                        if m.sum.aggregation_temporality == 2:
                            before = last.get(series)
                            if before and dp.time_unix_nano <= before[1]:
                                continue
                            last[series] = (dp.start_time_unix_nano, dp.time_unix_nano, value)
                            if before and before[0] == dp.start_time_unix_nano and value >= before[2]:
                                value -= before[2]
                        who = attrs.get("user.email") or attrs.get("user.account_uuid")
                        if value == 0 or who is None:
                            continue
                        events.append({"id": "m-%d-%d" % (zlib.crc32(repr(series).encode()), dp.time_unix_nano), "user": who, "team": team,
                                       "ts": dp.time_unix_nano // 1_000_000,
                                       "outcomes": (m.name == "claude_code.commit.count" or m.name == "claude_code.pull_request.count")
                                       and int(value) or (1 if attrs.get("decision") == "accept" and attrs.get("source", "").startswith("user") else 0)})
    return events


def main():
    os.makedirs(HERE, exist_ok=True)
    alice = Install("alice", {"user.email": "alice@example.com"}, "payments", AggregationTemporality.CUMULATIVE)
    bob = Install("bob", {"user.account_uuid": "uuid-bob"}, "infra", AggregationTemporality.DELTA)
    anon = Install("anon", {}, "payments", AggregationTemporality.CUMULATIVE)
    requests = []

    alice.add("commit.count", 2)
    alice.add("lines_of_code.count", 40, type="added")
    alice.add("lines_of_code.count", 5, type="removed")
    alice.add("code_edit_tool.decision", 3, decision="accept", source="user_temporary", tool="Edit")
    alice.add("code_edit_tool.decision", 2, decision="accept", source="config", tool="Edit")
    alice.add("active_time.total", 30.0, type="user")
    alice.add("active_time.total", 90.5, type="cli")
    alice.add("token.usage", 1000, type="input", model="claude-sonnet-4-5")
    bob.add("pull_request.count", 1)
    bob.add("commit.count", 1)
    bob.add("lines_of_code.count", 7, type="added")
    anon.add("commit.count", 3)
    requests.append(merge([alice.collect(), bob.collect(), anon.collect()]))

    alice.add("commit.count", 1)
    alice.add("lines_of_code.count", 10, type="added")
    alice.add("code_edit_tool.decision", 1, decision="reject", source="user_reject", tool="Write")
    alice.add("active_time.total", 12.5, type="user")
    bob.add("pull_request.count", 2)
    bob.add("code_edit_tool.decision", 4, decision="accept", source="hook", tool="Edit")
    requests.append(merge([alice.collect(), bob.collect()]))
    alice.provider.shutdown()

    # Claude Code restarts: a new provider, a new start time; its counters begin again.
    alice = Install("alice", {"user.email": "alice@example.com"}, "payments", AggregationTemporality.CUMULATIVE)
    alice.add("commit.count", 4)
    third = alice.collect()
    requests.append(third)
    # A counter that drops within the session (same start time) as Claude Code's have: 2 new commits.
    dropped = type(third)()
    dropped.CopyFrom(third)
    next(points(dropped)).as_int = 2
    requests.append(dropped)
    requests.append(requests[1])  # re-delivered
    restamp(requests[:4])
    for p in (alice, bob, anon):
        p.provider.shutdown()

    # events: the outcome series that moved, per collection (7, 4, 1, 1 for alice).
    truth = {
        "alice@example.com": {"events": 7 + 4 + 1 + 1, "commits": 2 + 1 + 4 + 2,
                              "prs": 0, "lines_added": 50, "lines_removed": 5, "accepted_events": 1,
                              "rejected_events": 1, "auto_approved": 2, "human_ms": 42_500, "agent_ms": 90_500},
        "uuid-bob": {"events": 3 + 2, "commits": 1, "prs": 3, "lines_added": 7, "lines_removed": 0,
                     "accepted_events": 0, "rejected_events": 0, "auto_approved": 4, "human_ms": 0, "agent_ms": 0},
    }
    events = oracle_events(requests)
    for i, r in enumerate(requests):
        with open(os.path.join(HERE, "%02d.pb" % i), "wb") as f:
            f.write(r.SerializeToString())
        with open(os.path.join(HERE, "%02d.json" % i), "w") as f:
            f.write(MessageToJson(r, indent=None))
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump({"requests": len(requests), "people": truth, "unattributed_events": 1,
                   "last_time_ms": T0_MS + 4 * 60_000, "events": events}, f, indent=1)


if __name__ == "__main__":
    main()
