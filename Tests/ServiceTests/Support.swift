import Foundation
import Logging
import Testing
#if canImport(Glibc)
import Glibc
#endif

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A logger that drops everything (no global bootstrap in tests).
let quietLogger = Logger(label: "service-tests") { _ in SwiftLogNoOpLogHandler() }

/// Polls `condition` every 20 ms until it holds; false at the deadline.
func eventually(timeout: Duration, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try condition()
}

/// Same, without suspending (for code that runs on a plain thread).
func eventuallyBlocking(timeout: Duration, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// A fresh directory under /tmp (short, so a Unix socket path in it stays under 108 bytes).
func scratchDirectory(_ name: String) throws -> URL {
    let url = URL(fileURLWithPath: "/tmp/twst-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

// MARK: - Child processes

/// The built `tokenwatch` executable, next to the test bundle (.build/<triple>/debug/tokenwatch).
func tokenwatchExecutable() throws -> URL {
    var candidates: [URL] = []
    let argv0 = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    candidates.append(argv0.deletingLastPathComponent().appendingPathComponent("tokenwatch"))
    // Inside an .xctest bundle directory (Darwin layout).
    candidates.append(argv0.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("tokenwatch"))
    candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("tokenwatch"))
    for url in candidates where FileManager.default.isExecutableFile(atPath: url.path) { return url }
    throw TestFailure("tokenwatch executable not found next to the test bundle (looked at \(candidates.map(\.path))); run `swift build --build-tests` first")
}

/// The environment for children: ours without any TOKENWATCH_ or systemd variables, plus `extra`.
func childEnvironment(_ extra: [String: String]) -> [String: String] {
    var env = ProcessInfo.processInfo.environment.filter {
        !$0.key.hasPrefix("TOKENWATCH_") && !["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "STATE_DIRECTORY"].contains($0.key)
    }
    for (k, v) in extra { env[k] = v }
    return env
}

/// A child process with stdout and stderr in files; killed (SIGKILL) by `killNow()` in teardown.
final class Child {
    let name: String
    let process = Process()
    let stdoutURL: URL
    let stderrURL: URL

    init(name: String, arguments: [String], environment: [String: String], directory: URL) throws {
        self.name = name
        stdoutURL = directory.appendingPathComponent("\(name).stdout")
        stderrURL = directory.appendingPathComponent("\(name).stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: stdoutURL)
        let err = try FileHandle(forWritingTo: stderrURL)
        defer {
            try? out.close()
            try? err.close()
        }
        process.executableURL = try tokenwatchExecutable()
        process.arguments = arguments
        process.environment = childEnvironment(environment)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    func signal(_ sig: Int32) {
        if process.isRunning { kill(pid, sig) }
    }

    /// The exit status once exited (128 + signal when a signal ended it); nil while running at the deadline.
    func waitForExit(timeout: Duration) async -> Int32? {
        _ = await eventually(timeout: timeout) { !process.isRunning }
        guard !process.isRunning else { return nil }
        return process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
    }

    func killNow() {
        guard process.isRunning else { return }
        kill(pid, SIGKILL)
        _ = eventuallyBlocking(timeout: .seconds(10)) { !process.isRunning }
    }
}

/// Children of one test: a dev broker and daemons. `teardown()` kills whatever still runs (and prints
/// their stderr tails when SERVICE_TESTS_VERBOSE is set); failing checks quote the relevant log.
final class Processes {
    let directory: URL
    private(set) var children: [Child] = []

    init(_ name: String) throws { directory = try scratchDirectory(name) }

    func spawn(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Child {
        let child = try Child(name: name, arguments: arguments, environment: environment, directory: directory)
        children.append(child)
        return child
    }

    /// Starts `tokenwatch dev-broker --port 0` and returns it with its bootstrap address (first stdout line).
    func devBroker(partitions: Int = 1) async throws -> (Child, String) {
        let empty = directory.appendingPathComponent("broker.yaml")
        try Data("# dev broker: defaults\n".utf8).write(to: empty)
        let broker = try spawn("dev-broker", ["dev-broker", "--port", "0", "--partitions", "\(partitions)", "--config", empty.path])
        var bootstrap = ""
        let up = await eventually(timeout: .seconds(30)) {
            guard let line = broker.stdout.split(separator: "\n").first, line.contains(":") else { return false }
            bootstrap = String(line)
            return true
        }
        guard up else { throw TestFailure("dev broker printed no address; stderr:\n\(broker.stderr)") }
        return (broker, bootstrap)
    }

    func teardown() {
        for child in children { child.killNow() }
        if ProcessInfo.processInfo.environment["SERVICE_TESTS_VERBOSE"] != nil {
            for child in children {
                print("---- \(child.name) stderr (tail) ----\n\(child.stderr.split(separator: "\n").suffix(60).joined(separator: "\n"))")
            }
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// The HTTP address a daemon logged (`http listening address=127.0.0.1:PORT`).
func httpAddress(of daemon: Child, timeout: Duration = .seconds(30)) async throws -> (host: String, port: Int) {
    var found: (String, Int)?
    _ = await eventually(timeout: timeout) {
        for line in daemon.stderr.split(separator: "\n") where line.contains("http listening") {
            guard let range = line.range(of: "address=") else { continue }
            let address = line[range.upperBound...].prefix { !$0.isWhitespace }
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else { continue }
            found = (String(address[..<colon]), port)
            return true
        }
        return false
    }
    guard let found else { throw TestFailure("daemon logged no http address; stderr:\n\(daemon.stderr.suffix(3000))") }
    return found
}

// MARK: - A raw HTTP/1.1 client over a loopback socket

struct HTTPResult {
    var status: Int
    var headers: [String: String]
    var body: String
}

/// Sends `request` bytes as they are and reads until the server closes; nil when it cannot connect.
func rawHTTP(port: Int, _ request: [UInt8], timeout: Duration = .seconds(10)) -> HTTPResult? {
    guard let fd = connectLoopback(port: port) else { return nil }
    defer { close(fd) }
    var tv = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    if !request.isEmpty {
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
    var data: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        data.append(contentsOf: buffer[0..<n])
    }
    return parseResponse(data)
}

func parseResponse(_ data: [UInt8]) -> HTTPResult? {
    let text = String(decoding: data, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { return nil }
    let head = text[..<split.lowerBound].components(separatedBy: "\r\n")
    let parts = head[0].split(separator: " ")
    guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
    var headers: [String: String] = [:]
    for line in head.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return HTTPResult(status: status, headers: headers, body: String(text[split.upperBound...]))
}

func get(port: Int, _ path: String, token: String? = nil, method: String = "GET") -> HTTPResult? {
    var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if let token { request += "Authorization: Bearer \(token)\r\n" }
    request += "\r\n"
    return rawHTTP(port: port, Array(request.utf8))
}

// MARK: - Prometheus text format 0.0.4, strictly

struct PrometheusSample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double
}

/// Parses the exposition text; every line must be a comment (`# HELP`/`# TYPE`/other `#`) or
/// `name{labels} value`; throws naming the first line that is neither.
func parsePrometheus(_ text: String) throws -> [PrometheusSample] {
    var samples: [PrometheusSample] = []
    var types: [String: String] = [:]
    for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        if line.isEmpty { continue }
        if line.hasPrefix("#") {
            let words = line.split(separator: " ", maxSplits: 3)
            if words.count >= 2 && (words[1] == "HELP" || words[1] == "TYPE") {
                guard words.count >= 3, isMetricName(words[2]) else { throw TestFailure("line \(number + 1): bad \(words[1]): \(line)") }
                if words[1] == "TYPE" {
                    guard words.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(words[3]) else {
                        throw TestFailure("line \(number + 1): bad TYPE: \(line)")
                    }
                    guard types[String(words[2])] == nil else { throw TestFailure("line \(number + 1): second TYPE for \(words[2])") }
                    types[String(words[2])] = String(words[3])
                }
            }
            continue
        }
        var rest = Substring(line)
        let name = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }
        guard isMetricName(name) else { throw TestFailure("line \(number + 1): bad metric name: \(line)") }
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                let labelName = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                guard !labelName.isEmpty, labelName.first!.isLetter || labelName.first == "_" else {
                    throw TestFailure("line \(number + 1): bad label name: \(line)")
                }
                rest = rest.dropFirst(labelName.count)
                guard rest.hasPrefix("=\"") else { throw TestFailure("line \(number + 1): expected =\" after label: \(line)") }
                rest = rest.dropFirst(2)
                var value = ""
                while true {
                    guard let c = rest.first else { throw TestFailure("line \(number + 1): unterminated label value: \(line)") }
                    rest = rest.dropFirst()
                    if c == "\"" { break }
                    if c == "\\" {
                        guard let e = rest.first else { throw TestFailure("line \(number + 1): bad escape: \(line)") }
                        rest = rest.dropFirst()
                        switch e {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw TestFailure("line \(number + 1): bad escape \\\(e): \(line)")
                        }
                    } else {
                        value.append(c)
                    }
                }
                labels[String(labelName)] = value
                if rest.first == "," { rest = rest.dropFirst() }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { throw TestFailure("line \(number + 1): expected a space before the value: \(line)") }
        let fields = rest.dropFirst().split(separator: " ")
        guard (1...2).contains(fields.count), let value = prometheusNumber(fields[0]) else {
            throw TestFailure("line \(number + 1): bad value: \(line)")
        }
        if fields.count == 2 && Int64(fields[1]) == nil { throw TestFailure("line \(number + 1): bad timestamp: \(line)") }
        samples.append(PrometheusSample(name: String(name), labels: labels, value: value))
    }
    return samples
}

private func isMetricName(_ s: Substring) -> Bool {
    guard let first = s.first, first.isLetter || first == "_" || first == ":" else { return false }
    return s.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "_" || $0 == ":" }
}

private func prometheusNumber(_ s: Substring) -> Double? {
    switch s {
    case "+Inf": return .infinity
    case "-Inf": return -.infinity
    case "NaN": return .nan
    default: return Double(s)
    }
}

extension Array where Element == PrometheusSample {
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        first { $0.name == name && $0.labels == labels }?.value
    }
}

// MARK: - sd_notify receiver

/// A bound AF_UNIX datagram socket standing in for systemd's notification socket.
final class NotifySocket {
    let path: String
    private let fd: Int32

    /// `abstract`: bind in the abstract namespace; `path` is then `@name`.
    init(directory: URL, abstract: Bool = false) throws {
        let name = abstract ? "@twst-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" : directory.appendingPathComponent("notify.sock").path
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let offset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        let length = socklen_t(offset + bytes.count + (abstract ? 0 : 1))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            close(fd)
            throw TestFailure("bind \(name): errno \(errno)")
        }
        var tv = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        self.fd = fd
        path = name
    }

    deinit { close(fd) }

    /// One datagram, or nil when none arrived within 100 ms.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4_096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }
}
