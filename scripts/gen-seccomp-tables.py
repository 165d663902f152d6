#!/usr/bin/env python3
"""Writes Sources/CSandbox/SeccompTables.h: the system calls RUN steps may make, as sorted number
ranges for x86_64 and for 32-bit x86 programs, from the kernel headers of this machine.

The list is Docker's default seccomp profile (moby profiles/seccomp/default.json) for the default
capability set: the calls that need CAP_SYS_ADMIN, CAP_SYS_BOOT, CAP_SYS_MODULE, CAP_SYS_PTRACE,
CAP_SYS_TIME, ... are absent, as they are in a container started without those capabilities.
clone, clone3, personality, mknod and mknodat are decided on their arguments in CSandbox.c.
Run it again after editing the list: python3 scripts/gen-seccomp-tables.py
"""
import os, re, sys

ALLOWED = """
_llseek _newselect accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod
chown chown32 chroot clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat
dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl
fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64
fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv
futex_wake futimesat get_mempolicy get_robust_list get_thread_area getcpu getcwd getdents getdents64
getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername
getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32
getrlimit getrusage getsid getsockname getsockopt gettid gettimeofday getuid getuid32 getxattr
inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel io_destroy io_getevents
io_pgetevents io_pgetevents_time64 io_setup io_submit ioctl ioprio_get ioprio_set ipc kill
landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link
linkat listen listxattr llistxattr lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack
membarrier memfd_create memfd_secret mincore mkdir mkdirat mlock mlock2 mlockall mmap mmap2 mprotect
mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
nanosleep newfstatat open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc
pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64
process_mrelease process_vm_readv process_vm_writev pselect6 pselect6_time64 ptrace pwrite64 pwritev
pwritev2 read readahead readdir readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64
recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq
rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max sched_get_priority_min
sched_getaffinity sched_getattr sched_getparam sched_getscheduler sched_rr_get_interval
sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler
sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64
sendmmsg sendmsg sendto set_mempolicy set_robust_list set_thread_area set_tid_address setfsgid
setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority
setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit setsid
setsockopt setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaction sigaltstack signal
signalfd signalfd4 sigpending sigprocmask sigreturn sigsuspend socket socketcall socketpair splice
stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill
time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
timer_settime64 timerfd timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime
utimensat utimensat_time64 utimes vfork wait4 waitid waitpid write writev
arch_prctl modify_ldt
""".split()

def numbers(header):
    table = {}
    for line in open(header):
        m = re.match(r"#define __NR_(\w+)\s+(\d+)", line)
        if m:
            table[m.group(1)] = int(m.group(2))
    return table

def ranges(nums):
    out = []
    for n in sorted(nums):
        if out and out[-1][1] + 1 == n:
            out[-1][1] = n
        else:
            out.append([n, n])
    return out

def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    inc = "/usr/include/x86_64-linux-gnu/asm"
    lines = ["/* Generated by scripts/gen-seccomp-tables.py from this machine's kernel headers: do not edit.",
             " * The system calls a RUN step may make without conditions (Docker's default seccomp profile),",
             " * as inclusive [first, last] number ranges, sorted. */",
             "#ifndef GVMC_SECCOMP_TABLES_H", "#define GVMC_SECCOMP_TABLES_H", ""]
    for arch, header in (("x86_64", "unistd_64.h"), ("i386", "unistd_32.h")):
        table = numbers(os.path.join(inc, header))
        present = [n for n in ALLOWED if n in table]
        rs = ranges(table[n] for n in present)
        lines.append(f"/* {arch}: {len(present)} calls: {' '.join(sorted(present))} */")
        lines.append(f"static const unsigned gvmc_seccomp_{arch}[][2] = {{")
        for i in range(0, len(rs), 6):
            lines.append("    " + " ".join(f"{{{a}, {b}}}," for a, b in rs[i:i + 6]))
        lines.append("};")
        for special in ("clone", "clone3", "personality", "mknod", "mknodat"):
            lines.append(f"#define GVMC_NR_{arch}_{special} {table.get(special, -1)}")
        lines.append("")
    lines.append("#endif")
    with open(os.path.join(root, "Sources/CSandbox/SeccompTables.h"), "w") as f:
        f.write("\n".join(lines) + "\n")

main()
