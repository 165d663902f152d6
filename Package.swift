// swift-tools-version:6.0
// gvmc: a Dockerfile → Golem VM image (.gvmi) compiler. Modules follow the pipeline:
// DockerfileSyntax → DockerfileInstructions → (Registry → Layers) → Executor/Sandbox → SquashFS → GVMI.
import PackageDescription

let package = Package(
    name: "gvmc",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "gvmc", targets: ["gvmc"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1")
    ],
    targets: [
        // C libraries from Debian's -dev packages, found through pkg-config.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // gzip blocks are compressed with libdeflate (zlib format, 2.5x faster than zlib at level 9
        // and smaller); zlib still decompresses.
        .systemLibrary(name: "CDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        .systemLibrary(name: "CLzma", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"])]),
        .systemLibrary(name: "CLz4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CLzo", pkgConfig: "lzo2", providers: [.apt(["liblzo2-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),

        // Stage 1: Dockerfile text → syntax nodes (BuildKit's parser layers 1–2) and the shell-word expander.
        .target(name: "DockerfileSyntax", dependencies: ["CDigest"]),
        // Stage 2: syntax nodes → typed, validated instructions and stages (BuildKit's layer 3).
        .target(name: "DockerfileInstructions", dependencies: ["DockerfileSyntax"]),
        // SHA-256 (x86 SHA extensions when present) and SHA3-224, always optimised: every file
        // and every image is hashed.
        .target(name: "CDigest", cSettings: [.unsafeFlags(["-O3"])]),
        // gvmc's LZO1X encoder (optimal parsing): lzo's default, faster than liblzo2's lzo1x_999.
        .target(name: "CLzoEncoder", cSettings: [.unsafeFlags(["-O3"])]),
        // `--ssh ID=KEYFILE`: an in-process SSH agent serving key files (swift-crypto signs).
        .target(
            name: "SSHAgent",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto")
            ]),
        // System calls Swift's Glibc module lacks (xattrs, SEEK_DATA/SEEK_HOLE).
        .target(name: "CSystem"),
        // OCI and Docker image documents as Codable types (manifests, indexes, image and container
        // configs, descriptors, platforms), strict JSON decoding, and the mapping to the .gvmi trailer.
        .target(name: "ImageSpec"),
        // Stage 3: the instruction interpreter — stages → expanded steps and image configuration.
        .target(name: "BuildPlan", dependencies: ["DockerfileSyntax", "DockerfileInstructions", "ImageSpec"]),
        // RUN steps in namespaces: the async-signal-safe process side in C, the rest in Swift.
        .target(name: "CSandbox"),
        .target(name: "Sandbox", dependencies: ["CSandbox"]),
        // The build cache: the cache directory's layout (blobs, step layers, image trees, blocks,
        // locks) in one place, the in-use lock and use markers, prune and the automatic collection.
        .target(name: "BuildCache", dependencies: ["CSystem"]),
        // The executor: each stage's working root filesystem, each step (COPY/ADD, RUN, WORKDIR) an
        // operation that computes its cache key and runs (RUN through Sandbox) on a shared context.
        .target(
            name: "Executor",
            dependencies: [
                "BuildPlan", "DockerfileSyntax", "BuildCache", "Sandbox", "CSystem", "Layers", "SquashFS",
                .product(name: "Crypto", package: "swift-crypto")
            ]),
        // The squashfs 4.0 writer: parallel block compression, fragments, dedup, metadata tables.
        .target(
            name: "SquashFS", dependencies: ["CZlib", "CDeflate", "CLzma", "CLz4", "CLzo", "CLzoEncoder", "CZstd", "CSystem", "CDigest"]),
        // libcurl, libarchive and libssh (headers from libcurl4-openssl-dev, libarchive-dev and
        // libssh-dev) loaded with dlopen by the commands that pull or read layers or fetch git over
        // SSH: linking them would cost every gvmc start ~10 ms for 44 shared objects (see Makefile,
        // RELEASE_FLAGS).
        .target(name: "CDynamic", linkerSettings: [.linkedLibrary("dl")]),
        // HTTP over libcurl: the one transport of the registry clients, git over HTTP and ADD of URLs.
        .target(name: "HTTPTransport", dependencies: ["CDynamic"]),
        // Git sources of ADD: smart HTTP and SSH (libssh through CDynamic, signing in with an SSH
        // agent), pack parsing with bounds, checkout into a directory, known hosts.
        .target(
            name: "GitSource",
            dependencies: [
                "CDynamic", "HTTPTransport", "SquashFS", "CZlib", "SSHAgent",
                .product(name: "Crypto", package: "swift-crypto")
            ]),
        // Base images: references, the OCI distribution client, the blob cache, OCI layouts.
        .target(
            name: "Registry",
            dependencies: [
                "BuildCache", "HTTPTransport", "ImageSpec", "SquashFS", "Layers", "CZlib", "SSHAgent",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto")
            ]),
        // Layer tarballs (libarchive): whiteouts, hardlinks, containment; to a directory or the squashfs writer.
        .target(name: "Layers", dependencies: ["CDynamic", "SquashFS", "CSystem"]),
        // Step caches shared between machines (`--cache-to`/`--cache-from`): step layers as OCI
        // layers under one manifest in a registry or an OCI layout directory.
        .target(name: "RemoteCache", dependencies: ["ImageSpec", "Registry", "Layers", "SquashFS", "CSystem", "CZlib", "CZstd"]),
        // Golem-compatibility rules and BuildKit's build checks.
        .target(
            name: "Lint",
            dependencies: [
                "DockerfileSyntax", "DockerfileInstructions", "ImageSpec", "SquashFS", "BuildPlan",
                .product(name: "Yams", package: "Yams")
            ]),
        // Publishing: the Golem registry's protocol (image descriptor, resumable parallel chunk
        // upload, pull with resume and hash check, credentials).
        .target(name: "GolemRegistry", dependencies: ["HTTPTransport", "GVMI", "ImageSpec", "Progress", "SquashFS"]),
        // Last stage: the .gvmi container format (squashfs + Golem metadata trailer) and its hashes.
        .target(name: "GVMI", dependencies: ["CZlib", "CDigest", "ImageSpec", "SquashFS"]),
        // `gvmc run`: a .gvmi run as a Golem provider runs it, in a sandbox or in a qemu VM.
        .target(name: "Runtime", dependencies: ["GVMI", "ImageSpec", "SquashFS", "Sandbox", "Executor", "CSystem"]),

        // Computation Payload Manifests (outbound internet for a task): the JSON model, signing and
        // verification as Golem providers check them (X.509 and signatures through swift-certificates).
        .target(
            name: "PayloadManifest",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto")
            ]),

        // A Dockerfile to a .gvmi as a library: the orchestration `gvmc build` (and any other
        // program) calls, base images, secrets and SSH agents of a build, cache collection; and
        // an image to a .gvmi (`gvmc convert`).
        .target(
            name: "Build",
            dependencies: [
                "BuildPlan", "BuildCache", "DockerfileInstructions", "DockerfileSyntax", "GVMI", "ImageSpec", "Layers", "Lint",
                "GitSource", "HTTPTransport", "Progress", "Registry", "RemoteCache", "Executor", "Sandbox", "SquashFS", "SSHAgent"
            ]),
        // Progress of long-running commands as BuildKit shows it (plain, quiet, rawjson), CI annotations.
        .target(name: "Progress", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),

        .executableTarget(
            name: "gvmc",
            dependencies: [
                "Build", "BuildCache", "Progress", "DockerfileSyntax", "DockerfileInstructions", "SquashFS", "GVMI", "ImageSpec", "Lint",
                "Sandbox", "BuildPlan", "Executor",
                "Registry", "RemoteCache", "HTTPTransport", "GolemRegistry", "Layers", "SSHAgent", "PayloadManifest", "Runtime",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]),

        // Helpers shared by the test targets: tree snapshots, tools, scratch directories, and the
        // fixture servers and image writers (python3, shell) in Tests/TestSupport/Fixtures.
        .target(name: "TestSupport", dependencies: ["SquashFS", "CSystem"], path: "Tests/TestSupport", exclude: ["Fixtures"]),
        .testTarget(name: "DockerfileSyntaxTests", dependencies: ["DockerfileSyntax"]),
        .testTarget(name: "DockerfileInstructionsTests", dependencies: ["DockerfileInstructions"]),
        .testTarget(name: "LintTests", dependencies: ["ImageSpec", "Lint"]),
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox"]),
        // Real manifests and configs (written by umoci and skopeo, or kept as fixtures) decoded,
        // mistyped fields named, and what gvmc writes compared byte for byte.
        .testTarget(name: "ImageSpecTests", dependencies: ["ImageSpec", "TestSupport"]),
        .testTarget(name: "BuildPlanTests", dependencies: ["BuildPlan", "DockerfileInstructions", "ImageSpec"]),
        .testTarget(
            name: "RegistryTests", dependencies: ["ImageSpec", "Registry", "TestSupport", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(
            name: "GitSourceTests",
            dependencies: ["GitSource", "HTTPTransport", "TestSupport", "CZlib", .product(name: "Crypto", package: "swift-crypto")]),
        // Layer stacks read from the fixture OCI layout through Registry, as a build reads them.
        .testTarget(name: "LayersTests", dependencies: ["ImageSpec", "Layers", "Registry", "SquashFS", "TestSupport"]),
        .testTarget(name: "BuildCacheTests", dependencies: ["BuildCache", "TestSupport"]),
        .testTarget(
            name: "ExecutorTests",
            dependencies: ["Executor", "BuildCache", "BuildPlan", "DockerfileInstructions", "DockerfileSyntax", "TestSupport"]),
        // Runs the built gvmc binary (.build/debug/gvmc) as users and CI do.
        .testTarget(name: "CLITests", dependencies: ["gvmc", "SquashFS", "CSystem", "TestSupport"]),
        .testTarget(name: "SquashFSTests", dependencies: ["SquashFS", "CSystem", "CLzoEncoder", "CLzo", "TestSupport"]),
        .testTarget(name: "GVMITests", dependencies: ["GVMI", "ImageSpec", "SquashFS", "TestSupport"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "GVMI", "ImageSpec"]),
        .testTarget(name: "SSHAgentTests", dependencies: ["SSHAgent"]),
        .testTarget(
            name: "BuildTests", dependencies: ["Build", "BuildPlan", "ImageSpec", "Progress", "Registry", "SquashFS", "TestSupport"]),
        .testTarget(
            name: "RemoteCacheTests", dependencies: ["ImageSpec", "RemoteCache", "Registry", "HTTPTransport", "CSystem", "TestSupport"]),
        .testTarget(name: "PayloadManifestTests", dependencies: ["PayloadManifest", "GVMI", "TestSupport"]),
        .testTarget(name: "GolemRegistryTests", dependencies: ["GolemRegistry", "GVMI", "ImageSpec", "SquashFS", "TestSupport"]),
        .testTarget(name: "ProgressTests", dependencies: ["Progress"])
    ]
)
