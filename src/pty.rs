//! A pseudo-terminal for `exec --redact`, so a command whose output vault filters still
//! sees a terminal: colours, `isatty`, line editing, password prompts, window size and
//! job-control keys keep working. Plain libc (`openpty`, termios, `TIOCSWINSZ`): the few
//! calls needed do not justify a crate.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};

/// Whether `fd` is a terminal.
pub fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// A new pseudo-terminal pair, the size of the terminal at `size_of` when that is one.
pub struct Pty {
    pub master: File,
    pub slave: OwnedFd,
}

impl Pty {
    pub fn open(size_of: RawFd) -> Result<Pty> {
        let mut master: libc::c_int = -1;
        let mut slave: libc::c_int = -1;
        let size = window_size(size_of);
        let size_pointer = size
            .as_ref()
            .map_or(std::ptr::null(), |s| s as *const libc::winsize);
        // SAFETY: openpty fills in two descriptors; the name and termios pointers may be
        // null, and the window size pointer is null or points at a live local.
        let result = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                size_pointer,
            )
        };
        if result != 0 {
            return Err(Error::Failed(format!(
                "cannot open a pseudo-terminal for the command: {}",
                std::io::Error::last_os_error()
            )));
        }
        // SAFETY: both descriptors are new and owned by nothing else. Neither may leak
        // into the command except as its standard streams.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        for fd in [&master, &slave] {
            // SAFETY: fcntl on a descriptor owned here.
            unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        Ok(Pty {
            master: File::from(master),
            slave,
        })
    }
}

/// Gives the pseudo-terminal whose master is `master` the size of the terminal at `from`
/// (on SIGWINCH); the kernel then tells the command's foreground process group.
pub fn copy_size(master: RawFd, from: RawFd) {
    if let Some(size) = window_size(from) {
        // SAFETY: TIOCSWINSZ with a pointer to a live winsize.
        unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &size) };
    }
}

fn window_size(fd: RawFd) -> Option<libc::winsize> {
    if !is_terminal(fd) {
        return None;
    }
    // SAFETY: an all-zero winsize is valid; TIOCGWINSZ fills it in.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ with a pointer to a live winsize.
    (unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0).then_some(size)
}

/// The terminal at `fd` in raw mode — keys go to the command's terminal as typed, and its
/// line discipline turns ^C or ^Z into signals for the command — until dropped, which puts
/// the modes back as they were (also when unwinding from a panic).
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    pub fn enter(fd: RawFd) -> Option<RawMode> {
        // SAFETY: an all-zero termios is valid; tcgetattr fills it in.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: tcgetattr with a pointer to a live termios.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw edits the termios it is given.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: tcsetattr with a pointer to a live termios.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: tcsetattr with the termios saved on entry.
        unsafe { libc::tcsetattr(self.fd, libc::TCSAFLUSH, &self.saved) };
    }
}

/// Makes the command the leader of a new session whose controlling terminal is the
/// pseudo-terminal on its stdout (or stdin): called in the child between fork and exec.
///
/// # Safety
/// Only async-signal-safe calls, as `pre_exec` requires.
pub unsafe fn take_terminal(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        if libc::setsid() < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::ioctl(fd, libc::TIOCSCTTY, 0) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
