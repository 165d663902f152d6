// Ctrl-C and SIGTERM: kill sandboxed RUN steps, remove every temporary file in progress, then
// exit with 128+signal.
// Signals are blocked in all threads and taken by one thread with sigwait, so the cleanup runs
// as ordinary code (no async-signal-safety concerns).
import Executor
import Runtime
import Sandbox
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

enum SignalCleanup {
    static func install() {
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, s) }
        // Must happen before other threads start, so they inherit the mask.
        pthread_sigmask(SIG_BLOCK, &set, nil)
        var thread = pthread_t()
        pthread_create(
            &thread, nil,
            { _ in
                var set = sigset_t()
                sigemptyset(&set)
                for s in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, s) }
                var signal: Int32 = 0
                // An unprivileged build's parent passes signals to the build it re-executed (which
                // cleans up and exits), and goes on waiting for it.
                repeat { sigwait(&set, &signal) } while RunningSandboxes.shared.forwardSignal(signal)
                RunningSandboxes.shared.killAll()
                RunCleanup.shared.runAll()
                TemporaryFiles.shared.removeAll()
                TemporaryDirectories.shared.removeAll()
                let message = "\ngvmc: interrupted (signal \(signal)); removed unfinished output\n"
                _ = message.withCString { write(2, $0, strlen($0)) }
                _exit(128 + signal)
            }, nil)
        pthread_detach(thread)
    }
}
