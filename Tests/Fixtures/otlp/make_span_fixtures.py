#!/usr/bin/env python3
"""Makes the GenAI span fixtures of OTLPTracesTests (Tests/TokenwatchCoreTests) and the span part of
the OTLP integration test, with the real OpenTelemetry SDK (TracerProvider, OTLP trace encoder).

Copilot Chat / Copilot CLI-shaped spans following the GenAI semantic conventions: per request an
`invoke_agent` span (its usage sums its children: skipped), `chat` spans with `gen_ai.usage.*`
(counted), an `execute_tool` span (no usage). Identity only from resource attributes, as an admin sets
them with OTEL_RESOURCE_ATTRIBUTES: erin by `user.email`, frank by `enduser.id`, and one install with
neither (unattributed). One ExportTraceServiceRequest per export (`spans/NN.pb`), and the same
requests as OTLP/JSON (`spans/NN.json`, trace and span ids in hex as OTLP/JSON has them); the last
request re-sends the first (each span counts once).

`expected.json`: every counted chat span (event id, person or null, team, tokens, ms). Regenerate with
    pip install opentelemetry-proto opentelemetry-sdk opentelemetry-exporter-otlp-proto-common
    python3 Tests/Fixtures/otlp/make_span_fixtures.py
"""
import base64
import json
import os

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import set_span_in_context

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spans")
T0_MS = 1_795_555_200_000
# who: (resource attributes, person as tokenwatch names them without an identities file, team)
INSTALLS = {
    "erin": ({"service.name": "copilot-chat", "user.email": "erin@example.com", "team.id": "web"}, "erin@example.com", "web"),
    "frank": ({"service.name": "copilot-cli", "enduser.id": "idp|frank", "team.id": "infra"}, "idp|frank", "infra"),
    "anon": ({"service.name": "copilot-chat"}, None, "unassigned"),
}


class Install:
    def __init__(self, who):
        attrs, self.person, self.team = INSTALLS[who]
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create(attrs))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("github.copilot", "1.0.0")
        self.tool = attrs["service.name"]

    def request(self, ms, calls, truth):
        """One agent request at `ms`: `calls` chat spans of (input, output) tokens, and one tool call."""
        ns = ms * 1_000_000
        agent = self.tracer.start_span("invoke_agent copilot", start_time=ns,
                                       attributes={"gen_ai.operation.name": "invoke_agent",
                                                   "gen_ai.usage.input_tokens": sum(c[0] for c in calls),
                                                   "gen_ai.usage.output_tokens": sum(c[1] for c in calls)})
        ctx = set_span_in_context(agent)
        for k, (i, o) in enumerate(calls):
            start = ns + (k + 1) * 1_000_000_000
            chat = self.tracer.start_span("chat gpt-4o", context=ctx, start_time=start,
                                          attributes={"gen_ai.operation.name": "chat", "gen_ai.system": "openai",
                                                      "gen_ai.request.model": "gpt-4o"})
            chat.set_attribute("gen_ai.response.model", "gpt-4o-2024-08-06")
            chat.set_attribute("gen_ai.usage.input_tokens", i)
            chat.set_attribute("gen_ai.usage.output_tokens", o)
            chat.end(end_time=start + 500_000_000)
            c = chat.get_span_context()
            truth.append({"id": "span-%032x-%016x" % (c.trace_id, c.span_id), "user": self.person, "team": self.team,
                          "tool": self.tool, "ts": start // 1_000_000, "input": i, "output": o})
        tool = self.tracer.start_span("execute_tool read_file", context=ctx, start_time=ns + 100_000_000,
                                      attributes={"gen_ai.operation.name": "execute_tool"})
        tool.end(end_time=ns + 200_000_000)
        agent.end(end_time=ns + (len(calls) + 2) * 1_000_000_000)

    def export(self):
        spans = self.exporter.get_finished_spans()
        self.exporter.clear()
        return encode_spans(spans)


def to_json(request):
    """OTLP/JSON: the protobuf JSON mapping, but trace and span ids in hex (not base64)."""
    d = MessageToDict(request)
    for rs in d.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = base64.b64decode(s[key]).hex()
    return json.dumps(d)


def main():
    os.makedirs(HERE, exist_ok=True)
    installs = {who: Install(who) for who in INSTALLS}
    truth = []
    requests = []
    for minute in range(4):
        for n, (who, inst) in enumerate(installs.items()):
            calls = [(100 * (minute + 1) + n, 20 + minute), (50 + n, 7)][: 1 + (minute + n) % 2]
            inst.request(T0_MS + minute * 60_000 + n * 5_000, calls, truth)
        batch = [inst.export() for inst in installs.values()]
        merged = type(batch[0])()
        for b in batch:
            merged.resource_spans.extend(b.resource_spans)
        requests.append(merged)
    requests.append(requests[0])  # re-sent
    for i, r in enumerate(requests):
        with open(os.path.join(HERE, "%02d.pb" % i), "wb") as f:
            f.write(r.SerializeToString())
        with open(os.path.join(HERE, "%02d.json" % i), "w") as f:
            f.write(to_json(r))
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump({"requests": len(requests), "spans": truth}, f, indent=1)


if __name__ == "__main__":
    main()
