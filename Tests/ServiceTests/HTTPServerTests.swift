import Foundation
import Synchronization
import Testing
@testable import TokenwatchService
#if canImport(Glibc)
import Glibc
#endif

@Suite("HTTP server over a real loopback socket")
struct HTTPServerTests {
    /// A server on 127.0.0.1:0 that echoes the parsed request.
    static func echoServer(readTimeout: Duration = .seconds(5), maxRequestBytes: Int = 8_192) throws -> HTTPServer {
        let server = try HTTPServer(host: "127.0.0.1", port: 0, logger: quietLogger, maxRequestBytes: maxRequestBytes,
                                    readTimeout: readTimeout) { request in
            let query = request.query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
            return .text(200, "\(request.method) \(request.path) ?\(query) auth=\(request.headers["authorization"] ?? "-")")
        }
        server.start()
        return server
    }

    @Test("binds an ephemeral loopback port and answers GET with Connection: close")
    func simpleGet() throws {
        let server = try Self.echoServer()
        defer { server.stop() }
        #expect(server.boundAddress.hasPrefix("127.0.0.1:"))
        #expect(server.port > 0)
        let r = try #require(get(port: server.port, "/users/a%20b?window=24h&scope=team%3Apay+ments"))
        #expect(r.status == 200)
        #expect(r.headers["connection"] == "close")
        #expect(r.headers["content-length"] == String(r.body.utf8.count))
        #expect(r.body == "GET /users/a b ?scope=team:pay ments&window=24h auth=-\n")
    }

    @Test("methods other than GET (and DELETE of /users/<id>) get 405 with Allow")
    func methods() throws {
        let server = try Self.echoServer()
        defer { server.stop() }
        let r = try #require(rawHTTP(port: server.port, Array("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n".utf8)))
        #expect(r.status == 405)
        #expect(r.headers["allow"] == "GET, DELETE")
        let delete = try #require(rawHTTP(port: server.port, Array("DELETE /metrics HTTP/1.1\r\n\r\n".utf8)))
        #expect(delete.status == 405)
        let forget = try #require(rawHTTP(port: server.port, Array("DELETE /users/a HTTP/1.1\r\n\r\n".utf8)))
        #expect(forget.status == 200)  // handed to the routes (here the echo handler)
    }

    @Test("malformed request lines get 400")
    func malformed() throws {
        let server = try Self.echoServer()
        defer { server.stop() }
        #expect(rawHTTP(port: server.port, Array("HELLO\r\n\r\n".utf8))?.status == 400)
        #expect(rawHTTP(port: server.port, Array("GET nope HTTP/1.1\r\n\r\n".utf8))?.status == 400)
        #expect(rawHTTP(port: server.port, Array("GET /%zz HTTP/1.1\r\n\r\n".utf8))?.status == 400)
    }

    @Test("a request head over the limit gets 431 without reading it all")
    func bounded() throws {
        let server = try Self.echoServer(maxRequestBytes: 1_024)
        defer { server.stop() }
        let huge = "GET / HTTP/1.1\r\nX-Pad: " + String(repeating: "a", count: 4_000) + "\r\n\r\n"
        #expect(rawHTTP(port: server.port, Array(huge.utf8))?.status == 431)
        // Never-ending head without a blank line: also refused once past the limit.
        let endless = "GET / HTTP/1.1\r\n" + String(repeating: "X-A: b\r\n", count: 500)
        #expect(rawHTTP(port: server.port, Array(endless.utf8))?.status == 431)
    }

    @Test("a client that sends nothing gets 408 after the read timeout, and others are served meanwhile")
    func slowClient() throws {
        let server = try Self.echoServer(readTimeout: .milliseconds(500))
        defer { server.stop() }
        let started = ContinuousClock.now
        let slow = Thread {
            _ = rawHTTP(port: server.port, Array("GET / HT".utf8))
        }
        slow.start()
        #expect(get(port: server.port, "/healthz")?.status == 200)
        let r = try #require(rawHTTP(port: server.port, Array("GET /x HTTP/1.1\r\n".utf8)))
        #expect(r.status == 408)
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test("stop closes the listening socket")
    func stop() throws {
        let server = try Self.echoServer()
        let port = server.port
        #expect(get(port: port, "/")?.status == 200)
        server.stop()
        #expect(get(port: port, "/") == nil)
    }

    @Test("an address in use or unresolvable is an error at start-up, naming http.listen")
    func bindErrors() throws {
        let first = try Self.echoServer()
        defer { first.stop() }
        #expect(throws: HTTPServerError.self) {
            _ = try HTTPServer(host: "127.0.0.1", port: first.port, logger: quietLogger) { _ in .text(200, "") }
        }
        do {
            _ = try HTTPServer(host: "no-such-host.invalid", port: 0, logger: quietLogger) { _ in .text(200, "") }
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("http.listen"))
        }
    }

    /// `count` sequential `GET /healthz`, each of which must answer 200 within a second.
    static func probeHealth(port: Int, count: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        for i in 0..<count {
            let began = ContinuousClock.now
            let r = get(port: port, "/healthz")
            let took = ContinuousClock.now - began
            #expect(r?.status == 200, "probe \(i)", sourceLocation: sourceLocation)
            #expect(took < .seconds(1), "probe \(i) took \(took)", sourceLocation: sourceLocation)
        }
    }

    @Test("64 idle connections do not starve health probes")
    func idleConnections() throws {
        // A long head deadline, so the idle connections are still pending while the probes run.
        let server = try Self.echoServer(readTimeout: .seconds(30))
        defer { server.stop() }
        let idle = (0..<64).compactMap { _ in connectLoopback(port: server.port) }
        defer { idle.forEach { close($0) } }
        #expect(idle.count == 64)
        Self.probeHealth(port: server.port, count: 20)
    }

    @Test("64 slow-loris connections do not starve health probes, and each ends at the head deadline")
    func slowLoris() throws {
        let server = try Self.echoServer(readTimeout: .seconds(2))
        defer { server.stop() }
        let began = ContinuousClock.now
        let slow = (0..<64).compactMap { _ in connectLoopback(port: server.port) }
        defer { slow.forEach { close($0) } }
        #expect(slow.count == 64)
        let head = Array("GET /slow HTTP/1.1\r\nX-Slow: ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 64)
        let driverDone = DispatchSemaphore(value: 0)
        // One header byte every 200 ms on every connection, until the server has closed them all (8 s at most).
        let driver = Thread {
            var alive = Set(slow)
            for k in 0..<40 where !alive.isEmpty {
                for fd in alive {
                    var byte = head[k % head.count]
                    if send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) != 1 { alive.remove(fd) }
                }
                usleep(200_000)
            }
            driverDone.signal()
        }
        driver.start()
        usleep(300_000)  // a byte or two in, so the probes really run alongside slow heads
        Self.probeHealth(port: server.port, count: 20)
        #expect(driverDone.wait(timeout: .now() + .seconds(10)) == .success)
        // The driver notices a close at its next send or the one after: deadline + 0.4 s, plus slack.
        #expect(ContinuousClock.now - began < .seconds(4))
        for fd in slow {
            let outcome = readUntilClosed(fd, timeout: 2)
            #expect(outcome == .closed || outcome.status == 408, "fd \(fd): \(outcome)")
        }
    }

    @Test("1100 idle connections: the oldest are dropped and a fresh probe still gets 200")
    func idleFlood() throws {
        let limit = raiseFileLimit(atLeast: 4_096)
        try #require(limit >= 2_600, "RLIMIT_NOFILE \(limit) too low for 1100 connections on both ends")
        let server = try Self.echoServer(readTimeout: .seconds(30))
        defer { server.stop() }
        let idle = (0..<1_100).compactMap { _ in connectLoopback(port: server.port) }
        defer { idle.forEach { close($0) } }
        #expect(idle.count == 1_100)
        Self.probeHealth(port: server.port, count: 3)
        // 1100 + probes > 1024 pending: the very first connection was the one given up.
        let first = readUntilClosed(idle[0], timeout: 2)
        #expect(first == .closed || first.status == 408, "\(first)")
    }

    @Test("all handler slots busy: 503 with Retry-After at once, 200 again once they are free")
    func handlerSlotsFull() throws {
        let gate = DispatchSemaphore(value: 0)
        let entered = SharedCounter()
        let server = try HTTPServer(host: "127.0.0.1", port: 0, logger: quietLogger) { request in
            if request.path == "/block" {
                entered.value.add(1, ordering: .relaxed)
                gate.wait()
            }
            return .text(200, "ok")
        }
        server.start()
        defer { server.stop() }
        // Never leave handler threads hanging, whatever fails below.
        defer { for _ in 0..<64 { gate.signal() } }

        let slots = 16  // the default maxConnections
        let finished = DispatchSemaphore(value: 0)
        let ok = SharedCounter()
        for _ in 0..<slots {
            Thread {
                if get(port: server.port, "/block")?.status == 200 { ok.value.add(1, ordering: .relaxed) }
                finished.signal()
            }.start()
        }
        #expect(eventuallyBlocking(timeout: .seconds(5)) { entered.value.load(ordering: .relaxed) == slots })

        let began = ContinuousClock.now
        let refused = get(port: server.port, "/healthz")
        #expect(ContinuousClock.now - began < .seconds(1))
        #expect(refused?.status == 503)
        #expect(refused?.headers["retry-after"] == "1")

        for _ in 0..<slots { gate.signal() }
        for _ in 0..<slots { #expect(finished.wait(timeout: .now() + .seconds(5)) == .success) }
        #expect(ok.value.load(ordering: .relaxed) == slots)
        Self.probeHealth(port: server.port, count: 1)
    }

    @Test("stop closes connections still sending their head, within 2 s")
    func stopClosesPending() throws {
        let server = try Self.echoServer(readTimeout: .seconds(30))
        let idle = try #require(connectLoopback(port: server.port))
        defer { close(idle) }
        #expect(get(port: server.port, "/healthz")?.status == 200)  // the idle one has been accepted by now
        let began = ContinuousClock.now
        server.stop()
        #expect(ContinuousClock.now - began < .seconds(2))
        #expect(readUntilClosed(idle, timeout: 2) == .closed)
    }

    @Test("bearer token: constant-time check, case-insensitive scheme")
    func bearer() {
        let token = Array("s3cret".utf8)
        #expect(HTTPRoutes.authorized("Bearer s3cret", token: token))
        #expect(HTTPRoutes.authorized("bearer s3cret", token: token))
        #expect(!HTTPRoutes.authorized("Bearer s3cre", token: token))
        #expect(!HTTPRoutes.authorized("Bearer s3cretX", token: token))
        #expect(!HTTPRoutes.authorized("Basic s3cret", token: token))
        #expect(!HTTPRoutes.authorized(nil, token: token))
        #expect(!HTTPRoutes.authorized("Bearer ", token: token))
    }
}

final class SharedCounter: Sendable {
    let value = Atomic<Int>(0)
}

/// A connected loopback socket that has sent nothing; nil when it cannot connect.
func connectLoopback(port: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { close(fd); return nil }
    return fd
}

enum ReadEnd: Equatable, CustomStringConvertible {
    /// Closed by the server (EOF or reset) without a parsable response.
    case closed
    case response(Int)
    /// Still open after the timeout.
    case stillOpen

    var status: Int? { if case .response(let s) = self { s } else { nil } }
    var description: String {
        switch self {
        case .closed: "closed"
        case .response(let s): "response \(s)"
        case .stillOpen: "still open"
        }
    }
}

/// Reads until the server closes `fd` (or resets it), within `timeout` seconds.
func readUntilClosed(_ fd: Int32, timeout: Int) -> ReadEnd {
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var data: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4_096)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 { data.append(contentsOf: buffer[0..<n]); continue }
        if n < 0 && errno == EINTR { continue }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return .stillOpen }
        break
    }
    return parseResponse(data).map { .response($0.status) } ?? .closed
}

/// Raises the soft RLIMIT_NOFILE to at least `wanted` if the hard limit allows; returns the soft limit now.
func raiseFileLimit(atLeast wanted: Int) -> Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
    if limit.rlim_cur < rlim_t(wanted) {
        limit.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
    return Int(limit.rlim_cur)
}
