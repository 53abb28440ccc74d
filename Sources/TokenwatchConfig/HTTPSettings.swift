/// The `http:` section: health, metrics and the JSON API.
public struct HTTPSettings: Sendable, Equatable {
    /// Address to listen on, `host:port` or `[ipv6]:port`; port 0 picks a free one
    /// (key `listen`, default `127.0.0.1:9464`).
    public var listen: String = "127.0.0.1:9464"
    /// When set, every request but `/healthz` and `/readyz` must carry `Authorization: Bearer <token>`.
    /// A secret: only from `TOKENWATCH_HTTP_BEARER_TOKEN` (default none).
    public var bearerToken: String? = nil

    /// The defaults.
    public init() {}

    /// The host part of `listen`, without brackets for IPv6 (`127.0.0.1`, `::1`).
    public var host: String { HostPort.parse(listen)?.host ?? listen }

    /// The port part of `listen`.
    public var port: Int { HostPort.parse(listen)?.port ?? 0 }
}
