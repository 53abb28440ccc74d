import Foundation
import Testing
@testable import TokenwatchService
#if canImport(Glibc)
import Glibc
#endif

@Suite("sd_notify without libsystemd")
struct SystemdNotifierTests {
    func receive(_ socket: NotifySocket) async -> String? {
        var got: String?
        _ = await eventually(timeout: .seconds(5)) {
            got = socket.receive()
            return got != nil
        }
        return got
    }

    @Test("datagrams reach a path socket")
    func pathSocket() async throws {
        let dir = try scratchDirectory("notify")
        defer { try? FileManager.default.removeItem(at: dir) }
        let socket = try NotifySocket(directory: dir)
        let notifier = try #require(SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.path]))
        #expect(notifier.send("READY=1\nSTATUS=hello"))
        #expect(await receive(socket) == "READY=1\nSTATUS=hello")
    }

    @Test("datagrams reach an abstract socket (@name)")
    func abstractSocket() async throws {
        let socket = try NotifySocket(directory: URL(fileURLWithPath: "/tmp"), abstract: true)
        #expect(socket.path.hasPrefix("@"))
        let notifier = try #require(SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.path]))
        #expect(notifier.send("WATCHDOG=1"))
        #expect(await receive(socket) == "WATCHDOG=1")
    }

    @Test("watchdog interval is half of WATCHDOG_USEC, and only for our pid")
    func watchdogInterval() {
        let ours = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "4000000"])
        #expect(ours?.watchdogInterval == .seconds(2))
        let pinned = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "\(getpid())"])
        #expect(pinned?.watchdogInterval == .seconds(2))
        let other = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"])
        #expect(other?.watchdogInterval == nil)
        #expect(SystemdNotifier(environment: [:]) == nil)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "relative"]) == nil)
    }

    @Test("watchdog: pings while the loop beats and progresses or idles; a stuck loop gets none")
    func policy() {
        var p = WatchdogPolicy()
        func ping(_ s: PipelineStatus) -> Bool { p.earned(s) }
        var s = PipelineStatus()
        #expect(ping(s))  // restoring: the start timeout covers it
        s.ready = true
        s.heartbeat = 10
        s.consumed = 100
        #expect(ping(s))  // first look
        s.heartbeat = 20
        s.consumed = 200
        #expect(ping(s))  // consuming
        s.heartbeat = 30
        s.idle = true
        #expect(ping(s))  // nothing to consume, loop alive
        s.idle = false
        s.heartbeat = 40
        s.watermark = 5
        #expect(ping(s))  // watermark advanced
        #expect(!ping(s))  // heartbeat stuck: no ping
        s.consumed = 300
        #expect(!ping(s))  // counts moving without the loop beating cannot happen, but still no ping
        s.heartbeat = 50
        s.consumed = 400
        #expect(ping(s))  // beating and consuming again
        s.heartbeat = 60
        #expect(!ping(s))  // beating but neither progress nor idle: busy without progress
        s.heartbeat = 70
        s.paused = true
        #expect(ping(s))  // back-pressure: waiting for the broker is alive
    }

    @Test("status line: rate, lag, watermark delay, in flight")
    func statusLine() {
        var s = PipelineStatus()
        #expect(SystemdService.statusLine(s, eventsPerSecond: 0) == "restoring state")
        s.heartbeat = 1
        #expect(SystemdService.statusLine(s, eventsPerSecond: 0) == "waiting for partitions")
        s.ready = true
        s.lag = [0: 5, 1: 7]
        s.watermark = 1_000_000
        s.inFlight = 3
        s.assigned = [0, 1]
        #expect(SystemdService.statusLine(s, eventsPerSecond: 1234.4, nowMs: 1_000_000 + 330_000)
                == "1234 ev/s, lag 12 msgs, watermark delay 5m30s, in flight 3, partitions 2")
        s.stopping = true
        #expect(SystemdService.statusLine(s, eventsPerSecond: 0).hasPrefix("stopping"))
    }
}
