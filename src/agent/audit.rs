//! The agent audit log: `$XDG_STATE_HOME/secretsd/agent-audit.jsonl`, one JSON line per
//! action taken under a grant — when, which grant, what (the argv, masked like output, or
//! the MCP tool), the names injected, the exit code; never a value.
//!
//! Each line carries `prev`, the SHA-256 of the line before (64 zeros for the first), so a
//! line removed, added or changed in the middle shows. Removing the last lines does not:
//! that is what the copy sent to the journal is for (when one runs), where the user's own
//! processes cannot delete entries.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const FILE: &str = "agent-audit.jsonl";
const JOURNAL: &str = "/run/systemd/journal/socket";
/// The `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// How much of an argv a line keeps: lines stay short enough to find the last one fast.
const MAX_ARGV_BYTES: usize = 4096;
/// How far from the end the last line is looked for.
const TAIL: u64 = 2 * MAX_ARGV_BYTES as u64 + 4096;

/// One action, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub prev: String,
    pub time: String,
    pub grant: String,
    /// `exec`, `run`, `get`, `mcp list`, `mcp check`, `mcp run`, `refused`…
    pub action: String,
    /// The command, masked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    /// The names of the values the command was given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    /// Why it was refused or failed (vault's own message: never a value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What is recorded of an action (the chain is added when it is written).
pub struct Action<'a> {
    pub grant: &'a str,
    pub action: &'a str,
    pub argv: Vec<String>,
    pub names: Vec<String>,
    pub exit: Option<i32>,
    pub error: Option<String>,
}

pub fn path() -> Result<PathBuf> {
    Ok(crate::agent::grant::state_dir()?.join(FILE))
}

fn hash(line: &[u8]) -> String {
    Sha256::digest(line)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Cuts the argv to [`MAX_ARGV_BYTES`] in all, saying so.
fn shorten(argv: Vec<String>) -> Vec<String> {
    let mut total = 0;
    let mut kept = Vec::with_capacity(argv.len());
    for word in argv {
        if total + word.len() > MAX_ARGV_BYTES {
            kept.push("…(cut)".to_string());
            break;
        }
        total += word.len();
        kept.push(word);
    }
    kept
}

/// Appends `action` to the log under an exclusive lock, chained to the last line, and
/// sends it to the journal when one runs. Returns the line written.
pub fn append(action: Action<'_>) -> Result<String> {
    let path = path()?;
    let dir = crate::store::fs::parent_dir(&path);
    crate::store::fs::ensure_private_dir(&dir)?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    crate::store::strict::check_private_file(&path, "agent audit log")?;
    file.lock().map_err(|e| Error::io("lock", &path, e))?;
    let prev = match last_line(&mut file, &path)? {
        Some(line) => hash(&line),
        None => GENESIS.to_string(),
    };
    let entry = Entry {
        prev,
        time: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        grant: action.grant.to_string(),
        action: action.action.to_string(),
        argv: shorten(action.argv),
        names: action.names,
        exit: action.exit,
        error: action.error,
    };
    let line = serde_json::to_string(&entry)
        .map_err(|e| Error::Failed(format!("cannot write the audit line: {e}")))?;
    file.write_all(format!("{line}\n").as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(|e| Error::io("write", &path, e))?;
    to_journal(&line);
    Ok(line)
}

/// The last complete line of the log, if any.
fn last_line(file: &mut std::fs::File, path: &Path) -> Result<Option<Vec<u8>>> {
    let len = file
        .metadata()
        .map_err(|e| Error::io("read", path, e))?
        .len();
    let start = len.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(start))
        .map_err(|e| Error::io("read", path, e))?;
    let mut tail = Vec::with_capacity((len - start) as usize);
    file.read_to_end(&mut tail)
        .map_err(|e| Error::io("read", path, e))?;
    let trimmed = tail.strip_suffix(b"\n").unwrap_or(&tail);
    if trimmed.is_empty() {
        return Ok(None);
    }
    let line = match trimmed.iter().rposition(|b| *b == b'\n') {
        Some(at) => &trimmed[at + 1..],
        None if start == 0 => trimmed,
        None => {
            return Err(Error::BadData(format!(
                "the agent audit log {} ends in a line longer than vault writes; check it with vault agent log",
                path.display()
            )));
        }
    };
    Ok(Some(line.to_vec()))
}

/// Whether a journal runs here (its native socket exists).
pub fn journal_runs() -> bool {
    Path::new(JOURNAL).exists()
}

/// Sends the line to the journal (native protocol), if a journal runs; best effort.
fn to_journal(line: &str) {
    if !Path::new(JOURNAL).exists() {
        return;
    }
    let Ok(socket) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let message = format!(
        "SYSLOG_IDENTIFIER=vault-agent\nPRIORITY=5\nVAULT_AUDIT_HASH={}\nMESSAGE={line}\n",
        hash(line.as_bytes())
    );
    let _ = socket.send_to(message.as_bytes(), JOURNAL);
}

/// The log read and checked: every entry, and the first place the chain breaks.
pub struct Checked {
    pub entries: Vec<Entry>,
    pub broken: Option<String>,
}

/// Reads the log and checks each line's `prev` against the line before.
pub fn read() -> Result<Checked> {
    let path = path()?;
    if !path.exists() {
        return Ok(Checked {
            entries: Vec::new(),
            broken: None,
        });
    }
    crate::store::strict::check_private_file(&path, "agent audit log")?;
    let text = crate::regular_file::read_text(&path, &path, "agent audit log")?;
    let mut entries = Vec::new();
    let mut broken = None;
    let mut expected = GENESIS.to_string();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let entry: Entry = match serde_json::from_str(line) {
            Ok(entry) => entry,
            Err(_) => {
                broken.get_or_insert(format!("line {number} is not an audit entry"));
                expected = hash(line.as_bytes());
                continue;
            }
        };
        if entry.prev != expected {
            broken.get_or_insert(if number == 1 {
                "line 1 does not start the log: the lines before it were removed".to_string()
            } else {
                format!(
                    "line {number} does not follow line {}: a line between them was removed, added or changed",
                    number - 1
                )
            });
        }
        expected = hash(line.as_bytes());
        entries.push(entry);
    }
    Ok(Checked { entries, broken })
}
