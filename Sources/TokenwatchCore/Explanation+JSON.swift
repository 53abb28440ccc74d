extension Explanation {
    /// The `tokenwatch.user.v1` document of `/users/<id>` and `tokenwatch explain --json`; `alerts` are
    /// the person's alert messages (firing and resolved) as published, oldest first.
    public func json(alerts: [[UInt8]]) -> [UInt8] {
        var w = JSONWriter(capacity: 4096)
        w.beginObject()
        w.key("schema"); w.string("tokenwatch.user.v1")
        w.key("user_id"); w.string(summary.userId)
        w.key("team")
        if let team = summary.team { w.string(team) } else { w.null() }
        w.key("service_account"); w.bool(summary.isServiceAccount)
        w.key("suspicion"); w.decimal(summary.suspicion)
        w.key("flags"); strings(flags, &w)
        w.key("counts_as_real"); w.bool(countsAsReal)
        w.key("effective_reason"); w.string(effectiveReason)
        w.key("known_events"); w.int(summary.knownEvents)
        w.key("as_of")
        if let asOf { w.int(asOf) } else { w.null() }
        w.key("windows"); windows(&w)
        w.key("window"); w.string(window)
        w.key("hourly"); hourly(&w)
        w.key("rules")
        w.beginArray()
        for r in readings { Self.reading(r, &w) }
        w.endArray()
        w.key("alerts")
        w.beginArray()
        for a in alerts { w.raw(a) }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    private func strings(_ list: [String], _ w: inout JSONWriter) {
        w.beginArray()
        for s in list { w.string(s) }
        w.endArray()
    }

    private func windows(_ w: inout JSONWriter) {
        w.beginArray()
        for f in summary.windows {
            w.beginObject()
            w.key("window"); w.string(f.window)
            w.key("window_start"); w.int(f.windowStart)
            w.key("window_end"); w.int(f.windowEnd)
            w.key("tokens"); w.int(f.tokens)
            w.key("events"); w.int(f.events)
            w.key("outcomes"); w.int(f.outcomes)
            w.key("effective_tokens"); w.int(f.effectiveTokens)
            w.endObject()
        }
        w.endArray()
    }

    private func hourly(_ w: inout JSONWriter) {
        w.beginArray()
        for h in hourly {
            w.beginObject()
            w.key("hour_start"); w.int(h.hourStart)
            w.key("tokens"); w.int(h.tokens)
            w.key("events"); w.int(h.events)
            w.key("outcomes"); w.int(h.outcomes)
            w.endObject()
        }
        w.endArray()
    }

    private static func reading(_ r: RuleReading, _ w: inout JSONWriter) {
        w.beginObject()
        w.key("rule"); w.string(r.rule)
        w.key("enabled"); w.bool(r.enabled)
        w.key("severity"); w.string(r.severity)
        w.key("conditions_met"); w.bool(r.conditionsMet)
        w.key("note"); w.string(r.note)
        w.key("measures")
        w.beginArray()
        for m in r.measures {
            w.beginObject()
            w.key("name"); w.string(m.name)
            w.key("value"); w.decimal(m.value)
            w.key("threshold"); w.decimal(m.threshold)
            w.key("fires_when"); w.string(m.firesWhen.rawValue)
            w.key("met"); w.bool(m.met)
            w.endObject()
        }
        w.endArray()
        w.key("open_alert")
        if let a = r.openAlert {
            w.beginObject()
            w.key("severity"); w.string(a.severity)
            w.key("since"); w.int(a.since)
            w.key("last_seen"); w.int(a.lastSeen)
            w.key("resolves_after"); w.int(a.resolvesAfter)
            w.key("score"); w.decimal(a.score)
            w.key("summary"); w.string(a.summary)
            w.key("evidence"); w.raw(a.evidenceJSON)
            w.endObject()
        } else {
            w.null()
        }
        w.endObject()
    }
}
