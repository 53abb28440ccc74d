import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe
/// (`--remote-debugging-pipe`: commands on the child's fd 3, replies on its fd 4, each message
/// NUL-terminated), so the test needs no WebSocket client and no port.
final class Chromium {
    private let pid: pid_t
    private let toBrowser: Int32
    private let fromBrowser: Int32
    private var buffer: [UInt8] = []
    private var nextId = 0
    private var session: String?

    static func locate() throws -> String {
        for path in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        throw HarnessError("headless Chromium is not installed; the dashboard test needs it (apt-get install -y chromium)")
    }

    /// Starts the browser with a fresh profile in `directory`; its output goes to `directory/chromium.log`.
    init(directory: URL) throws {
        let executable = try Self.locate()
        var commands: [Int32] = [-1, -1]
        var replies: [Int32] = [-1, -1]
        guard pipe(&commands) == 0, pipe(&replies) == 0 else { throw HarnessError("pipe failed") }
        for fd in commands + replies { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        // Above any descriptor the test process holds, so the dup2 onto 3 and 4 cannot clobber one another.
        let childRead = fcntl(commands[0], F_DUPFD_CLOEXEC, 200)
        let childWrite = fcntl(replies[1], F_DUPFD_CLOEXEC, 200)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, childRead, 3)
        posix_spawn_file_actions_adddup2(&actions, childWrite, 4)
        let log = directory.appendingPathComponent("chromium.log").path
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let profile = directory.appendingPathComponent("chromium-profile").path
        let arguments = [executable, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                         "--no-first-run", "--disable-extensions", "--disable-background-networking",
                         "--user-data-dir=\(profile)", "--window-size=1440,1000", "about:blank"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, nil, &argv, environ)
        for fd in [commands[0], replies[1], childRead, childWrite] { close(fd) }
        guard rc == 0 else {
            close(commands[1]); close(replies[0])
            throw HarnessError("posix_spawn \(executable): \(String(cString: strerror(rc)))")
        }
        pid = child
        toBrowser = commands[1]
        fromBrowser = replies[0]
    }

    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        close(toBrowser)
        close(fromBrowser)
    }

    /// Opens a page at `url` and attaches to it; later commands go to that page.
    func open(_ url: String) throws {
        // The first command waits for Chromium's start, which on a cold machine (fresh profile, font cache
        // being built, other builds running) took over 30 s once.
        let target = try call("Target.createTarget", ["url": "about:blank"], browserLevel: true, timeout: .seconds(180))
        guard let targetId = target["targetId"] as? String else { throw HarnessError("no targetId: \(target)") }
        let attached = try call("Target.attachToTarget", ["targetId": targetId, "flatten": true], browserLevel: true)
        session = attached["sessionId"] as? String
        _ = try call("Emulation.setDeviceMetricsOverride", ["width": 1440, "height": 1000, "deviceScaleFactor": 1, "mobile": false])
        _ = try call("Page.navigate", ["url": url])
    }

    /// Evaluates `expression` in the page and returns its value (JSON-serialisable results only).
    func evaluate(_ expression: String, awaitPromise: Bool = false) throws -> Any? {
        let reply = try call("Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": awaitPromise])
        if let exception = reply["exceptionDetails"] { throw HarnessError("page script failed: \(exception)") }
        return (reply["result"] as? [String: Any])?["value"]
    }

    /// A PNG of the whole page.
    func screenshot() throws -> Data {
        let reply = try call("Page.captureScreenshot", ["format": "png", "captureBeyondViewport": true])
        guard let text = reply["data"] as? String, let data = Data(base64Encoded: text) else { throw HarnessError("no screenshot data") }
        return data
    }

    /// Sends one command and waits (at most `timeout`) for its reply, skipping events.
    func call(_ method: String, _ params: [String: Any] = [:], browserLevel: Bool = false,
              timeout: Duration = .seconds(30)) throws -> [String: Any] {
        nextId += 1
        var message: [String: Any] = ["id": nextId, "method": method, "params": params]
        if !browserLevel, let session { message["sessionId"] = session }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        guard bytes.withUnsafeBytes({ Glibc.write(toBrowser, $0.baseAddress, $0.count) }) == bytes.count else {
            throw HarnessError("writing to Chromium failed (did it exit? see chromium.log)")
        }
        let deadline = ContinuousClock.now + timeout
        while true {
            let reply = try nextMessage(deadline: deadline, method: method)
            guard reply["id"] as? Int == nextId else { continue }
            if let error = reply["error"] { throw HarnessError("\(method): \(error)") }
            return reply["result"] as? [String: Any] ?? [:]
        }
    }

    private func nextMessage(deadline: ContinuousClock.Instant, method: String) throws -> [String: Any] {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            if let end = buffer.firstIndex(of: 0) {
                let message = Array(buffer[..<end])
                buffer.removeSubrange(...end)
                return (try? JSONSerialization.jsonObject(with: Data(message))) as? [String: Any] ?? [:]
            }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw HarnessError("Chromium did not answer \(method) in time") }
            var p = pollfd(fd: fromBrowser, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(left.components.seconds * 1000 + 1)) > 0 else { continue }
            let n = chunk.withUnsafeMutableBytes { read(fromBrowser, $0.baseAddress, $0.count) }
            guard n > 0 else { throw HarnessError("Chromium closed its DevTools pipe (see chromium.log)") }
            buffer += chunk[0..<n]
        }
    }
}
