//! `vault mcp`: an MCP server on stdio (the official Rust SDK, `rmcp`) for an AI agent,
//! under a grant. Its tools name what is granted and run commands with it; none returns a
//! value: a check shows masks, a run's output is masked like `vault agent exec`'s (it is
//! the same code path, `agent::confined`).
//!
//! The grant is opened again for every call: a revocation, an expiry or a refreshed value
//! counts from the next call on.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{
    CallToolResult, ContentBlock as Content, Implementation, ServerCapabilities, ServerConfig,
};
use rmcp::{ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};

use crate::agent::{audit, grant};
use crate::cli::McpArgs;
use crate::commands::agent::{check_rows, confined};
use crate::error::{Error, Result};

/// What a run's stdout or stderr keeps, each.
const OUTPUT_CAP: usize = 64 * 1024;
/// The longest a run may take, and the default.
const MAX_TIMEOUT: u64 = 3600;
const DEFAULT_TIMEOUT: u64 = 600;

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct RunRequest {
    /// The program and its arguments, run without a shell in the project directory
    pub command: Vec<String>,
    /// Kill the command (and everything it started) after this many seconds (default 600,
    /// at most 3600)
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct Nothing {}

#[derive(Clone)]
pub struct VaultServer {
    key: PathBuf,
    tool_router: ToolRouter<Self>,
}

/// A tool's failure, as the agent sees it: vault's message (never a value).
fn failed(error: &Error) -> CallToolResult {
    CallToolResult::error(vec![Content::text(error.to_string())])
}

fn json(value: &serde_json::Value) -> CallToolResult {
    CallToolResult::success(vec![Content::text(
        serde_json::to_string_pretty(value).unwrap_or_default(),
    )])
}

impl VaultServer {
    fn open(&self) -> Result<grant::Grant> {
        let opened = grant::open(&self.key)?;
        opened.check_expiry()?;
        Ok(opened)
    }

    fn list(&self) -> Result<serde_json::Value> {
        let opened = self.open()?;
        // Descriptions from the project's manifest, for the granted names it binds.
        let rows = check_rows(&opened, Some(&project_manifest(&opened)))
            .map(|(_, rows)| rows)
            .unwrap_or_default();
        let items: Vec<serde_json::Value> = opened
            .secrets
            .keys()
            .map(|name| {
                let described = rows
                    .iter()
                    .find(|r| r.from == format!("secret:{name}"))
                    .and_then(|r| r.description.clone());
                serde_json::json!({ "name": name, "description": described })
            })
            .collect();
        audit::append(audit::Action {
            grant: &opened.scope.name,
            action: "mcp list",
            argv: Vec::new(),
            names: Vec::new(),
            exit: None,
            error: None,
        })?;
        Ok(serde_json::json!({
            "grant": opened.scope.name,
            "expires": grant::format_time(opened.scope.expires_at),
            "secrets": items,
        }))
    }

    fn check(&self) -> Result<serde_json::Value> {
        let opened = self.open()?;
        let (path, rows) = check_rows(&opened, Some(&project_manifest(&opened)))?;
        audit::append(audit::Action {
            grant: &opened.scope.name,
            action: "mcp check",
            argv: Vec::new(),
            names: Vec::new(),
            exit: None,
            error: None,
        })?;
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.variable,
                    "from": r.from,
                    "description": r.description,
                    "state": r.state,
                    "shown": if r.state == "granted" { "********" } else { "" },
                })
            })
            .collect();
        let missing: Vec<&str> = rows
            .iter()
            .filter(|r| r.state == "missing")
            .map(|r| r.variable.as_str())
            .collect();
        Ok(serde_json::json!({
            "manifest": path.display().to_string(),
            "variables": items,
            "missing": missing,
        }))
    }

    fn run(&self, request: RunRequest) -> Result<serde_json::Value> {
        let opened = self.open()?;
        let timeout = request
            .timeout_seconds
            .unwrap_or(DEFAULT_TIMEOUT)
            .clamp(1, MAX_TIMEOUT);
        let stdout = Capped::default();
        let stderr = Capped::default();
        let variables = opened
            .secrets
            .keys()
            .map(|n| (n.clone(), n.clone()))
            .collect();
        let project = opened.scope.project.clone();
        let outcome = confined::run(
            confined::Request {
                grant: &opened,
                argv: request.command.into_iter().map(Into::into).collect(),
                cwd: project,
                variables,
                literals: Vec::new(),
                timeout: Some(Duration::from_secs(timeout)),
                action: "mcp run",
            },
            stdout.clone(),
            stderr.clone(),
        )?;
        Ok(serde_json::json!({
            "exit_code": outcome.code,
            "timed_out": outcome.timed_out,
            "stdout": stdout.text(),
            "stderr": stderr.text(),
            "stdout_truncated": stdout.truncated(),
            "stderr_truncated": stderr.truncated(),
        }))
    }
}

/// The project's manifest: `secretsd.toml` at the grant's project root.
fn project_manifest(opened: &grant::Grant) -> PathBuf {
    opened.scope.project.join("secretsd.toml")
}

#[tool_router]
impl VaultServer {
    pub fn new(key: PathBuf, allow_run: bool) -> Self {
        let mut tool_router = Self::tool_router();
        if !allow_run {
            tool_router.remove_route("run_command");
        }
        VaultServer { key, tool_router }
    }

    #[tool(
        description = "List the secrets this agent's grant holds: their names and what the project's manifest says they are for. Never returns a value."
    )]
    async fn list_secrets(&self, Parameters(_): Parameters<Nothing>) -> CallToolResult {
        let server = self.clone();
        blocking(move || server.list()).await
    }

    #[tool(
        description = "Check the project's manifest (secretsd.toml): each variable, where its value comes from, whether the grant covers it (shown masked) and which are missing. Never returns a value."
    )]
    async fn check_manifest(&self, Parameters(_): Parameters<Nothing>) -> CallToolResult {
        let server = self.clone();
        blocking(move || server.check()).await
    }

    #[tool(
        description = "Run a command (argv, no shell) in the project directory with the granted secrets in its environment; returns the exit code and the output with every secret masked. Only commands the grant allows run."
    )]
    async fn run_command(&self, Parameters(request): Parameters<RunRequest>) -> CallToolResult {
        let server = self.clone();
        blocking(move || server.run(request)).await
    }
}

/// Runs `work` off the protocol's thread (a command may run for minutes).
async fn blocking(
    work: impl FnOnce() -> Result<serde_json::Value> + Send + 'static,
) -> CallToolResult {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => json(&value),
        Ok(Err(e)) => failed(&e),
        Err(_) => failed(&Error::Failed("the tool failed".into())),
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for VaultServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("vault", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "secretsd vault: use secrets without seeing them. list_secrets names what is granted; check_manifest shows which variables of secretsd.toml are covered; run_command (when enabled) runs a command with the secrets in its environment and masks them in its output. No tool returns a value.",
            )
    }
}

/// Serves MCP on stdin/stdout until the client goes away.
pub fn serve(opened: &grant::Grant, args: &McpArgs) -> Result<u8> {
    if args.allow_run && opened.scope.commands.is_empty() {
        return Err(Error::LockedOut(format!(
            "vault mcp --allow-run needs a grant that names its commands (vault agent grant {} --command PROGRAM…): the MCP server runs outside the agent's sandbox, and a grant for any program would let the agent run anything there",
            opened.scope.name
        )));
    }
    audit::append(audit::Action {
        grant: &opened.scope.name,
        action: if args.allow_run {
            "mcp start --allow-run"
        } else {
            "mcp start"
        },
        argv: Vec::new(),
        names: Vec::new(),
        exit: None,
        error: None,
    })?;
    let server = VaultServer::new(opened.key_path.clone(), args.allow_run);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Error::Failed(format!("cannot start the MCP server: {e}")))?;
    runtime.block_on(async move {
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| Error::Failed(format!("the MCP session did not start: {e}")))?;
        running
            .waiting()
            .await
            .map_err(|e| Error::Failed(format!("the MCP session failed: {e}")))?;
        Ok::<_, Error>(())
    })?;
    Ok(crate::error::exit::OK)
}

/// A run's output as kept for the reply: masked already, cut at [`OUTPUT_CAP`].
#[derive(Clone, Default)]
struct Capped {
    inner: Arc<Mutex<(Vec<u8>, bool)>>,
}

impl Capped {
    fn text(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&inner.0).into_owned()
    }

    fn truncated(&self) -> bool {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).1
    }
}

impl std::io::Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let room = OUTPUT_CAP.saturating_sub(inner.0.len());
        if bytes.len() > room {
            inner.1 = true;
        }
        let kept = bytes.len().min(room);
        inner.0.extend_from_slice(&bytes[..kept]);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
