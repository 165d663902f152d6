#!/usr/bin/env python3
"""Builds the OCI image layout the registry tests push and convert: real tar layers written with
Python's tarfile (PAX), gzip or zstd (the zstd CLI), manifests, configs and an index.

usage: oci_fixtures.py LAYOUT_DIR BUSYBOX_PATH

Tags: multi (three layers: whiteouts, opaque dir, hardlinks across layers, a path through a
symlink, devices, xattrs, replacements), zstd (a zstd layer), multiarch (an index with amd64 and
arm64 images), user (USER by name), and hostile-* (one hostile layer each).
"""
import gzip, hashlib, io, json, os, subprocess, sys, tarfile

MTIME = 1700000000
layout, busybox = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}


def blob(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


class Layer:
    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def add(self, name, type=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0, link="", major=0, minor=0, pax=None, size=None):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime, ti.linkname = type, mode, uid, gid, MTIME, link
        ti.devmajor, ti.devminor = major, minor
        if pax:
            ti.pax_headers = pax
        if type == tarfile.REGTYPE and size is not None:
            # A header that claims more data than follows (written raw; the archive ends early).
            ti.size = size
            self.buf.write(ti.tobuf(tarfile.PAX_FORMAT) + data)
        elif type == tarfile.REGTYPE:
            ti.size = len(data)
            self.tar.addfile(ti, io.BytesIO(data))
        else:
            self.tar.addfile(ti)
        return self

    def dir(self, name, mode=0o755, uid=0, gid=0):
        return self.add(name, tarfile.DIRTYPE, mode=mode, uid=uid, gid=gid)

    def raw(self):
        self.tar.close()
        return self.buf.getvalue()


def compress(raw, how):
    if how == "gzip":
        return gzip.compress(raw, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=raw, stdout=subprocess.PIPE, check=True).stdout, \
            "application/vnd.oci.image.layer.v1.tar+zstd"
    return raw, "application/vnd.oci.image.layer.v1.tar"


def image(layers, arch="amd64", config=None, tag=None, into_index=True):
    descs, diff_ids = [], []
    for raw, how in layers:
        data, media = compress(raw, how)
        d, n = blob(data)
        descs.append({"mediaType": media, "digest": d, "size": n})
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
    cfg = {"architecture": arch, "os": "linux", "config": config or {},
           "rootfs": {"type": "layers", "diff_ids": diff_ids}, "created": "2023-11-14T22:13:20Z"}
    cd, cn = blob(json.dumps(cfg, sort_keys=True).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
                "layers": descs}
    md, mn = blob(json.dumps(manifest, sort_keys=True).encode())
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
            "platform": {"architecture": arch, "os": "linux"}}
    if tag and into_index:
        index["manifests"].append(dict(desc, annotations={"org.opencontainers.image.ref.name": tag}))
    return desc


def base_layer():
    bb = open(busybox, "rb").read()
    l = Layer()
    for d in ["bin", "etc", "usr", "usr/lib", "gone", "gone/sub", "opq", "todir", "home", "home/app"]:
        l.dir(d)
    l.add("bin/busybox", data=bb, mode=0o755)
    for a in ["sh", "ls", "cat", "echo", "id"]:
        l.add("bin/" + a, tarfile.SYMTYPE, link="busybox", mode=0o777)
    l.add("lib", tarfile.SYMTYPE, link="usr/lib", mode=0o777)
    l.add("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
    l.add("etc/group", data=b"root:x:0:\napp:x:1001:\n")
    l.add("gone/sub/file", data=b"hidden by a whiteout\n")
    l.add("opq/a", data=b"a\n")
    l.add("opq/b", data=b"b\n")
    l.add("replaced", data=b"a file that becomes a directory\n")
    l.add("todir/x", data=b"x\n")
    l.add("usr/lib/libbase.so", data=b"\x7fELF base\n" * 100, mode=0o755)
    l.add("bin/setuid-tool", data=b"#!/bin/sh\n", mode=0o4755)
    l.add("home/app/owned", data=b"mine\n", uid=1000, gid=1001, mode=0o600)
    l.add("bin/capable", data=b"cap\n", mode=0o755, pax={"SCHILY.xattr.user.gvmc": "test-value"})
    l.add("devices-null", tarfile.CHRTYPE, mode=0o666, major=1, minor=3)
    l.add("a-fifo", tarfile.FIFOTYPE, mode=0o644)
    l.add("etc/hard1", data=b"shared content\n")
    l.add("etc/hard2", tarfile.LNKTYPE, link="etc/hard1")
    l.add("big-exact", data=bytes(range(256)) * 512)  # exactly one 128 KiB block
    return l.raw()


def change_layer():
    l = Layer()
    l.add(".wh.gone", data=b"")
    l.dir("opq")
    l.add("opq/.wh..wh..opq", data=b"")
    l.add("opq/c", data=b"c\n")
    l.dir("replaced")
    l.add("replaced/child", data=b"now a directory\n")
    l.add("todir", data=b"now a file\n")
    l.add("bin/bb-link", tarfile.LNKTYPE, link="bin/busybox")
    l.add("lib/through-symlink.so", data=b"written through the lib -> usr/lib symlink\n")
    l.add("etc/motd", data=b"hello from layer 2\n")
    l.add("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\nnew:x:2000:2000::/:/bin/sh\n")
    return l.raw()


def top_layer():
    l = Layer()
    l.add("etc/.wh.motd", data=b"")
    l.add("etc/motd", data=b"motd replaced again in layer 3\n")
    l.dir("golem")
    l.dir("golem/output", mode=0o777)
    return l.raw()


base = base_layer()
image([(base, "gzip"), (change_layer(), "gzip"), (top_layer(), "none")], tag="multi",
      config={"Env": ["PATH=/bin"], "WorkingDir": "/golem", "Volumes": {"/golem/output": {}},
              "Entrypoint": ["/bin/sh"], "Labels": {"org.example": "gvmc"}})
zl = Layer().dir("zst").add("zst/hello", data=b"from a zstd layer\n" * 1000).raw()
image([(base, "gzip"), (zl, "zstd")], tag="zstd", config={"Env": ["PATH=/bin"]})
image([(base, "gzip")], tag="user", config={"User": "app", "Env": ["PATH=/bin"]})
image([(base, "gzip")], tag="baduser", config={"User": "nobody-here"})

# A multi-platform index: amd64 and arm64 images (the arm64 one carries a marker file).
amd = image([(base, "gzip"), (Layer().add("arch", data=b"amd64\n").raw(), "gzip")], tag=None)
# Its /bin/sh is the header of an aarch64 executable (ELF64, EM_AARCH64 = 183): the kernel of
# another machine refuses it with ENOEXEC unless an emulator is registered.
aarch64_elf = b"\x7fELF\x02\x01\x01" + bytes(9) + (2).to_bytes(2, "little") + (183).to_bytes(2, "little") + bytes(44)
arm = image([(Layer().dir("bin").add("arch", data=b"arm64\n").add("bin/sh", data=aarch64_elf, mode=0o755).raw(), "gzip")],
            arch="arm64", tag=None)
idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [amd, arm]}
idd, idn = blob(json.dumps(idx, sort_keys=True).encode())
index["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": idd, "size": idn,
                           "annotations": {"org.opencontainers.image.ref.name": "multiarch"}})

# Hostile layers, one image each.
hostile = {
    "dotdot": Layer().add("../../../../tmp/gvmc-escape", data=b"escaped\n"),
    "hardlink-out": Layer().add("ok", data=b"x").add("hl", tarfile.LNKTYPE, link="../../../../etc/passwd"),
    "symlink-parent": Layer().add("esc", tarfile.SYMTYPE, link="/").dir("up").add("up/far", tarfile.SYMTYPE, link="../../../../..")
        .add("esc/etc-planted", data=b"stays inside\n").add("up/far/tmp-planted", data=b"stays inside too\n"),
    "replace-chain": Layer().dir("d").add("d/f", data=b"1").add("d", data=b"file now").dir("d").add("d/g", data=b"2")
        .add("dup", data=b"first").add("dup", data=b"second wins"),
    "absurd-size": Layer().add("huge", data=b"tiny", size=1 << 40),
}
for name, layer in hostile.items():
    raw = layer.raw() if name != "absurd-size" else layer.buf.getvalue()
    image([(raw, "gzip")], tag="hostile-" + name)
# A truncated gzip stream whose descriptor matches (the blob itself is broken, not the transfer).
full = gzip.compress(base, mtime=0)
image([(full[: len(full) // 2], "none")], tag="hostile-truncated")

# A non-distributable (foreign) layer, as Windows base images carry: a descriptor with URLs and
# a blob that is not in the layout (nor in any registry).
foreign_raw = Layer().add("foreign-file", data=b"never shipped\n").raw()
foreign_data = gzip.compress(foreign_raw, mtime=0)
desc = image([(base, "gzip")], tag=None)
manifest = json.load(open(os.path.join(layout, "blobs", "sha256", desc["digest"][7:])))
cfg = json.load(open(os.path.join(layout, "blobs", "sha256", manifest["config"]["digest"][7:])))
cfg["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(foreign_raw).hexdigest())
cd, cn = blob(json.dumps(cfg, sort_keys=True).encode())
manifest["config"].update(digest=cd, size=cn)
manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                           "digest": "sha256:" + hashlib.sha256(foreign_data).hexdigest(), "size": len(foreign_data),
                           "urls": ["https://example.invalid/foreign-layer"]})
md, mn = blob(json.dumps(manifest, sort_keys=True).encode())
index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
                           "platform": {"architecture": "amd64", "os": "linux"},
                           "annotations": {"org.opencontainers.image.ref.name": "foreign"}})

with open(os.path.join(layout, "index.json"), "w") as f:
    json.dump(index, f, sort_keys=True)
with open(os.path.join(layout, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
