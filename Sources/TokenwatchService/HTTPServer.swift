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

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: [UInt8], headers: [(String, String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    public static func text(_ status: Int, _ text: String, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, body: Array((text.hasSuffix("\n") ? text : text + "\n").utf8), headers: headers)
    }

    public static func json(_ status: Int, _ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "application/json", body: body + [UInt8(ascii: "\n")])
    }
}

/// Why the server could not start.
public struct HTTPServerError: Error, CustomStringConvertible {
    public var description: String
}

/// A small HTTP/1.1 server on POSIX sockets: GET only, one request per connection (`Connection: close`),
/// a bounded request head and a read deadline, so a slow or hostile client costs one thread for a few
/// seconds at most. One accept thread, one thread per connection up to `maxConnections` (more are
/// answered 503 at once). Enough for health checks, Prometheus scrapes and a small JSON API without
/// pulling an HTTP framework into the build.
public final class HTTPServer: Sendable {
    public typealias Handler = @Sendable (HTTPRequest) -> HTTPResponse

    /// The address actually listened on, `host:port` (`[v6]:port` for IPv6); port 0 resolved.
    public let boundAddress: String
    public let port: Int
    private let listenFD: Int32
    private let handler: Handler
    private let logger: Logger
    private let maxConnections: Int
    private let maxRequestBytes: Int
    private let readTimeoutMs: Int64
    private let started = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let active = Atomic<Int>(0)
    private let acceptExited = DispatchSemaphore(value: 0)
    private static let pollIntervalMs: Int32 = 100

    /// Binds and listens on `host:port` now (so a bad address fails at start-up); serves after `start()`.
    public init(host: String, port: Int, logger: Logger, maxConnections: Int = 16, maxRequestBytes: Int = 8_192,
                readTimeout: Duration = .seconds(5), handler: @escaping Handler) throws(HTTPServerError) {
        self.handler = handler
        self.logger = logger
        self.maxConnections = maxConnections
        self.maxRequestBytes = maxRequestBytes
        self.readTimeoutMs = Int64(readTimeout.components.seconds * 1000 + readTimeout.components.attoseconds / 1_000_000_000_000_000)

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
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0, listen(fd, 64) == 0 else {
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

    /// Starts the accept thread; idempotent.
    public func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [self] in
            acceptLoop()
            close(listenFD)
            acceptExited.signal()
        }
        thread.name = "tokenwatch-http"
        thread.start()
    }

    /// Stops accepting; returns once the listening socket is closed (bounded to 2 s). Requests being
    /// served finish on their own threads.
    public func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if started.load(ordering: .acquiring) { _ = acceptExited.wait(timeout: .now() + .seconds(2)) }
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .acquiring) {
            var pfd = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            guard Self.systemPoll(&pfd, 1, Self.pollIntervalMs) > 0 else { continue }
            let client = accept(listenFD, nil, nil)
            guard client >= 0 else { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            if active.load(ordering: .relaxed) >= maxConnections {
                write(client, Self.encode(.text(503, "too many connections", headers: [("Retry-After", "1")])))
                close(client)
                continue
            }
            active.add(1, ordering: .relaxed)
            let thread = Thread { [self] in
                serve(client)
                close(client)
                active.subtract(1, ordering: .relaxed)
            }
            thread.name = "tokenwatch-http-conn"
            thread.start()
        }
    }

    // MARK: - One connection

    private func serve(_ fd: Int32) {
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let response: HTTPResponse
        switch readHead(fd) {
        case .head(let bytes):
            response = respond(to: bytes)
        case .tooLarge:
            response = .text(431, "request header fields too large (at most \(maxRequestBytes) bytes)")
        case .timedOut:
            response = .text(408, "request timeout")
        case .closed:
            return
        }
        write(fd, Self.encode(response))
        shutdown(fd, Int32(SHUT_WR))
    }

    private enum Head { case head([UInt8]), tooLarge, timedOut, closed }

    /// Reads until the blank line that ends the head, within `maxRequestBytes` and the read deadline.
    private func readHead(_ fd: Int32) -> Head {
        let deadline = WallClock.monotonicMs() + readTimeoutMs
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2_048)
        while true {
            let left = deadline - WallClock.monotonicMs()
            if left <= 0 { return .timedOut }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = Self.systemPoll(&pfd, 1, Int32(min(left, 1_000)))
            if ready < 0 && errno != EINTR { return .closed }
            if ready <= 0 { continue }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return buffer.isEmpty ? .closed : .timedOut }
            buffer.append(contentsOf: chunk[0..<n])
            if let end = Self.headEnd(buffer) {
                return end <= maxRequestBytes ? .head(Array(buffer[0..<end])) : .tooLarge
            }
            if buffer.count > maxRequestBytes { return .tooLarge }
        }
    }

    /// Index just past `\r\n\r\n` (or `\n\n`), if present.
    static func headEnd(_ b: [UInt8]) -> Int? {
        var i = 0
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
        guard request.method == "GET" else { return .text(405, "method not allowed: GET only", headers: [("Allow", "GET")]) }
        return handler(request)
    }

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
    private func write(_ fd: Int32, _ bytes: [UInt8]) {
        var sent = 0
        bytes.withUnsafeBytes { buffer in
            while sent < buffer.count {
                let n = send(fd, buffer.baseAddress! + sent, buffer.count - sent, Int32(MSG_NOSIGNAL))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                sent += n
            }
        }
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
