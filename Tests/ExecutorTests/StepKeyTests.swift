// Step cache keys are shared between builds and machines (`--cache-from`): the keys of a
// representative set of steps, pinned as gvmc 2 computes them, must never change by accident.
import BuildPlan
import DockerfileInstructions
import DockerfileSyntax
import Foundation
@testable import Executor
import Testing

@Suite struct StepKeyTests {
    /// A build context whose every hashed property (content, type, mode) is set explicitly.
    static func makeContext() throws -> String {
        let dir = NSTemporaryDirectory() + "/step-keys-" + UUID().uuidString
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/dir/sub", withIntermediateDirectories: true)
        let files: [(String, String, Int)] = [
            ("a.txt", "alpha\n", 0o644), ("b.log", "log\n", 0o644), ("tool", "#!/bin/sh\necho tool\n", 0o755),
            ("dir/sub/x.py", "print(1)\n", 0o644), ("dir/sub/y.txt", "why\n", 0o600), ("pkg.tar", "not really a tar\n", 0o644),
            (".dockerignore", "*.log\n", 0o644)
        ]
        for (path, content, mode) in files {
            try Data(content.utf8).write(to: URL(fileURLWithPath: dir + "/" + path))
            chmod(dir + "/" + path, mode_t(mode))
        }
        try fm.createSymbolicLink(atPath: dir + "/dir/link", withDestinationPath: "sub/x.py")
        for d in ["", "/dir", "/dir/sub"] { chmod(dir + d, 0o755) }
        return dir
    }

    static let dockerfile = """
        FROM scratch AS base
        COPY a.txt /a

        FROM scratch
        COPY a.txt /x/
        COPY --chmod=0640 --chown=1000:1000 a.txt tool /x/
        COPY --chown=app:app a.txt /y
        COPY --link a.txt /l
        COPY --link --chown=app a.txt /l2
        COPY --parents ./dir/./sub/*.py /p/
        COPY --exclude=*.txt dir /e/
        COPY . /all/
        COPY d* /w/
        COPY <<EOF /inline.txt
        hello
        EOF
        COPY --from=base /a /b
        COPY --from=alpine:3.19 /etc/os-release /os
        ADD pkg.tar /unpack/
        ADD --unpack=false pkg.tar /keep/
        ADD https://example.com/file.txt /f
        ADD --checksum=sha256:24d4b96f58da6d4a8512313bbd02a28ebf0ca95dec6e4c86ef78ce7f01e788ac https://example.com/file.txt /f2
        ADD https://github.com/x/y.git#main /src
        ADD --keep-git-dir=true git@github.com:x/y.git#v1:sub /src2
        ADD https://example.com/file.txt https://github.com/x/y.git /mixed/
        ADD --checksum=sha256:24d4b96f58da6d4a8512313bbd02a28ebf0ca95dec6e4c86ef78ce7f01e788ac https://github.com/x/y.git /g
        RUN echo hi
        RUN --network=none --security=insecure echo hi
        RUN --network=host echo hi
        RUN --mount=type=bind,source=dir,target=/d cat /d/sub/x.py
        RUN --mount=type=bind,target=/ctx,rw true
        RUN --mount=type=cache,target=/c,id=x,sharing=locked,mode=0700,uid=1,gid=2 --mount=type=tmpfs,target=/t,size=10m --mount=type=secret,id=s,env=S,required=true --mount=type=ssh,id=default true
        RUN --mount=type=bind,from=base,target=/b true
        RUN --mount=type=bind,from=alpine:3.19,source=/etc,target=/i true
        RUN <<EOF
        #!/bin/sh
        echo script
        EOF
        WORKDIR /w
        USER app
        WORKDIR rel
        ENV A=b
        RUN env
        """

    static func plan(_ text: String) throws -> BuildPlan {
        try BuildPlanner.plan(try StagedDockerfile.parse(try DockerfileParser.parse(text, path: "Dockerfile")))
    }

    /// Images known by their shared tree alone.
    final class Trees: BaseImageSource {
        func extract(_ ref: String, platform: String?, to root: String) throws { throw ExecutorError("not unpacked in this test") }
        func tree(_ ref: String, platform: String?) throws -> String { "/nonexistent/trees/image-tree-id" }
    }

    /// Every git ref naming one commit.
    struct OneCommit: GitRemote {
        func resolve(_ url: String, access: GitAccess) throws -> String { "0123456789abcdef0123456789abcdef01234567" }
        func checkout(
            _ url: String, id: String, into directory: String, keepGitDir: Bool, access: GitAccess
        ) throws -> (commit: String, time: Int64) {
            throw ExecutorError("not checked out in this test")
        }
    }

    /// The key of `step` after layers keyed `previous`, with the stage `base` cached under
    /// "base-stage-key", images known by a shared tree named "image-tree-id" and every git ref
    /// naming one commit (`sources`; else neither images nor git).
    static func keys(
        _ steps: [Step], plan: BuildPlan, context: String, after previous: String, defaultNetwork: String = "default",
        sources: Bool = true
    ) throws -> [String?] {
        let executor = try BuildExecutor(plan: plan, context: BuildContext(directory: context, ignore: DockerIgnore(text: "*.log\n")))
        defer { executor.finish() }
        if sources {
            executor.images = Trees()
            executor.gitRemote = OneCommit()
        }
        executor.sandbox.defaultNetwork = defaultNetwork
        executor.context.stageLayers[0] = StageLayers(root: "/nonexistent", lowers: [], upper: "", work: "", key: "base-stage-key")
        return try steps.map { step in try step.operation.cacheKey(after: previous, in: executor.context) }
    }

    /// Per step (the first line of its instruction): its key after "previous-key", after "COPY --link"
    /// (the key of a --link layer), with `gvmc build --network none`, and without git or image
    /// trees; "nil" where the step cannot be cached. Computed by gvmc before its steps became
    /// operations (commit 3fbd4aa).
    static let pinned = """
        COPY a.txt /x/
            84c9de5e41b549903dde98243b15b571fa7575032ffdd388f692e969562d1eae
            77416ec0bf5ea3ef3496a7f112bc63ccfba6d188aab0aabf5086bb0dc0b70596
            84c9de5e41b549903dde98243b15b571fa7575032ffdd388f692e969562d1eae
            84c9de5e41b549903dde98243b15b571fa7575032ffdd388f692e969562d1eae
        COPY --chmod=0640 --chown=1000:1000 a.txt tool /x/
            7d8ceb205bd480c6986134f9e41ed422f83bbecf381d5a62f6a72b2652f8b29f
            29dffcccc6cce333e4f3a7be0ae589f0931addfc132da7983f3b41557d868666
            7d8ceb205bd480c6986134f9e41ed422f83bbecf381d5a62f6a72b2652f8b29f
            7d8ceb205bd480c6986134f9e41ed422f83bbecf381d5a62f6a72b2652f8b29f
        COPY --chown=app:app a.txt /y
            26c0666e24c2346b247f7f7f40c2447124df4becee42f8b435e1fefd5e86b1b7
            0fc31ad386cde2eedd3a8299cb4999ca3dc67432a81faf9567d897f773d8f38e
            26c0666e24c2346b247f7f7f40c2447124df4becee42f8b435e1fefd5e86b1b7
            26c0666e24c2346b247f7f7f40c2447124df4becee42f8b435e1fefd5e86b1b7
        COPY --link a.txt /l
            dc746312c22fee3c7338fc68743982c81329cbe237fcbe8c5852407c36dcd9e6
            5c0d645b6344efb643231cad0b02e4c2a51a116764ef0ebbe873230da1e3dd2b
            dc746312c22fee3c7338fc68743982c81329cbe237fcbe8c5852407c36dcd9e6
            dc746312c22fee3c7338fc68743982c81329cbe237fcbe8c5852407c36dcd9e6
        COPY --link --chown=app a.txt /l2
            05e5fb55fa3633948da1f7bf288d6389e2c9299d5d52ccf8cc8494bd0bfb748b
            c3a52f7eb1de3d2d63b50951919fac3b2bf0264a87a25335a2fca34a1a753c9f
            05e5fb55fa3633948da1f7bf288d6389e2c9299d5d52ccf8cc8494bd0bfb748b
            05e5fb55fa3633948da1f7bf288d6389e2c9299d5d52ccf8cc8494bd0bfb748b
        COPY --parents ./dir/./sub/*.py /p/
            00683e28aeff396785b2052c97221636566e029bba7713ba0a607c3f403d0790
            db9e26416d8bea16b7d79e1194a93ea9e8a5f3e17c26ca252f4fa656415eaccc
            00683e28aeff396785b2052c97221636566e029bba7713ba0a607c3f403d0790
            00683e28aeff396785b2052c97221636566e029bba7713ba0a607c3f403d0790
        COPY --exclude=*.txt dir /e/
            e58ca51937e8647b720d96a09b3175c8701d736b864ff0899be2e1edacff6a1e
            46d3c3fbd6c570267da3416c0a159a97b84a151edf1d53357ce8d9db46e6fe55
            e58ca51937e8647b720d96a09b3175c8701d736b864ff0899be2e1edacff6a1e
            e58ca51937e8647b720d96a09b3175c8701d736b864ff0899be2e1edacff6a1e
        COPY . /all/
            785039bc0e3a2a44f883444823a79d74d88f86519bd150f08c79dc32714655f6
            5a0dd439491d0baf25f18c35661dfac20997048179dd5a9133484ddbc55836b6
            785039bc0e3a2a44f883444823a79d74d88f86519bd150f08c79dc32714655f6
            785039bc0e3a2a44f883444823a79d74d88f86519bd150f08c79dc32714655f6
        COPY d* /w/
            26cc60d667e138056bd1bd776cc834249c631960623c0e8f41b95364c93ecae8
            71db85baf8c322137c70f91e0b8ec4394ead521d98175c99d28258ab83fa08fb
            26cc60d667e138056bd1bd776cc834249c631960623c0e8f41b95364c93ecae8
            26cc60d667e138056bd1bd776cc834249c631960623c0e8f41b95364c93ecae8
        COPY <<EOF /inline.txt
            6187263ec36d197162ab5e14f5a872b421e54f45742c5294324bdeb036a37a25
            6d39b004511b9e9fced72dffb1eca743401129ff9ff1aa92f4a62f07cc31e547
            6187263ec36d197162ab5e14f5a872b421e54f45742c5294324bdeb036a37a25
            6187263ec36d197162ab5e14f5a872b421e54f45742c5294324bdeb036a37a25
        COPY --from=base /a /b
            63a8831cb047e5216d661adbf5b536cdc16c89f18c5285f97fd87af45b145cd4
            1c463ea0998e9d19e79bed427bc7f04201dbe6bf8a690ee47fc1b4bc0f70fdcd
            63a8831cb047e5216d661adbf5b536cdc16c89f18c5285f97fd87af45b145cd4
            63a8831cb047e5216d661adbf5b536cdc16c89f18c5285f97fd87af45b145cd4
        COPY --from=alpine:3.19 /etc/os-release /os
            50b22c1281f87495f13b0ebf043335dba92c32140c479a558b13298997064b94
            c579d105fa8611ad2c77e29849e5adf658ceb8970d3f485913891210679a319a
            50b22c1281f87495f13b0ebf043335dba92c32140c479a558b13298997064b94
            nil
        ADD pkg.tar /unpack/
            12afa3ff0e191d6f9b12b555c519957891d0e6e73f74bc1b69f517483a6043fc
            be0d7b39456811d00ada65c793ebf8f6775dba8f5bd9cb4e3b19cb3f93c787bc
            12afa3ff0e191d6f9b12b555c519957891d0e6e73f74bc1b69f517483a6043fc
            12afa3ff0e191d6f9b12b555c519957891d0e6e73f74bc1b69f517483a6043fc
        ADD --unpack=false pkg.tar /keep/
            79b8936980f7fe5a9f3c04b3961649a5307c973b11b273926261ed99a3f30a63
            2e417fa2f27a05e0a3102c4d3fcf2f18d538e89d296fedfa1f2e33582b8e6ba5
            79b8936980f7fe5a9f3c04b3961649a5307c973b11b273926261ed99a3f30a63
            79b8936980f7fe5a9f3c04b3961649a5307c973b11b273926261ed99a3f30a63
        ADD https://example.com/file.txt /f
            nil
            nil
            nil
            nil
        ADD --checksum=sha256:24d4b96f58da6d4a8512313bbd02a28ebf0ca95dec6e4c86ef78ce7f01e788ac https://example.com/file.txt /f2
            8e6c59b206e0cfbf844b4754816f5b4996307925e494fb9194f09ad2d1390b2f
            5c28b4b60ada2b880c67869b4582a6174fa843539ee3f9ee0c87f0e15fdbf7aa
            8e6c59b206e0cfbf844b4754816f5b4996307925e494fb9194f09ad2d1390b2f
            8e6c59b206e0cfbf844b4754816f5b4996307925e494fb9194f09ad2d1390b2f
        ADD https://github.com/x/y.git#main /src
            e856fae3d04ec4b7a532b083233771502fda26228477b9948b30217259b659c2
            a5c6ebba738c3615448133ccf97b5d0bc00a4e12fbd48ce522a63329291713eb
            e856fae3d04ec4b7a532b083233771502fda26228477b9948b30217259b659c2
            nil
        ADD --keep-git-dir=true git@github.com:x/y.git#v1:sub /src2
            a0ffe7c228d95ce215586a70a2053f3b29bab6429c02bba8bc80d70f0b78c851
            8b6144fd041410c6576e0b1426ec659e9ecc1de33f44dd6a40e780b622f9f084
            a0ffe7c228d95ce215586a70a2053f3b29bab6429c02bba8bc80d70f0b78c851
            nil
        ADD https://example.com/file.txt https://github.com/x/y.git /mixed/
            nil
            nil
            nil
            nil
        ADD --checksum=sha256:24d4b96f58da6d4a8512313bbd02a28ebf0ca95dec6e4c86ef78ce7f01e788ac https://github.com/x/y.git /g
            3e9010f3446e1c5c83b901895c8136fd8cb381c667414e81150bd1e0c62753ed
            19d4656de9148c671ba80522d5599f7d4a43e866320019eaebd701ad5afcd0c6
            3e9010f3446e1c5c83b901895c8136fd8cb381c667414e81150bd1e0c62753ed
            8d4053b30765c67fe66a91a4ab2734f9f54d324d9829987024cea112799baefc
        RUN echo hi
            4a73b12656d663367008cbfccf8577fc588c0742f3b7f7d9a2c75e3beeb002dd
            c8a41a9aa29102f4ee3beb5c8b487879e08b33d2c3c753b805382be4c3c140ce
            8f5624c21124ecef02576aa3d2b89948593d90f36d2832c68985999e56c644c4
            4a73b12656d663367008cbfccf8577fc588c0742f3b7f7d9a2c75e3beeb002dd
        RUN --network=none --security=insecure echo hi
            a23a905f93aee3f3529930072243cb51dae3619583aad4929ee1421451d6b8cf
            bbeb2a3d72303b4711a6312802913f11c11567d8d18e1f22a892344b89d1053c
            2eccf6a5ebba1ce18366adf9103b3289a35cf4b96e23067517442ff5097dbdd4
            a23a905f93aee3f3529930072243cb51dae3619583aad4929ee1421451d6b8cf
        RUN --network=host echo hi
            265811738620c093589393525b066b3f5cf2fa0a81cb223cbd72dc0933938428
            97b4641121116037ad8b28e0a595357c0a1939a8d4c0c55c375b753376f5eb33
            e6f8e085f3df97c508468114924a5d2267cc02a8b0524cb07ecd0b02c646e43c
            265811738620c093589393525b066b3f5cf2fa0a81cb223cbd72dc0933938428
        RUN --mount=type=bind,source=dir,target=/d cat /d/sub/x.py
            e0857b4fba3c43f0991066b90dfbc2765751d9df117e37c4cd23f3c314a3ab5c
            02ac6194a84e30c10665ce839c5bd66c917f8ec8942f99e42b4dbea55d6a452d
            df8b67c423a85fb29567e7191b80f2f022f3f4e5db73976108879ccd2e2df797
            e0857b4fba3c43f0991066b90dfbc2765751d9df117e37c4cd23f3c314a3ab5c
        RUN --mount=type=bind,target=/ctx,rw true
            5aaf4e742f7e01f942070326528afb624475f6d88e033242ed959887c20aa18b
            3d4a85bc5924744f98ff1cd3f0a24ccc5abef152426c03fb4519c347abea0630
            ad763f0adae7e937faa570e2863ebe256df1e82989e11aced7e322db2fca6d20
            5aaf4e742f7e01f942070326528afb624475f6d88e033242ed959887c20aa18b
        RUN --mount=type=cache,target=/c,id=x,sharing=locked,mode=0700,uid=1,gid=2 --mount=type=tmpfs,target=/t,size=10m --mount=type=secret,id=s,env=S,required=true --mount=type=ssh,id=default true
            5d82f73e83cbb437880f395cd1107476d03bb4b75f1b1c6b4b170d2179779033
            931b6a8bebe45eb03d2c8aae956ae9a99322c1676c484a0c9c4b198c4d663964
            c549dfda9dfac3123eb27a0423a96ecff16922da1ad5398ab85b833463fdd424
            5d82f73e83cbb437880f395cd1107476d03bb4b75f1b1c6b4b170d2179779033
        RUN --mount=type=bind,from=base,target=/b true
            a9f3f3847fda60866041794a71dc1f32825ea04adadd157b947293b0e51d477e
            09e1ddbd43aa317071af146c79bb6eb4722a2ef5e87692e3da735de0613ece39
            d1c23897d22c2396eccb675803f3d24a66af812589b407bcb9014585c128b299
            a9f3f3847fda60866041794a71dc1f32825ea04adadd157b947293b0e51d477e
        RUN --mount=type=bind,from=alpine:3.19,source=/etc,target=/i true
            0ac4b127940077b57453c1d6d569aa2847a364e516b1c1c9414ea1ebf15bd1f1
            8119c0cc798072a66f40da25343e346edbbddf49754c8a9c31d446d67464847c
            151e4c54fb926632ed3ae9f2e4c4b2d54c7aec63ca63cb4e5cb5300c8df8c305
            nil
        RUN <<EOF
            83c2a3ecc212ae678c55fe2a480e8d0c5e8b7dc3c75ab96c9649166a255dc18e
            07bd548ab1a92c41031d872608011529b03776533e430fe7348163d6ca1701a8
            a9b95efddd93c6ee51b3a821b76ced6b7d3ad4bbc1bbba060afea15bb0189f2d
            83c2a3ecc212ae678c55fe2a480e8d0c5e8b7dc3c75ab96c9649166a255dc18e
        WORKDIR /w
            02c652f50dc14aca9b5e70ed15f93099847240aa736bfa4a51b6c6a6a7aa0963
            2065f8e6e0e8cdb7dbdc4207130ce60c16ffe360f1b3cf940c48f60abf80e270
            02c652f50dc14aca9b5e70ed15f93099847240aa736bfa4a51b6c6a6a7aa0963
            02c652f50dc14aca9b5e70ed15f93099847240aa736bfa4a51b6c6a6a7aa0963
        WORKDIR rel
            2f27b68d27d87b75bda03ec9f8dcccad52a98fb3f1015cb2730499f412325ff9
            6ab2fd42ab507d87f4547c35b1faa0c43ece7c4114bccedc70d551183c8236e5
            2f27b68d27d87b75bda03ec9f8dcccad52a98fb3f1015cb2730499f412325ff9
            2f27b68d27d87b75bda03ec9f8dcccad52a98fb3f1015cb2730499f412325ff9
        RUN env
            86c9e72df331cd9aa544d764b61df76d7c2cc67f7158d8f3045d016b77eb2fcf
            ca9cfa111aa042d8892266a92c7b915a56b8926cedd65f867aad22661398ddec
            3c56b4fe180c8ee1c12887ae379617f4bb788ce58232dbf4d1c77be2639420ab
            86c9e72df331cd9aa544d764b61df76d7c2cc67f7158d8f3045d016b77eb2fcf
        """

    @Test func keysAreThoseOfEarlierBuilds() throws {
        let context = try Self.makeContext()
        defer { try? FileManager.default.removeItem(atPath: context) }
        let plan = try Self.plan(Self.dockerfile)
        let steps = plan.stages[1].steps
        let variants = [
            try Self.keys(steps, plan: plan, context: context, after: "previous-key"),
            try Self.keys(steps, plan: plan, context: context, after: "COPY --link"),
            try Self.keys(steps, plan: plan, context: context, after: "previous-key", defaultNetwork: "none"),
            try Self.keys(steps, plan: plan, context: context, after: "previous-key", sources: false)
        ]
        var computed: [String] = []
        for (n, step) in steps.enumerated() {
            computed.append(String(step.node.original.split(separator: "\n").first ?? ""))
            for keys in variants { computed.append("    " + (keys[n] ?? "nil")) }
        }
        let expected = Self.pinned.split(separator: "\n").map(String.init)
        #expect(computed.count == expected.count)
        for (got, pinned) in zip(computed, expected) { #expect(got == pinned) }
    }

    /// The keys a whole build gives its layers (FROM scratch, a stage FROM another, COPY --link,
    /// --from, WORKDIR): the chaining of step keys, as the step cache stores them.
    @Test(.enabled(if: getuid() == 0, "overlay mounts of the step cache need root"))
    func layerKeysOfABuildAreThoseOfEarlierBuilds() throws {
        let context = try Self.makeContext()
        let cache = NSTemporaryDirectory() + "/step-keys-cache-" + UUID().uuidString
        defer { for d in [context, cache] { try? FileManager.default.removeItem(atPath: d) } }
        let plan = try Self.plan(
            """
            FROM scratch AS base
            COPY a.txt /a
            WORKDIR /w

            FROM base
            COPY --link tool /t
            COPY --from=base /a /b
            COPY dir /d/
            """)
        // The second build stacks the first one's layers: the same keys, found in the cache.
        for _ in 0..<2 {
            let executor = try BuildExecutor(plan: plan, context: BuildContext(directory: context, ignore: DockerIgnore(text: "*.log\n")))
            defer { executor.finish() }
            executor.stepCacheDirectory = cache
            let root = try executor.run()
            #expect(FileManager.default.contents(atPath: root + "/b") == Data("alpha\n".utf8))
            #expect(
                executor.layerRecords.map { "\($0.stage) \($0.key)" } == [
                    "0 07de7f4c010137d6554ff24fde8bcd189c312a21aa7f776e5e1b3148ef63373e",
                    "0 769145037f1fd99627fbea82fcf8abd2cbd2673c0d5c35c97e409b237bcae794",
                    "1 1a232335b4cc33535cb3b9629fea5fdb81d11ee9523b3e926a62e003d506ec45",
                    "1 bce6ace1ae1183b683db5a85ac4198bc62b458a046bd59db199e3b61880f9c7b",
                    "1 42d5cf826d17d1932273a7544ae6e94c83ca0f7fbef0aa8269651309cb5389c4"
                ])
        }
    }
}
