import Testing
@testable import TokenwatchCore

/// `mandate_minimum`'s organisation-level check: many users bunched just above the activity minimum.
@Suite("Rules: bunching just above the mandate's minimum")
struct MandateBunchingTests {
    /// The rule with the relative (median) check off, so only the fixed minimum and bunching count.
    static let rule: MandateMinimumRule = {
        var p = RuleParameters.defaults(.mandateMinimum)
        p.thresholds["relative_share"] = 0
        return MandateMinimumRule(p)
    }()

    /// A week's reference over `weeks` (requests, tokens), split over two shards' samples.
    static func reference(_ weeks: [(Int64, Int64)]) -> PeerReference {
        var a = PeerSample(), b = PeerSample()
        for (i, w) in weeks.enumerated() {
            let m = PeerSample.WeekMember(events: w.0, tokens: w.1)
            if i % 2 == 0 { a.week.append(m) } else { b.week.append(m) }
        }
        return PeerReference(samples: [a, b])
    }

    /// 30 ordinary weeks, `justAbove` weeks of 6 requests (4k tokens), `nextBand` weeks of 30 requests (40k).
    static func organisation(justAbove: Int, nextBand: Int) -> [(Int64, Int64)] {
        Array(repeating: (400, 900_000), count: 30) + Array(repeating: (6, 4_000), count: justAbove)
            + Array(repeating: (30, 40_000), count: nextBand)
    }

    static func book(_ events: UInt32, _ tokens: Int64) -> WeekBook {
        var book = WeekBook(cutoff: DetectionHarness.monday)
        for i in 0..<events { book.add(user: 0, tokens: i == 0 ? tokens : 0, outcomes: 0, late: false) }
        return book
    }

    @Test func usersBunchedJustAboveTheMinimumAreTriviallyActive() throws {
        let reference = Self.reference(Self.organisation(justAbove: 8, nextBand: 1))
        let bunching = try #require(Self.rule.bunching(reference))
        #expect(bunching == .init(justAbove: 8, nextBand: 1))
        let (score, evidence) = try #require(Self.rule.evaluate(Self.book(6, 4_000), user: 0, reference: reference, bunching: bunching))
        #expect(score >= 0.5)
        #expect(evidence.g == 8 && evidence.h == 1)
        var w = JSONWriter()
        let summary = Self.rule.describe(evidence, user: "hal", into: &w)
        #expect(summary.hasSuffix("; one of 8 users bunched just above the activity minimum (3 requests, 3.0k tokens) where the next band up holds 1"))
        #expect(String(decoding: w.bytes, as: UTF8.self).contains(#""bunching":{"users_just_above":8,"users_next_band":1"#))
        // Ordinary weeks are never in the band.
        #expect(Self.rule.evaluate(Self.book(400, 900_000), user: 0, reference: reference, bunching: bunching) == nil)
    }

    @Test func aNaturalSpreadOfLightUsersIsNotBunching() {
        // The look-alike: as many light users just above the minimum as in the next band up.
        let reference = Self.reference(Self.organisation(justAbove: 8, nextBand: 8))
        #expect(Self.rule.bunching(reference) == nil)
        #expect(Self.rule.evaluate(Self.book(6, 4_000), user: 0, reference: reference, bunching: nil) == nil)
        // Too few to call it bunching, even with nobody further up.
        #expect(Self.rule.bunching(Self.reference(Self.organisation(justAbove: 4, nextBand: 0))) == nil)
        // A padder at the minimum is trivially active whatever the organisation looks like.
        #expect(Self.rule.evaluate(Self.book(2, 500), user: 0, reference: reference, bunching: nil) != nil)
    }

    @Test func bunchingIsTheSameHoweverUsersSplitOverShards() {
        let weeks = Self.organisation(justAbove: 9, nextBand: 2)
        let one = PeerReference(samples: [PeerSample(weeks: weeks)])
        let three = PeerReference(samples: (0..<3).map { k in PeerSample(weeks: weeks.enumerated().filter { $0.offset % 3 == k }.map(\.element)) })
        #expect(one == three)
        #expect(Self.rule.bunching(one) == Self.rule.bunching(three))
    }
}

extension PeerSample {
    init(weeks: [(Int64, Int64)]) {
        self.init()
        week = weeks.map { WeekMember(events: $0.0, tokens: $0.1) }
    }
}
