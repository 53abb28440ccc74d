/// What became of one OTLP logs message.
public struct OTLPProcessSummary: Sendable, Equatable {
    public var counted = 0
    public var service = 0
    public var duplicates = 0
    /// Records of events no mapping reads (prompts, tool results, …): not errors, not dead-lettered.
    public var skipped = 0
    /// One reason per dead letter written: the whole message, or single records of it.
    public var deadLetters: [DeadLetterReason] = []
    /// The message's offset was already reflected in restored state.
    public var alreadyProcessed = false

    public init() {}
}

extension Engine {
    /// Counts the usage events of one OTLP message (protobuf or JSON, and logs, metrics or traces, detected):
    /// the tools' usage log records (`OTLPMapping`), GenAI spans (`OTLPMapping.map(span:resource:)`) and
    /// Claude Code's outcome metrics (`OTLPMetricMapping`, see Engine+OTLPMetrics.swift).
    ///
    /// Each event goes through the same validation, de-duplication and windows as a native event
    /// (it is encoded as one, `OTLPEvent.json()`). A message that cannot be read is dead-lettered
    /// whole (`otlp:truncated`, `otlp:malformed`, `otlp:empty`, `message_too_large`, …); a usage record
    /// that cannot be counted (`otlp:no_identity`, …) is dead-lettered alone, its payload being the
    /// event as far as it was read.
    ///
    /// Events are de-duplicated across partitions: one batch mixes many users, so a message key can
    /// never be the user, and the Collector spreads batches over partitions.
    @discardableResult
    public mutating func processOTLP(_ payload: UnsafeRawBufferPointer, partition: Int32, offset: Int64,
                                     receivedAtMs: Int64 = 0, referenceTimeMs: Int64? = nil) -> OTLPProcessSummary {
        var summary = OTLPProcessSummary()
        guard takeOffset(partition: partition, offset: offset) else {
            summary.alreadyProcessed = true
            return summary
        }
        func refuse(_ reason: DeadLetterReason, _ bytes: UnsafeRawBufferPointer) {
            _ = deadLetter(reason, bytes, partition, offset, receivedAtMs)
            summary.deadLetters.append(reason)
        }
        if payload.count > configuration.maxMessageBytes {
            refuse(.messageTooLarge, payload)
            return summary
        }
        let context = OTLPContext(partition: partition, offset: offset, receivedAtMs: receivedAtMs, referenceTimeMs: referenceTimeMs)
        let signal = OTLPSignal.detect(payload)
        if signal == .metrics {
            processMetrics(payload, context, into: &summary)
            return summary
        }
        // Spans are records like log records: mapped to events, or rejected one by one.
        let batch: OTLPLogBatch
        do throws(OTLPError) {
            batch = signal == .traces ? try OTLPTraces.decode(payload) : try OTLPLogs.decode(payload)
        } catch {
            refuse(.otlp(error), payload)
            return summary
        }
        if batch.recordCount == 0 {
            refuse(.otlp(.emptyBatch), payload)
            return summary
        }
        summary.skipped = batch.skippedCount
        countRecords(of: batch, context, into: &summary)
        return summary
    }

    /// The usage records of a readable batch: each resolved through the identities file and counted, or
    /// dead-lettered alone (those naming nobody also counted as their tool's unattributed usage).
    private mutating func countRecords(of batch: OTLPLogBatch, _ context: OTLPContext, into summary: inout OTLPProcessSummary) {
        for var event in batch.events {
            _ = resolveIdentity(&event)
            count(event, context, into: &summary)
        }
        for rejected in batch.rejected { reject(rejected, context, into: &summary) }
    }

    /// A usage record the mapping could not count: counted after all when the identities file knows one
    /// of its aliases, else dead-lettered alone (and, naming nobody, tallied as its tool's unattributed usage).
    mutating func reject(_ rejected: OTLPRejectedRecord, _ context: OTLPContext, into summary: inout OTLPProcessSummary) {
        var event = rejected.event
        if rejected.reason == .noIdentity {
            // The identities file may know the person by an alias the mapping cannot use alone (user.id).
            if resolveIdentity(&event) {
                count(event, context, into: &summary)
                return
            }
            tallyUnattributed(event)
        }
        let reason = DeadLetterReason.otlp(rejected.reason)
        event.json().withUnsafeBytes { _ = deadLetter(reason, $0, context.partition, context.offset, context.receivedAtMs) }
        summary.deadLetters.append(reason)
    }

    /// Counts one mapped event through the native path (validation, de-duplication across partitions,
    /// windows) and its tool's attribution.
    mutating func count(_ event: OTLPEvent, _ context: OTLPContext, into summary: inout OTLPProcessSummary) {
        let noKey = UnsafeRawBufferPointer(start: nil, count: 0)
        attributing = true
        defer { attributing = false }
        event.json().withUnsafeBytes { json in
            switch processEvent(json, partition: context.partition, offset: context.offset, receivedAtMs: context.receivedAtMs,
                                referenceTimeMs: context.referenceTimeMs, checkingKey: noKey) {
            case .forwarded:
                summary.counted += 1  // attributed where it counts (see `receive`)
            case .counted:
                summary.counted += 1
                tallyAttributed(tool: event.tool)
            case .service:
                summary.service += 1
                tallyAttributed(tool: event.tool)
            case .duplicate: summary.duplicates += 1
            case .deadLetter(let reason): summary.deadLetters.append(reason)
            case .alreadyProcessed: break
            }
        }
    }
}

/// Where an OTLP message came from: what its events are admitted and dead-lettered under.
struct OTLPContext: Sendable {
    var partition: Int32
    var offset: Int64
    var receivedAtMs: Int64
    var referenceTimeMs: Int64?
}
