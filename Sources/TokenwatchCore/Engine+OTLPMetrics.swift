/// OTLP metrics: Sum points made deltas (`MetricDeltas`) and mapped to outcome events (`OTLPMetricMapping`).
///
/// Where a series' last reading lives: one engine keeps every series. With shards, a series belongs to
/// one person, so it lives in the shard that owns that person (points naming nobody: shard 0). A point is
/// admitted in order on the shard that reads its partition (de-duplication, lateness: exactly where its
/// message is), then handed with its admission to the series' shard, which makes it a delta and counts
/// it. The Collector spreads one series over partitions, so no partition-local state could do this.
extension Engine {
    /// The Sum points of an OTLP metrics message: outcome metrics become events, the others are skipped.
    /// A message that cannot be read is dead-lettered whole.
    mutating func processMetrics(_ payload: UnsafeRawBufferPointer, _ context: OTLPContext, into summary: inout OTLPProcessSummary) {
        let points: [OTLPMetricPoint]
        do throws(OTLPError) {
            points = OTLPLogs.encoding(of: payload) == .json
                ? try OTLPJSONLogs.metricPoints(payload) : try OTLPProtobufMetrics.points(payload)
        } catch {
            summary.deadLetters.append(deadLetter(.otlp(error), payload, context))
            return
        }
        if points.isEmpty {
            summary.deadLetters.append(deadLetter(.otlp(.emptyBatch), payload, context))
            return
        }
        for point in points {
            guard OTLPMetricMapping.target(of: point.name) != nil else {
                summary.skipped += 1
                continue
            }
            if shardRoute == nil {
                countMetric(point, delta: ingest.metricDeltas.delta(of: point), context, into: &summary)
            } else {
                admitMetric(point, context, into: &summary)
            }
        }
    }

    /// Counts the amount `delta` one outcome metric point adds, under its message's partition and offset.
    mutating func countMetric(_ point: OTLPMetricPoint, delta: Double, _ context: OTLPContext,
                              into summary: inout OTLPProcessSummary) {
        switch OTLPMetricMapping.map(point, delta: delta) {
        case .skipped:
            summary.skipped += 1
        case .event(var event):
            _ = resolveIdentity(&event)
            countingMetric = true
            defer { countingMetric = false }
            count(event, context, into: &summary)
        case .rejected(let event, let reason):
            reject(OTLPRejectedRecord(event: event, reason: reason), context, into: &summary)
        }
    }

    /// A shard's half: admits the point's event as if it added one (its user, time and id are known
    /// before its delta) and forwards it, with its admission, to the shard of its series.
    private mutating func admitMetric(_ point: OTLPMetricPoint, _ context: OTLPContext, into summary: inout OTLPProcessSummary) {
        var event: OTLPEvent
        switch OTLPMetricMapping.map(point, delta: 1) {
        case .skipped:
            summary.skipped += 1
            return
        case .event(let e):
            event = e
        case .rejected(let e, .noIdentity):
            event = e
            guard resolveIdentity(&event) else {
                // Naming nobody: made a delta on shard 0, and tallied (or not) there.
                let admission = ForwardedEvent.Admission(releaseAt: 0, isLate: false, shard: 0)
                forwards.append(ForwardedEvent(payload: [], partition: context.partition, offset: context.offset,
                                               receivedAtMs: context.receivedAtMs, admission: admission, metric: point))
                return
            }
        case .rejected(let e, let reason):
            reject(OTLPRejectedRecord(event: e, reason: reason), context, into: &summary)
            return
        }
        _ = resolveIdentity(&event)
        deferringMetric = point
        defer { deferringMetric = nil }
        count(event, context, into: &summary)
    }

    /// The series' half (see `receive`): the point made a delta here, counted with the admission it got
    /// where it came in; nothing when it adds nothing.
    mutating func receiveMetric(_ f: ForwardedEvent, _ point: OTLPMetricPoint) {
        let context = OTLPContext(partition: f.partition, offset: f.offset, receivedAtMs: f.receivedAtMs, referenceTimeMs: nil)
        var summary = OTLPProcessSummary()
        switch OTLPMetricMapping.map(point, delta: ingest.metricDeltas.delta(of: point)) {
        case .skipped:
            return
        case .rejected(let event, let reason):
            reject(OTLPRejectedRecord(event: event, reason: reason), context, into: &summary)
        case .event(var event):
            _ = resolveIdentity(&event)
            event.json().withUnsafeBytes { json in
                guard let decoded = try? decoder.decode(json) else { return }  // it decoded where it came in
                let fingerprint = decoder.withBytes(decoded.eventId) { EventIdFilter.fingerprint($0) }
                guard rememberUnkeyed(fingerprint, ts: decoded.ts) else {
                    counters.duplicates += 1
                    return
                }
                countingMetric = true
                defer { countingMetric = false }
                switch count(decoded, releaseAt: f.admission.releaseAt, isLate: f.admission.isLate, partition: nil) {
                case .deadLetter(let reason): _ = deadLetter(reason, json, f.partition, f.offset, f.receivedAtMs)
                case .counted, .service: tallyAttributed(tool: event.tool)
                default: break
                }
            }
        }
    }

    private mutating func deadLetter(_ reason: DeadLetterReason, _ payload: UnsafeRawBufferPointer,
                                     _ context: OTLPContext) -> DeadLetterReason {
        _ = deadLetter(reason, payload, context.partition, context.offset, context.receivedAtMs)
        return reason
    }
}
