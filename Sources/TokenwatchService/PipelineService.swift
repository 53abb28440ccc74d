import ServiceLifecycle

/// The pipeline as one service of the daemon's `ServiceGroup`: graceful shutdown asks it to drain.
public struct PipelineService: Service {
    public let pipeline: Pipeline

    public init(pipeline: Pipeline) { self.pipeline = pipeline }

    public func run() async throws {
        // Cancellation (another service failed, or a second signal) also stops the loop: its thread
        // does not see task cancellation, and `run()` would otherwise never return.
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await pipeline.run()
            } onGracefulShutdown: {
                pipeline.requestStop()
            }
        } onCancel: {
            pipeline.requestStop()
        }
    }
}
