// The shared test helpers (tree snapshots, tools, scratch directories, fixtures) for every file of this target.
@_exported import TestSupport
