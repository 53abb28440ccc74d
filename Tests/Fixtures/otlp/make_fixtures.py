#!/usr/bin/env python3
"""Makes the OTLP log fixtures of Tests/TokenwatchCoreTests/OTLP*.swift with the real OpenTelemetry SDK.

`tools.*` holds Codex (`codex.sse_event`) and Gemini CLI (`gemini_cli.api_response`) events with the
attribute names of their telemetry documentation.

Claude Code-shaped `claude_code.api_request` log records (and some other events) go through the
Python SDK's LoggerProvider into an in-memory exporter, then through the SDK's own OTLP encoder
(`encode_logs`, what the OTLP exporters send) into an ExportLogsServiceRequest; the JSON variant is
`google.protobuf.json_format.MessageToJson` of the same request (OTLP/JSON: camelCase keys,
int64 as strings). The outputs are committed, so CI needs no pip.

Regenerate (from the repository root):
    pip install opentelemetry-proto opentelemetry-sdk opentelemetry-exporter-otlp-proto-common
    python3 Tests/Fixtures/otlp/make_fixtures.py
"""
import os

from google.protobuf.json_format import MessageToJson
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

HERE = os.path.dirname(os.path.abspath(__file__))
T0 = 1_795_555_200_000_000_000  # 2026-11-25T16:00:00Z in ns


def emit(logger, seq, attributes, name="api_request"):
    """One Claude Code event; numbers as strings for some, as ints for others (both are seen)."""
    common = {"event.name": name, "session.id": "sess-1", "organization.id": "org-1",
              "user.id": "install-%d" % seq, "app.entrypoint": "cli"}
    common.update(attributes)
    logger.emit(LogRecord(timestamp=T0 + seq * 1_000_000_000, observed_timestamp=T0 + seq * 1_000_000_000 + 5,
                          body="claude_code." + name, attributes=common, event_name="claude_code." + name))


def batch(resource_attributes, fill):
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create(resource_attributes))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    fill(provider.get_logger("com.anthropic.claude_code.events", "2.0.0"))
    provider.shutdown()
    return encode_logs(exporter.get_finished_logs())


def people(logger):
    # alice: OAuth login, e-mail known; two requests, the second delivered twice (same request_id).
    emit(logger, 1, {"user.email": "alice@example.com", "user.account_uuid": "uuid-alice", "model": "claude-sonnet-4-5",
                     "input_tokens": "1200", "output_tokens": "300", "cache_read_tokens": "5000",
                     "cache_creation_tokens": "0", "cost_usd": "0.012", "duration_ms": "2100",
                     "request_id": "req_alice_1", "client_request_id": "creq_alice_1", "query_source": "main"})
    emit(logger, 2, {"user.email": "alice@example.com", "model": "claude-opus-4-1",
                     "input_tokens": 800, "output_tokens": 200, "cache_read_tokens": 0,
                     "request_id": "req_alice_2"})
    emit(logger, 3, {"user.email": "alice@example.com", "model": "claude-opus-4-1",
                     "input_tokens": 800, "output_tokens": 200, "cache_read_tokens": 0,
                     "request_id": "req_alice_2"})
    # bob: API-key login, only the account uuid; no request_id, only client_request_id.
    emit(logger, 4, {"user.account_uuid": "uuid-bob", "model": "claude-haiku-4-5",
                     "input_tokens": "50", "output_tokens": "7", "client_request_id": "creq_bob_1"})
    # carol: a cloud-provider login: no person at all.
    emit(logger, 5, {"model": "claude-sonnet-4-5", "input_tokens": "10", "output_tokens": "20", "request_id": "req_anon_1"})
    # Other events of the same session are skipped.
    emit(logger, 6, {"user.email": "alice@example.com", "prompt_length": "42"}, name="user_prompt")
    emit(logger, 7, {"user.email": "alice@example.com", "tool_name": "Edit", "success": True,
                     "decision": "accept", "source": "config"}, name="tool_result")
    # dave: neither request id: the event id is a hash of the record.
    emit(logger, 8, {"user.email": "dave@example.com", "model": "claude-sonnet-4-5",
                     "input_tokens": 3.0, "output_tokens": 4, "cache_read_tokens": "1"})


def tool_event(logger, seq, name, attributes):
    """One event of another tool, with the attribute names its own telemetry uses."""
    logger.emit(LogRecord(timestamp=T0 + seq * 1_000_000_000, observed_timestamp=T0 + seq * 1_000_000_000 + 5,
                          body=name, attributes=dict({"event.name": name}, **attributes), event_name=name))


def other_tools(logger):
    # Codex: token counts come on the sse_event of kind response.completed; other kinds are skipped.
    base = {"conversation.id": "conv-1", "app.version": "0.58.0", "auth_mode": "ChatGPT",
            "user.email": "frank@example.com", "user.account_id": "acct-frank", "model": "gpt-5-codex"}
    tool_event(logger, 20, "codex.sse_event", dict(base, **{"event.kind": "response.created"}))
    tool_event(logger, 21, "codex.sse_event", dict(base, **{"event.kind": "response.completed", "input_token_count": 900,
                                                            "output_token_count": 120, "cached_token_count": 600,
                                                            "reasoning_token_count": 64, "tool_token_count": 0}))
    tool_event(logger, 22, "codex.user_prompt", dict(base, prompt_length=12))
    # Gemini CLI: api_response, thinking tokens billed as output.
    tool_event(logger, 23, "gemini_cli.api_response", {"session.id": "g-1", "installation.id": "inst-gina",
                                                       "user.email": "gina@example.com", "model": "gemini-2.5-pro",
                                                       "status_code": 200, "duration_ms": 1800,
                                                       "input_token_count": 400, "output_token_count": 50,
                                                       "cached_content_token_count": 100, "thoughts_token_count": 30,
                                                       "tool_token_count": 0, "prompt_id": "p-1"})
    # Gemini CLI without a Google login: only the installation id.
    tool_event(logger, 24, "gemini_cli.api_response", {"session.id": "g-2", "installation.id": "inst-anon",
                                                       "model": "gemini-2.5-flash", "input_token_count": 10,
                                                       "output_token_count": 5})


def main():
    first = batch({"service.name": "claude-code", "service.version": "2.0.0", "team.id": "payments"}, people)
    second = batch({"service.name": "claude-code"}, lambda logger: emit(
        logger, 9, {"user.email": "erin@example.com", "model": "claude-sonnet-4-5",
                    "input_tokens": "1", "output_tokens": "2", "request_id": "req_erin_1"}))
    request = ExportLogsServiceRequest()
    request.resource_logs.extend(list(first.resource_logs) + list(second.resource_logs))
    write("people.pb", request.SerializeToString())
    write("people.json", MessageToJson(request).encode())
    tools = batch({"service.name": "mixed"}, other_tools)
    write("tools.pb", tools.SerializeToString())
    write("tools.json", MessageToJson(tools).encode())
    write("empty.pb", ExportLogsServiceRequest().SerializeToString())
    write("empty.json", MessageToJson(ExportLogsServiceRequest()).encode())


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    print(name, len(data), "bytes")


if __name__ == "__main__":
    main()
