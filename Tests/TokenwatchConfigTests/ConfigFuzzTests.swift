import Foundation
import Testing
import struct TokenwatchCore.SplitMix
@testable import TokenwatchConfig

/// Random damage to a valid configuration: the loader must answer with a value or a
/// `ConfigurationError`, never crash or hang.
@Suite("Configuration fuzzing")
struct ConfigFuzzTests {
    @Test func damagedFilesNeverCrashTheLoader() throws {
        let example = try String(contentsOfFile: URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config/tokenwatch.yaml").path, encoding: .utf8)
        let base = Array(example.utf8)
        let alphabet = Array(" :-#\n\t\"'[]{},*&!|>%@`0123456789abcdefxyz.".utf8)
        var rng = SplitMix(seed: 2026)
        var errors = 0, loaded = 0
        for _ in 0..<1500 {
            var bytes = base
            for _ in 0..<Int(rng.next() % 6 + 1) {
                let i = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 4 {
                case 0: bytes[i] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 1: bytes.remove(at: i)
                case 2: bytes.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: i)
                default:
                    // Duplicate a line somewhere else (duplicate keys, odd indentation).
                    let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
                    let line = lines[Int(rng.next() % UInt64(lines.count))]
                    bytes.insert(contentsOf: Array(line) + [0x0A], at: i)
                }
                if bytes.isEmpty { bytes = [0x20] }
            }
            do {
                _ = try ConfigurationLoader.load(yaml: String(decoding: bytes, as: UTF8.self), source: "fuzz.yaml", environment: [:])
                loaded += 1
            } catch {
                #expect(!error.description.isEmpty)
                errors += 1
            }
        }
        #expect(errors > 0)
        #expect(loaded + errors == 1500)
    }

    @Test func randomEnvironmentValuesNeverCrashTheLoader() {
        var rng = SplitMix(seed: 7)
        let keys = ["TOKENWATCH_ENGINE_ALLOWED_LATENESS", "TOKENWATCH_WINDOWS", "TOKENWATCH_LEADERBOARD_TOP_K",
                    "TOKENWATCH_LEADERBOARD_WEEKLY_CUTOFF", "TOKENWATCH_HTTP_LISTEN", "TOKENWATCH_LEADERBOARD_RANK_BY",
                    "TOKENWATCH_ENGINE_MAX_MESSAGE_BYTES", "TOKENWATCH_SERVICE_ACCOUNTS_PATTERNS"]
        let pieces = ["", "0", "-1", "1h", "7d@1h", "1h@7m", "mon 25:00", "99999999999999999999", "@", ",", "1m,", "127.0.0.1:99999", "tokens", "x"]
        for _ in 0..<2000 {
            let key = keys[Int(rng.next() % UInt64(keys.count))]
            let value = (0..<Int(rng.next() % 3 + 1)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()
            do {
                _ = try ConfigurationLoader.load(yaml: "", source: "empty.yaml", environment: [key: value])
            } catch {
                #expect(error.description.contains(key))
            }
        }
    }
}
