// Where the tests' fixture programs live: the servers and image writers (python3 and shell) that
// the registry, git, layer and CLI tests start, in Tests/TestSupport/Fixtures.
import Foundation

/// The fixture directory and the package root it is found from.
public enum TestFixtures {
    /// The package's root directory (the one holding Package.swift).
    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    /// Tests/TestSupport/Fixtures: git_http.py, misbehaving_http.py, oci_fixtures.py, the
    /// registries' start_registries.sh with its token server and proxy, golem_registry.py.
    public static let directory = packageRoot + "/Tests/TestSupport/Fixtures"
}
