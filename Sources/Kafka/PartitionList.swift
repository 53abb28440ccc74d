import CRdKafka

/// Conversions between Swift partition values and `rd_kafka_topic_partition_list_t`.
enum PartitionList {
    /// A new list (caller destroys it with `rd_kafka_topic_partition_list_destroy`).
    static func make(_ partitions: [TopicPartitionOffset]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        let list = rd_kafka_topic_partition_list_new(Int32(clamping: partitions.count))!
        for p in partitions {
            rd_kafka_topic_partition_list_add(list, p.topic, p.partition).pointee.offset = p.offset
        }
        return list
    }

    /// A new list of partitions with `RD_KAFKA_OFFSET_INVALID` offsets.
    static func make(_ partitions: [TopicPartition]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        let list = rd_kafka_topic_partition_list_new(Int32(clamping: partitions.count))!
        for p in partitions {
            rd_kafka_topic_partition_list_add(list, p.topic, p.partition)
        }
        return list
    }

    /// The elements of `list` as a buffer (valid while the list lives).
    static func elements(
        _ list: UnsafePointer<rd_kafka_topic_partition_list_t>
    ) -> UnsafeBufferPointer<rd_kafka_topic_partition_t> {
        UnsafeBufferPointer(start: list.pointee.elems, count: Int(list.pointee.cnt))
    }

    static func topicPartitions(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>?) -> [TopicPartition] {
        guard let list else { return [] }
        return elements(list).map { TopicPartition(topic: String(cString: $0.topic), partition: $0.partition) }
    }

    static func offsets(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [TopicPartitionOffset] {
        elements(list).map {
            TopicPartitionOffset(topic: String(cString: $0.topic), partition: $0.partition, offset: $0.offset)
        }
    }

    /// Throws the first per-partition error in `list`, naming the partition.
    static func checkErrors(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>, _ what: String) throws(KafkaError) {
        for element in elements(list) where element.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let name = "\(what) \(String(cString: element.topic))[\(element.partition)]"
            throw KafkaError(element.err, message: "\(name): \(String(cString: rd_kafka_err2str(element.err)))")
        }
    }
}
