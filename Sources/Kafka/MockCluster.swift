import CRdKafka
import Logging
import Synchronization

/// librdkafka's in-process mock Kafka cluster, reachable over TCP on 127.0.0.1, with fault injection.
///
/// Clients connect with ``bootstrapServers`` (ephemeral ports) or through a fixed-port
/// ``startBootstrapProxy(port:)``. Brokers are numbered 1…`brokers`. Notes for librdkafka 2.0.2: a
/// metadata request for an unknown topic auto-creates it; ListOffsets by timestamp is not implemented;
/// admin requests to the controller (CreateTopics) time out; each partition keeps about 5 MB.
public final class MockCluster: @unchecked Sendable {
    // @unchecked Sendable: the pointers are immutable and the rd_kafka_mock_* calls are thread-safe (they
    // post to the mock cluster's own thread); the proxies list is behind a Mutex.

    private let rk: OpaquePointer
    private let cluster: OpaquePointer
    private let context: CallbackContext
    private let logger: Logger
    private let proxies = Mutex<[BootstrapProxy]>([])

    /// Starts a mock cluster with `brokers` brokers on a private producer handle
    /// (`rd_kafka_mock_cluster_new`). Its log lines go to `logger`.
    public init(brokers: Int32 = 1, logger: Logger) throws(KafkaError) {
        let context = CallbackContext(logger: logger)
        // No log.queue here: nobody polls this private handle, so log lines are delivered directly from
        // librdkafka's threads (swift-log handlers are thread-safe).
        let conf = try KafkaConfiguration.make([:], defaults: [:])
        context.install(on: conf)
        let rk = try KafkaConfiguration.newHandle(RD_KAFKA_PRODUCER, conf: conf)
        guard let cluster = rd_kafka_mock_cluster_new(rk, brokers) else {
            rd_kafka_destroy(rk)
            throw KafkaError(RD_KAFKA_RESP_ERR__FAIL, message: "rd_kafka_mock_cluster_new(\(brokers) brokers) failed")
        }
        self.rk = rk
        self.cluster = cluster
        self.context = context
        self.logger = logger
    }

    deinit {
        stopBootstrapProxy()
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(rk)
    }

    /// The brokers' addresses, `127.0.0.1:<port>,…` (`rd_kafka_mock_cluster_bootstraps`).
    public var bootstrapServers: String {
        String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    /// Creates a topic directly in the mock (`rd_kafka_mock_topic_create`).
    public func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws(KafkaError) {
        try KafkaError.check(rd_kafka_mock_topic_create(cluster, name, partitions, replicationFactor), "create topic \(name)")
    }

    /// Disconnects broker `brokerId` and refuses new connections to it (leadership does not move).
    public func setBrokerDown(_ brokerId: Int32) throws(KafkaError) {
        try KafkaError.check(rd_kafka_mock_broker_set_down(cluster, brokerId), "broker \(brokerId) down")
    }

    /// Lets broker `brokerId` accept connections again.
    public func setBrokerUp(_ brokerId: Int32) throws(KafkaError) {
        try KafkaError.check(rd_kafka_mock_broker_set_up(cluster, brokerId), "broker \(brokerId) up")
    }

    /// Delays every response of broker `brokerId` by `milliseconds`.
    public func setBrokerRtt(_ brokerId: Int32, milliseconds: Int32) throws(KafkaError) {
        try KafkaError.check(rd_kafka_mock_broker_set_rtt(cluster, brokerId, milliseconds), "broker \(brokerId) rtt")
    }

    /// Makes the next requests with protocol `apiKey` (e.g. 0 Produce, 1 Fetch) fail with `errors`, one per
    /// request, in order (`rd_kafka_mock_push_request_errors_array`).
    public func pushRequestErrors(apiKey: Int16, errors: [Int32]) {
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
        codes.withUnsafeBufferPointer {
            rd_kafka_mock_push_request_errors_array(cluster, apiKey, $0.count, $0.baseAddress)
        }
    }

    /// Drops the errors still queued for `apiKey`.
    public func clearRequestErrors(apiKey: Int16) {
        rd_kafka_mock_clear_request_errors(cluster, apiKey)
    }

    /// Listens on 127.0.0.1:`port` and forwards every connection to the first broker, so clients can
    /// bootstrap from a fixed port (the mock only binds ephemeral ports; after bootstrap, clients use the
    /// advertised broker addresses directly). Returns `"127.0.0.1:<port>"`; `port` 0 picks a free port.
    /// The forwarder runs on its own threads and stops on ``stopBootstrapProxy()`` or deinit.
    public func startBootstrapProxy(port: UInt16) throws -> String {
        let first = bootstrapServers.split(separator: ",").first.map(String.init) ?? ""
        guard let colon = first.lastIndex(of: ":"), let upstreamPort = UInt16(first[first.index(after: colon)...]) else {
            throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, message: "cannot parse mock bootstrap address \(first)")
        }
        let proxy = try BootstrapProxy(port: port, upstreamPort: upstreamPort, logger: logger)
        proxies.withLock { $0.append(proxy) }
        return "127.0.0.1:\(proxy.port)"
    }

    /// Stops every bootstrap proxy started on this cluster (their listening ports are closed on return).
    public func stopBootstrapProxy() {
        let stopping = proxies.withLock { proxies in
            defer { proxies.removeAll() }
            return proxies
        }
        for proxy in stopping { proxy.stop() }
    }
}
