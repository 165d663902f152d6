// A minimal joinable thread for hashing the image twice in parallel (no Foundation, no Dispatch).
#if canImport(Glibc)
import Glibc
#endif

/// Sendable without checks: `thread` and `started` are written by `start` and read by `join`, both
/// called by the thread that owns it; the new thread only runs `body`, a constant.
final class HashThread: @unchecked Sendable {
    private let body: () -> Void
    private var thread = pthread_t()
    private var started = false

    init(_ body: @escaping () -> Void) { self.body = body }

    func start() {
        let retained = Unmanaged.passRetained(self)
        started =
            pthread_create(
                &thread, nil,
                { arg in
                    let me = Unmanaged<HashThread>.fromOpaque(arg!).takeRetainedValue()
                    me.body()
                    return nil
                }, retained.toOpaque()) == 0
        if !started {
            retained.release()
            body()  // no thread to be had: run inline
        }
    }

    func join() {
        if started { pthread_join(thread, nil) }
    }
}
