import Foundation
import Logging
import Synchronization
import Testing
import TokenwatchService

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    /// Collects what the handler writes.
    final class Lines: Sendable {
        let all = Mutex<[String]>([])
        func append(_ bytes: [UInt8]) { all.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } }
    }

    @Test func oneObjectPerLineWithMetadataKeptInShape() throws {
        let lines = Lines()
        var logger = Logger(label: "tokenwatch.test") { label in
            JSONLogHandler(label: label, clock: { 1_795_555_200_123 }, write: lines.append)
        }
        logger[metadataKey: "partition"] = "3"
        logger.warning("a \"quoted\"\nmessage", metadata: ["offsets": .array(["1", "2"]), "broker": .dictionary(["id": "1"])])
        logger.debug("below the level")

        let written = lines.all.withLock { $0 }
        #expect(written.count == 1)
        let line = try #require(written.first)
        #expect(line.hasSuffix("\n") && !line.dropLast().contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["time"] as? String == "2026-11-24T21:20:00.123Z")
        #expect(object["level"] as? String == "warning")
        #expect(object["logger"] as? String == "tokenwatch.test")
        #expect(object["message"] as? String == "a \"quoted\"\nmessage")
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["partition"] as? String == "3")
        #expect(metadata["offsets"] as? [String] == ["1", "2"])
        #expect((metadata["broker"] as? [String: String]) == ["id": "1"])
    }
}
