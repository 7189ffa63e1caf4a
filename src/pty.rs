//! A pseudo-terminal for `exec --redact`, so a command whose output vault filters still
//! sees a terminal: colours, `isatty`, line editing, password prompts, window size and
//! job-control keys keep working. Through rustix's pty and termios calls, so no `unsafe`
//! here; both sides are close-on-exec from the moment they exist (`O_CLOEXEC` on
//! `/dev/ptmx` and on `TIOCGPTPEER`), so no program vault starts on another thread
//! inherits them.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::pty::OpenptFlags;
use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};

use crate::error::{Error, Result};

/// The stream of vault's whose terminal the command's stands in for.
#[derive(Clone, Copy)]
pub enum Screen {
    Stdout,
    Stderr,
}

/// A new pseudo-terminal pair, the size of the terminal on `screen` when that is one.
pub struct Pty {
    pub master: File,
    pub slave: OwnedFd,
}

impl Pty {
    pub fn open(screen: Screen) -> Result<Pty> {
        let failed = |e: rustix::io::Errno| {
            Error::Failed(format!(
                "cannot open a pseudo-terminal for the command: {}",
                std::io::Error::from(e)
            ))
        };
        let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
        let master = rustix::pty::openpt(flags).map_err(failed)?;
        rustix::pty::grantpt(&master).map_err(failed)?;
        rustix::pty::unlockpt(&master).map_err(failed)?;
        let slave = match rustix::pty::ioctl_tiocgptpeer(&master, flags) {
            Ok(slave) => slave,
            // Linux before 4.13: by name.
            Err(_) => {
                use rustix::fs::{Mode, OFlags};
                let name = rustix::pty::ptsname(&master, Vec::new()).map_err(failed)?;
                rustix::fs::open(
                    name.as_c_str(),
                    OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(failed)?
            }
        };
        let master = File::from(master);
        copy_size(&master, screen);
        Ok(Pty { master, slave })
    }
}

/// Gives the pseudo-terminal whose master is `master` the size of the terminal on
/// `screen` (at the start, and on SIGWINCH); the kernel then tells the command's
/// foreground process group.
pub fn copy_size(master: &File, screen: Screen) {
    let size = match screen {
        Screen::Stdout => termios::tcgetwinsize(std::io::stdout()),
        Screen::Stderr => termios::tcgetwinsize(std::io::stderr()),
    };
    if let Ok(size) = size {
        let _ = termios::tcsetwinsize(master, size);
    }
}

/// Vault's stdin terminal in raw mode — keys go to the command's terminal as typed, and its
/// line discipline turns ^C or ^Z into signals for the command — until dropped, which puts
/// the modes back as they were (also when unwinding from a panic).
pub struct RawMode {
    saved: Termios,
    /// What the terminal had taken before raw mode (lines typed ahead, and an end of file
    /// as the command's terminal's EOF key), to be passed on first.
    pub typed_ahead: Vec<u8>,
}

impl RawMode {
    /// `command_terminal` is the master of the command's terminal (for its EOF key).
    pub fn enter(command_terminal: &File) -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut typed_ahead = Vec::new();
        if saved.local_modes.contains(LocalModes::ICANON) {
            // A canonical terminal keeps an end of file it has taken (^D, or what `script`
            // sends when its own input ends) as a NUL marking the end of a line; switched
            // to raw, it hands that NUL out as a key, and the command's terminal echoes it
            // as `^@`. So ^D first becomes an ordinary key, then what the terminal already
            // holds is read, ends of file included, and only then does it go raw: a ^D
            // arriving in between stays a ^D. Echo goes off in the same step: an ordinary
            // ^D would otherwise be echoed here as `^D` (raw mode does not echo either; the
            // command's terminal echoes what reaches it).
            let mut plain_eof = saved.clone();
            plain_eof.special_codes[SpecialCodeIndex::VEOF] = 0; // _POSIX_VDISABLE
            plain_eof
                .local_modes
                .remove(LocalModes::ECHO | LocalModes::ECHONL);
            termios::tcsetattr(&stdin, OptionalActions::Now, &plain_eof).ok()?;
            let eof_key = termios::tcgetattr(command_terminal)
                .map(|t| t.special_codes[SpecialCodeIndex::VEOF])
                .unwrap_or(0x04);
            read_what_is_held(&stdin, eof_key, &mut typed_ahead);
        }
        let mut raw = saved.clone();
        raw.make_raw();
        if termios::tcsetattr(&stdin, OptionalActions::Now, &raw).is_err() {
            let _ = termios::tcsetattr(&stdin, OptionalActions::Now, &saved);
            return None;
        }
        Some(RawMode { saved, typed_ahead })
    }
}

/// Reads the complete lines and ends of file a canonical terminal holds, without waiting
/// for more (at most 64 reads: a terminal that keeps receiving does not hold vault here).
fn read_what_is_held(terminal: &impl AsFd, eof_key: u8, into: &mut Vec<u8>) {
    let mut buffer = [0u8; 4096];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    for _ in 0..64 {
        let mut fds = [PollFd::new(terminal, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&now)) {
            Ok(1) if fds[0].revents().contains(PollFlags::IN) => {}
            _ => return,
        }
        // Canonical and readable: a line or an end of file is there, so this returns.
        match rustix::io::read(terminal, &mut buffer) {
            Ok(0) => into.push(eof_key),
            Ok(n) => into.extend_from_slice(&buffer[..n]),
            Err(_) => return,
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Flush, &self.saved);
    }
}

/// Makes the calling process the leader of a new session whose controlling terminal is
/// `terminal`: for the command, in `pre_exec` between fork and exec, where only
/// async-signal-safe work is allowed — this is two system calls and allocates nothing.
pub fn take_terminal(terminal: &OwnedFd) -> std::io::Result<()> {
    rustix::process::setsid()?;
    rustix::process::ioctl_tiocsctty(terminal)?;
    Ok(())
}
