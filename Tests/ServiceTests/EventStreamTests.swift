import Foundation
import Testing
@testable import TokenwatchService
#if canImport(Glibc)
import Glibc
#endif

@Suite("Server-Sent Events (/events) over a real loopback socket")
struct EventStreamTests {
    /// A server whose `/events` streams from `hub` and `/healthz` answers at once, with few handler threads.
    static func server(hub: EventStreamHub, handlers: Int = 2) throws -> HTTPServer {
        let server = try HTTPServer(host: "127.0.0.1", port: 0, logger: quietLogger, maxConnections: handlers) { request in
            guard request.path == "/events" else { return .text(200, "ok") }
            guard hub.reserve() else { return .text(503, "too many event streams") }
            return HTTPResponse(status: 200, contentType: "text/event-stream", body: Array("retry: 2000\n\n".utf8), stream: hub)
        }
        server.start()
        return server
    }

    /// Opens `/events` and reads until `needle` has arrived (or the socket times out); returns the socket and text.
    static func open(port: Int, until needle: String) -> (fd: Int32, text: String)? {
        guard let fd = connectLoopback(port: port) else { return nil }
        let request = Array("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        return (fd, read(fd, until: needle))
    }

    /// Reads from `fd` until `needle` is in what arrived, the peer closes, or 10 s pass without data.
    static func read(_ fd: Int32, until needle: String, already: String = "") -> String {
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var text = already
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !text.contains(needle) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            text += String(decoding: buffer[0..<n], as: UTF8.self)
        }
        return text
    }

    @Test("open streams hold no handler thread: /healthz answers with more streams open than handlers, and the cap gives 503")
    func streamsDoNotStarveProbes() throws {
        let hub = EventStreamHub(maxStreams: 8)
        defer { hub.stop() }
        let server = try Self.server(hub: hub, handlers: 2)
        defer { server.stop() }
        var streams: [Int32] = []
        defer { for fd in streams { close(fd) } }
        for _ in 0..<8 {
            let s = try #require(Self.open(port: server.port, until: "event: ready"))
            #expect(s.text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(s.text.contains("Content-Type: text/event-stream"))
            #expect(!s.text.lowercased().contains("content-length"))
            streams.append(s.fd)
        }
        for _ in 0..<5 { #expect(get(port: server.port, "/healthz")?.status == 200) }
        #expect(get(port: server.port, "/events")?.status == 503)

        // Every open stream gets what is published after it opened.
        hub.publishAlert(json: Array(#"{"alert_id":"a1","state":"firing"}"#.utf8))
        for fd in streams {
            #expect(Self.read(fd, until: #""alert_id":"a1""#).contains("event: alert\ndata: {\"alert_id\":\"a1\",\"state\":\"firing\"}\n\n"))
        }
    }

    @Test("a new stream starts with the meta, the latest boards and recent alerts, then ready")
    func replayOnConnect() throws {
        let hub = EventStreamHub(maxStreams: 4)
        defer { hub.stop() }
        hub.setMeta(Array(#"{"windows":["1h"]}"#.utf8))
        hub.publishBoard(key: "1h|global", json: Array(#"{"as_of":1,"scope":"global"}"#.utf8))
        hub.publishBoard(key: "1h|global", json: Array(#"{"as_of":2,"scope":"global"}"#.utf8))
        hub.publishBoard(key: "1h|team:a", json: Array(#"{"as_of":1,"scope":"team:a"}"#.utf8))
        hub.publishBoard(key: "1h|team:a", json: Array(#"{"as_of":2,"scope":"team:a"}"#.utf8))
        hub.publishAlert(json: Array(#"{"alert_id":"x"}"#.utf8))
        let server = try Self.server(hub: hub)
        defer { server.stop() }
        let s = try #require(Self.open(port: server.port, until: "event: ready"))
        defer { close(s.fd) }
        let events = s.text.components(separatedBy: "\n").filter { $0.hasPrefix("event: ") || $0.hasPrefix("data: ") }
        #expect(events == [
            "event: meta", #"data: {"windows":["1h"]}"#,
            // The global board's history (for sparklines), a team board's latest only.
            "event: board", #"data: {"as_of":1,"scope":"global"}"#,
            "event: board", #"data: {"as_of":2,"scope":"global"}"#,
            "event: board", #"data: {"as_of":2,"scope":"team:a"}"#,
            "event: alert", #"data: {"alert_id":"x"}"#,
            "event: ready", "data: {}",
        ])
    }

    @Test("a closed stream frees its slot")
    func closingFreesTheSlot() throws {
        let hub = EventStreamHub(maxStreams: 1)
        defer { hub.stop() }
        let server = try Self.server(hub: hub)
        defer { server.stop() }
        let first = try #require(Self.open(port: server.port, until: "event: ready"))
        #expect(get(port: server.port, "/events")?.status == 503)
        close(first.fd)
        // The hub notices the hang-up on its own thread; poll for the freed slot, bounded.
        var second: (fd: Int32, text: String)?
        for _ in 0..<200 where second == nil {
            if hub.streams == 0 { second = Self.open(port: server.port, until: "event: ready") } else { usleep(10_000) }
        }
        let reopened = try #require(second)
        defer { close(reopened.fd) }
        #expect(reopened.text.contains("event: ready"))
    }

    @Test("SSE frames put every line of a payload in its own data: field")
    func framing() {
        #expect(EventStreamHub.frame(event: "x", data: Array("a\nb".utf8)) == Array("event: x\ndata: a\ndata: b\n\n".utf8))
    }
}
