import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A harness failure that is not a product assertion (a tool missing, a child that never came up, a timeout).
struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One record read back from a topic with kcat.
struct TopicRecord {
    var partition: Int32
    var offset: Int64
    var key: String
    var value: String
}

/// A child process (the `tokenwatch` executable or `kcat`) with its stdout and stderr in files.
///
/// Not Sendable: a test drives its children from its own task only.
final class Child {
    let name: String
    let process = Process()
    let stdoutURL: URL
    let stderrURL: URL

    init(name: String, executable: URL, arguments: [String], environment: [String: String], logDirectory: URL) throws {
        self.name = name
        stdoutURL = logDirectory.appendingPathComponent("\(name).stdout")
        stderrURL = logDirectory.appendingPathComponent("\(name).stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: stdoutURL)
        let err = try FileHandle(forWritingTo: stderrURL)
        defer {
            try? out.close()
            try? err.close()
        }
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var commandLine: String { ([process.executableURL?.lastPathComponent ?? "?"] + (process.arguments ?? [])).joined(separator: " ") }

    var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    var stdoutData: Data { (try? Data(contentsOf: stdoutURL)) ?? Data() }
    var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    /// The exit status, or 128 + the signal number when a signal ended it; nil while running.
    var exitStatus: Int32? {
        guard !process.isRunning else { return nil }
        return process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
    }

    func signal(_ sig: Int32) {
        if process.isRunning { kill(pid, sig) }
    }

    /// Waits for the child to exit; false when it is still running at the deadline.
    func waitForExit(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// SIGKILL and a bounded synchronous wait (teardown path; never leaves a process behind).
    func killNow() {
        guard process.isRunning else { return }
        kill(pid, SIGKILL)
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
    }
}

/// Spawns the real `tokenwatch` executable and `kcat` as child processes over real TCP, and
/// cleans up after them: every child is killed at the end of the test, and when the test failed
/// the children's stderr is printed.
final class Harness {
    let name: String
    let directory: URL
    let tokenwatch: URL
    let kcat: URL
    /// An empty configuration file, so no /etc/tokenwatch/tokenwatch.yaml of the machine leaks in.
    let emptyConfig: URL
    private(set) var children: [Child] = []
    /// The dev broker of this test, once started: every wait fails fast when it is gone.
    private(set) var broker: Child?
    private var sequence = 0
    /// Set by every failed check of the harness; decides whether logs are printed at teardown.
    private(set) var failed = false

    private init(name: String) throws {
        self.name = name
        tokenwatch = try Self.locateTokenwatch()
        kcat = try Self.locateKcat()
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tokenwatch-it-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        emptyConfig = directory.appendingPathComponent("empty.yaml")
        try Data("# integration tests: every key from the environment\n".utf8).write(to: emptyConfig)
    }

    /// Runs `body` with a fresh harness; kills every child afterwards, prints their logs on failure.
    static func run(_ name: String, _ body: (Harness) async throws -> Void) async throws {
        let h = try Harness(name: name)
        defer { h.teardown() }
        do {
            try await body(h)
        } catch {
            h.failed = true
            throw error
        }
    }

    private func teardown() {
        for child in children { child.killNow() }
        // INTEGRATION_TESTS_VERBOSE=1 prints the logs of passing tests too.
        if failed || ProcessInfo.processInfo.environment["INTEGRATION_TESTS_VERBOSE"] != nil {
            var report = "==== \(name): logs of the child processes (kept in \(directory.path)) ====\n"
            // kcat runs that succeeded are many and say nothing useful.
            for child in children where !(child.name.contains("kcat") && child.exitStatus == 0) {
                let lines = child.stderr.split(separator: "\n", omittingEmptySubsequences: false)
                report += "---- \(child.name) [pid \(child.pid), exit \(child.exitStatus.map(String.init) ?? "?")]: \(child.commandLine)\n"
                report += lines.suffix(120).joined(separator: "\n") + "\n"
            }
            print(report)
        }
        if !failed { try? FileManager.default.removeItem(at: directory) }
    }

    // MARK: - Checks that also mark the test failed (so teardown prints the logs)

    func expect(_ condition: Bool, _ comment: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) {
        if !condition {
            failed = true
            Issue.record(Comment(rawValue: comment()), sourceLocation: sourceLocation)
        }
    }

    /// Records every problem in one issue (the first `limit` of them).
    func expectNoProblems(_ problems: [String], _ what: String, limit: Int = 25, sourceLocation: SourceLocation = #_sourceLocation) {
        guard !problems.isEmpty else { return }
        failed = true
        let shown = problems.prefix(limit).joined(separator: "\n  ")
        Issue.record(Comment(rawValue: "\(what): \(problems.count) problem(s):\n  \(shown)"), sourceLocation: sourceLocation)
    }

    func fail(_ message: String) -> HarnessError {
        failed = true
        if let broker, !broker.isRunning {
            // It only stops on a signal: someone else's broad kill, or a crash.
            return HarnessError(message + " (the dev broker is gone: exit \(broker.exitStatus ?? -1))")
        }
        return HarnessError(message)
    }

    // MARK: - Locating the executables

    static func locateTokenwatch() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["TOKENWATCH_TEST_EXECUTABLE"] {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw HarnessError("TOKENWATCH_TEST_EXECUTABLE=\(path) is not an executable file")
            }
            return URL(fileURLWithPath: path)
        }
        var directories = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
                           Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
        if let exe = Bundle.main.executableURL { directories.append(exe.deletingLastPathComponent()) }
        for dir in directories {
            let candidate = dir.appendingPathComponent("tokenwatch")
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
               FileManager.default.isExecutableFile(atPath: candidate.path) {
                return candidate.standardizedFileURL
            }
        }
        throw HarnessError("""
            the `tokenwatch` executable was not found next to the test bundle (looked in \
            \(directories.map(\.path).joined(separator: ", "))); run `swift build --build-tests` first, \
            or set TOKENWATCH_TEST_EXECUTABLE
            """)
    }

    static func locateKcat() throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"] {
            let candidate = URL(fileURLWithPath: dir).appendingPathComponent("kcat")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw HarnessError("`kcat` is not on PATH; the integration tests need it (apt-get install -y kcat)")
    }

    // MARK: - Children

    /// The test process's environment without any TOKENWATCH_* variable, plus `extra`.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TOKENWATCH_") && $0.key != "STATE_DIRECTORY" }
        for (k, v) in extra { env[k] = v }
        return env
    }

    func spawn(_ label: String, _ executable: URL, _ arguments: [String], environment env: [String: String]? = nil) throws -> Child {
        sequence += 1
        let child = try Child(name: (sequence < 10 ? "0" : "") + "\(sequence)-" + label, executable: executable, arguments: arguments,
                              environment: env ?? environment(), logDirectory: directory)
        children.append(child)
        return child
    }

    /// Runs a short-lived command to completion within `timeout`.
    func runTool(_ label: String, _ executable: URL, _ arguments: [String], environment env: [String: String]? = nil,
                 timeout: Duration = .seconds(60)) async throws -> Child {
        let child = try spawn(label, executable, arguments, environment: env)
        guard await child.waitForExit(timeout: timeout) else {
            child.killNow()
            throw fail("`\(child.commandLine)` did not finish within \(timeout)")
        }
        return child
    }

    /// Starts `tokenwatch dev-broker --port 0` and returns it with the bootstrap address from its first stdout line.
    func startBroker(partitions: Int, brokers: Int = 1) async throws -> (broker: Child, bootstrap: String) {
        let broker = try spawn("dev-broker", tokenwatch,
                               ["dev-broker", "--port", "0", "--partitions", "\(partitions)", "--brokers", "\(brokers)",
                                "--config", emptyConfig.path])
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let out = broker.stdout
            if let newline = out.firstIndex(of: "\n") {
                let address = out[..<newline].trimmingCharacters(in: .whitespaces)
                guard address.contains(":"), !address.contains(" ") else {
                    throw fail("dev-broker's first stdout line is not a bootstrap address: \(address)")
                }
                self.broker = broker
                return (broker, address)
            }
            if !broker.isRunning { throw fail("dev-broker exited with \(broker.exitStatus ?? -1) before printing its address") }
            if ContinuousClock.now >= deadline { throw fail("dev-broker printed no address within 30 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Starts `tokenwatch run` against `brokers` with `settings` as TOKENWATCH_* environment variables.
    func startDaemon(brokers: String, stateDirectory: URL, settings: [String: String]) throws -> Child {
        // The mock cluster keeps an emptied group in "joining" for session.timeout.ms - 1 s after the
        // last member leaves (librdkafka 2.0.2 rdkafka_mock_cgrp.c), so a restarted daemon would wait
        // ~44 s for its assignment with the 45 s default. A short session keeps restarts quick.
        // The brute-force oracles expect every team's board: privacy (min_group_size 5 by default) has its own tests.
        var env: [String: String] = ["TOKENWATCH_HTTP_LISTEN": "127.0.0.1:0", "TOKENWATCH_PRIVACY_MIN_GROUP_SIZE": "1",
                                     "TOKENWATCH_KAFKA_LIBRDKAFKA_SESSION_TIMEOUT_MS": "6000"]
        for (k, v) in settings { env[k] = v }
        return try spawn("tokenwatch-run", tokenwatch,
                         ["run", "--config", emptyConfig.path, "--brokers", brokers, "--state-dir", stateDirectory.path],
                         environment: environment(env))
    }

    /// Sends `signal` (SIGTERM unless told), then waits for the exit within `timeout`; returns the exit status.
    func stop(_ child: Child, signal: Int32 = SIGTERM, timeout: Duration = .seconds(30)) async throws -> Int32 {
        child.signal(signal)
        guard await child.waitForExit(timeout: timeout) else {
            child.killNow()
            throw fail("\(child.name) did not exit within \(timeout) of signal \(signal)")
        }
        return child.exitStatus ?? -1
    }

    /// Polls `condition` until it holds; throws at the deadline, or as soon as one of `alive` has exited.
    func waitUntil(_ what: String, timeout: Duration = .seconds(90), every interval: Duration = .milliseconds(500),
                   alive: [Child] = [], _ condition: () async throws -> Bool) async throws {
        let start = ContinuousClock.now
        while true {
            if try await condition() { return }
            for child in alive + (broker.map { [$0] } ?? []) where !child.isRunning {
                throw fail("\(child.name) exited with status \(child.exitStatus ?? -1) while waiting for \(what)")
            }
            if ContinuousClock.now - start >= timeout { throw fail("timed out after \(timeout) waiting for \(what)") }
            try await Task.sleep(for: interval)
        }
    }

    // MARK: - kcat

    /// Produces `records` (key, value) with `kcat -P -K'\t' -l`, optionally into one partition; checks kcat's exit status.
    func produce(brokers: String, topic: String, _ records: [(key: String, value: [UInt8])], partition: Int32? = nil) async throws {
        var file = Data()
        for r in records {
            precondition(!r.key.contains("\t") && !r.key.contains("\n"), "kcat line format: no tab or newline in keys")
            precondition(!r.value.contains(0x0A), "kcat line format: no newline in values")
            file.append(contentsOf: Array(r.key.utf8))
            file.append(0x09)
            file.append(contentsOf: r.value)
            file.append(0x0A)
        }
        sequence += 1
        let path = directory.appendingPathComponent("produce-\(sequence).txt")
        try file.write(to: path)
        var args = ["-b", brokers, "-t", topic, "-K", "\\t", "-P", "-l", path.path]
        if let partition { args += ["-p", "\(partition)"] }
        let kcatRun = try await runTool("kcat-produce", kcat, args)
        if kcatRun.exitStatus != 0 {
            throw fail("kcat -P exited with \(kcatRun.exitStatus ?? -1): \(kcatRun.stderr)")
        }
    }

    /// Reads `topic` from the beginning to its current end with `kcat -C -e`.
    func consume(brokers: String, topic: String) async throws -> [TopicRecord] {
        let run = try await runTool("kcat-consume", kcat,
                                    ["-b", brokers, "-C", "-t", topic, "-e", "-o", "beginning", "-q",
                                     "-f", "%p\\t%o\\t%k\\t%s\\n"])
        guard run.exitStatus == 0 else { throw fail("kcat -C \(topic) exited with \(run.exitStatus ?? -1): \(run.stderr)") }
        var records: [TopicRecord] = []
        for line in run.stdoutData.split(separator: 0x0A, omittingEmptySubsequences: true) {
            let parts = line.split(separator: 0x09, maxSplits: 3, omittingEmptySubsequences: false)
            guard parts.count == 4, let p = Int32(String(decoding: parts[0], as: UTF8.self)),
                  let o = Int64(String(decoding: parts[1], as: UTF8.self)) else {
                throw fail("unexpected kcat output line: \(String(decoding: line, as: UTF8.self))")
            }
            records.append(TopicRecord(partition: p, offset: o, key: String(decoding: parts[2], as: UTF8.self),
                                       value: String(decoding: parts[3], as: UTF8.self)))
        }
        return records.sorted { ($0.partition, $0.offset) < ($1.partition, $1.offset) }
    }
}
