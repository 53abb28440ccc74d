import CRdKafka
import Logging

/// The object a handle's C callbacks reach through `rd_kafka_conf_set_opaque`; subclasses add the state
/// their callbacks record. The owning client keeps it alive until after `rd_kafka_destroy` returns.
class CallbackContext: @unchecked Sendable {
    // @unchecked Sendable: `logger` is immutable; subclasses guard their mutable state with a Mutex.
    let logger: Logger
    /// Collapses librdkafka's repeated warnings and errors.
    let repeats = RepeatedLineFilter()

    init(logger: Logger) {
        self.logger = logger
    }

    /// Installs this context as the conf's opaque (unretained) and routes log lines to `logger`.
    func install(on conf: OpaquePointer) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_log_cb(conf, kafkaLogCallback)
    }

    /// The context behind a C opaque pointer.
    static func from(_ opaque: UnsafeMutableRawPointer?) -> CallbackContext? {
        guard let opaque else { return nil }
        return Unmanaged<CallbackContext>.fromOpaque(opaque).takeUnretainedValue()
    }
}
