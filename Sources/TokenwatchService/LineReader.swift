import Foundation

/// Reads newline-separated records from a file (or from `gzip -dc` for `.gz`) in large chunks,
/// handing each line to the caller as a borrowed buffer: no per-line allocation.
public final class LineReader {
    private let fd: Int32
    private let process: Process?
    private let path: String
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var eof = false
    /// Bytes read from the source so far (compressed input counts decompressed bytes).
    public private(set) var bytesRead: Int64 = 0

    public init(path: String, chunkSize: Int = 4 << 20) throws {
        buffer = Array(repeating: 0, count: chunkSize)
        self.path = path
        if path.hasSuffix(".gz") {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/gzip")
            p.arguments = ["-dc", path]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            process = p
            fd = pipe.fileHandleForReading.fileDescriptor
            // Keep the pipe alive as long as we read from it.
            pipeHandle = pipe
        } else {
            let f = open(path, O_RDONLY)
            guard f >= 0 else { throw LineReaderError(path: path, message: String(cString: strerror(errno))) }
            fd = f
            process = nil
        }
    }

    private var pipeHandle: Pipe?

    deinit {
        if process == nil { close(fd) } else { process?.terminate() }
    }

    /// Calls `body` with the next line (without its newline); false at the end of input.
    public func next(_ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
        while true {
            let found: Int? = buffer.withUnsafeBytes { b in
                guard end > start, let base = b.baseAddress else { return nil }
                guard let hit = memchr(base + start, 0x0A, end - start) else { return nil }
                return base.distance(to: UnsafeRawPointer(hit))
            }
            if let nl = found {
                let s = start
                start = nl + 1
                try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[s..<nl])) }
                return true
            }
            if eof {
                guard end > start else { return false }
                let s = start
                start = end
                try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[s..<end])) }
                return true
            }
            // Move the partial line to the front (growing for lines longer than the buffer), then read more.
            if start > 0 {
                buffer.withUnsafeMutableBytes { b in
                    if end > start { memmove(b.baseAddress!, b.baseAddress! + start, end - start) }
                }
                end -= start
                start = 0
            }
            if end == buffer.count { buffer.append(contentsOf: repeatElement(0, count: buffer.count)) }
            let n = buffer.withUnsafeMutableBytes { b in read(fd, b.baseAddress! + end, b.count - end) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw LineReaderError(path: "input", message: String(cString: strerror(errno))) }
            if n == 0 {
                eof = true
                if let process {
                    // A truncated or corrupt .gz must not look like the end of the input.
                    process.waitUntilExit()
                    if process.terminationStatus != 0 {
                        throw LineReaderError(path: path, message: "gzip -dc exited with \(process.terminationStatus): the file is truncated or not gzip")
                    }
                }
            } else { end += n; bytesRead += Int64(n) }
        }
    }
}

/// The input could not be read.
public struct LineReaderError: Error, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "\(path): \(message)" }
}
