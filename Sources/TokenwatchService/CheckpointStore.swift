import Foundation
import TokenwatchConfig
import TokenwatchCore

/// What a checkpoint belongs to: restoring it anywhere else would publish another deployment's numbers.
public struct StateIdentity: Sendable, Equatable {
    public var clusterId: String
    public var groupId: String
    /// The input topics, their formats and partition counts, which fix the engine's partition ids.
    public var inputs: InputTopics

    /// The one native input topic, or the inputs' names joined with `+` (see `fields`).
    public var inputTopic: String { inputs.isSingleNative ? inputs.inputs[0].topic : inputs.topics.joined(separator: "+") }
    /// Every engine partition, over all inputs.
    public var partitions: Int { inputs.totalPartitions }

    public init(clusterId: String, groupId: String, inputs: InputTopics) {
        self.clusterId = clusterId
        self.groupId = groupId
        self.inputs = inputs
    }

    /// One native input, as before `inputs:` existed.
    public init(clusterId: String, groupId: String, inputTopic: String, partitions: Int) {
        self.init(clusterId: clusterId, groupId: groupId, inputs: InputTopics([InputSettings(topic: inputTopic)], counts: [partitions]))
    }

    /// The header lines. One native input writes exactly the lines it always did; other shapes add
    /// `inputs=`, and their `input_topic` (the names joined with `+`) is no topic an older daemon reads,
    /// so an older daemon refuses the file rather than restoring it onto other partitions.
    var fields: [(String, String)] {
        var lines = [("cluster_id", clusterId), ("group_id", groupId), ("input_topic", inputTopic), ("partitions", String(partitions))]
        if !inputs.isSingleNative { lines.append(("inputs", inputs.headerText)) }
        return lines
    }
}

/// A checkpoint file as read back: whose it is, and the engine's bytes (which carry their own checksum).
public struct StampedCheckpoint: Sendable {
    public var identity: StateIdentity
    public var engineBytes: [UInt8]
}

/// Why the checkpoint file could not even be read as one (the engine bytes are checked by the engine).
public struct CheckpointFileError: Error, CustomStringConvertible {
    public var description: String
}

/// The stamped file format: a short text header (`TWSTATE 1`, `key=value` lines for the identity and
/// the engine byte count, a CRC-32 of those lines), a blank line, then the engine checkpoint.
enum CheckpointFile {
    static let magic = "TWSTATE 1"

    static func encode(_ identity: StateIdentity, engineBytes: [UInt8]) -> [UInt8] {
        var header = magic + "\n"
        for (k, v) in identity.fields + [("engine_bytes", String(engineBytes.count))] {
            header += k + "=" + v.replacingOccurrences(of: "\n", with: " ") + "\n"
        }
        let crc = Array(header.utf8).withUnsafeBytes { KeyPartitioner.crc32($0) }
        header += "header_crc32=" + String(crc, radix: 16) + "\n\n"
        return Array(header.utf8) + engineBytes
    }

    static func decode(_ bytes: [UInt8]) throws(CheckpointFileError) -> StampedCheckpoint {
        guard !bytes.isEmpty else { throw CheckpointFileError(description: "the file is empty") }
        // The header is small; a missing blank line within 64 KiB means this is not our file.
        let limit = min(bytes.count, 65_536)
        var end: Int?
        for i in 1..<limit where bytes[i] == 10 && bytes[i - 1] == 10 { end = i + 1; break }
        guard let end, bytes.starts(with: Array((magic + "\n").utf8)) else {
            if bytes.starts(with: Array("TWCK".utf8)) {
                throw CheckpointFileError(description: "an older unstamped checkpoint (no cluster, group or topic recorded)")
            }
            throw CheckpointFileError(description: "not a tokenwatch state file (no TWSTATE header)")
        }
        let header = String(decoding: bytes[0..<(end - 1)], as: UTF8.self)
        var lines = header.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        guard let crcLine = lines.popLast(), crcLine.hasPrefix("header_crc32="),
              let crc = UInt32(crcLine.dropFirst("header_crc32=".count), radix: 16) else {
            throw CheckpointFileError(description: "the header has no checksum")
        }
        let signed = Array((lines.joined(separator: "\n") + "\n").utf8)
        guard signed.withUnsafeBytes({ KeyPartitioner.crc32($0) }) == crc else {
            throw CheckpointFileError(description: "the header checksum does not match (damaged file)")
        }
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let eq = line.firstIndex(of: "=") else { throw CheckpointFileError(description: "a malformed header line") }
            fields[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        guard let cluster = fields["cluster_id"], let group = fields["group_id"], let topic = fields["input_topic"],
              let partitions = fields["partitions"].flatMap({ Int($0) }), let count = fields["engine_bytes"].flatMap({ Int($0) }) else {
            throw CheckpointFileError(description: "the header lacks a field")
        }
        guard count == bytes.count - end else {
            throw CheckpointFileError(description: "truncated: the header announces \(count) engine bytes, the file has \(bytes.count - end)")
        }
        var identity = StateIdentity(clusterId: cluster, groupId: group, inputTopic: topic, partitions: partitions)
        if let text = fields["inputs"] {
            guard let inputs = InputTopics(headerText: text) else {
                throw CheckpointFileError(description: "the header's inputs line is malformed")
            }
            identity.inputs = inputs
        }
        return StampedCheckpoint(identity: identity, engineBytes: Array(bytes[end...]))
    }
}

/// Reads and atomically writes the engine checkpoint in the state directory.
public struct CheckpointStore: Sendable {
    public let directory: String
    public var path: String { directory + "/engine.checkpoint" }

    public init(directory: String) { self.directory = directory }

    /// The last checkpoint, or nil when there is none.
    public func load() throws -> [UInt8]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Writes the engine checkpoint stamped with what it belongs to.
    public func save(_ engineBytes: [UInt8], identity: StateIdentity) throws {
        try save(CheckpointFile.encode(identity, engineBytes: engineBytes))
    }

    /// Writes to a temporary file, fsyncs it, then renames it over the old one, so a crash at
    /// any moment leaves either the old or the new checkpoint, never a torn one.
    public func save(_ bytes: [UInt8]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw CheckpointStoreError(path: tmp, errno: errno) }
        var written = 0
        let ok: Bool = bytes.withUnsafeBytes { buf in
            while written < buf.count {
                let n = write(fd, buf.baseAddress! + written, buf.count - written)
                if n <= 0 { return false }
                written += n
            }
            return fsync(fd) == 0
        }
        let saved = errno
        close(fd)
        guard ok else { throw CheckpointStoreError(path: tmp, errno: saved) }
        guard rename(tmp, path) == 0 else { throw CheckpointStoreError(path: path, errno: errno) }
        let dfd = open(directory, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}

/// A checkpoint file could not be written or read.
public struct CheckpointStoreError: Error, CustomStringConvertible {
    public var path: String
    public var errno: Int32
    public var description: String { "\(path): \(String(cString: strerror(errno)))" }
}
