// Cleanup that must also happen when gvmc is interrupted (Ctrl-C, SIGTERM): the signal thread
// runs these after killing the sandboxed processes.
import Synchronization

/// Cleanup actions to run at the end of `gvmc run`, also when it is interrupted by a signal.
public final class RunCleanup: Sendable {
    public static let shared = RunCleanup()
    private struct State {
        var actions: [(id: Int, action: @Sendable () -> Void)] = []
        var next = 0
    }
    private let state = Mutex(State())
    private init() {}

    /// Registers `action`; returns a handle for `remove`.
    public func add(_ action: @escaping @Sendable () -> Void) -> Int {
        state.withLock { s in
            s.next += 1
            s.actions.append((s.next, action))
            return s.next
        }
    }

    public func remove(_ id: Int) {
        state.withLock { $0.actions.removeAll { $0.id == id } }
    }

    /// Runs every registered action, newest first, once.
    public func runAll() {
        let all = state.withLock { s in
            defer { s.actions = [] }
            return s.actions
        }
        for a in all.reversed() { a.action() }
    }
}
