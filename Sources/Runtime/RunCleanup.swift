// Cleanup that must also happen when gvmc is interrupted (Ctrl-C, SIGTERM): the signal thread
// runs these after killing the sandboxed processes.
#if canImport(Glibc)
import Glibc
#endif

public final class RunCleanup: @unchecked Sendable {
    public static let shared = RunCleanup()
    private var actions: [(id: Int, action: @Sendable () -> Void)] = []
    private var next = 0
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()
    private init() {}

    /// Registers `action`; returns a handle for `remove`.
    public func add(_ action: @escaping @Sendable () -> Void) -> Int {
        pthread_mutex_lock(mutex); defer { pthread_mutex_unlock(mutex) }
        next += 1
        actions.append((next, action))
        return next
    }

    public func remove(_ id: Int) {
        pthread_mutex_lock(mutex); defer { pthread_mutex_unlock(mutex) }
        actions.removeAll { $0.id == id }
    }

    /// Runs every registered action, newest first, once.
    public func runAll() {
        pthread_mutex_lock(mutex)
        let all = actions
        actions = []
        pthread_mutex_unlock(mutex)
        for a in all.reversed() { a.action() }
    }
}
