import Testing
@testable import TokenwatchCore

@Suite("EventDecoder")
struct EventDecoderTests {
    func decode(_ json: String, maxBytes: Int = 1_048_576) -> Result<(DecodedEvent, EventDecoder), DeadLetterReason> {
        var decoder = EventDecoder(maxMessageBytes: maxBytes)
        var bytes = Array(json.utf8)
        return bytes.withUnsafeMutableBytes { buf in
            do throws(DeadLetterReason) {
                let e = try decoder.decode(UnsafeRawBufferPointer(buf))
                return .success((e, decoder))
            } catch {
                return .failure(error)
            }
        }
    }

    func reason(_ json: String, maxBytes: Int = 1_048_576) -> String? {
        if case .failure(let r) = decode(json, maxBytes: maxBytes) { return r.description }
        return nil
    }

    let valid = #"{"event_id":"e1","ts":1795555200000,"user_id":"alice","input_tokens":10,"output_tokens":5}"#

    @Test func decodesAFullEvent() throws {
        let json = #"""
        {"event_id":"e-1","ts":"2026-11-24T10:00:00.250Z","user_id":"al\u00efce","team":"payments","tool":"ide-chat",
         "model":"m","kind":"chat","source":"interactive","session_id":"s","prompt_hash":"h","input_tokens":100,
         "output_tokens":20,"cache_read_tokens":7,"outcome":{"accepted":true,"lines_added":3,"lines_removed":1,"commits":1,"prs":0,"extra":[1,{"a":null}]},
         "unknown":{"nested":[true,false,"x\"y"]}}
        """#
        let (e, d) = try decode(json).get()
        #expect(d.string(e.eventId) == "e-1")
        #expect(d.string(e.userId) == "alïce")
        #expect(d.string(e.team) == "payments")
        #expect(d.string(e.source) == "interactive")
        #expect(e.ts == RFC3339.parse(Array("2026-11-24T10:00:00.250Z".utf8)))
        #expect(e.ts == 1_795_514_400_250)
        #expect(e.tokens == 120)
        #expect(e.cacheReadTokens == 7)
        #expect(e.accepted == true)
        #expect(e.linesAdded == 3 && e.linesRemoved == 1 && e.commits == 1 && e.prs == 0)
    }

    @Test func optionalFieldsDefault() throws {
        let (e, d) = try decode(valid).get()
        #expect(!e.team.isPresent)
        #expect(e.cacheReadTokens == 0)
        #expect(e.accepted == nil)
        #expect(d.string(e.userId) == "alice")
    }

    @Test(arguments: [
        ("", "invalid_json"),
        ("not json", "invalid_json"),
        ("[1,2]", "not_an_object"),
        ("\"str\"", "not_an_object"),
        ("42", "not_an_object"),
        (#"{"event_id":"e1","ts":1,"user_id":"a","input_tokens":1,"output_tokens":1"#, "invalid_json"),
        (#"{"event_id":"e1","ts":1,"user_id":"a","input_tokens":1,"output_tokens":1} x"#, "invalid_json"),
        (#"{"ts":1,"user_id":"a","input_tokens":1,"output_tokens":1}"#, "missing_field:event_id"),
        (#"{"event_id":"e1","user_id":"a","input_tokens":1,"output_tokens":1}"#, "missing_field:ts"),
        (#"{"event_id":"e1","ts":1,"input_tokens":1,"output_tokens":1}"#, "missing_field:user_id"),
        (#"{"event_id":"e1","ts":1,"user_id":null,"input_tokens":1,"output_tokens":1}"#, "missing_field:user_id"),
        (#"{"event_id":"e1","ts":1,"user_id":"a","output_tokens":1}"#, "missing_field:input_tokens"),
        (#"{"event_id":"e1","ts":1,"user_id":"a","input_tokens":1}"#, "missing_field:output_tokens"),
        (#"{"event_id":7,"ts":1,"user_id":"a","input_tokens":1,"output_tokens":1}"#, "wrong_type:event_id"),
        (#"{"event_id":"e1","ts":true,"user_id":"a","input_tokens":1,"output_tokens":1}"#, "wrong_type:ts"),
        (#"{"event_id":"e1","ts":1,"user_id":"a","input_tokens":"1","output_tokens":1}"#, "wrong_type:input_tokens"),
        (#"{"event_id":"e1","ts":1,"user_id":"a","input_tokens":-1,"output_tokens":1}"#, "out_of_range:input_tokens"),
        (#"{"event_id":"e1","ts":1,"user_id":"a","input_tokens":1.5,"output_tokens":1}"#, "not_integer:input_tokens"),
        (#"{"event_id":"e1","ts":1,"user_id":"a","input_tokens":1e3,"output_tokens":1}"#, "not_integer:input_tokens"),
        (#"{"event_id":"e1","ts":1,"user_id":"a","input_tokens":1000000001,"output_tokens":1}"#, "out_of_range:input_tokens"),
        (#"{"event_id":"e1","ts":1,"user_id":"a","input_tokens":1,"output_tokens":99999999999999999999999}"#, "out_of_range:output_tokens"),
        (#"{"event_id":"e1","ts":1,"user_id":"a","input_tokens":1,"output_tokens":1,"cache_read_tokens":-5}"#, "out_of_range:cache_read_tokens"),
        (#"{"event_id":"e1","ts":1,"user_id":"","input_tokens":1,"output_tokens":1}"#, "empty:user_id"),
        (#"{"event_id":"e1","ts":"yesterday","user_id":"a","input_tokens":1,"output_tokens":1}"#, "invalid_timestamp"),
        (#"{"event_id":"e1","ts":"2026-02-30T00:00:00Z","user_id":"a","input_tokens":1,"output_tokens":1}"#, "invalid_timestamp"),
        (#"{"event_id":"e1","ts":-5,"user_id":"a","input_tokens":1,"output_tokens":1}"#, "out_of_range:ts"),
        (#"{"event_id":"e1","event_id":"e2","ts":1,"user_id":"a","input_tokens":1,"output_tokens":1}"#, "duplicate_field:event_id"),
        (#"{"event_id":"e1","ts":1,"user_id":"a","input_tokens":1,"output_tokens":1,"outcome":5}"#, "wrong_type:outcome"),
        (#"{"event_id":"e1","ts":1,"user_id":"a","input_tokens":1,"output_tokens":1,"outcome":{"accepted":"yes"}}"#, "wrong_type:outcome.accepted"),
        (#"{"event_id":"e1","ts":1,"user_id":"a","input_tokens":1,"output_tokens":1,"outcome":{"commits":-1}}"#, "out_of_range:outcome.commits"),
        (#"{"event_id":"e1","ts":1,"user_id":"a","input_tokens":01,"output_tokens":1}"#, "invalid_json"),
        (#"{"event_id":"e\x","ts":1,"user_id":"a","input_tokens":1,"output_tokens":1}"#, "invalid_json"),
        (#"{"event_id":"\ud800","ts":1,"user_id":"a","input_tokens":1,"output_tokens":1}"#, "invalid_utf8"),
    ])
    func rejects(json: String, expected: String) {
        #expect(reason(json) == expected)
    }

    @Test func rejectsInvalidUTF8AndControlBytes() {
        var bytes = Array(#"{"event_id":"e1","ts":1,"user_id":"a"#.utf8)
        bytes.append(0xC3)  // truncated two-byte sequence
        bytes.append(contentsOf: Array(#"","input_tokens":1,"output_tokens":1}"#.utf8))
        var decoder = EventDecoder()
        let r: DeadLetterReason? = bytes.withUnsafeBytes { buf in
            do throws(DeadLetterReason) { _ = try decoder.decode(buf); return nil } catch { return error }
        }
        #expect(r == .invalidUTF8)
        #expect(reason("{\"event_id\":\"e\u{01}\",\"ts\":1,\"user_id\":\"a\",\"input_tokens\":1,\"output_tokens\":1}") == "invalid_json")
    }

    /// The decoder skips plain ASCII eight bytes at a time: a byte that needs attention at any offset of
    /// a word (an escape, a multi-byte or invalid UTF-8 sequence, a control byte) is still seen.
    @Test func specialBytesAtEveryOffsetOfAWord() {
        func user(_ inner: [UInt8]) -> [UInt8] {
            Array(#"{"event_id":"e1","ts":1,"user_id":""#.utf8) + inner + Array(#"","input_tokens":1,"output_tokens":1}"#.utf8)
        }
        func decoded(_ bytes: [UInt8]) -> Result<String, DeadLetterReason> {
            var decoder = EventDecoder()
            return bytes.withUnsafeBytes { buf in
                do throws(DeadLetterReason) {
                    let e = try decoder.decode(buf)
                    return .success(decoder.string(e.userId) ?? "<none>")
                } catch { return .failure(error) }
            }
        }
        for offset in 0..<20 {
            let before = Array(repeating: UInt8(ascii: "a"), count: offset), after = Array("bcdefghijk".utf8)
            let plain = String(decoding: before, as: UTF8.self), tail = "bcdefghijk"
            #expect(decoded(user(before + Array(#"\""#.utf8) + after)) == .success(plain + "\"" + tail))
            #expect(decoded(user(before + Array(#"\n"#.utf8) + after)) == .success(plain + "\n" + tail))
            #expect(decoded(user(before + Array("é".utf8) + after)) == .success(plain + "é" + tail))
            #expect(decoded(user(before + [0x7F] + after)) == .success(plain + "\u{7F}" + tail))
            #expect(decoded(user(before + [0x01] + after)) == .failure(.invalidJSON))
            #expect(decoded(user(before + [0xC3] + after)) == .failure(.invalidUTF8))
            #expect(decoded(user(before + [0xFF] + after)) == .failure(.invalidUTF8))
        }
    }

    @Test func boundsStrings() {
        let longId = String(repeating: "x", count: 129)
        #expect(reason(#"{"event_id":"\#(longId)","ts":1,"user_id":"a","input_tokens":1,"output_tokens":1}"#) == "too_long:event_id")
        let okId = String(repeating: "x", count: 128)
        #expect(reason(#"{"event_id":"\#(okId)","ts":1,"user_id":"a","input_tokens":1,"output_tokens":1}"#) == nil)
        let longUser = String(repeating: "u", count: 257)
        #expect(reason(#"{"event_id":"e","ts":1,"user_id":"\#(longUser)","input_tokens":1,"output_tokens":1}"#) == "too_long:user_id")
    }

    @Test func rejectsOversizedMessages() {
        #expect(reason(valid, maxBytes: 20) == "message_too_large")
        #expect(reason(valid, maxBytes: valid.utf8.count) == nil)
    }

    @Test func rejectsDeepNestingWithoutCrashing() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(reason(#"{"x":\#(deep),"event_id":"e","ts":1,"user_id":"a","input_tokens":1,"output_tokens":1}"#) == "invalid_json")
    }

    @Test func randomBytesNeverCrash() {
        var rng = SplitMix64(seed: 42)
        let base = Array(valid.utf8)
        var decoder = EventDecoder()
        for _ in 0..<20_000 {
            var bytes = base
            for _ in 0..<Int(rng.next() % 4 + 1) {
                let i = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes[i] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes.remove(at: i)
                default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: i)
                }
                if bytes.isEmpty { bytes = [0] }
            }
            _ = bytes.withUnsafeBytes { buf in try? decoder.decode(buf) }
        }
    }

    @Test func rfc3339() {
        #expect(RFC3339.parse(Array("1970-01-01T00:00:00Z".utf8)) == 0)
        #expect(RFC3339.parse(Array("2026-11-24T22:32:50+01:00".utf8)) == RFC3339.parse(Array("2026-11-24T21:32:50Z".utf8)))
        #expect(RFC3339.parse(Array("2024-02-29T12:00:00.5Z".utf8))! % 1000 == 500)
        #expect(RFC3339.parse(Array("2023-02-29T12:00:00Z".utf8)) == nil)
        #expect(RFC3339.parse(Array("2026-11-24T22:32:50".utf8)) == nil)
        #expect(RFC3339.format(1_795_514_400_250) == "2026-11-24T10:00:00.250Z")
    }
}

typealias SplitMix64 = SplitMix
