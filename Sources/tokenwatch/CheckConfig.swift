import ArgumentParser
import Foundation

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file and print the effective configuration (secrets redacted).",
        discussion: """
            Every key and value is checked, and the kafka.librdkafka properties are handed to librdkafka as a \
            consumer and as a producer would get them. The environment applies as it does for run. Exits 2 \
            naming the file, line and key of the first error.
            """)

    @Argument(help: "The YAML file.") var path: String

    func run() throws {
        let config = try loadConfiguration(path: path, overrides: [:])
        print(config.redactedYAML())
        FileHandle.standardError.write(Data("\(path): OK\n".utf8))
    }
}
