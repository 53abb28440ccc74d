import CRdKafka

/// Metadata requests shared by the clients.
enum Metadata {
    /// Partition count of `topic` via a metadata request for that topic only.
    static func partitionCount(rk: OpaquePointer, topic: String, timeout: Duration) throws(KafkaError) -> Int {
        guard let rkt = rd_kafka_topic_new(rk, topic, nil) else {
            throw KafkaError(rd_kafka_last_error(), message: "topic handle for \(topic): \(String(cString: rd_kafka_err2str(rd_kafka_last_error())))")
        }
        defer { rd_kafka_topic_destroy(rkt) }
        var metadata: UnsafePointer<rd_kafka_metadata>? = nil
        let err = rd_kafka_metadata(rk, 0, rkt, &metadata, timeout.kafkaMilliseconds)
        defer { if let metadata { rd_kafka_metadata_destroy(metadata) } }
        try KafkaError.check(err, "metadata for \(topic)")
        guard let metadata, metadata.pointee.topic_cnt >= 1 else {
            throw KafkaError(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, message: "no metadata for \(topic)")
        }
        let entry = metadata.pointee.topics[0]
        try KafkaError.check(entry.err, "metadata for \(topic)")
        return Int(entry.partition_cnt)
    }
}
