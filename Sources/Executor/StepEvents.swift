// What a build reports of its steps as they happen (BuildKit's vertices): the progress display
// implements it; RUN output goes through it.

/// A build's steps as they happen (BuildKit's vertices).
public protocol StepEvents: AnyObject {
    /// A step starts, named as BuildKit names it (`[build 2/5] RUN make`).
    func stepStarted(_ name: String)
    /// Its result came from the step cache (the key it was found under); `from` names the shared
    /// cache it was imported from (`registry HOST/REPO:TAG`), nil for this machine's.
    func stepCached(key: String, from: String?)
    /// It ran to the end (its cache key when it has one).
    func stepDone(key: String?)
    func stepFailed(_ message: String)
    /// Output of a RUN step (stream 1 or 2).
    func stepOutput(_ bytes: UnsafeRawBufferPointer, stream: Int32)
}
