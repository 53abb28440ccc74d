import Dispatch
import Foundation
import Synchronization
import TokenwatchCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// A stream lives for as long as the browser tab does, so it must not hold one of the HTTP server's
// handler threads (those serve /healthz). The handler only answers the request head and hands the
// socket over; from then on one thread here polls every stream socket and a wake-up pipe, writing
// without blocking. A client that stops reading is dropped once its backlog passes `maxBacklogBytes`,
// so a stuck tab costs bounded memory and never slows the pipeline, which only appends to a queue.
/// Fans the published boards and alerts out to Server-Sent-Event clients (`/events`) on its own thread.
public final class EventStreamHub: Sendable {
    /// Streams open at once; more get 503 (default 32).
    public let maxStreams: Int
    /// Unsent bytes one client may hold before it is dropped (default 4 MiB).
    let maxBacklogBytes: Int
    /// Boards kept per `window|scope` key for a new client's sparklines (global scope only).
    static let historyDepth = 30
    /// Alerts replayed to a new client.
    static let recentAlerts = 200
    /// A comment line this often keeps proxies and the browser from timing the stream out.
    static let keepAliveMs: Int32 = 15_000

    private struct Shared {
        var reserved = 0
        var adopted: [Int32] = []
        var frames: [[UInt8]] = []
        var latestBoards: [String: [UInt8]] = [:]
        var history: [String: [[UInt8]]] = [:]
        var alerts: [[UInt8]] = []
        var meta: [UInt8] = Array("{}".utf8)
        var stopped = false
    }

    private let shared = Mutex(Shared())
    /// Called with every published alert (webhook delivery), on the publishing thread: must not block.
    private let alertListeners = Mutex<[@Sendable ([UInt8]) -> Void]>([])
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let started = Atomic<Bool>(false)

    public init(maxStreams: Int = 32, maxBacklogBytes: Int = 4 << 20) {
        self.maxStreams = max(0, maxStreams)
        self.maxBacklogBytes = maxBacklogBytes
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    // MARK: - Feeding (pipeline thread)

    /// Describes the daemon to new clients (windows, mandate); sent first on every stream.
    public func setMeta(_ json: [UInt8]) {
        shared.withLock { $0.meta = json }
    }

    /// A published leaderboard (`key` is `window|scope`): kept as the latest and sent to every stream.
    public func publishBoard(key: String, json: [UInt8]) {
        let frame = Self.frame(event: "board", data: json)
        shared.withLock { s in
            s.latestBoards[key] = json
            if key.hasSuffix("|global") {
                s.history[key, default: []].append(json)
                if s.history[key]!.count > Self.historyDepth { s.history[key]!.removeFirst() }
            }
            if s.reserved > 0 { s.frames.append(frame) }
        }
        wake()
    }

    /// Adds a listener for every alert published from now on.
    public func onAlert(_ listener: @escaping @Sendable ([UInt8]) -> Void) {
        alertListeners.withLock { $0.append(listener) }
    }

    /// A published alert (firing or resolved): kept among the recent ones and sent to every stream.
    public func publishAlert(json: [UInt8]) {
        for listener in alertListeners.withLock({ $0 }) { listener(json) }
        let frame = Self.frame(event: "alert", data: json)
        shared.withLock { s in
            s.alerts.append(json)
            if s.alerts.count > Self.recentAlerts { s.alerts.removeFirst(s.alerts.count - Self.recentAlerts) }
            if s.reserved > 0 { s.frames.append(frame) }
        }
        wake()
    }

    /// The recent alert messages (firing and resolved) of one person, oldest first.
    public func recentAlerts(of userId: String) -> [[UInt8]] {
        var quoted = JSONWriter()
        quoted.string(userId)
        let needle = Array("\"user_id\":".utf8) + quoted.bytes
        return shared.withLock { $0.alerts }.filter { $0.firstRange(of: needle) != nil }
    }

    /// The recent alert messages, oldest first (the last 200).
    public var recentAlerts: [[UInt8]] { shared.withLock { $0.alerts } }

    /// The latest board of every key, for `/leaderboard`-like reads without the pipeline.
    public var latestBoards: [String: [UInt8]] { shared.withLock { $0.latestBoards } }

    // MARK: - Clients (HTTP handler threads)

    /// Takes one of the `maxStreams` slots; false when all are taken (answer 503).
    public func reserve() -> Bool {
        shared.withLock { s in
            guard !s.stopped, s.reserved < maxStreams else { return false }
            s.reserved += 1
            return true
        }
    }

    /// Gives back a reserved slot that was not used (the response could not be written).
    public func release() {
        shared.withLock { $0.reserved = max(0, $0.reserved - 1) }
    }

    /// Open streams.
    public var streams: Int { shared.withLock { $0.reserved } }

    /// Takes over a connection whose response head has been written; its slot was reserved.
    public func adopt(_ fd: Int32) {
        startIfNeeded()
        shared.withLock { $0.adopted.append(fd) }
        wake()
    }

    /// Closes every stream and ends the thread.
    public func stop() {
        shared.withLock { $0.stopped = true }
        wake()
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)  // a full pipe already means "wake up"
    }

    /// One SSE frame; JSON carries no raw newline, but a `data:` line per line keeps any payload valid.
    static func frame(event: String, data: [UInt8]) -> [UInt8] {
        var out = Array("event: \(event)\n".utf8)
        for line in data.split(separator: 10, omittingEmptySubsequences: false) {
            out += Array("data: ".utf8)
            out += line
            out.append(10)
        }
        out.append(10)
        return out
    }

    /// What a new client receives first: the meta, the board history and latest boards, recent alerts.
    private func initialFrames(_ s: Shared) -> [UInt8] {
        var out = Self.frame(event: "meta", data: s.meta)
        for key in s.latestBoards.keys.sorted() {
            let boards = s.history[key] ?? [s.latestBoards[key]!]
            for b in boards { out += Self.frame(event: "board", data: b) }
        }
        for a in s.alerts { out += Self.frame(event: "alert", data: a) }
        out += Self.frame(event: "ready", data: Array("{}".utf8))
        return out
    }

    // MARK: - The stream thread

    private struct Stream {
        var fd: Int32
        var backlog: [UInt8] = []
        var sent = 0
    }

    private func startIfNeeded() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [self] in loop() }
        thread.name = "tokenwatch-sse"
        thread.start()
    }

    private func loop() {
        var streams: [Stream] = []
        var fds: [pollfd] = []
        var drain = [UInt8](repeating: 0, count: 4_096)
        while true {
            let (stop, fresh, frames) = takeWork()
            if stop { break }
            // Frames published before a fresh stream's snapshot are in it already: they go to the old streams only.
            for f in frames { for i in streams.indices { streams[i].backlog += f } }
            streams += fresh
            for i in streams.indices { flush(&streams[i]) }
            fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            for s in streams {
                fds.append(pollfd(fd: s.fd, events: Int16(POLLIN) | (s.sent < s.backlog.count ? Int16(POLLOUT) : 0), revents: 0))
            }
            let n = fds.withUnsafeMutableBufferPointer { Self.systemPoll($0.baseAddress!, $0.count, Self.keepAliveMs) }
            if n == 0 { for i in streams.indices { streams[i].backlog += Array(": keep-alive\n\n".utf8) } }
            if fds[0].revents != 0 { while read(wakeRead, &drain, drain.count) > 0 {} }
            for (i, p) in fds.dropFirst().enumerated() where p.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                // A stream client sends nothing after its request: readable means closed (or misbehaving).
                if recv(streams[i].fd, &drain, drain.count, Int32(MSG_DONTWAIT)) <= 0 || p.revents & Int16(POLLERR) != 0 {
                    streams[i].sent = -1
                }
            }
            streams.removeAll { s in
                let dead = s.sent < 0 || s.backlog.count - s.sent > maxBacklogBytes
                if dead { closeStream(s.fd) }
                return dead
            }
        }
        for s in streams { closeStream(s.fd) }
    }

    /// The queued frames and the new streams, each with its initial snapshot, taken under one lock.
    private func takeWork() -> (Bool, [Stream], [[UInt8]]) {
        shared.withLock { s in
            defer { s.adopted = []; s.frames = [] }
            let initial = s.adopted.isEmpty ? [] : initialFrames(s)
            return (s.stopped, s.adopted.map { Stream(fd: $0, backlog: initial) }, s.frames)
        }
    }

    /// Writes what the socket takes now; marks the stream dead (`sent = -1`) when the peer is gone.
    private func flush(_ s: inout Stream) {
        guard s.sent >= 0 else { return }
        while s.sent < s.backlog.count {
            let n = s.backlog.withUnsafeBytes { b in
                send(s.fd, b.baseAddress! + s.sent, b.count - s.sent, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if n > 0 { s.sent += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            s.sent = -1
            return
        }
        if s.sent == s.backlog.count { s.backlog.removeAll(keepingCapacity: true); s.sent = 0 }
    }

    private func closeStream(_ fd: Int32) {
        close(fd)
        release()
    }

    private static func systemPoll(_ fd: UnsafeMutablePointer<pollfd>, _ count: Int, _ timeoutMs: Int32) -> Int32 {
        #if canImport(Glibc)
        Glibc.poll(fd, nfds_t(count), timeoutMs)
        #else
        Darwin.poll(fd, nfds_t(count), timeoutMs)
        #endif
    }
}

extension EventStreamHub {
    /// Hands one published output to the streams: boards and alerts; dead letters are not shown.
    func publish(_ record: OutputRecord) {
        switch record.kind {
        case .leaderboard:
            if let key = record.key { publishBoard(key: String(decoding: key, as: UTF8.self), json: record.value) }
        case .alert:
            publishAlert(json: record.value)
        case .deadLetter:
            break
        }
    }
}
