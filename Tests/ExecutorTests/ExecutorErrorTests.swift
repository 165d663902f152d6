// The executor's errors keep their cause: the errno and path of a failed call, the error of the
// fetcher or image source underneath, and the failed step's Dockerfile location as fields, while
// the text the user sees stays `FILE:LINE:COL: message`.
import BuildPlan
import DockerfileSyntax
import Foundation
@testable import Executor
import Testing

@Suite struct ExecutorErrors {
    struct Refused: Error, CustomStringConvertible {
        var description: String { "connection refused by the test" }
    }

    /// Fails every download.
    struct FailingFetcher: URLFetcher {
        func fetch(_ url: String, to fd: Int32) throws -> Int64? { throw Refused() }
    }

    @Test func aFailedSystemCallKeepsItsErrnoAndPath() throws {
        let context = ExecutionContext(
            buildContext: BuildContext(directory: "/nonexistent", ignore: DockerIgnore(text: "")),
            workDirectory: "/nonexistent/work")
        do {
            _ = try context.scratchDirectory("x")
            Issue.record("mkdtemp under a missing directory succeeded")
        } catch {
            #expect(error.errno == ENOENT)
            #expect(error.path == "/nonexistent/work")
            #expect(error.location == nil)
            #expect(error.description == "mkdtemp /nonexistent/work: No such file or directory")
        }
    }

    @Test func anAddOfAURLKeepsTheFetchersErrorAsItsCause() throws {
        let s = try StepOperations.Setup()
        s.context.urlFetcher = FailingFetcher()
        do {
            try s.run("ADD https://example.com/f /f")
            Issue.record("ADD with a failing fetcher succeeded")
        } catch let error as ExecutorError {
            #expect(error.cause is Refused)
            #expect(error.description == "ADD https://example.com/f: connection refused by the test")
        }
    }

    @Test func aFailedStepCarriesItsDockerfileLocationAsFields() throws {
        let context = try StepKeyTests.makeContext()
        defer { try? FileManager.default.removeItem(atPath: context) }
        let plan = try StepKeyTests.plan("FROM scratch\nCOPY a.txt /a\n  COPY missing.txt /m\n")
        let executor = try BuildExecutor(plan: plan, context: BuildContext(directory: context, ignore: DockerIgnore(text: "")))
        defer { executor.finish() }
        do {
            _ = try executor.run()
            Issue.record("a COPY of a missing file succeeded")
        } catch {
            #expect(error.location == SourceLocation(file: "Dockerfile", position: SourcePosition(line: 3, column: 3)))
            #expect(error.location?.line == 3 && error.location?.column == 3)
            #expect(!error.message.hasPrefix("Dockerfile"))
            #expect(error.description == "Dockerfile:3:3: " + error.message)
        }
    }

    @Test func aFailedFromKeepsTheImageSourcesErrorAndItsLocation() throws {
        let context = try StepKeyTests.makeContext()
        defer { try? FileManager.default.removeItem(atPath: context) }
        let plan = try StepKeyTests.plan("FROM alpine:3\n")
        let executor = try BuildExecutor(plan: plan, context: BuildContext(directory: context, ignore: DockerIgnore(text: "")))
        defer { executor.finish() }
        executor.images = StepKeyTests.Trees()
        do {
            _ = try executor.run()
            Issue.record("FROM an image that cannot be unpacked succeeded")
        } catch {
            #expect(error.location?.line == 1 && error.location?.file == "Dockerfile")
            #expect((error.cause as? ExecutorError)?.message == "not unpacked in this test")
            #expect(error.description == "Dockerfile:1:1: FROM alpine:3: not unpacked in this test")
        }
    }
}
