// The shared test helpers (tree snapshots, tools, scratch directories) for every file of this target.
@_exported import TestSupport
