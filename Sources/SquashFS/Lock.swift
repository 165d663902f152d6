// A mutex and condition variable over pthreads, for the compression workers (the block pipeline
// is a bounded producer/consumer queue). The pthread objects live in their own allocations so
// their addresses stay fixed, as pthreads requires.
#if canImport(Glibc)
import Glibc
#endif

/// Sendable without checks: the pthread mutex is the synchronization itself, at a fixed address.
final class Lock: @unchecked Sendable {
    fileprivate let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    init() { pthread_mutex_init(mutex, nil) }
    deinit { pthread_mutex_destroy(mutex); mutex.deallocate() }
    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock(); defer { unlock() }
        return try body()
    }
}

/// Sendable without checks: as Lock.
final class Condition: @unchecked Sendable {
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    init() { pthread_cond_init(cond, nil) }
    deinit { pthread_cond_destroy(cond); cond.deallocate() }
    /// Waits; the lock must be held.
    func wait(_ lock: Lock) { pthread_cond_wait(cond, lock.mutex) }
    func broadcast() { pthread_cond_broadcast(cond) }
}
