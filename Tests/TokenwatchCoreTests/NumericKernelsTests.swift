import Foundation
import Testing
@testable import TokenwatchCore

/// The byte-level decimal writer and the selection-based median against the string and sorting
/// versions they replaced (kept here as the references).
@Suite struct NumericKernelsTests {
    /// The formatting `JSONWriter.formatDecimal` had: through strings, trailing zeros trimmed.
    static func referenceDecimal(_ v: Double, decimals: Int) -> String {
        guard v.isFinite else { return "0" }
        var scale: Int64 = 1
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (v * Double(scale)).rounded()
        guard abs(scaled) < 9.0e18 else { return String(Int64(v.rounded())) }
        var n = Int64(scaled)
        let negative = n < 0
        if negative { n = -n }
        var whole = String(n / scale)
        var frac = String(n % scale)
        frac = String(repeating: "0", count: decimals - frac.count) + frac
        while frac.last == "0" { frac.removeLast() }
        if negative && (n != 0) { whole = "-" + whole }
        return frac.isEmpty ? whole : whole + "." + frac
    }

    static func referenceMedian(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let v = values.sorted()
        let n = v.count
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
    }

    @Test("decimals: the same text as the string formatting, for edge values and 200k random ones")
    func decimalsMatchTheReference() {
        let edges: [Double] = [0, -0.0, 1, -1, 0.5, 0.05, 0.00005, 0.00004, -0.00004, 0.99995, 9.99999, 1e-9, 123456789.12345,
                               -2.0 / 3.0, 8.9e14, 9.5e14, -9.5e14, .infinity, -.infinity, .nan, 9.1e18]
        var rng = SplitMix(seed: 17)
        var values = edges
        for _ in 0..<200_000 {
            let magnitude = pow(10, Double(rng.below(16)) - 6)
            values.append((rng.unit() * 2 - 1) * magnitude)
        }
        for decimals in [1, 2, 4, 6] {
            for v in values {
                let got = JSONWriter.formatDecimal(v, decimals: decimals), want = Self.referenceDecimal(v, decimals: decimals)
                if got != want {
                    Issue.record("\(v) at \(decimals) decimals: \(got), expected \(want)")
                    return
                }
            }
        }
        // Past Int64 the string version trapped; the writer falls back to Swift's shortest form.
        #expect(JSONWriter.formatDecimal(1e300, decimals: 4) == "1e+300")
        #expect(JSONWriter.formatDecimal(-2.5e19, decimals: 2) == "-2.5e+19")
    }

    @Test("median by selection: the sorted median for random, repeated, sorted, reversed and organ-pipe inputs")
    func medianMatchesSorting() {
        var rng = SplitMix(seed: 5)
        var inputs: [[Double]] = [[], [3], [2, 1], [1, 1, 1, 1], [5, 1, 5, 1, 5]]
        for n in [3, 4, 10, 101, 1_000, 4_096, 50_001] {
            inputs.append((0..<n).map { _ in Double(rng.below(1_000_000)) })
            inputs.append((0..<n).map { _ in Double(rng.below(3)) })
            inputs.append((0..<n).map(Double.init))
            inputs.append((0..<n).reversed().map(Double.init))
            inputs.append((0..<n).map { Double(min($0, n - $0)) })
        }
        for input in inputs {
            var values = input
            let got = PeerReference.median(&values)
            #expect(got == Self.referenceMedian(input), "n=\(input.count)")
            #expect(values.sorted() == input.sorted(), "the values were reordered, not changed")
        }
    }

    @Test("selection puts the k-th smallest at k, smaller before, larger after")
    func selectionPartitions() {
        var rng = SplitMix(seed: 9)
        for n in [1, 2, 7, 64, 999] {
            let input = (0..<n).map { _ in Double(rng.below(50)) }
            let sorted = input.sorted()
            for k in Set([0, n / 3, n / 2, n - 1]) {
                var v = input
                let got = v.withUnsafeMutableBufferPointer { Selection.select(k, in: $0) }
                #expect(got == sorted[k])
                #expect(v[..<k].allSatisfy { $0 <= got } && v[(k + 1)...].allSatisfy { $0 >= got })
            }
        }
    }
}
