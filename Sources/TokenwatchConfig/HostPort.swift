/// A `host:port` or `[ipv6]:port` address.
struct HostPort: Equatable {
    var host: String
    var port: Int

    /// Nil unless `text` is `host:port` with a plausible host (name, IPv4, or bracketed IPv6) and a
    /// port in 0...65535.
    static func parse(_ text: String) -> HostPort? {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), host.contains(":"),
                host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." || $0 == "%" })
            else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard isHostName(host) else { return nil }
        }
        guard !host.isEmpty, (1...5).contains(portText.count), portText.allSatisfy(\.isASCIIDigit),
            let port = Int(portText), port <= 65_535
        else { return nil }
        return HostPort(host: String(host), port: port)
    }

    /// Letters, digits, `.`, `-` and `_`: a DNS name or an IPv4 address.
    static func isHostName(_ text: Substring) -> Bool {
        !text.isEmpty
            && text.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                    || $0 == "." || $0 == "-" || $0 == "_"
            }
    }
}
