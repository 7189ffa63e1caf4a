//! A fresh, isolated home for each test: its own HOME, XDG directories and nothing from the
//! developer's environment, so tests never touch a real vault.
#![allow(dead_code)]

pub mod agent;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use tempfile::TempDir;

pub struct TestHome {
    pub dir: TempDir,
}

impl TestHome {
    pub fn new() -> Self {
        TestHome {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A home with `vault init` already run.
    pub fn initialised() -> Self {
        let home = TestHome::new();
        home.vault(&["init"]).assert().success();
        home
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn vault_file(&self) -> PathBuf {
        self.path().join("data/secretsd/vault.age")
    }

    pub fn identity_file(&self) -> PathBuf {
        self.path().join("config/secretsd/identity.txt")
    }

    pub fn backup_dir(&self) -> PathBuf {
        self.path().join("data/secretsd/backups")
    }

    /// `vault ARGS` with a clean environment pointing at this home.
    pub fn vault(&self, args: &[&str]) -> Command {
        Command::from_std(self.vault_std(args))
    }

    /// The same as a plain `std::process::Command`, for tests that manage the process.
    pub fn vault_std(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("vault"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_DATA_HOME", self.path().join("data"))
            .current_dir(self.path())
            .args(args);
        command
    }

    /// Stores `value` through stdin, as a user piping it would.
    pub fn set(&self, name: &str, value: &str) {
        self.vault(&["set", name])
            .write_stdin(format!("{value}\n"))
            .assert()
            .success();
    }

    /// `vault get --reveal NAME`.
    pub fn reveal(&self, name: &str) -> String {
        let output = self.vault(&["get", "--reveal", name]).output().unwrap();
        assert!(output.status.success(), "get {name}: {}", stderr(&output));
        String::from_utf8(output.stdout).unwrap()
    }

    /// The public key `vault init` wrote into the identity file.
    pub fn public_key(&self) -> String {
        fs::read_to_string(self.identity_file())
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .expect("an age identity file with a public key comment")
            .to_string()
    }

    /// Replaces the vault with `document`, encrypted by the real `age` CLI.
    pub fn age_encrypt(&self, document: &serde_json::Value) {
        self.age_encrypt_text(&document.to_string());
    }

    /// Replaces the vault with `text` as its plaintext, byte for byte (a document written
    /// by hand: escapes, repeated keys, whatever serde_json would normalise away).
    pub fn age_encrypt_text(&self, text: &str) {
        age_encrypt_to(text, &[&self.public_key()], &self.vault_file());
    }

    /// Forgets what this machine remembered of its vaults (their owners, the highest
    /// epochs seen, where they were read): every vault is then seen for the first time.
    pub fn forget_trust(&self) {
        let _ = fs::remove_file(self.trust_file());
    }

    /// What this machine remembers of its vaults.
    pub fn trust_file(&self) -> PathBuf {
        self.path().join(".local/state/secretsd/trust.json")
    }

    /// The line `vault identity public` prints for this home's identity.
    pub fn line(&self) -> String {
        let output = self
            .vault(&["identity", "public", "--name", &self.name()])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output).trim().to_string()
    }

    /// This home's writer key, from the line `vault identity public` prints.
    pub fn writer(&self) -> String {
        self.line()
            .split_whitespace()
            .find_map(|w| w.strip_prefix("writer:"))
            .expect("a line names its writer key")
            .to_string()
    }

    /// A member name for this home: the last letters of its directory.
    pub fn name(&self) -> String {
        let dir = self.path().file_name().unwrap().to_string_lossy();
        format!("m{}", dir.trim_start_matches(".tmp").to_lowercase())
    }

    /// Imports `secrets` (a JSON object of names to values) as vault writes them.
    pub fn import_json(&self, secrets: &serde_json::Value) {
        self.vault(&["import", "--json", "-"])
            .write_stdin(secrets.to_string())
            .assert()
            .success();
    }

    /// The vault's membership block as stored in its plaintext.
    pub fn membership(&self) -> String {
        self.age_decrypt()["membership"].to_string()
    }

    /// `text` (a document written by hand, ending with its closing brace) signed as this
    /// home's identity signs a write: what a member could write with another tool.
    pub fn sign(&self, text: &str) -> String {
        sign_with(&self.identity_file(), text)
    }

    /// Decrypts the vault with the real `age` CLI and parses the JSON inside.
    pub fn age_decrypt(&self) -> serde_json::Value {
        age_decrypt(&self.vault_file(), &self.identity_file())
    }

    /// The vault's plaintext as the real `age` CLI decrypts it, byte for byte.
    pub fn age_decrypt_text(&self) -> String {
        String::from_utf8(age_decrypt_bytes(&self.vault_file(), &self.identity_file()))
            .expect("vault plaintext is UTF-8")
    }
}

/// Writes `text` encrypted by the real `age` CLI to each of `recipients` at `output`
/// (0600): a file anyone who knows those public keys can make.
pub fn age_encrypt_to(text: &str, recipients: &[&str], output: &Path) {
    let mut age = std::process::Command::new("age");
    age.arg("-e");
    for recipient in recipients {
        age.args(["-r", recipient]);
    }
    let mut child = age
        .arg("-o")
        .arg(output)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("the age CLI must be installed (scripts/test installs it)");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "age -e failed");
    chmod(output, 0o600);
}

pub fn age_decrypt(file: &Path, identity: &Path) -> serde_json::Value {
    serde_json::from_slice(&age_decrypt_bytes(file, identity)).expect("vault plaintext is JSON")
}

fn age_decrypt_bytes(file: &Path, identity: &Path) -> Vec<u8> {
    let output = std::process::Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(file)
        .output()
        .expect("the age CLI must be installed (scripts/test installs it)");
    assert!(
        output.status.success(),
        "age -d failed: {}",
        stderr(&output)
    );
    output.stdout
}

/// `text` (a document ending with its closing brace) signed with the writer key of the
/// X25519 identity in the file `identity`.
pub fn sign_with(identity: &Path, text: &str) -> String {
    use sha2::Digest;
    let contents = fs::read_to_string(identity).unwrap();
    let identity = secretsd::store::identity::x25519_identity(&contents).unwrap();
    let key = secretsd::store::signature::SigningKey::from_identity(&identity).unwrap();
    let open = text
        .trim_end()
        .strip_suffix('}')
        .expect("a document ends with }");
    let mut hasher = secretsd::store::signature::start();
    hasher.update(open.as_bytes());
    format!("{open}{}", key.suffix(hasher))
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The local stand-in for Infisical (infisical-test-server), stopped when dropped.
pub struct InfisicalServer {
    child: std::process::Child,
    pub url: String,
}

impl InfisicalServer {
    pub fn start(seed: &Path) -> InfisicalServer {
        use std::io::BufRead;
        let binary = assert_cmd::cargo::cargo_bin("vault").with_file_name("infisical-test-server");
        let mut child = std::process::Command::new(binary)
            .arg("--seed")
            .arg(seed)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("infisical-test-server: run cargo build --workspace first (scripts/test does)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .to_string();
        InfisicalServer { child, url }
    }
}

impl Drop for InfisicalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes `gnupg` a GnuPG home with one passphrase-less key; returns its fingerprint.
pub fn make_gpg_key(gnupg: &Path) -> String {
    fs::create_dir_all(gnupg).unwrap();
    chmod(gnupg, 0o700);
    let gpg = |args: &[&str]| {
        let output = std::process::Command::new("gpg")
            .args(args)
            .env("GNUPGHOME", gnupg)
            .output()
            .expect("gpg (package gnupg) must be installed; scripts/test installs it");
        assert!(output.status.success(), "gpg {args:?}: {}", stderr(&output));
        stdout(&output)
    };
    gpg(&[
        "--batch",
        "--passphrase",
        "",
        "--quick-gen-key",
        "vault test <test@secretsd.invalid>",
        "default",
        "default",
        "never",
    ]);
    gpg(&["--list-keys", "--with-colons"])
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .unwrap()
        .trim_matches(':')
        .to_string()
}

/// Stops the gpg-agent of a GnuPG home.
pub fn stop_gpg_agent(gnupg: &Path) {
    let _ = std::process::Command::new("gpgconf")
        .args(["--kill", "gpg-agent"])
        .env("GNUPGHOME", gnupg)
        .status();
}

/// Makes a new age identity at `path` with `age-keygen`; returns its public key.
pub fn age_keygen(path: &Path) -> String {
    let output = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(path)
        .output()
        .expect("age-keygen (package age) must be installed; scripts/test installs it");
    assert!(output.status.success(), "age-keygen: {}", stderr(&output));
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .expect("age-keygen writes a public key comment")
}

/// A small deterministic generator, so a failing run can be repeated from its seed.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `pass insert --multiline ENTRY` with `value` on stdin, in the store that `env` names.
pub fn pass_insert(env: &[(&str, &Path)], entry: &str, value: &str) {
    use std::io::Write;
    let mut insert = std::process::Command::new("pass")
        .args(["insert", "--multiline", entry])
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("pass (package pass) must be installed; scripts/test installs it");
    insert
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    assert!(insert.wait().unwrap().success(), "pass insert {entry}");
}

/// `systemd-analyze verify FILES` passes without a word.
pub fn assert_systemd_verifies(files: &[&Path]) {
    let verify = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .args(files)
        .output()
        .expect("systemd-analyze (package systemd) must be installed; scripts/test installs it");
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert!(
        verify.stderr.is_empty(),
        "systemd-analyze verify found problems:\n{}",
        stderr(&verify)
    );
}

/// A real password store under `dir`: a throwaway GnuPG key and `pass init` with it. Its
/// gpg-agent is stopped when dropped.
pub struct PassStore {
    pub gnupg: PathBuf,
    pub store: PathBuf,
}

impl PassStore {
    pub fn new(dir: &Path) -> PassStore {
        let pass = PassStore {
            gnupg: dir.join("gnupg"),
            store: dir.join("password-store"),
        };
        let fingerprint = make_gpg_key(&pass.gnupg);
        let init = std::process::Command::new("pass")
            .args(["init", &fingerprint])
            .envs(pass.env())
            .output()
            .expect("pass (package pass) must be installed; scripts/test installs it");
        assert!(init.status.success(), "pass init: {}", stderr(&init));
        pass
    }

    /// The variables that point gpg and pass (and the gopass provider) at this store.
    pub fn env(&self) -> [(&'static str, &Path); 2] {
        [
            ("GNUPGHOME", self.gnupg.as_path()),
            ("PASSWORD_STORE_DIR", self.store.as_path()),
        ]
    }

    pub fn insert(&self, entry: &str, value: &str) {
        pass_insert(&self.env(), entry, value);
    }
}

impl Drop for PassStore {
    fn drop(&mut self) {
        stop_gpg_agent(&self.gnupg);
    }
}

/// `moto_server` (PyPI `moto[server]`, AWS's emulator) on a free loopback port, serving
/// Secrets Manager, SSM and IAM; stopped when dropped, also when a test panics.
pub struct MotoServer {
    child: std::process::Child,
    pub url: String,
}

/// The access key the tests sign with (moto accepts any unless IAM is enforced).
pub const MOTO_KEY_ID: &str = "AKIAMOTOTESTKEY12345";
pub const MOTO_SECRET_KEY: &str = "moto-secret-access-key-never-shown-0042";

impl MotoServer {
    pub fn start() -> MotoServer {
        MotoServer::start_with(&[])
    }

    /// With `env` added to the server's environment (`INITIAL_NO_AUTH_ACTION_COUNT`).
    pub fn start_with(env: &[(&str, &str)]) -> MotoServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The module of the python3 the tests' boto3 calls use too.
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 -m moto.server: pip install 'moto[server]' (scripts/test does)");
        let server = MotoServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server did not listen on {port} within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        server
    }

    /// Runs `script` in python3 with `sm`, `ssm` and `iam` boto3 clients of this server
    /// (signing with `key`, default the tests' key); its stdout. The script comes on stdin.
    pub fn boto_as(&self, key: (&str, &str), script: &str) -> String {
        use std::io::Write;
        let prelude = format!(
            "import boto3, json, sys\n\
             def client(name):\n    return boto3.client(name, endpoint_url={url:?}, region_name='us-east-1', aws_access_key_id={id:?}, aws_secret_access_key={secret:?})\n\
             sm, ssm, iam = client('secretsmanager'), client('ssm'), client('iam')\n",
            url = self.url,
            id = key.0,
            secret = key.1,
        );
        let mut child = std::process::Command::new("python3")
            .arg("-")
            .env_remove("AWS_PROFILE")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{prelude}{script}\n").as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "boto3: {}", stderr(&output));
        stdout(&output)
    }

    pub fn boto(&self, script: &str) -> String {
        self.boto_as((MOTO_KEY_ID, MOTO_SECRET_KEY), script)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
