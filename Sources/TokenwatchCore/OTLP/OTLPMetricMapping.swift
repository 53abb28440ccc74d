/// Turns Claude Code's outcome metrics (Sum points, already made deltas by `MetricDeltas`) into
/// tokenwatch events that carry outcomes and no tokens: the one table of the metric names.
///
/// | metric | attribute | event field |
/// |---|---|---|
/// | `claude_code.commit.count` | | `outcome.commits` |
/// | `claude_code.pull_request.count` | | `outcome.prs` |
/// | `claude_code.lines_of_code.count` | `type` = `added` / `removed` | `outcome.lines_added` / `lines_removed` |
/// | `claude_code.code_edit_tool.decision` | `decision` = `accept`, `source` = `config` / `hook` | `edits_auto_approved` |
/// | | `decision` = `accept`, any other `source` (`user_temporary`, `user_permanent`) | `outcome.accepted` = true |
/// | | `decision` = `reject` | `outcome.accepted` = false |
/// | `claude_code.active_time.total` (seconds) | `type` = `user` / `cli` | `human_active_ms` / `agent_active_ms` |
/// | `claude_code.token.usage` | | not counted: tokens come from `api_request` logs (docs/otlp.md) |
///
/// Identity, team, model and session are read as for logs (`OTLPMapping`). The event's `kind` is
/// `metric`, its tokens 0, its `event_id` `otlpm-` + a hash of the series and the point's time (a
/// re-delivered point is a duplicate), its `ts` the point's time.
public enum OTLPMetricMapping {
    enum Target: Sendable { case commits, prs, lines, editDecision, activeTime }

    /// The outcome metrics, by name.
    static let metrics: [(name: String, target: Target)] = [
        ("claude_code.commit.count", .commits),
        ("claude_code.pull_request.count", .prs),
        ("claude_code.lines_of_code.count", .lines),
        ("claude_code.code_edit_tool.decision", .editDecision),
        ("claude_code.active_time.total", .activeTime),
    ]

    /// Claude Code's token metric: read, never counted. Claude Code sends it alongside the `api_request`
    /// log events that carry the same tokens per request, and no order-independent rule can tell which
    /// points a log already counted; the logs have request ids (exact de-duplication), so they win.
    public static let tokenMetric = "claude_code.token.usage"

    /// The `kind` of events made from metric points.
    public static let kind = "metric"

    /// Whether a point of metric `name` can become an event.
    static func target(of name: String) -> Target? {
        metrics.first { $0.name == name }?.target
    }

    /// The event `delta` of `point` makes: skipped when the metric is not an outcome or adds nothing.
    static func map(_ point: OTLPMetricPoint, delta: Double) -> OTLPMapping.Outcome {
        guard let target = target(of: point.name), delta > 0, let outcome = outcome(target, point, delta) else { return .skipped }
        var event = OTLPEvent(eventId: eventId(point), timestampMs: Int64(clamping: point.timeUnixNano / 1_000_000),
                              tool: OTLPMapping.claudeCodeTool)
        OTLPMapping.readIdentity(into: &event, record: point.attributes, resource: point.resource)
        event.kind = kind
        event.outcome = outcome
        if point.timeUnixNano == 0 { return .rejected(event, .noTimestamp) }
        if event.userId == nil { return .rejected(event, .noIdentity) }
        return .event(event)
    }

    /// The outcome fields `delta` of `point` reports; nil when its attributes say nothing countable.
    private static func outcome(_ target: Target, _ point: OTLPMetricPoint, _ delta: Double) -> OTLPOutcome? {
        let type = point.attributes[.metricType]?.text
        let n = min(Int64(delta.rounded()), EventDecoder.maxCount)
        guard n > 0 || target == .activeTime else { return nil }
        var o = OTLPOutcome()
        switch target {
        case .commits: o.commits = n
        case .prs: o.prs = n
        case .lines:
            switch type {
            case "added": o.linesAdded = n
            case "removed": o.linesRemoved = n
            default: return nil
            }
        case .editDecision:
            return editDecision(point, count: n)
        case .activeTime:
            let ms = min(Int64((delta * 1000).rounded()), EventDecoder.maxCount)
            guard ms > 0 else { return nil }
            switch type {
            case "user": o.humanActiveMs = ms
            case "cli": o.agentActiveMs = ms
            default: return nil
            }
        }
        return o
    }

    /// An edit applied by configuration or a hook is not evidence of a person's work: it is counted
    /// apart (`edits_auto_approved`), never as an accepted outcome. A metric point may hold several
    /// decisions; `accepted` is one bit per event, so several accepts read as one accepted outcome.
    private static func editDecision(_ point: OTLPMetricPoint, count n: Int64) -> OTLPOutcome? {
        var o = OTLPOutcome()
        let source = point.attributes[.decisionSource]?.text
        switch point.attributes[.decision]?.text {
        case "accept":
            if source == "config" || source == "hook" { o.editsAutoApproved = n } else { o.accepted = true }
        case "reject":
            o.accepted = false
        default:
            return nil
        }
        return o
    }

    /// `otlpm-` + 16 hex digits of the series and the point's time: the same point re-delivered (or read
    /// again after a restart) gets the same id, and so counts once.
    private static func eventId(_ point: OTLPMetricPoint) -> String {
        var key = (point.series, point.timeUnixNano)
        let h = withUnsafeBytes(of: &key) { ByteHash.hash($0, seed: 0x6d74_7263) }
        let hex = String(h, radix: 16)
        return "otlpm-" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
