//! Keeps a command's processes on a leash (Linux): whatever a team's program
//! starts ends with its cell, and nothing it started outlives Rollcall.
//!
//! Rollcall spawns a keeper, which forks the program and waits for it (as
//! systemd's `KillMode=control-group` does with a cgroup, with what any
//! process may use):
//! - the keeper is a child subreaper, so a process the program detaches
//!   (`setsid`, a double fork) becomes the keeper's child when its parent
//!   exits, and stays within reach;
//! - when the program exits, the keeper stops whatever it left running,
//!   says how many on stderr ([`LEFT_RUNNING`], which the run row keeps) and
//!   exits with the program's status;
//! - when Rollcall asks (SIGTERM: timeout, cancel, shutdown) or dies (its
//!   parent changes, even after kill -9, checked every [`WATCH`]), it stops
//!   everything and exits;
//! - the program gets the parent-death signal from the (single-threaded)
//!   keeper, so even a killed keeper takes the program with it.
//!
//! The keeper is the forked child of a multi-threaded process and never
//! execs, so it makes only async-signal-safe calls: no allocation, no
//! locks, no Rust IO, and it leaves with `_exit`.

use std::io;
use std::mem::MaybeUninit;
use std::ptr;

/// What the keeper writes to stderr before the count of processes it
/// stopped after the program exited.
pub const LEFT_RUNNING: &str = "rollcall: stopped processes the command left running: ";

/// How often the keeper looks whether Rollcall is still there.
const WATCH: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: 100_000_000,
};

/// More rounds than this and the keeper stops counting (a fork bomb): each
/// round stops one generation of what was left.
const MAX_ROUNDS: usize = 256;

/// Makes `cmd` start through a keeper (see the module's head).
pub(crate) fn install(cmd: &mut tokio::process::Command) {
    let rollcall = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec; it and
    // everything it calls make only async-signal-safe calls.
    unsafe {
        cmd.pre_exec(move || split(rollcall));
    }
}

/// In the child Rollcall forked: forks the program, which returns to be
/// exec'd; the child itself becomes the keeper and never returns.
unsafe fn split(rollcall: libc::pid_t) -> io::Result<()> {
    let mut watched = MaybeUninit::<libc::sigset_t>::uninit();
    let mut inherited = MaybeUninit::<libc::sigset_t>::uninit();
    libc::sigemptyset(watched.as_mut_ptr());
    for signal in [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        libc::sigaddset(watched.as_mut_ptr(), signal);
    }
    let watched = watched.assume_init();
    // Blocked, the signals wait for `sigtimedwait` instead of running
    // handlers inherited from Rollcall.
    if libc::pthread_sigmask(libc::SIG_BLOCK, &watched, inherited.as_mut_ptr()) != 0 {
        return Err(io::Error::last_os_error());
    }
    let inherited = inherited.assume_init();
    if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
        return Err(io::Error::last_os_error());
    }
    let keeper = libc::getpid();
    match libc::fork() {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            // The program: a process group of its own, dead with its keeper.
            libc::pthread_sigmask(libc::SIG_SETMASK, &inherited, ptr::null_mut());
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            if libc::getppid() != keeper {
                libc::_exit(127);
            }
            Ok(())
        }
        program => keep(rollcall, program, &watched),
    }
}

/// The keeper's life: wait for the program, or for a reason to stop it.
unsafe fn keep(rollcall: libc::pid_t, program: libc::pid_t, watched: &libc::sigset_t) -> ! {
    // Only stderr stays open here: the program's stdout ends when the
    // program and what it started close it, and std's exec-error pipe
    // (somewhere above 2) must not wait for a keeper that never execs.
    libc::close(0);
    libc::close(1);
    close_from(3);
    let mut status = 0;
    loop {
        let signal = libc::sigtimedwait(watched, ptr::null_mut(), &WATCH);
        if reap(program, &mut status) {
            let left = stop_all(program);
            if left > 0 {
                say_left_running(left);
            }
            exit_as(status);
        }
        let asked = matches!(signal, libc::SIGTERM | libc::SIGINT | libc::SIGHUP);
        if asked || libc::getppid() != rollcall {
            libc::killpg(program, libc::SIGKILL);
            stop_all(program);
            exit_as_signal(libc::SIGTERM);
        }
    }
}

/// Reaps every child that ended; true once the program is among them.
unsafe fn reap(program: libc::pid_t, status: &mut libc::c_int) -> bool {
    let mut ended = false;
    loop {
        let mut st = 0;
        let pid = libc::waitpid(-1, &mut st, libc::WNOHANG);
        if pid <= 0 {
            return ended;
        }
        if pid == program {
            *status = st;
            ended = true;
        }
    }
}

/// Stops every process left below the keeper, a generation a round (a
/// stopped process's children become the keeper's), and reaps them.
/// Returns how many there were.
unsafe fn stop_all(program: libc::pid_t) -> usize {
    let mut stopped = 0;
    for _ in 0..MAX_ROUNDS {
        let mut buf = [0u8; 4096];
        let n = read_children(&mut buf);
        let mut found = 0;
        for pid in pids(&buf[..n]) {
            libc::kill(pid, libc::SIGKILL);
            found += 1;
        }
        if found == 0 {
            // Nothing listed: without /proc's list, the program's group at least.
            libc::killpg(program, libc::SIGKILL);
            while libc::waitpid(-1, ptr::null_mut(), libc::WNOHANG) > 0 {}
            return stopped;
        }
        stopped += found;
        for pid in pids(&buf[..n]) {
            while libc::waitpid(pid, ptr::null_mut(), 0) < 0
                && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
            {}
        }
    }
    stopped
}

/// The keeper's children, as /proc lists them (space-separated pids).
unsafe fn read_children(buf: &mut [u8]) -> usize {
    let fd = libc::open(
        c"/proc/thread-self/children".as_ptr(),
        libc::O_RDONLY | libc::O_CLOEXEC,
    );
    if fd < 0 {
        return 0;
    }
    let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
    libc::close(fd);
    usize::try_from(n).unwrap_or(0)
}

/// The pids in a space-separated list.
fn pids(list: &[u8]) -> impl Iterator<Item = libc::pid_t> + '_ {
    list.split(|b| !b.is_ascii_digit())
        .filter(|digits| !digits.is_empty())
        .map(|digits| {
            digits.iter().fold(0 as libc::pid_t, |n, d| {
                n.saturating_mul(10)
                    .saturating_add(libc::pid_t::from(d - b'0'))
            })
        })
        .filter(|pid| *pid > 1)
}

unsafe fn close_from(first: libc::c_int) {
    if libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, 0) == 0 {
        return;
    }
    for fd in first..4096 {
        libc::close(fd);
    }
}

/// Writes [`LEFT_RUNNING`] and the count to stderr, formatted on the stack.
unsafe fn say_left_running(count: usize) {
    let mut line = [0u8; 128];
    let head = LEFT_RUNNING.as_bytes();
    line[..head.len()].copy_from_slice(head);
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = count;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut end = head.len();
    for d in &digits[i..] {
        line[end] = *d;
        end += 1;
    }
    line[end] = b'\n';
    libc::write(2, line.as_ptr().cast(), end + 1);
}

/// Leaves as the program left: its exit code, or its signal.
unsafe fn exit_as(status: libc::c_int) -> ! {
    if libc::WIFSIGNALED(status) {
        exit_as_signal(libc::WTERMSIG(status));
    }
    libc::_exit(libc::WEXITSTATUS(status))
}

unsafe fn exit_as_signal(signal: libc::c_int) -> ! {
    let mut only = MaybeUninit::<libc::sigset_t>::uninit();
    libc::sigemptyset(only.as_mut_ptr());
    libc::sigaddset(only.as_mut_ptr(), signal);
    libc::signal(signal, libc::SIG_DFL);
    libc::pthread_sigmask(libc::SIG_UNBLOCK, only.as_ptr(), ptr::null_mut());
    libc::kill(libc::getpid(), signal);
    libc::_exit(128 + signal)
}
