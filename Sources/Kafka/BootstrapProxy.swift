import CRdKafka
import Dispatch
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP forwarder from 127.0.0.1:`port` to 127.0.0.1:`upstreamPort`, one thread for accepting and one
/// per connection. Threads poll with a short timeout so `stop()` takes effect within ~100 ms; each thread
/// closes the descriptors it owns.
final class BootstrapProxy: @unchecked Sendable {
    // @unchecked Sendable: immutable after init except `stopped` (an Atomic); the listening socket is owned
    // by the accept thread from then on.

    /// The port actually listened on.
    let port: UInt16
    private let stopped = Atomic<Bool>(false)
    private let acceptExited = DispatchSemaphore(value: 0)
    private static let pollIntervalMs: Int32 = 100

    init(port: UInt16, upstreamPort: UInt16, logger: Logger) throws {
        let fd = socket(AF_INET, Self.streamType, 0)
        guard fd >= 0 else { throw Self.systemError("socket") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 128) == 0 else {
            let error = Self.systemError("listen on 127.0.0.1:\(port)")
            close(fd)
            throw error
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = UInt16(bigEndian: actual.sin_port)

        let listenFD = fd
        let started = DedicatedThread.spawn { [self] in
            acceptLoop(listenFD: listenFD, upstreamPort: upstreamPort, logger: logger)
            close(listenFD)
            acceptExited.signal()
        }
        guard started else {
            close(fd)
            throw KafkaError(RD_KAFKA_RESP_ERR__FAIL, message: "bootstrap proxy: cannot start thread")
        }
        logger.debug("bootstrap proxy listening", metadata: ["port": "\(self.port)", "upstream": "\(upstreamPort)"])
    }

    /// Stops accepting and forwarding; returns once the listening socket is closed (bounded to 2 s).
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        _ = acceptExited.wait(timeout: .now() + .seconds(2))
    }

    private func acceptLoop(listenFD: Int32, upstreamPort: UInt16, logger: Logger) {
        while !stopped.load(ordering: .acquiring) {
            var pfd = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            let ready = systemPoll(&pfd, 1, Self.pollIntervalMs)
            if ready <= 0 { continue }
            let client = accept(listenFD, nil, nil)
            guard client >= 0 else { continue }
            let upstream = socket(AF_INET, Self.streamType, 0)
            var address = Self.loopback(port: upstreamPort)
            let connected = upstream >= 0 && withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            } == 0
            guard connected else {
                logger.warning("bootstrap proxy: cannot reach broker at 127.0.0.1:\(upstreamPort) (errno \(errno))")
                if upstream >= 0 { close(upstream) }
                close(client)
                continue
            }
            let started = DedicatedThread.spawn { [self] in
                pump(client, upstream)
                close(client)
                close(upstream)
            }
            if !started {
                close(client)
                close(upstream)
            }
        }
    }

    /// Copies bytes both ways until either side closes or the proxy stops.
    private func pump(_ a: Int32, _ b: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var fds = [pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
        while !stopped.load(ordering: .acquiring) {
            fds[0].revents = 0
            fds[1].revents = 0
            let ready = systemPoll(&fds, 2, Self.pollIntervalMs)
            if ready < 0 && errno != EINTR { return }
            if ready <= 0 { continue }
            for (index, from, to) in [(0, a, b), (1, b, a)] where fds[index].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
                if n <= 0 { return }
                let ok = buffer.withUnsafeBytes { Self.writeAll(to, $0.baseAddress!, n) }
                if !ok { return }
            }
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Bool {
        var written = 0
        while written < count {
            let n = send(fd, bytes + written, count - written, Int32(MSG_NOSIGNAL))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            written += n
        }
        return true
    }

    private func systemPoll(_ fds: UnsafeMutablePointer<pollfd>, _ count: Int, _ timeoutMs: Int32) -> Int32 {
        #if canImport(Glibc)
        Glibc.poll(fds, nfds_t(count), timeoutMs)
        #else
        Darwin.poll(fds, nfds_t(count), timeoutMs)
        #endif
    }

    private static var streamType: Int32 {
        #if canImport(Glibc)
        Int32(SOCK_STREAM.rawValue)
        #else
        SOCK_STREAM
        #endif
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    private static func systemError(_ what: String) -> KafkaError {
        KafkaError(RD_KAFKA_RESP_ERR__TRANSPORT, message: "bootstrap proxy: \(what): \(String(cString: strerror(errno)))")
    }
}
