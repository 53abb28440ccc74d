import Dispatch
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One parsed request: GET only, no body.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The path, percent-decoded (`/users/a%20b` → `/users/a b`).
    public var path: String
    /// Query parameters, percent-decoded (`+` is a space); the last one wins when repeated.
    public var query: [String: String]
    /// Header fields with lower-case names.
    public var headers: [String: String]

    public init(method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:]) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
    }
}

/// A complete response; the server adds `Content-Length` and `Connection: close`.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    public var headers: [(String, String)]
    /// When set, the server writes the head only (no `Content-Length`) and hands the socket to it.
    public var stream: (any HTTPStreamTarget)?

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: [UInt8], headers: [(String, String)] = [],
                stream: (any HTTPStreamTarget)? = nil) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
        self.stream = stream
    }

    public static func text(_ status: Int, _ text: String, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, body: Array((text.hasSuffix("\n") ? text : text + "\n").utf8), headers: headers)
    }

    public static func json(_ status: Int, _ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "application/json", body: body + [UInt8(ascii: "\n")])
    }
}

/// Takes over a connection after its response head, for a long-lived stream (Server-Sent Events), so
/// the stream holds no handler thread. The route reserves a slot before answering with it.
public protocol HTTPStreamTarget: Sendable {
    /// Owns `fd` from now on (non-blocking, head written).
    func adopt(_ fd: Int32)
    /// Gives back the slot reserved for a stream whose head could not be written.
    func release()
}

extension EventStreamHub: HTTPStreamTarget {}

/// Why the server could not start.
public struct HTTPServerError: Error, CustomStringConvertible {
    public var description: String
}

// Waiting on clients is event-driven: one thread polls the listening socket and every connection still
// sending its request head, reading without blocking into a per-connection buffer bounded by
// `maxRequestBytes` (431 past it) until a per-connection head deadline (`readTimeout`, 408 past it).
// An idle or slow client therefore costs a file descriptor and a poll entry: up to
// `maxPendingConnections` of them, and beyond that the oldest is dropped so a flood of idle sockets
// cannot lock out a fresh health probe. Only a complete request reaches a handler thread, at most
// `maxConnections` at once (more get 503 with `Retry-After` at once), so a slow route never makes a
// cheap one wait. Enough for health checks, Prometheus scrapes and a small JSON API without pulling
// an HTTP framework into the build.
/// A small HTTP/1.1 server on POSIX sockets (GET only, `Connection: close`) where idle or slow clients cost no thread.
public final class HTTPServer: Sendable {
    public typealias Handler = @Sendable (HTTPRequest) -> HTTPResponse

    /// The address actually listened on, `host:port` (`[v6]:port` for IPv6); port 0 resolved.
    public let boundAddress: String
    public let port: Int
    private let listenFD: Int32
    private let handler: Handler
    private let logger: Logger
    private let maxHandlers: Int
    private let maxPending: Int
    private let maxRequestBytes: Int
    private let headTimeoutMs: Int64
    private let started = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    /// Handler threads running; incremented only by the event loop, so the bound check cannot race.
    private let running = Atomic<Int>(0)
    private let acceptExited = DispatchSemaphore(value: 0)
    /// Upper bound on one poll, so `stop()` is noticed quickly without a wake-up pipe.
    private static let pollIntervalMs: Int64 = 100
    private static let readChunk = 4_096

    /// Binds and listens on `host:port` now (so a bad address fails at start-up); serves after `start()`.
    /// - Parameters:
    ///   - maxConnections: handlers running at once (each on its own thread); more complete requests get 503.
    ///   - maxRequestBytes: largest request head; more gets 431.
    ///   - readTimeout: how long a connection may take to send its whole request head; then 408.
    ///   - maxPendingConnections: connections still sending their head; past it the oldest is closed.
    public init(host: String, port: Int, logger: Logger, maxConnections: Int = 16, maxRequestBytes: Int = 8_192,
                readTimeout: Duration = .seconds(2), maxPendingConnections: Int = 1_024,
                handler: @escaping Handler) throws(HTTPServerError) {
        self.handler = handler
        self.logger = logger
        self.maxHandlers = max(1, maxConnections)
        self.maxPending = max(1, maxPendingConnections)
        self.maxRequestBytes = maxRequestBytes
        self.headTimeoutMs = Int64(readTimeout.components.seconds * 1000 + readTimeout.components.attoseconds / 1_000_000_000_000_000)

        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Self.streamType
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw HTTPServerError(description: "http.listen \(host):\(port): cannot resolve: \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Self.streamType | Self.cloexec, 0)
        guard fd >= 0 else { throw HTTPServerError(description: "http.listen: socket: \(Self.lastError())") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        // A deep backlog: connections are accepted in bursts, and a short queue would make a fresh probe's
        // SYN wait for a retransmit while a flood is being accepted. Non-blocking, so a connection reset
        // between poll and accept cannot stall the event loop.
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0, listen(fd, 1_024) == 0,
              Self.setNonBlocking(fd, true) else {
            let error = HTTPServerError(description: "http.listen \(host):\(port): \(Self.lastError())")
            close(fd)
            throw error
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let (address, actualPort) = Self.describe(storage)
        self.listenFD = fd
        self.port = actualPort
        self.boundAddress = address.contains(":") ? "[\(address)]:\(actualPort)" : "\(address):\(actualPort)"
    }

    deinit {
        if !started.load(ordering: .acquiring) { close(listenFD) }
    }

    /// Starts the event-loop thread; idempotent.
    public func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [self] in
            eventLoop()
            close(listenFD)
            acceptExited.signal()
        }
        thread.name = "tokenwatch-http"
        thread.start()
    }

    /// Stops accepting and closes connections still sending their head; returns once the listening socket
    /// is closed (bounded to 2 s). Requests already handed to a handler finish on their own threads.
    public func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if started.load(ordering: .acquiring) { _ = acceptExited.wait(timeout: .now() + .seconds(2)) }
    }

    // MARK: - Event loop

    /// A connection still sending its request head. Owned by the event-loop thread alone.
    private struct Pending {
        var fd: Int32
        /// Accept time plus `readTimeout`; the same timeout for all, so the array stays sorted by deadline.
        var deadline: Int64
        /// Empty (no allocation) until the client sends something.
        var buffer: [UInt8] = []
    }

    private enum ReadOutcome { case waiting, head(Int), tooLarge, eof, gone }

    private func eventLoop() {
        // Oldest first: eviction takes the front, and the front holds the earliest deadline.
        var pending: [Pending] = []
        var fds: [pollfd] = []
        var scratch = [UInt8](repeating: 0, count: Self.readChunk)
        var listenPausedUntil: Int64 = 0
        var evicted = 0, busy = 0, lastWarning: Int64 = 0

        while !stopped.load(ordering: .acquiring) {
            var now = WallClock.monotonicMs()
            // After EMFILE with nothing to evict, the listening socket stays readable; stop polling it for a
            // moment instead of spinning.
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: now >= listenPausedUntil ? listenFD : -1, events: Int16(POLLIN), revents: 0))
            for p in pending { fds.append(pollfd(fd: p.fd, events: Int16(POLLIN), revents: 0)) }
            var wait = Self.pollIntervalMs
            if let first = pending.first { wait = min(wait, max(0, first.deadline - now)) }
            if now < listenPausedUntil { wait = min(wait, listenPausedUntil - now) }
            let ready = fds.withUnsafeMutableBufferPointer { Self.systemPoll($0.baseAddress!, $0.count, Int32(wait)) }
            now = WallClock.monotonicMs()

            if ready > 0 { busy += serveReadable(&pending, revents: fds.dropFirst().map(\.revents), scratch: &scratch) }
            expireDeadlines(&pending, now: now)
            if ready > 0, fds[0].revents != 0 { evicted += acceptNew(&pending, now: now, listenPausedUntil: &listenPausedUntil) }

            if (evicted > 0 || busy > 0) && now - lastWarning >= 10_000 {
                logger.warning("http overloaded", metadata: [
                    "idle_connections_dropped": "\(evicted)", "requests_refused_busy": "\(busy)",
                    "max_pending": "\(maxPending)", "max_handlers": "\(maxHandlers)",
                ])
                evicted = 0
                busy = 0
                lastWarning = now
            }
        }
        for p in pending { close(p.fd) }
    }

    /// Reads from the pending connections that poll found readable; a complete head goes to a handler.
    /// Returns how many complete requests were refused because every handler was busy.
    private func serveReadable(_ pending: inout [Pending], revents: [Int16], scratch: inout [UInt8]) -> Int {
        var busy = 0
        for i in pending.indices where revents[i] != 0 {
            switch readAvailable(&pending[i], &scratch) {
            case .waiting:
                continue
            case .head(let end):
                if !dispatch(Array(pending[i].buffer[0..<end]), on: pending[i].fd) { busy += 1 }
            case .tooLarge:
                finish(pending[i].fd, .text(431, "request header fields too large (at most \(maxRequestBytes) bytes)"))
            case .eof:
                // Half-closed before the head was complete: the old server answered 408 here too.
                finish(pending[i].fd, .text(408, "request timeout"))
            case .gone:
                close(pending[i].fd)
            }
            pending[i].fd = -1
        }
        return busy
    }

    /// Answers 408 to connections past their head deadline (the front is the oldest) and drops finished ones.
    private func expireDeadlines(_ pending: inout [Pending], now: Int64) {
        for i in pending.indices {
            guard pending[i].deadline <= now else { break }
            if pending[i].fd >= 0 { finish(pending[i].fd, .text(408, "request timeout")) }
            pending[i].fd = -1
        }
        pending.removeAll { $0.fd < 0 }
    }

    /// Accepts new connections into `pending`; returns how many old idle ones were dropped to make room.
    private func acceptNew(_ pending: inout [Pending], now: Int64, listenPausedUntil: inout Int64) -> Int {
        var evicted = 0
        // Bounded so a connect flood cannot starve the reads of connections already pending.
        for _ in 0..<256 {
            let client = accept(listenFD, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if (errno == EMFILE || errno == ENFILE) && !pending.isEmpty {
                    // Out of descriptors: the oldest idle connection is the cheapest to give up.
                    finish(pending.removeFirst().fd, .text(408, "request timeout"))
                    evicted += 1
                    continue
                }
                if errno == EMFILE || errno == ENFILE { listenPausedUntil = now + Self.pollIntervalMs }
                break
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            guard Self.setNonBlocking(client, true) else { close(client); continue }
            if pending.count >= maxPending {
                // Drop the oldest rather than refuse the newest: a fresh probe must get through a flood.
                finish(pending.removeFirst().fd, .text(408, "request timeout"))
                evicted += 1
            }
            pending.append(Pending(fd: client, deadline: now + headTimeoutMs))
        }
        return evicted
    }

    /// Reads whatever the socket has without blocking, until the head is complete, too large, or drained.
    private func readAvailable(_ p: inout Pending, _ scratch: inout [UInt8]) -> ReadOutcome {
        while true {
            let n = scratch.withUnsafeMutableBytes { recv(p.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 {
                // Only the tail can complete the terminator, so the scan never goes quadratic on a slow sender.
                let from = max(0, p.buffer.count - 2)
                p.buffer.append(contentsOf: scratch[0..<n])
                if let end = Self.headEnd(p.buffer, from: from) { return end <= maxRequestBytes ? .head(end) : .tooLarge }
                if p.buffer.count > maxRequestBytes { return .tooLarge }
                continue
            }
            if n == 0 { return p.buffer.isEmpty ? .gone : .eof }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return .waiting }
            return .gone
        }
    }

    /// Answers errors on the event loop; hands a valid GET to a handler thread if a slot is free.
    /// Returns false when it was refused for lack of a slot.
    private func dispatch(_ head: [UInt8], on fd: Int32) -> Bool {
        guard let request = Self.parse(head) else {
            finish(fd, .text(400, "bad request"))
            return true
        }
        guard Self.allowed(request) else {
            finish(fd, Self.notAllowed)
            return true
        }
        guard running.load(ordering: .acquiring) < maxHandlers else {
            finish(fd, .text(503, "too many requests in progress", headers: [("Retry-After", "1")]))
            return false
        }
        running.add(1, ordering: .acquiringAndReleasing)
        let thread = Thread { [self] in
            // Blocking with a send timeout: a large body may not fit the socket buffer in one go, and a
            // client that stops reading holds this thread for a second per stalled send at most.
            _ = Self.setNonBlocking(fd, false)
            var timeout = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let response = handler(request)
            if let target = response.stream {
                running.subtract(1, ordering: .acquiringAndReleasing)
                handOver(fd, response, to: target)
                return
            }
            write(fd, Self.encode(response))
            // Free the slot before the client can see EOF, so its next request finds it free.
            running.subtract(1, ordering: .acquiringAndReleasing)
            shutdown(fd, Int32(SHUT_WR))
            close(fd)
        }
        thread.name = "tokenwatch-http-handler"
        thread.start()
        return true
    }

    /// Writes a stream's head and gives the socket to its target (or closes it and frees the slot).
    private func handOver(_ fd: Int32, _ response: HTTPResponse, to target: any HTTPStreamTarget) {
        var head = "HTTP/1.1 \(response.status) \(Self.reason(response.status))\r\n"
        head += "Content-Type: \(response.contentType)\r\nCache-Control: no-store\r\nConnection: close\r\n"
        for (name, value) in response.headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        if write(fd, Array(head.utf8) + response.body), Self.setNonBlocking(fd, true) {
            target.adopt(fd)
        } else {
            target.release()
            close(fd)
        }
    }

    /// Sends a small response from the event loop without blocking (it fits the socket buffer; if not, the
    /// client was not reading anyway), then closes. Unread input is drained first (bounded): closing with
    /// data still queued would reset the connection and could discard the response before the client reads it.
    private func finish(_ fd: Int32, _ response: HTTPResponse) {
        let bytes = Self.encode(response)
        var sent = 0
        bytes.withUnsafeBytes { buffer in
            while sent < buffer.count {
                let n = send(fd, buffer.baseAddress! + sent, buffer.count - sent, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                sent += n
            }
        }
        shutdown(fd, Int32(SHUT_WR))
        withUnsafeTemporaryAllocation(byteCount: Self.readChunk, alignment: 1) { sink in
            for _ in 0..<16 {
                if recv(fd, sink.baseAddress, sink.count, Int32(MSG_DONTWAIT)) <= 0 { break }
            }
        }
        close(fd)
    }

    /// Index just past `\r\n\r\n` (or `\n\n`), if present.
    static func headEnd(_ b: [UInt8]) -> Int? { headEnd(b, from: 0) }

    /// Same, looking only at terminators that start at or after `from`.
    static func headEnd(_ b: [UInt8], from: Int) -> Int? {
        var i = from
        while i < b.count {
            if b[i] == 10 {
                if i + 1 < b.count && b[i + 1] == 10 { return i + 2 }
                if i + 2 < b.count && b[i + 1] == 13 && b[i + 2] == 10 { return i + 3 }
            }
            i += 1
        }
        return nil
    }

    private func respond(to head: [UInt8]) -> HTTPResponse {
        guard let request = Self.parse(head) else { return .text(400, "bad request") }
        guard Self.allowed(request) else { return Self.notAllowed }
        return handler(request)
    }

    /// GET everywhere; DELETE only of `/users/<id>` (forgetting a person, see `HTTPRoutes`).
    static func allowed(_ request: HTTPRequest) -> Bool {
        request.method == "GET" || (request.method == "DELETE" && request.path.hasPrefix("/users/"))
    }

    static let notAllowed = HTTPResponse.text(405, "method not allowed: GET (and DELETE /users/<id>) only",
                                              headers: [("Allow", "GET, DELETE")])

    /// Parses the request line and header fields; nil when malformed.
    static func parse(_ head: [UInt8]) -> HTTPRequest? {
        // Split on LF at the byte level ("\r\n" is one Character in Swift strings), dropping each CR.
        var lines: [String] = []
        for raw in head.split(separator: 10, omittingEmptySubsequences: false) {
            let line = raw.last == 13 ? raw.dropLast() : raw
            guard let text = String(validating: line, as: UTF8.self) else { return nil }
            lines.append(text)
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let requestLine = lines.first else { return nil }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1."), parts[1].hasPrefix("/") else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = line[..<colon].lowercased()
            guard !name.isEmpty, !name.contains(" ") else { return nil }
            headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let target = parts[1]
        let pathPart: Substring
        var query: [String: String] = [:]
        if let q = target.firstIndex(of: "?") {
            pathPart = target[..<q]
            for pair in target[target.index(after: q)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let key = percentDecode(kv[0], plusIsSpace: true) else { return nil }
                guard let value = kv.count > 1 ? percentDecode(kv[1], plusIsSpace: true) : "" else { return nil }
                query[key] = value
            }
        } else {
            pathPart = target[...]
        }
        guard let path = percentDecode(pathPart, plusIsSpace: false) else { return nil }
        return HTTPRequest(method: String(parts[0]), path: path, query: query, headers: headers)
    }

    static func percentDecode(_ s: Substring, plusIsSpace: Bool) -> String? {
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let c = bytes.popFirst() {
            if c == UInt8(ascii: "%") {
                guard bytes.count >= 2, let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                out.append(v)
                bytes = bytes.dropFirst(2)
            } else if c == UInt8(ascii: "+") && plusIsSpace {
                out.append(UInt8(ascii: " "))
            } else {
                out.append(c)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }

    static func encode(_ r: HTTPResponse) -> [UInt8] {
        var head = "HTTP/1.1 \(r.status) \(reason(r.status))\r\n"
        head += "Content-Type: \(r.contentType)\r\nContent-Length: \(r.body.count)\r\nConnection: close\r\n"
        head += "Cache-Control: no-store\r\n"
        for (name, value) in r.headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + r.body
    }

    /// Writes everything or gives up (peer gone, or the send timeout hit); never raises SIGPIPE.
    @discardableResult
    private func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        bytes.withUnsafeBytes { buffer in
            while sent < buffer.count {
                let n = send(fd, buffer.baseAddress! + sent, buffer.count - sent, Int32(MSG_NOSIGNAL))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                sent += n
            }
        }
        return sent == bytes.count
    }

    // MARK: - Platform details

    private static func systemPoll(_ fd: UnsafeMutablePointer<pollfd>, _ count: Int, _ timeoutMs: Int32) -> Int32 {
        #if canImport(Glibc)
        Glibc.poll(fd, nfds_t(count), timeoutMs)
        #else
        Darwin.poll(fd, nfds_t(count), timeoutMs)
        #endif
    }

    private static var streamType: Int32 {
        #if canImport(Glibc)
        Int32(SOCK_STREAM.rawValue)
        #else
        SOCK_STREAM
        #endif
    }

    private static var cloexec: Int32 {
        #if canImport(Glibc)
        Int32(SOCK_CLOEXEC.rawValue)
        #else
        0
        #endif
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }

    /// Sets or clears `O_NONBLOCK`; false if `fcntl` failed.
    private static func setNonBlocking(_ fd: Int32, _ on: Bool) -> Bool {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0 else { return false }
        return fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) == 0
    }

    /// Numeric host and port of a socket address.
    private static func describe(_ storage: sockaddr_storage) -> (String, Int) {
        var storage = storage
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let length = socklen_t(storage.ss_family == sa_family_t(AF_INET6) ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard rc == 0 else { return ("?", 0) }
        func text(_ c: [CChar]) -> String { String(decoding: c.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return (text(host), Int(text(service)) ?? 0)
    }
}
