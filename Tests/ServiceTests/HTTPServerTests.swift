import Foundation
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

    @Test("methods other than GET get 405 with Allow")
    func methods() throws {
        let server = try Self.echoServer()
        defer { server.stop() }
        let r = try #require(rawHTTP(port: server.port, Array("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n".utf8)))
        #expect(r.status == 405)
        #expect(r.headers["allow"] == "GET")
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
