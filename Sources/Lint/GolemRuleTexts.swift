// Texts of the Golem rules (facts and citations: ../shared/GOLEM.md §1 and §6).

extension RuleCatalog {
    static let golem: [Rule] = [
        Rule(
            id: "GVM001", severity: .warning,
            summary: "ENTRYPOINT/CMD is not run on Golem unless the requestor starts it with start-entrypoint",
            rationale:
                "ya-runtime-vm runs Entrypoint+Cmd only when the Start command carries `start-entrypoint`; otherwise requestors run each command themselves (lib.rs:146-155, 533-546).",
            example: "FROM python:3.11-slim\nVOLUME /golem/output\nCMD [\"python3\", \"/app/task.py\"]\n",
            fix:
                "Run your command explicitly from the requestor (e.g. `/bin/sh -c \"python3 /app/task.py\"`), or document that start-entrypoint is required."
        ),
        Rule(
            id: "GVM002", severity: .warning,
            summary: "exec-form ENTRYPOINT/CMD program is not an absolute path; Golem execs it without PATH lookup",
            rationale: "The guest init calls execve(bin, ...) with no PATH search (init.c:987-989); `[\"python3\", ...]` fails to start.",
            example: "FROM python:3.11-slim\nVOLUME /golem/output\nENTRYPOINT [\"python3\", \"-m\", \"app\"]\n",
            fix: "Use the absolute path (`/usr/local/bin/python3`) or the shell form."),
        Rule(
            id: "GVM003", severity: .warning,
            summary: "no VOLUME declared: file transfers have no target and all writes go to RAM",
            rationale:
                "yagna resolves container:/path transfers by the volumes of the image; without one, uploads and downloads fail ('path not found in container') and everything written lands in the RAM-backed overlay.",
            example: "FROM alpine\nCOPY task.sh /task.sh\n",
            fix: "Declare where inputs and outputs go: `VOLUME /golem/input /golem/output`."),
        Rule(
            id: "GVM004", severity: .info,
            summary: "WORKDIR is outside every VOLUME: files written there consume VM RAM",
            rationale: "Processes start in WorkingDir; the writable layer outside volumes is RAM (128 MiB on providers up to 0.4.x).",
            example: "FROM alpine\nVOLUME /golem/output\nWORKDIR /app\n",
            fix: "Write results into a volume, or make the working directory a volume if the task writes there."),
        Rule(
            id: "GVM005", severity: .warning,
            summary: "content placed under a VOLUME is hidden at runtime",
            rationale: "Each VOLUME is mounted as an empty host directory at start; anything the image had there is invisible.",
            example: "FROM alpine\nCOPY model.bin /golem/input/model.bin\nVOLUME /golem/input\n",
            fix: "Put image content outside volume paths (e.g. /app) and let the requestor upload into volumes."),
        Rule(
            id: "GVM006", severity: .error,
            summary: "VOLUME covers / or an operating-system directory",
            rationale: "A volume on / makes start fail (EINVAL, runtime panic); on /usr, /etc, /bin ... it hides the OS (init.c:424-485).",
            example: "FROM alpine\nVOLUME /usr\n",
            fix: "Use a dedicated directory such as /golem/work."),
        Rule(
            id: "GVM007", severity: .warning,
            summary: "VOLUME shadows a directory that usually holds image content",
            rationale: "/root, /home, /opt, /srv, /var, /usr/local ... normally carry installed software; an empty volume hides it.",
            example: "FROM python:3.11-slim\nRUN pip install numpy\nVOLUME /usr/local\n",
            fix: "Mount volumes on dedicated paths (/golem/...)."),
        Rule(
            id: "GVM008", severity: .warning,
            summary: "USER is not numeric uid:gid; Golem runs such images as root",
            rationale:
                "gvmkit-build drops USER and ya-runtime-vm parses User as `uid:gid` only (deploy.rs:126,143-157); anything else silently becomes 0:0.",
            example: "FROM node:20\nUSER node\n",
            fix: "Use numeric ids (`USER 1000:1000`); gvmc resolves names to numbers when it builds."),
        Rule(
            id: "GVM009", severity: .warning,
            summary: "content or WORKDIR under /tmp, /dev, /proc or /sys is gone at runtime",
            rationale: "The VM init mounts fresh /proc, /sys, /dev and a tmpfs /tmp at boot (init.c:2852-2882).",
            example: "FROM alpine\nCOPY data.csv /tmp/data.csv\n",
            fix: "Place files elsewhere (e.g. /app or a volume)."),
        Rule(
            id: "GVM010", severity: .error,
            summary: "final stage targets a platform other than linux/amd64",
            rationale: "Golem providers run x86_64 VMs under KVM with -cpu host; other architectures cannot execute.",
            example: "FROM --platform=linux/arm64 alpine\n",
            fix: "Build for linux/amd64."),
        Rule(
            id: "GVM011", severity: .info,
            summary: "EXPOSE/HEALTHCHECK/STOPSIGNAL/ONBUILD has no effect on Golem",
            rationale: "ya-runtime-vm never reads these fields; processes are killed with SIGKILL.",
            example: "FROM nginx\nEXPOSE 80\n",
            fix: "Remove the instruction, or keep it only for non-Golem use."),
        Rule(
            id: "GVM012", severity: .warning,
            summary: "a secret-looking ENV/LABEL/ARG ends up in the publicly downloadable image config",
            rationale: "The whole ContainerConfig is appended to the .gvmi, which anyone can download by hash.",
            example: "FROM alpine\nENV API_KEY=abc123\n",
            fix: "Pass secrets at run time from the requestor, never in the image."),
        Rule(
            id: "GVM013", severity: .warning,
            summary: "COPY/ADD of a credential or key file into a publicly downloadable image",
            rationale: "Image contents are public once uploaded to the Golem registry.",
            example: "FROM alpine\nCOPY .env /app/.env\n",
            fix: "Keep keys out of the image; send them to the VM at run time."),
        Rule(
            id: "GVM014", severity: .warning,
            summary: "ENV is not applied on current providers",
            rationale: "ya-runtime-vm 0.5.x starts processes with an empty environment (init.c:987-989, fix pending in PR #201).",
            example: "FROM alpine\nENV MODE=fast\n",
            fix: "Set variables in the command: `/bin/sh -c \"MODE=fast /app/run\"`."),
        Rule(
            id: "GVM015", severity: .error,
            summary: "VOLUME is not a clean absolute path",
            rationale:
                "The guest mount rejects empty, `.` and `..` components and relative paths, and yagna matches transfer paths by raw prefix (a trailing slash breaks it).",
            example: "FROM alpine\nVOLUME /golem/output/\n",
            fix: "Write volumes as clean absolute paths: `/golem/output`."),
        Rule(
            id: "GVM016", severity: .warning,
            summary: "final stage is FROM scratch: no /etc and no /bin/sh",
            rationale: "The VM init needs /etc, /proc, /sys; requestors run `/bin/sh -c` for almost everything.",
            example: "FROM scratch\nCOPY app /app\n",
            fix: "Use a small base image (busybox, alpine, debian-slim)."),
        Rule(
            id: "GVM017", severity: .warning,
            summary: "nested VOLUMEs: mount order is unspecified, the parent may hide the child",
            rationale: "Volumes come from a HashMap (deploy.rs:159-171) and are mounted in that order.",
            example: "FROM alpine\nVOLUME /golem /golem/output\n",
            fix: "Use sibling volumes (/golem/input, /golem/output)."),
        Rule(
            id: "GVM018", severity: .error,
            summary: "the root filesystem lacks what the VM init needs",
            rationale:
                "/etc, /proc and /sys must exist and /etc/hosts and /etc/resolv.conf must be regular files; a VOLUME path must not cross a symlink (init.c:456, 501-551, 2855-2863).",
            example: "(an image whose /etc/resolv.conf is a dangling symlink)",
            fix: "Let gvmc add the boot files (build/convert do), or create them.", needsImage: true),
        Rule(
            id: "GVM019", severity: .info,
            summary: "VOLUME looks like a database data directory",
            rationale: "9p volumes lack features some databases need (locking, mmap semantics).",
            example: "FROM postgres:16\nVOLUME /var/lib/postgresql/data\n",
            fix: "Keep database files on the VM's own storage, or test the database on 9p."),
        Rule(
            id: "GVM020", severity: .warning,
            summary: ".gvmi larger than 1 GiB",
            rationale: "Providers download the image before the first task; large images are slow and may time out.",
            example: "(an image with a 2 GiB model)",
            fix: "Slim the image (multi-stage builds, fewer layers' leftovers) or send large data as task input.", needsImage: true),
        Rule(
            id: "GVM021", severity: .error,
            summary: "squashfs compressor not supported by Golem's guest kernel",
            rationale: "The guest kernel (Alpine 5.10 config-virt) has no zstd squashfs support.",
            example: "gvmc pack rootfs --compression zstd",
            fix: "Use gzip, xz, lz4 or lzo.", needsImage: true)
    ]
}
