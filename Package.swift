// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "tokenwatch",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tokenwatch", targets: ["tokenwatch"]),
    ],
    dependencies: [
        // CLI parsing for the one `tokenwatch` executable and its subcommands.
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        // Logging API; librdkafka's logs are routed into it.
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // Service group, ordered start-up and graceful shutdown on SIGTERM/SIGINT.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // YAML with node positions, so configuration errors can name the line.
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // Debian's librdkafka (2.0.2) including the mock cluster header.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // Thin, safe wrapper over librdkafka: consumer, producer, admin, mock cluster.
        .target(
            name: "Kafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The git commit the binary was built from, set with -Xcc -DTOKENWATCH_GIT_COMMIT=<sha> (deploy/build-deb).
        .target(name: "CBuildInfo"),
        // The pure engine: decode, dedup, watermarks, windows, leaderboards. No I/O, no clock.
        .target(name: "TokenwatchCore"),
        // YAML + environment + flags into one validated configuration value.
        .target(
            name: "TokenwatchConfig",
            dependencies: [
                "TokenwatchCore",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Synthetic users and personas (honest and gaming) for loadgen, simulate, evaluate, bench and tests.
        .target(name: "TokenwatchSimulation", dependencies: ["TokenwatchCore"]),
        // The daemon and the tools around it: pipeline, checkpoints, changelog, election, dev broker, replay.
        .target(
            name: "TokenwatchService",
            dependencies: [
                "TokenwatchCore",
                "TokenwatchConfig",
                "Kafka",
                "CBuildInfo",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "tokenwatch",
            dependencies: [
                "TokenwatchService",
                "TokenwatchSimulation",
                "TokenwatchConfig",
                "TokenwatchCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "TokenwatchCoreTests", dependencies: ["TokenwatchCore"]),
        .testTarget(name: "TokenwatchConfigTests", dependencies: ["TokenwatchConfig", "TokenwatchCore"]),
        .testTarget(name: "KafkaTests", dependencies: ["Kafka"]),
        .testTarget(
            name: "PipelineTests",
            dependencies: ["TokenwatchService", "TokenwatchSimulation", "TokenwatchCore", "TokenwatchConfig", "Kafka", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["TokenwatchCore", "Kafka"]
        ),
        // Production service: HTTP, metrics, sd_notify, SIGHUP reload, secrets; spawns the built `tokenwatch`.
        .testTarget(
            name: "ServiceTests",
            dependencies: [
                "TokenwatchService",
                "TokenwatchCore",
                "TokenwatchConfig",
                "Kafka",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
