// The guest's /init in --vm mode: a busybox shell script doing what ya-runtime-vm's init.c does
// before it runs a process (load modules; the .gvmi drive as squashfs under an overlay in RAM;
// 9p volumes; /proc, /sys, /dev, /dev/pts, /dev/shm, /tmp; /etc/hosts and /etc/resolv.conf;
// hostname; loopback), then the process: in the image's root, its working directory, its uid
// and gid, its environment only, exec'd by path. The console (ttyS0) carries markers gvmc reads:
// GVMC-BOOTED when the process starts, GVMC-EXIT-STATUS=N when it ends, GVMC-FAILED: WHY.
// Its output goes to ttyS1 (stdout) and ttyS2 (stderr), which gvmc copies to its own.

/// The /init script of the --vm initramfs and the marker lines it prints on the console.
public enum GuestInit {
    public static let bootedMarker = "GVMC-BOOTED"
    public static let exitMarker = "GVMC-EXIT-STATUS="
    public static let failedMarker = "GVMC-FAILED: "
    public static let cannotStartMarker = "GVMC-CANNOT-START: "

    /// The line gvmc sends on ttyS3 to end an interactive session.
    public static let endLine = "GVMC-END"

    /// The script. `modules` are initramfs paths in load order; volumes are mounted from 9p tags
    /// mnt0, mnt1, ... in the order given. `interactive`: `process` is `SHELL -c ""`, run once
    /// per line read from ttyS3 with the line as its command, each followed by an exit marker,
    /// until the end line (ya-runtime-dbg's session: one VM, one process per line).
    public static func script(
        modules: [String], version: GolemRuntimeVersion, memoryBytes: UInt64, volumes: [String],
        process: ProviderProcess, hostname: String, interactive: Bool = false
    ) -> String {
        let root = "/mnt/newroot"
        // ≤0.4.x: a 128 MiB tmpfs; 0.5.x: the initramfs tmpfs, default size (half the RAM).
        let overlayOptions = version == .v0_5 ? "mode=0755" : "mode=0755,size=\(version.overlayBytes(memoryBytes: memoryBytes))"
        var s = """
            #!/bin/busybox sh
            /bin/busybox --install -s /bin
            export PATH=/bin
            mount -t proc proc /proc
            mount -t sysfs sysfs /sys
            mount -t devtmpfs -o mode=0755,size=2M devtmpfs /dev
            fail() { echo "\(failedMarker)$*" > /dev/ttyS0; sync; poweroff -f; }
            for m in \(modules.map(quote).joined(separator: " ")); do insmod "$m" || fail "insmod $m"; done
            i=0; while [ ! -b /dev/vda ] && [ $i -lt 200 ]; do usleep 20000; i=$((i+1)); done
            mkdir -p /mnt/image /mnt/overlay \(root)
            mount -t squashfs -o ro,nodev /dev/vda /mnt/image || fail "the .gvmi (/dev/vda) does not mount as squashfs"
            mount -t tmpfs -o \(overlayOptions) tmpfs /mnt/overlay || fail "tmpfs for the overlay"
            mkdir /mnt/overlay/upper /mnt/overlay/work
            chmod "$(stat -c %a /mnt/image)" /mnt/overlay/upper
            mount -t overlay overlay -o lowerdir=/mnt/image,upperdir=/mnt/overlay/upper,workdir=/mnt/overlay/work \(root) || fail "overlay"

            """
        for (i, path) in volumes.enumerated() {
            s +=
                "mkdir -p \(quote(root + path)) && mount -t 9p -o trans=virtio,version=9p2000.L,msize=104857600 mnt\(i) \(quote(root + path)) || fail \(quote("volume " + path))\n"
        }
        s += """
            mount -t proc -o nodev,nosuid,noexec proc \(root)/proc || fail "mount /proc: the image needs a /proc directory"
            mount -t sysfs -o nodev,nosuid,noexec sysfs \(root)/sys || fail "mount /sys: the image needs a /sys directory"
            mkdir -p \(root)/dev \(root)/tmp
            mount -t devtmpfs -o nosuid,mode=0755,size=2M devtmpfs \(root)/dev
            ln -s /proc/self/fd \(root)/dev/fd
            mount -t tmpfs -o nosuid,mode=0777 tmpfs \(root)/tmp
            mkdir -p \(root)/dev/pts \(root)/dev/shm
            mount -t devpts -o nosuid,noexec,gid=5,mode=0620 devpts \(root)/dev/pts
            mount -t tmpfs -o nodev,nosuid,noexec tmpfs \(root)/dev/shm
            printf \(quote(GuestFiles.hostsEntries)) >> \(root)/etc/hosts || fail "/etc/hosts cannot be written"
            printf \(quote(GuestFiles.resolvConf)) > \(root)/etc/resolv.conf || fail "/etc/resolv.conf cannot be written"
            hostname \(quote(hostname))
            ifconfig lo 127.0.0.1 netmask 255.255.255.0 up
            stty -F /dev/ttyS1 raw -echo
            stty -F /dev/ttyS2 raw -echo

            """
        // nsenter -F: chroot, chdir (opened before the chroot, so given as a path in init's
        // root), setgid, setuid, then exec. A path with a slash is never looked up in PATH.
        let cwd = root + process.workingDirectory
        let noDirectory =
            "{ echo \(quote(cannotStartMarker + "chdir to the working directory " + process.workingDirectory + ": No such file or directory")) > /dev/ttyS0; "
        var command = ["env", "-i"] + process.environment + ["nsenter", "-r" + root, "-w" + cwd, "-F"]
        if process.uid != 0 || process.gid != 0 { command += ["-S", String(process.uid), "-G", String(process.gid)] }
        let path = process.executable.contains("/") ? process.executable : "./" + process.executable
        if interactive {
            let run =
                (command + ["--", path, "-c"]).map(quote).joined(separator: " ") + " \"$line\" </dev/null >/dev/ttyS1 2>/dev/ttyS2 3<&-"
            s += """
                stty -F /dev/ttyS3 -echo
                exec 3</dev/ttyS3
                echo \(bootedMarker) > /dev/ttyS0
                while IFS= read -r line <&3; do
                  [ "$line" = \(quote(endLine)) ] && break
                  [ -d \(quote(cwd)) ] || \(noDirectory)continue; }
                  \(run)
                  echo "\(exitMarker)$?" > /dev/ttyS0
                done
                sync
                poweroff -f

                """
            return s
        }
        // The booted marker goes out once the guest is ready for the command (in a session only
        // once ttyS3 is open: gvmc sends the first line when it reads the marker, and a serial
        // port drops what arrives before it is opened).
        s += "echo \(bootedMarker) > /dev/ttyS0\n"
        s += "[ -d \(quote(cwd)) ] || \(noDirectory)sync; poweroff -f; }\n"
        command += ["--", path] + process.arguments.dropFirst()
        s += command.map(quote).joined(separator: " ") + " </dev/null >/dev/ttyS1 2>/dev/ttyS2\n"
        s += """
            status=$?
            sync
            echo "\(exitMarker)$status" > /dev/ttyS0
            poweroff -f

            """
        return s
    }

    /// A single-quoted shell word.
    static func quote(_ s: String) -> String {
        "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}
