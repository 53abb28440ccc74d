import Logging
import ServiceLifecycle
import TokenwatchCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The sd_notify protocol without libsystemd: one datagram per message to `$NOTIFY_SOCKET`
/// (a filesystem path, or an abstract socket written with a leading `@`).
public struct SystemdNotifier: Sendable {
    /// `$NOTIFY_SOCKET` as given.
    public let socketPath: String
    /// Half of `$WATCHDOG_USEC` when the watchdog is on for this process (`$WATCHDOG_PID` unset or ours).
    public let watchdogInterval: Duration?

    /// Nil when `NOTIFY_SOCKET` is unset or unusable (not started by systemd with `Type=notify`).
    public init?(environment: [String: String]) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty,
              path.hasPrefix("/") || path.hasPrefix("@"), path.utf8.count < 108 else { return nil }
        socketPath = path
        let forUs = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if forUs, let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 {
            watchdogInterval = .microseconds(usec / 2)
        } else {
            watchdogInterval = nil
        }
    }

    /// Sends `state` (newline-separated `KEY=value` lines, e.g. `READY=1`); false when it could not be sent.
    @discardableResult
    public func send(_ state: String) -> Bool {
        let fd = socket(AF_UNIX, Self.datagramType, 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var name = Array(socketPath.utf8)
        if name.first == UInt8(ascii: "@") { name[0] = 0 }  // abstract namespace
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in name.enumerated() { raw[i] = b }
        }
        // Abstract names are exactly their bytes; paths take their terminating NUL.
        let length = socklen_t(pathOffset + name.count + (name.first == 0 ? 0 : 1))
        let bytes = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
        return sent == bytes.count
    }

    /// `MONOTONIC_USEC=` for `RELOADING=1` (systemd wants it with notify-reload, harmless otherwise).
    public static func monotonicMicroseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000
    }

    private static var datagramType: Int32 {
        #if canImport(Glibc)
        Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
        SOCK_DGRAM
        #endif
    }
}

/// Decides whether the pipeline earned a `WATCHDOG=1`: its loop is alive (the heartbeat moved) and it
/// made progress (consumed more, or the watermark advanced) or had nothing to do (idle, paused for
/// back-pressure, stopping, or still starting). A loop stuck anywhere stops the pings, and systemd
/// restarts the service from its last checkpoint.
public struct WatchdogPolicy: Sendable {
    private var last: (heartbeat: UInt64, consumed: Int, watermark: Int64?)?

    public init() {}

    public mutating func earned(_ s: PipelineStatus) -> Bool {
        let mark = (heartbeat: s.heartbeat, consumed: s.consumed, watermark: s.watermark)
        defer { last = mark }
        // Before the loop's first beat the engine is being restored: TimeoutStartSec bounds that phase.
        if s.heartbeat == 0 && !s.ready { return true }
        guard let last else { return true }
        let alive = mark.heartbeat != last.heartbeat
        let progressed = mark.consumed != last.consumed || mark.watermark != last.watermark
        // Paused because Kafka refuses outputs is not progress: systemd restarts a daemon stuck that way.
        return alive && (progressed || s.idle || (s.paused && s.outputBlocked == nil) || s.stopping || !s.ready)
    }
}

/// Tells systemd how the daemon is doing: `READY=1` once the pipeline is ready, `WATCHDOG=1` every half
/// watchdog interval while `WatchdogPolicy` says so, `STATUS=` with rate, lag and in-flight outputs,
/// `STOPPING=1` as soon as the pipeline drains. Without `$NOTIFY_SOCKET` it does nothing.
public struct SystemdService: Service {
    let notifier: SystemdNotifier?
    let pipeline: Pipeline
    let logger: Logger
    /// How often the status line is refreshed (and the watchdog checked when it has no interval).
    let tick: Duration

    public init(notifier: SystemdNotifier?, pipeline: Pipeline, logger: Logger, tick: Duration = .seconds(1)) {
        self.notifier = notifier
        self.pipeline = pipeline
        self.logger = logger
        self.tick = tick
    }

    public func run() async throws {
        guard let notifier else {
            try? await gracefulShutdown()
            return
        }
        let watchdogEvery = notifier.watchdogInterval
        // READY and STOPPING go out within this much of the change; STATUS every `tick`.
        let step = Duration.milliseconds(100)
        logger.info("systemd notification on", metadata: [
            "socket": "\(notifier.socketPath)", "watchdog": "\(watchdogEvery.map { "\($0)" } ?? "off")",
        ])
        var sentReady = false
        var sentStopping = false
        var policy = WatchdogPolicy()
        var rate = RateMeter()
        let clock = ContinuousClock()
        var nextWatchdog = clock.now
        var nextStatus = clock.now
        var lastStatus = ""
        var warnedStall = false
        while !Task.isCancelled {
            let s = pipeline.status
            var messages: [String] = []
            // A standby is up too: it has nothing to consume until the active instance goes.
            if (s.ready || (s.roleKnown && !s.active)) && !sentReady && !s.stopping {
                messages.append("READY=1")
                sentReady = true
                logger.info("ready", metadata: ["partitions": "\(s.assigned)"])
            }
            if s.stopping && !sentStopping {
                messages.append("STOPPING=1")
                sentStopping = true
            }
            // A new state (READY, STOPPING) comes with its status line.
            if clock.now >= nextStatus || !messages.isEmpty {
                nextStatus = clock.now + tick
                let statusLine = Self.statusLine(s, eventsPerSecond: rate.update(consumed: s.consumed))
                if statusLine != lastStatus {
                    messages.append("STATUS=" + statusLine)
                    lastStatus = statusLine
                }
            }
            if let every = watchdogEvery, clock.now >= nextWatchdog {
                nextWatchdog = clock.now + every
                if policy.earned(s) {
                    messages.append("WATCHDOG=1")
                    warnedStall = false
                } else if !warnedStall {
                    logger.error("pipeline made no progress for a watchdog interval; withholding WATCHDOG=1",
                                 metadata: ["heartbeat": "\(s.heartbeat)", "consumed": "\(s.consumed)"])
                    warnedStall = true
                }
            }
            if !messages.isEmpty && !notifier.send(messages.joined(separator: "\n")) {
                logger.warning("sd_notify failed", metadata: ["socket": "\(notifier.socketPath)"])
            }
            do {
                try await Task.sleep(for: step)
            } catch {
                break
            }
            // After a graceful shutdown request for this service (the last one in the group's
            // reverse order), the pipeline has finished: nothing more to say.
            if Task.isShuttingDownGracefully { break }
        }
        if !sentStopping { notifier.send("STOPPING=1") }
    }

    /// The human line `systemctl status` shows.
    static func statusLine(_ s: PipelineStatus, eventsPerSecond: Double, nowMs: Int64 = WallClock.nowMs()) -> String {
        if s.stopping { return "stopping: flushing outputs, checkpointing, committing (in flight \(s.inFlight))" }
        if !s.ready { return s.heartbeat == 0 ? "restoring state" : "waiting for partitions" }
        var parts = ["\(Int(eventsPerSecond.rounded())) ev/s"]
        parts.append("lag \(s.lag.values.reduce(0, +)) msgs")
        if let w = s.watermark {
            parts.append("watermark delay \(DurationText.format(ms: max(0, nowMs - w) / 1000 * 1000))")
        } else {
            parts.append("no watermark yet")
        }
        parts.append("in flight \(s.inFlight)")
        parts.append("partitions \(s.assigned.count)")
        if s.paused { parts.append("paused: output backlog") }
        return parts.joined(separator: ", ")
    }
}

/// Events per second between successive calls.
struct RateMeter {
    private var last: (consumed: Int, atMs: Int64)?

    mutating func update(consumed: Int, nowMs: Int64 = WallClock.monotonicMs()) -> Double {
        defer { last = (consumed, nowMs) }
        guard let last, nowMs > last.atMs else { return 0 }
        return Double(consumed - last.consumed) * 1000 / Double(nowMs - last.atMs)
    }
}
