// Images made at test time for the attack tests: layers written by Python's tarfile (or GNU tar
// for sparse files), put in an OCI image layout that `FROM oci-layout://DIR:TAG` reads.
import Foundation
import Testing

enum HostileImage {
    /// Writes `layers` (tar files; gzip-compressed when their name ends in .gz) as the image
    /// `tag` of the OCI layout `layout` (created or extended).
    static let layoutScript = #"""
        import gzip, hashlib, json, os, sys
        layout, tag, layers = sys.argv[1], sys.argv[2], sys.argv[3:]
        os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
        def blob(data):
            d = hashlib.sha256(data).hexdigest()
            open(os.path.join(layout, "blobs", "sha256", d), "wb").write(data)
            return "sha256:" + d, len(data)
        descs, diffs = [], []
        for path in layers:
            data = open(path, "rb").read()
            raw = gzip.decompress(data) if path.endswith(".gz") else data
            d, n = blob(data)
            descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if path.endswith(".gz") else ""), "digest": d, "size": n})
            diffs.append("sha256:" + hashlib.sha256(raw).hexdigest())
        cfg = {"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": diffs}}
        cd, cn = blob(json.dumps(cfg).encode())
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn}, "layers": descs}
        md, mn = blob(json.dumps(manifest).encode())
        index_path = os.path.join(layout, "index.json")
        index = json.load(open(index_path)) if os.path.exists(index_path) else {"schemaVersion": 2, "manifests": []}
        index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
                                   "annotations": {"org.opencontainers.image.ref.name": tag}})
        json.dump(index, open(index_path, "w"))
        open(os.path.join(layout, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
        print(md)
        """#

    static func layout(_ layout: String, tag: String, layers: [String]) -> String {
        let r = Tools.run(["python3", "-c", layoutScript, layout, tag] + layers)
        #expect(r.status == 0, "layout: \(r.output)")
        return "oci-layout://\(layout):\(tag)"
    }

    /// A tar layer written by Python's tarfile: `body` is Python with `t` (the open TarFile),
    /// `add(name, data=b"", mode=0o644, type=tarfile.REGTYPE, link="")` and `busybox` (its bytes).
    static func tar(_ path: String, _ body: String) {
        let script = """
            import io, sys, tarfile, gzip
            busybox = open(sys.argv[2], "rb").read()
            buf = io.BytesIO()
            t = tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT)
            def add(name, data=b"", mode=0o644, type=tarfile.REGTYPE, link=""):
                i = tarfile.TarInfo(name); i.type, i.mode, i.linkname, i.mtime = type, mode, link, 1700000000
                i.size = len(data) if type == tarfile.REGTYPE else 0
                t.addfile(i, io.BytesIO(data) if type == tarfile.REGTYPE else None)
            \(body.split(separator: "\n").joined(separator: "\n"))
            t.close()
            out = buf.getvalue()
            open(sys.argv[1], "wb").write(gzip.compress(out, mtime=0) if sys.argv[1].endswith(".gz") else out)
            """
        let r = Tools.run(["python3", "-c", script, path, BuildFixture.busybox ?? "/bin/true"])
        #expect(r.status == 0, "tar: \(r.output)")
    }
}
