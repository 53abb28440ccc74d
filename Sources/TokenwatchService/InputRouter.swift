import Kafka
import TokenwatchConfig
import TokenwatchCore

/// Hands each consumed message to the engine under its engine partition id, in its input's format:
/// native events to `Engine.process`, OTLP batches to `Engine.processOTLP`.
///
/// A message's topic is recognised by librdkafka's topic handle, cached per input, so the hot path
/// neither builds the topic's name nor allocates once every input has been seen.
struct InputRouter {
    let topics: InputTopics
    /// (topic handle, input number) pairs met so far: one per input.
    private var handles: [(handle: UnsafeRawPointer, input: Int)] = []
    /// Messages of topics that are not inputs (none expected: the consumer subscribes to the inputs only).
    private(set) var strays = 0

    init(_ topics: InputTopics) {
        self.topics = topics
        handles.reserveCapacity(topics.inputs.count)
    }

    /// Processes one message; its engine partition id, or nil when it belongs to no input (counted in `strays`).
    @discardableResult
    mutating func process(_ message: KafkaMessageView, into engine: inout Engine, receivedAtMs: Int64) -> Int32? {
        guard let (id, format) = route(message) else { return nil }
        Self.process(message.payload, format: format, into: &engine, partition: id, offset: message.offset,
                     receivedAtMs: receivedAtMs, referenceTimeMs: message.timestampMs, key: message.key)
        return id
    }

    /// The message's engine partition id and its input's format; nil (counted) for a topic that is no input.
    mutating func route(_ message: KafkaMessageView) -> (id: Int32, format: InputSettings.Format)? {
        guard let input = input(of: message), let id = topics.engineId(input: input, partition: message.partition) else {
            strays += 1
            return nil
        }
        return (id, topics.inputs[input].format)
    }

    /// One message to the engine in `format`. `key` checks native events' keys (see `Engine.process`);
    /// an OTLP batch mixes users, so its key is never a user's.
    static func process(_ payload: UnsafeRawBufferPointer, format: InputSettings.Format, into engine: inout Engine,
                        partition id: Int32, offset: Int64, receivedAtMs: Int64, referenceTimeMs: Int64?,
                        key: UnsafeRawBufferPointer?) {
        switch format {
        case .tokenwatch:
            engine.process(payload, partition: id, offset: offset, receivedAtMs: receivedAtMs,
                           referenceTimeMs: referenceTimeMs, checkingKey: key)
        case .otlp:
            engine.processOTLP(payload, partition: id, offset: offset, receivedAtMs: receivedAtMs, referenceTimeMs: referenceTimeMs)
        }
    }

    /// The input number of the message's topic: from the handle cache, else by name (once per input).
    private mutating func input(of message: KafkaMessageView) -> Int? {
        if topics.inputs.count == 1 { return 0 }
        guard let handle = message.topicHandle else { return nil }
        for entry in handles where entry.handle == handle { return entry.input }
        guard let input = topics.inputs.firstIndex(where: { $0.topic == message.topic }) else { return nil }
        handles.append((handle, input))
        return input
    }
}
