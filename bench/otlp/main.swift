// The OTLP input benchmark, compiled into TokenwatchCore's module by bench/otlp.sh (hence no import).
// Batches are built from the SDK-made fixtures, each copy with its own request ids, about 100 KB a
// message like a Collector batch; the native figures run the same events as native JSON messages.
#if canImport(Glibc)
import Glibc
#endif

func load(_ path: String) -> [UInt8] {
    guard let f = fopen(path, "rb") else { fatalError("cannot open \(path)") }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { return out }
        out += buf[0..<n]
    }
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// Drops the whitespace outside strings: the Collector's `otlp_json` is compact, the fixture indented.
func compact(_ json: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var inString = false, escaped = false
    for c in json {
        if inString {
            out.append(c)
            if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
        } else if c == UInt8(ascii: "\"") {
            inString = true
            out.append(c)
        } else if c != 0x20 && c != 0x0A && c != 0x0D && c != 0x09 {
            out.append(c)
        }
    }
    return out
}

/// Overwrites every request id of the fixture with one of the same length unique to `copy`
/// (same length, so protobuf lengths stay valid).
func renumber(_ bytes: [UInt8], copy: Int) -> [UInt8] {
    var out = bytes
    for (k, id) in ["req_alice_1", "req_alice_2", "creq_bob_1", "req_erin_1", "req_anon_1"].enumerated() {
        let old = Array(id.utf8)
        let digits = String(copy * 8 + k)
        let new = Array((String(repeating: "x", count: old.count - digits.count) + digits).utf8)
        var i = 0
        while i + old.count <= out.count {
            if out[i] == old[0] && Array(out[i..<i + old.count]) == old {
                out.replaceSubrange(i..<i + old.count, with: new)
                i += old.count
            } else {
                i += 1
            }
        }
    }
    return out
}

/// `count` messages of about 100 KB; `join` makes one message of copies.
func messages(_ one: [UInt8], count: Int, join: ([[UInt8]]) -> [UInt8]) -> [[UInt8]] {
    let perMessage = 100_000 / one.count + 1
    var copy = 0
    return (0..<count).map { _ in
        join((0..<perMessage).map { _ in copy += 1; return renumber(one, copy: copy) })
    }
}

func joinJSON(_ copies: [[UInt8]]) -> [UInt8] {
    // Each copy is {"resourceLogs":[…]}: keep the array contents and join them.
    let inner = copies.map { c -> [UInt8] in
        let open = c.firstIndex(of: UInt8(ascii: "["))!, close = c.lastIndex(of: UInt8(ascii: "]"))!
        return Array(c[(open + 1)..<close])
    }
    var out = Array(#"{"resourceLogs":["#.utf8)
    for (i, part) in inner.enumerated() {
        if i > 0 { out.append(UInt8(ascii: ",")) }
        out += part
    }
    out += Array("]}".utf8)
    return out
}

func bestOf<T>(_ rounds: Int, _ body: () -> T) -> (seconds: Double, result: T) {
    var best = Double.infinity
    var result: T?
    for _ in 0..<rounds {
        let t = now()
        let r = body()
        best = min(best, now() - t)
        result = r
    }
    return (best, result!)
}

let dir = CommandLine.arguments[1]
let inputs: [(name: String, messages: [[UInt8]])] = [
    ("OTLP protobuf", messages(load(dir + "/people.pb"), count: 200, join: { $0.flatMap { $0 } })),
    ("OTLP/JSON (compact)", messages(compact(load(dir + "/people.json")), count: 200, join: joinJSON)),
]
var config = EngineConfiguration()
config.maxMessageBytes = 1_048_576
var nativeMessages: [[UInt8]] = []
for (name, batch) in inputs {
    let bytes = batch.reduce(0) { $0 + $1.count }
    let decode = bestOf(5) { () -> Int in
        var events = 0
        for m in batch { events += (try? m.withUnsafeBytes { try OTLPLogs.decode($0) })?.events.count ?? 0 }
        return events
    }
    let process = bestOf(3) { () -> Int in
        var engine = Engine(configuration: config)
        var counted = 0
        for (offset, m) in batch.enumerated() {
            counted += m.withUnsafeBytes { engine.processOTLP($0, partition: 0, offset: Int64(offset)) }.counted
        }
        return counted
    }
    print("\(name): \(batch.count) messages of \(bytes / batch.count) B, \(decode.result) events")
    print("  decode + map:          \(Int(Double(decode.result) / decode.seconds)) events/s (\(Int(Double(bytes) / decode.seconds / 1e6)) MB/s)")
    print("  Engine.processOTLP:    \(Int(Double(decode.result) / process.seconds)) events/s (\(process.result) counted)")
    if nativeMessages.isEmpty {
        for m in batch { nativeMessages += (try! m.withUnsafeBytes { try OTLPLogs.decode($0) }).events.map { $0.json() } }
    }
}
let native = bestOf(3) { () -> Int in
    var engine = Engine(configuration: config)
    var counted = 0
    for (offset, m) in nativeMessages.enumerated() {
        if case .counted = m.withUnsafeBytes({ engine.process($0, partition: 0, offset: Int64(offset)) }) { counted += 1 }
    }
    return counted
}
print("native event, the same events one per message: Engine.process \(Int(Double(nativeMessages.count) / native.seconds)) events/s (\(native.result) counted)")
