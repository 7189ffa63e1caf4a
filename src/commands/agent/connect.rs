//! `vault agent connect`: the agent host's *user-scope* MCP configuration — never the
//! project's (`.mcp.json`, `.codex/config.toml`), which the agent itself can edit — and
//! the sandbox settings to add, printed for the user to apply.

use std::path::{Path, PathBuf};

use crate::agent::grant;
use crate::cli::AgentHost;
use crate::commands::{SUCCESS, print_report, print_stderr};
use crate::error::{Error, Result};

/// The name the MCP server is registered under.
fn server_name(grant_name: &str) -> String {
    format!("vault-{grant_name}")
}

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .filter(|h| h.is_absolute())
        .ok_or_else(|| Error::Usage("HOME is not set to an absolute path".into()))
}

/// What the agent's own shell must not read: vault's configuration (the identity), state
/// (grant keys, the trust record), data (the vault, its backups) and cache directories,
/// and every identity file in use wherever it is (`VAULT_IDENTITY=~/.ssh/vault-id.txt`) —
/// the same list vault's own sandbox hides from a command run under a grant.
fn private_dirs() -> Result<Vec<PathBuf>> {
    let mut paths = vec![
        crate::store::paths::config_dir()?,
        grant::state_dir()?,
        crate::store::paths::data_dir()?,
    ];
    paths.extend(crate::agent::sandbox::cache_dir());
    let hidden = crate::agent::sandbox::hidden(None);
    for path in hidden.dirs.into_iter().chain(hidden.files) {
        if !paths.iter().any(|p| path.starts_with(p) || *p == path) {
            paths.push(path);
        }
    }
    Ok(paths)
}

pub fn connect(host: AgentHost, name: &str, allow_run: bool) -> Result<u8> {
    let scope = grant::scope_of(name)?.ok_or_else(|| {
        Error::NotFound(format!(
            "no grant named {name}: make it first with vault agent grant {name} --only … --ttl …"
        ))
    })?;
    if allow_run && scope.commands.is_empty() {
        return Err(Error::LockedOut(format!(
            "--allow-run needs a grant that names its commands (vault agent grant {name} --command PROGRAM…): the MCP server runs outside the agent's sandbox"
        )));
    }
    let key = grant::agents_dir()?.join(name).join(grant::KEY_FILE);
    let vault = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| Error::Failed(format!("cannot find vault's own executable: {e}")))?;
    let mut args = vec![
        "--grant".to_string(),
        key.display().to_string(),
        "mcp".to_string(),
    ];
    if allow_run {
        args.push("--allow-run".into());
    }
    let server = server_name(name);
    let dirs = private_dirs()?;
    match host {
        AgentHost::ClaudeCode => claude_code(&server, &vault, &args, &dirs),
        AgentHost::Codex => codex(&server, &vault, &args, &dirs),
    }
}

/// Writes `text` to `path` atomically, keeping its mode (0600 for a new file).
fn write_config(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o600);
    crate::store::fs::ensure_private_dir(&crate::store::fs::parent_dir(path))?;
    Ok(crate::store::fs::write_atomic_with_mode(
        path,
        text.as_bytes(),
        false,
        mode,
    )?)
}

fn read_config(path: &Path, what: &str) -> Result<Option<String>> {
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(
        crate::regular_file::read_text(path, path, what)?.to_string(),
    ))
}

fn claude_code(server: &str, vault: &Path, args: &[String], dirs: &[PathBuf]) -> Result<u8> {
    let path = home()?.join(".claude.json");
    let mut config: serde_json::Value = match read_config(&path, "Claude Code configuration")? {
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            Error::BadData(format!(
                "{} is not valid JSON ({e}); nothing was written",
                path.display()
            ))
        })?,
        None => serde_json::json!({}),
    };
    let entry = serde_json::json!({
        "type": "stdio",
        "command": vault.display().to_string(),
        "args": args,
        "env": {},
    });
    let object = config.as_object_mut().ok_or_else(|| {
        Error::BadData(format!(
            "{} does not hold a JSON object; nothing was written",
            path.display()
        ))
    })?;
    let servers = object
        .entry("mcpServers")
        .or_insert_with(|| serde_json::json!({}));
    let servers = servers.as_object_mut().ok_or_else(|| {
        Error::BadData(format!(
            "mcpServers in {} is not an object; nothing was written",
            path.display()
        ))
    })?;
    servers.insert(server.to_string(), entry.clone());
    let text = serde_json::to_string_pretty(&config)
        .map_err(|e| Error::Failed(format!("cannot write JSON: {e}")))?;
    write_config(&path, &format!("{text}\n"))?;
    // Claude Code reads `/x` in its settings as relative to the settings file: a path
    // under the home directory is written `~/…`, any other `//…` (from the root).
    let home = home()?;
    let claude_path = |dir: &PathBuf| match dir.strip_prefix(&home) {
        Ok(rest) => format!("~/{}", rest.display()),
        Err(_) => format!("/{}", dir.display()),
    };
    let deny: Vec<String> = dirs.iter().map(claude_path).collect();
    let settings = serde_json::json!({
        "sandbox": {
            "enabled": true,
            "failIfUnavailable": true,
            "allowUnsandboxedCommands": false,
            "filesystem": { "denyRead": deny, "denyWrite": deny },
        },
        "permissions": {
            "deny": dirs
                .iter()
                .zip(&deny)
                .map(|(path, d)| if path.is_file() {
                    format!("Read({d})")
                } else {
                    format!("Read({d}/**)")
                })
                .collect::<Vec<_>>(),
        },
    });
    print_report(&format!(
        "wrote mcpServers.{server} in {} (user scope):\n{}\n\nadd to ~/.claude/settings.json, so that the agent's shell cannot read vault's files (the MCP server, started by Claude Code outside the sandbox, still can):\n{}\n",
        path.display(),
        serde_json::to_string_pretty(&serde_json::json!({ server: entry })).unwrap_or_default(),
        serde_json::to_string_pretty(&settings).unwrap_or_default()
    ))?;
    print_stderr("restart Claude Code, then /mcp lists the server");
    SUCCESS
}

/// The TOML text of a string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn codex(server: &str, vault: &Path, args: &[String], dirs: &[PathBuf]) -> Result<u8> {
    let codex_home = match std::env::var_os("CODEX_HOME").filter(|h| !h.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => home()?.join(".codex"),
    };
    let path = codex_home.join("config.toml");
    let old = read_config(&path, "Codex configuration")?.unwrap_or_default();
    let table = format!("[mcp_servers.{server}]");
    let sub = format!("[mcp_servers.{server}.");
    // The text without an earlier block of ours (its table and subtables), comments and
    // everything else kept as they are.
    let mut kept = String::new();
    let mut skipping = false;
    for line in old.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            skipping = trimmed == table || trimmed.starts_with(&sub);
        }
        if !skipping {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    let block = format!(
        "{table}\ncommand = {}\nargs = [{}]\n",
        toml_string(&vault.display().to_string()),
        args.iter()
            .map(|a| toml_string(a))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut text = kept.trim_end().to_string();
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(&block);
    // What Codex will read must be TOML with our server in it, or nothing is written.
    let parsed: toml::Table = toml::from_str(&text).map_err(|e| {
        Error::BadData(format!(
            "{} would not be valid TOML with the server added ({e}); nothing was written — is mcp_servers written inline there?",
            path.display()
        ))
    })?;
    if parsed
        .get("mcp_servers")
        .and_then(|s| s.get(server))
        .is_none()
    {
        return Err(Error::BadData(format!(
            "{} does not read back with mcp_servers.{server}; nothing was written",
            path.display()
        )));
    }
    write_config(&path, &text)?;
    let profile: String = dirs
        .iter()
        .map(|d| format!("{} = \"none\"\n", toml_string(&d.display().to_string())))
        .collect();
    print_report(&format!(
        "wrote [mcp_servers.{server}] in {} (user scope):\n{block}\nadd to {}, so that the commands the agent runs cannot read vault's files (Codex starts the MCP server itself outside its sandbox, so the server still can):\ndefault_permissions = \"vault-agent\"\n\n[permissions.vault-agent]\nextends = \":workspace\"\n\n[permissions.vault-agent.filesystem]\n{profile}",
        path.display(),
        path.display()
    ))?;
    print_stderr(
        "Codex's permission profiles do not combine with sandbox_mode: remove sandbox_mode and [sandbox_workspace_write] from the file if they are there; codex mcp list shows the server",
    );
    SUCCESS
}
