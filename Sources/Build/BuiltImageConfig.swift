// The trailer's configuration of a built image: the target stage's configuration (BuildPlan's
// ImageConfig) with USER made numeric uid:gid through the image's passwd and group files, as
// Golem's runtime needs it.
import BuildPlan
import ImageSpec
import Executor

extension ContainerConfig {
    /// The trailer's configuration for a built image whose root filesystem is `rootfs`.
    public init(_ c: ImageConfig, rootfs: String) throws {
        let user = try c.user.map { name in
            let ids = try UserDatabase(rootfs: rootfs).resolve(name)
            return "\(ids.uid):\(ids.gid)"
        }
        self = c.containerConfig(user: user)
    }
}
