//! The AWS provider (secretsd-provider-aws) through the vault binary, against moto_server
//! (AWS's emulator, PyPI `moto[server]`) on a free loopback port; boto3 seeds and checks
//! what AWS holds, as an independent client. Needs the provider built (`cargo build
//! --workspace`, which scripts/test does).

mod common;

use common::{MOTO_KEY_ID, MOTO_SECRET_KEY, MotoServer, TestHome, stderr, stdout};

/// A home whose `[providers.aws]` points at `server` (`extra` lines added); the keys come
/// from vault's environment through the provider's default references.
fn aws_home(server: &MotoServer, extra: &str) -> TestHome {
    let home = TestHome::initialised();
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!(
            "[providers.aws]\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\n{extra}",
            server.url
        ),
    )
    .unwrap();
    home
}

/// `vault ARGS` with the provider found and the tests' key in vault's environment.
fn vault(home: &TestHome, args: &[&str]) -> assert_cmd::Command {
    let mut command = home.vault(args);
    let binaries = assert_cmd::cargo::cargo_bin("vault");
    command
        .env("VAULT_PROVIDER_PATH", binaries.parent().unwrap())
        .env("AWS_ACCESS_KEY_ID", MOTO_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", MOTO_SECRET_KEY);
    command
}

fn reveal(home: &TestHome, address: &str) -> String {
    let output = vault(home, &["get", "--reveal", address]).output().unwrap();
    assert!(output.status.success(), "{address}: {}", stderr(&output));
    stdout(&output).trim_end_matches('\n').to_string()
}

fn set(home: &TestHome, address: &str, value: &str) {
    let output = vault(home, &["set", address])
        .write_stdin(format!("{value}\n"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "set {address}: {}",
        stderr(&output)
    );
}

const RDS: &str = r#"{"username":"app","password":"rds-pw-1","port":5432,"host":"db.internal"}"#;

fn seed(server: &MotoServer) {
    server.boto(&format!(
        "sm.create_secret(Name='prod/plain', SecretString='plain-value-1')\n\
         sm.create_secret(Name='prod/db', SecretString={RDS:?})\n\
         ssm.put_parameter(Name='/prod/app/key', Value='param-v1', Type='SecureString')\n\
         ssm.put_parameter(Name='/prod/app/key', Value='param-v2', Type='SecureString', Overwrite=True)\n\
         ssm.put_parameter(Name='flat-param', Value='flat-1', Type='String')\n"
    ));
}

#[test]
fn reads_a_secret_a_json_field_and_a_secure_string_parameter() {
    let server = MotoServer::start();
    seed(&server);
    let home = aws_home(&server, "");
    assert_eq!(reveal(&home, "aws:sm:prod/plain"), "plain-value-1");
    assert_eq!(reveal(&home, "aws:sm:prod/db#password"), "rds-pw-1");
    assert_eq!(reveal(&home, "aws:sm:prod/db#port"), "5432");
    assert_eq!(reveal(&home, "aws:ssm:/prod/app/key"), "param-v2");
    assert_eq!(reveal(&home, "aws:ssm:/prod/app/key?version=1"), "param-v1");
    assert_eq!(reveal(&home, "aws:ssm:flat-param"), "flat-1");
    // A secret's previous version, by its staging label.
    server.boto("sm.put_secret_value(SecretId='prod/plain', SecretString='plain-value-2')");
    assert_eq!(reveal(&home, "aws:sm:prod/plain"), "plain-value-2");
    assert_eq!(
        reveal(&home, "aws:sm:prod/plain?version-stage=AWSPREVIOUS"),
        "plain-value-1"
    );
    // By ARN, as AWS names it.
    let arn = server.boto("print(sm.describe_secret(SecretId='prod/db')['ARN'])");
    assert_eq!(
        reveal(&home, &format!("aws:sm:{}#username", arn.trim())),
        "app"
    );
}

#[test]
fn a_missing_secret_or_field_is_named_in_the_error_and_exits_not_found() {
    let server = MotoServer::start();
    seed(&server);
    let home = aws_home(&server, "");
    for (address, named) in [
        ("aws:sm:prod/nope", "prod/nope does not exist"),
        ("aws:ssm:/prod/app/nope", "/prod/app/nope does not exist"),
        ("aws:sm:prod/db#nope", "prod/db has no field"),
    ] {
        let output = vault(&home, &["get", "--reveal", address])
            .output()
            .unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(3), "{address}: {err}");
        assert!(err.contains(named), "{address}: {err}");
        assert!(
            !err.contains("rds-pw-1") && !err.contains(MOTO_SECRET_KEY),
            "{err}"
        );
    }
}

#[test]
fn writes_keep_the_other_fields_and_the_parameters_type() {
    let server = MotoServer::start();
    seed(&server);
    let home = aws_home(&server, "");
    set(&home, "aws:sm:prod/db#password", "rds-pw-2");
    let stored = server.boto("print(sm.get_secret_value(SecretId='prod/db')['SecretString'])");
    assert_eq!(
        stored.trim(),
        r#"{"username":"app","password":"rds-pw-2","port":5432,"host":"db.internal"}"#
    );
    // A whole secret, a new secret, and a field of a new secret.
    set(&home, "aws:sm:prod/plain", "plain-value-3");
    set(&home, "aws:sm:prod/new", "new-value");
    set(&home, "aws:sm:prod/newdb#user", "u1");
    assert_eq!(reveal(&home, "aws:sm:prod/plain"), "plain-value-3");
    assert_eq!(reveal(&home, "aws:sm:prod/new"), "new-value");
    assert_eq!(reveal(&home, "aws:sm:prod/newdb"), r#"{"user":"u1"}"#);

    // A parameter keeps its type; a new one is a SecureString.
    set(&home, "aws:ssm:/prod/app/key", "param-v3");
    set(&home, "aws:ssm:flat-param", "flat-2");
    set(&home, "aws:ssm:/prod/app/new", "new-param");
    let described = server.boto(
        "for n in ['/prod/app/key', 'flat-param', '/prod/app/new']:\n    \
         p = ssm.get_parameter(Name=n, WithDecryption=True)['Parameter']\n    \
         print(n, p['Type'], p['Value'], p['Version'])",
    );
    assert_eq!(
        described,
        "/prod/app/key SecureString param-v3 3\nflat-param String flat-2 2\n/prod/app/new SecureString new-param 1\n"
    );

    // A pinned version cannot be written; nothing changes.
    let output = vault(&home, &["set", "aws:ssm:/prod/app/key?version=1"])
        .write_stdin("pinned-write\n")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("pins a version"),
        "{}",
        stderr(&output)
    );
    assert_eq!(reveal(&home, "aws:ssm:/prod/app/key"), "param-v3");
}

#[test]
fn lists_both_services_across_pages() {
    let server = MotoServer::start();
    server.boto(
        "for i in range(120):\n    \
         ssm.put_parameter(Name='/prod/many/p%03d' % i, Value='v', Type='SecureString')\n\
         ssm.put_parameter(Name='/prod/other/x', Value='v', Type='String')\n\
         for i in range(105):\n    \
         sm.create_secret(Name='many/s%03d' % i, SecretString='v')\n\
         sm.create_secret(Name='other/x', SecretString='v')\n",
    );
    let home = aws_home(&server, "");
    // GetParametersByPath answers ten per page, ListSecrets a hundred.
    let listed = vault(&home, &["list", "aws:ssm:/prod/many/"])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", stderr(&listed));
    let want: String = (0..120)
        .map(|i| format!("ssm:/prod/many/p{i:03}\n"))
        .collect();
    assert_eq!(stdout(&listed), want);
    let listed = vault(&home, &["list", "aws:sm:many/"]).output().unwrap();
    assert!(listed.status.success(), "{}", stderr(&listed));
    let want: String = (0..105).map(|i| format!("sm:many/s{i:03}\n")).collect();
    assert_eq!(stdout(&listed), want);
}

#[test]
fn provider_check_passes_against_moto_for_both_services() {
    let server = MotoServer::start();
    // Deleted secrets are deleted at once here: the kit writes a key again after deleting it.
    let home = aws_home(&server, "recovery_window_days = 0\n");
    for prefix in ["sm:secretsd-check/", "ssm:/secretsd-check/"] {
        let output = vault(&home, &["provider", "check", "aws", "--key-prefix", prefix])
            .output()
            .unwrap();
        let report = stdout(&output);
        assert!(
            output.status.success(),
            "{prefix}: {report}{}",
            stderr(&output)
        );
        assert!(report.contains("passed, 0 failed"), "{report}");
    }
}

#[test]
fn run_resolves_a_manifest_of_aws_and_vault_references() {
    let server = MotoServer::start();
    seed(&server);
    let home = aws_home(&server, "");
    home.set("LOCAL_TOKEN", "local-token-9");
    let manifest = home.path().join("app.toml");
    std::fs::write(
        &manifest,
        "[env]\nDB_PASSWORD = \"aws:sm:prod/db#password\"\nAPP_KEY = \"aws:ssm:/prod/app/key\"\n\
         FLAT = \"aws:ssm:flat-param\"\nTOKEN = \"secret:LOCAL_TOKEN\"\n",
    )
    .unwrap();
    let output = vault(
        &home,
        &[
            "run",
            "--manifest",
            manifest.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "echo \"$DB_PASSWORD $APP_KEY $FLAT $TOKEN\"",
        ],
    )
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "rds-pw-1 param-v2 flat-1 local-token-9\n");

    // One missing reference: nothing starts, the variable and the reference are named.
    std::fs::write(
        &manifest,
        "[env]\nDB_PASSWORD = \"aws:sm:prod/db#password\"\nGONE = \"aws:ssm:/prod/gone\"\n",
    )
    .unwrap();
    let output = vault(
        &home,
        &[
            "run",
            "--manifest",
            manifest.to_str().unwrap(),
            "--",
            "touch",
            "started",
        ],
    )
    .output()
    .unwrap();
    let err = stderr(&output);
    assert!(!output.status.success());
    assert!(err.contains("GONE") && err.contains("/prod/gone"), "{err}");
    assert!(!err.contains("rds-pw-1"), "{err}");
    assert!(!home.path().join("started").exists());
}

/// vault under `env -i`: only what is passed explicitly. The keys reach the provider as
/// default references (in its configuration, never its environment), and the region and
/// endpoint as allow-listed locators; nothing configured under [providers.aws].
#[test]
fn credentials_and_locators_come_from_vaults_environment_under_env_i() {
    let server = MotoServer::start();
    seed(&server);
    let home = TestHome::initialised();
    let binaries = assert_cmd::cargo::cargo_bin("vault");
    let run = |extra: &[&str]| {
        let mut args: Vec<String> = vec![
            "-i".into(),
            format!("PATH={}", std::env::var("PATH").unwrap()),
            format!("HOME={}", home.path().display()),
            format!("XDG_CONFIG_HOME={}", home.path().join("config").display()),
            format!("XDG_DATA_HOME={}", home.path().join("data").display()),
            format!(
                "VAULT_PROVIDER_PATH={}",
                binaries.parent().unwrap().display()
            ),
            "AWS_REGION=us-east-1".into(),
            format!("AWS_ENDPOINT_URL={}", server.url),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(
            [
                binaries.to_str().unwrap(),
                "-v",
                "get",
                "--reveal",
                "aws:sm:prod/db#password",
            ]
            .map(String::from),
        );
        std::process::Command::new("env")
            .args(&args)
            .current_dir(home.path())
            .output()
            .unwrap()
    };
    let key_id = format!("AWS_ACCESS_KEY_ID={MOTO_KEY_ID}");
    let secret = format!("AWS_SECRET_ACCESS_KEY={MOTO_SECRET_KEY}");
    let output = run(&[&key_id, &secret]);
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert_eq!(stdout(&output), "rds-pw-1");
    assert!(
        err.contains("access_key_id from env:AWS_ACCESS_KEY_ID"),
        "{err}"
    );
    assert!(!err.contains(MOTO_SECRET_KEY), "{err}");

    // A credentials file named by AWS_SHARED_CREDENTIALS_FILE, with a profile from
    // AWS_PROFILE: the SDK's own chain, reached through the allow-list.
    let credentials = home.path().join("aws-credentials");
    std::fs::write(
        &credentials,
        format!(
            "[ci]\naws_access_key_id = {MOTO_KEY_ID}\naws_secret_access_key = {MOTO_SECRET_KEY}\n"
        ),
    )
    .unwrap();
    let file = format!("AWS_SHARED_CREDENTIALS_FILE={}", credentials.display());
    let config = format!(
        "AWS_CONFIG_FILE={}",
        home.path().join("no-config").display()
    );
    let output = run(&[&file, &config, "AWS_PROFILE=ci"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "rds-pw-1");

    // No credentials anywhere: denied, saying where credentials are looked for.
    let output = run(&[&config, "AWS_EC2_METADATA_DISABLED=true"]);
    let err = stderr(&output);
    assert!(!output.status.success());
    assert!(err.contains("no AWS credentials"), "{err}");
}

/// moto enforcing IAM: a user without a policy is denied, and the error names the action
/// and the resource, never a key. moto lets its first N requests through unsigned checks
/// (`INITIAL_NO_AUTH_ACTION_COUNT`): exactly the setup's, so every request vault makes is
/// checked.
#[test]
fn a_user_without_the_permission_is_denied_naming_action_and_resource() {
    let server = MotoServer::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
    let created = server.boto(
        "iam.create_user(UserName='reader')\n\
         k = iam.create_access_key(UserName='reader')['AccessKey']\n\
         sm.create_secret(Name='prod/locked', SecretString='locked-value-7')\n\
         print(k['AccessKeyId'], k['SecretAccessKey'])",
    );
    let (id, secret) = created.trim().split_once(' ').unwrap();
    let home = aws_home(&server, "");
    let output = vault(&home, &["get", "--reveal", "aws:sm:prod/locked"])
        .env("AWS_ACCESS_KEY_ID", id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .output()
        .unwrap();
    let err = stderr(&output);
    assert!(!output.status.success(), "{err}");
    assert!(
        err.contains("AWS denied secretsmanager:GetSecretValue on prod/locked"),
        "{err}"
    );
    assert!(!err.contains(secret) && !err.contains(id), "{err}");
    assert!(!err.contains("locked-value-7"), "{err}");
}

/// `role_arn`: the role is assumed (with its `external_id`) on top of the user's key, the
/// calls made with the role's credentials; a user who may not assume it is denied, the
/// error naming the role. (moto grants no sts:AssumeRole by an IAM policy when it enforces
/// IAM, so the assumption that succeeds runs without enforcement.)
#[test]
fn a_configured_role_is_assumed_on_top_of_the_users_key() {
    // A configuration value is a reference: an ARN, which looks like one, is a literal.
    let role = "role_arn = \"literal:arn:aws:iam::123456789012:role/reader\"\n\
                external_id = \"billing\"\n";
    let server = MotoServer::start();
    seed(&server);
    let home = aws_home(&server, role);
    assert_eq!(reveal(&home, "aws:sm:prod/db#password"), "rds-pw-1");

    let server = MotoServer::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
    let created = server.boto(
        "iam.create_user(UserName='assumer')\n\
         k = iam.create_access_key(UserName='assumer')['AccessKey']\n\
         sm.create_secret(Name='prod/behind-role', SecretString='role-value-5')\n\
         print(k['AccessKeyId'], k['SecretAccessKey'])",
    );
    let (id, secret) = created.trim().split_once(' ').unwrap();
    let home = aws_home(&server, role);
    let output = vault(&home, &["get", "--reveal", "aws:sm:prod/behind-role"])
        .env("AWS_ACCESS_KEY_ID", id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .output()
        .unwrap();
    let err = stderr(&output);
    assert!(!output.status.success(), "{err}");
    assert!(
        err.contains("when asked to assume arn:aws:iam::123456789012:role/reader"),
        "{err}"
    );
    assert!(
        !err.contains(secret) && !err.contains("role-value-5"),
        "{err}"
    );
}

/// AWS's throttling, which moto never does: a stand-in that answers
/// `ThrottlingException` (as Secrets Manager's JSON protocol writes it) to its first
/// `throttled` requests, then the secret; it counts requests in `count`.
const THROTTLER: &str = r#"
import http.server, json, sys
throttled, count = int(sys.argv[1]), sys.argv[2]
seen = 0
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        seen += 1
        open(count, "w").write(str(seen))
        if seen <= throttled:
            status, body = 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        else:
            status, body = 200, {"Name": "prod/t", "SecretString": "after-throttling",
                                 "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/t-AbCdEf",
                                 "VersionId": "v1", "VersionStages": ["AWSCURRENT"]}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// The throttling stand-in, stopped when dropped.
struct Throttler {
    child: std::process::Child,
    url: String,
    count: std::path::PathBuf,
}

impl Throttler {
    fn start(throttled: u32, dir: &std::path::Path) -> Throttler {
        use std::io::BufRead;
        let count = dir.join("requests");
        let mut child = std::process::Command::new("python3")
            .args(["-c", THROTTLER, &throttled.to_string()])
            .arg(&count)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        Throttler {
            child,
            url: format!("http://127.0.0.1:{}", port.trim()),
            count,
        }
    }

    fn requests(&self) -> u32 {
        std::fs::read_to_string(&self.count)
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Drop for Throttler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Throttling is retried with backoff and jitter (4 attempts in all), inside the call's
/// time; past them the key is unavailable, saying AWS kept throttling.
#[test]
fn throttling_is_retried_then_reported_unavailable() {
    let home = TestHome::initialised();
    let config = |url: &str| {
        std::fs::write(
            home.path().join("config/secretsd/config.toml"),
            format!("[providers.aws]\nregion = \"us-east-1\"\nendpoint_url = \"{url}\"\n"),
        )
        .unwrap()
    };
    let twice = Throttler::start(2, home.path());
    config(&twice.url);
    assert_eq!(reveal(&home, "aws:sm:prod/t"), "after-throttling");
    assert_eq!(twice.requests(), 3);
    drop(twice);

    let always = Throttler::start(1000, home.path());
    config(&always.url);
    let started = std::time::Instant::now();
    let output = vault(&home, &["get", "--reveal", "aws:sm:prod/t"])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(5), "{err}");
    assert!(
        err.contains("(unavailable): AWS kept throttling secretsmanager:GetSecretValue on prod/t"),
        "{err}"
    );
    assert_eq!(always.requests(), 4);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{err}"
    );
}

/// `vault rm`: a secret is scheduled for deletion within Secrets Manager's recovery window
/// (restorable; a read says so), a field goes alone, a parameter is deleted.
#[test]
fn rm_schedules_a_secret_for_deletion_and_removes_a_field_or_a_parameter() {
    let server = MotoServer::start();
    seed(&server);
    let home = aws_home(&server, "");
    for address in [
        "aws:sm:prod/db#port",
        "aws:sm:prod/plain",
        "aws:ssm:flat-param",
    ] {
        let output = vault(&home, &["rm", address]).output().unwrap();
        assert!(output.status.success(), "{address}: {}", stderr(&output));
    }
    assert_eq!(
        reveal(&home, "aws:sm:prod/db"),
        r#"{"username":"app","password":"rds-pw-1","host":"db.internal"}"#
    );
    let held = server.boto(
        "d = sm.describe_secret(SecretId='prod/plain')\n\
         print('DeletedDate' in d)\n\
         print(len(ssm.get_parameters(Names=['flat-param'])['Parameters']))",
    );
    assert_eq!(held, "True\n0\n");
    let output = vault(&home, &["get", "--reveal", "aws:sm:prod/plain"])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(err.contains("restore-secret"), "{err}");
}

const PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n\
MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n\
-----END PRIVATE KEY-----";

/// A malformed endpoint (no scheme, a trailing space, in the configuration or in
/// AWS_ENDPOINT_URL) is refused as invalid before any call, naming the setting — and the
/// value being written never reaches stderr (the SDK's error quotes the request body).
#[test]
fn a_malformed_endpoint_is_refused_and_never_shows_the_value_being_written() {
    let home = TestHome::initialised();
    let config = |url: &str| {
        std::fs::write(
            home.path().join("config/secretsd/config.toml"),
            format!("[providers.aws]\nregion = \"us-east-1\"\nendpoint_url = \"{url}\"\n"),
        )
        .unwrap()
    };
    let write = |env: Option<&str>| {
        let mut command = vault(&home, &["set", "aws:sm:prod/tls-key"]);
        if let Some(url) = env {
            command.env("AWS_ENDPOINT_URL", url);
        }
        command.write_stdin(format!("{PEM}\n")).output().unwrap()
    };
    for (url, env, named) in [
        (
            "vpce-0a1b2c-abcd.secretsmanager.us-east-1.vpce.amazonaws.com",
            None,
            "endpoint_url",
        ),
        ("http://127.0.0.1:9 ", None, "endpoint_url"),
        ("", Some("https://x.example.com "), "AWS_ENDPOINT_URL"),
    ] {
        config(url);
        let output = write(env);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(5), "{url:?} {env:?}: {err}");
        assert!(
            err.contains(&format!("{named} is not a usable endpoint URL")),
            "{url:?} {env:?}: {err}"
        );
        for line in PEM.lines().skip(1).take(2) {
            assert!(!err.contains(line), "{url:?} {env:?}: {err}");
            assert!(!err.contains(&line[..20]), "{url:?} {env:?}: {err}");
        }
    }
}

/// A hostile or broken endpoint: answers each request whose X-Amz-Target ends with a rule's
/// name with that rule's status and JSON body (after `sleep` seconds when given; a rule
/// `{"endless": true}` streams a body announced as 4 GiB), and sends
/// every other request on to `upstream` (moto) unchanged; it logs each target, one a line.
const STAND_IN: &str = r#"
import http.server, json, sys, time, urllib.request, urllib.error
rules, log, upstream = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        target = self.headers.get("X-Amz-Target", "")
        with open(log, "a") as f:
            f.write(target + "\n")
        rule = next((r for name, r in rules.items() if target.endswith(name)), rules.get("*"))
        if rule is not None and rule.get("endless"):
            # A body announced as 4 GiB and streamed until the client hangs up.
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(4 * 1024**3))
            self.end_headers()
            try:
                self.wfile.write(b'{"SecretString":"')
                while True:
                    self.wfile.write(b"A" * (1 << 20))
            except OSError:
                return
        if rule is not None:
            time.sleep(rule.get("sleep", 0))
            status, data = rule["status"], json.dumps(rule["body"]).encode()
        elif upstream:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            request = urllib.request.Request(upstream + self.path, data=body, headers=headers)
            try:
                answer = urllib.request.urlopen(request)
                status, data = answer.status, answer.read()
            except urllib.error.HTTPError as e:
                status, data = e.code, e.read()
        else:
            status, data = 400, b'{"__type":"UnknownOperationException"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            pass
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
if len(sys.argv) > 4:
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[4] + "/server.pem", sys.argv[4] + "/server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// The stand-in endpoint, stopped when dropped.
struct StandIn {
    child: std::process::Child,
    url: String,
    log: std::path::PathBuf,
}

impl StandIn {
    /// `rules` as JSON: `{"secretsmanager.GetSecretValue": {"status": 200, "body": {}}}`.
    fn start(rules: &str, upstream: Option<&MotoServer>, dir: &std::path::Path) -> StandIn {
        StandIn::start_with(rules, upstream, dir, None)
    }

    /// The same over HTTPS, with `tls`'s server.pem and server.key.
    fn start_with(
        rules: &str,
        upstream: Option<&MotoServer>,
        dir: &std::path::Path,
        tls: Option<&std::path::Path>,
    ) -> StandIn {
        use std::io::BufRead;
        let log = dir.join("stand-in-requests");
        let mut command = std::process::Command::new("python3");
        command
            .args(["-c", STAND_IN, rules])
            .arg(&log)
            .arg(upstream.map(|s| s.url.as_str()).unwrap_or(""));
        if let Some(tls) = tls {
            command.arg(tls);
        }
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        StandIn {
            child,
            url: format!("{scheme}://127.0.0.1:{}", port.trim()),
            log,
        }
    }

    /// The targets asked for so far.
    fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `home`'s `[providers.aws]` pointed at `url`.
fn point_at(home: &TestHome, url: &str) {
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!("[providers.aws]\nregion = \"us-east-1\"\nendpoint_url = \"{url}\"\n"),
    )
    .unwrap();
}

/// An answer of 200 without a value (`{}`: a proxy, a captive portal, a broken endpoint) is
/// unavailable, not not-found: a manifest's default does not silently apply.
#[test]
fn an_empty_answer_is_unavailable_and_no_default_applies() {
    let home = TestHome::initialised();
    let empty = StandIn::start(r#"{"*": {"status": 200, "body": {}}}"#, None, home.path());
    point_at(&home, &empty.url);
    let manifest = home.path().join("app.toml");
    std::fs::write(
        &manifest,
        "[env]\nDB_PASSWORD = { from = \"aws:sm:prod/db#password\", default = \"dev-default\" }\n\
         FEATURE = { from = \"aws:ssm:/prod/flag?version=3\", default = \"off\" }\n\
         PLAIN = { from = \"aws:sm:prod/plain\", default = \"plain-default\" }\n",
    )
    .unwrap();
    let output = vault(
        &home,
        &["run", "--manifest", manifest.to_str().unwrap(), "--", "env"],
    )
    .output()
    .unwrap();
    let (out, err) = (stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(125), "{out}{err}");
    assert!(
        !out.contains("default") && !out.contains("FEATURE=off"),
        "{out}"
    );
    assert!(err.contains("unavailable"), "{err}");
    for address in ["aws:sm:prod/db", "aws:ssm:/prod/flag?version=3"] {
        let output = vault(&home, &["get", "--reveal", address])
            .output()
            .unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(5), "{address}: {err}");
        assert!(err.contains("no value"), "{address}: {err}");
    }
}

/// A field write never wipes the other fields: when the read comes back empty (200 `{}`)
/// the write is refused; when the read says not-found but the secret exists after all,
/// CreateSecret's "exists" is a refusal too. AWS (moto) keeps every field.
#[test]
fn a_field_write_after_an_empty_or_wrong_read_leaves_the_secret_whole() {
    let server = MotoServer::start();
    seed(&server);
    let home = TestHome::initialised();
    for (read, said) in [
        (r#"{"status": 200, "body": {}}"#, "no value"),
        (
            r#"{"status": 400, "body": {"__type": "ResourceNotFoundException", "message": "gone"}}"#,
            "CreateSecret says it exists",
        ),
    ] {
        let stand_in = StandIn::start(
            &format!(r#"{{"secretsmanager.GetSecretValue": {read}}}"#),
            Some(&server),
            home.path(),
        );
        point_at(&home, &stand_in.url);
        let output = vault(&home, &["set", "aws:sm:prod/db#password"])
            .write_stdin("new-pw\n")
            .output()
            .unwrap();
        let err = stderr(&output);
        assert!(!output.status.success(), "{read}: {err}");
        assert!(err.contains(said), "{read}: {err}");
        assert!(!err.contains("new-pw"), "{read}: {err}");
        assert!(
            !stand_in
                .requests()
                .iter()
                .any(|t| t.ends_with("PutSecretValue")),
            "{:?}",
            stand_in.requests()
        );
        let stored = server.boto("print(sm.get_secret_value(SecretId='prod/db')['SecretString'])");
        assert_eq!(stored.trim(), RDS, "{read}");
    }
}

/// One secret named twice in a manifest (by partial and by full ARN; a parameter by name
/// and by ARN) is read once in a batch and given to both variables: no default applies.
#[test]
fn one_secret_named_twice_in_a_batch_answers_both() {
    let server = MotoServer::start();
    seed(&server);
    let home = aws_home(&server, "");
    let arns = server.boto(
        "print(sm.describe_secret(SecretId='prod/db')['ARN'])\n\
         print(ssm.get_parameter(Name='/prod/app/key')['Parameter']['ARN'])",
    );
    let mut arns = arns.lines();
    let (secret_arn, parameter_arn) = (arns.next().unwrap(), arns.next().unwrap());
    let partial = &secret_arn[..secret_arn.len() - 7];
    let manifest = home.path().join("app.toml");
    std::fs::write(
        &manifest,
        format!(
            "[env]\nA = \"aws:sm:{partial}#password\"\n\
             B = {{ from = \"aws:sm:{secret_arn}#password\", default = \"DEFAULT-B\" }}\n\
             C = \"aws:ssm:/prod/app/key\"\n\
             D = {{ from = \"aws:ssm:{parameter_arn}\", default = \"DEFAULT-D\" }}\n"
        ),
    )
    .unwrap();
    let output = vault(
        &home,
        &[
            "run",
            "--manifest",
            manifest.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "echo \"$A $B $C $D\"",
        ],
    )
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "rds-pw-1 rds-pw-1 param-v2 param-v2\n");
}

/// A refused write never quotes AWS's message, which may echo the request: for a field
/// write, the secret's other fields.
#[test]
fn a_refused_field_write_never_shows_what_aws_echoed() {
    let home = TestHome::initialised();
    let stand_in = StandIn::start(
        r#"{"secretsmanager.GetSecretValue": {"status": 200, "body": {"Name": "prod/db",
             "SecretString": "{\"username\":\"app\",\"password\":\"OTHER-FIELD-SECRET\"}"}},
           "secretsmanager.PutSecretValue": {"status": 400, "body": {
             "__type": "AccessDeniedException",
             "message": "Validation failed for request: {\"password\":\"OTHER-FIELD-SECRET\"}"}}}"#,
        None,
        home.path(),
    );
    point_at(&home, &stand_in.url);
    let output = vault(&home, &["set", "aws:sm:prod/db#host"])
        .write_stdin("NEWHOST\n")
        .output()
        .unwrap();
    let err = stderr(&output);
    assert!(!output.status.success(), "{err}");
    assert!(
        err.contains("AWS denied secretsmanager:PutSecretValue on prod/db"),
        "{err}"
    );
    assert!(
        !err.contains("OTHER-FIELD-SECRET") && !err.contains("NEWHOST"),
        "{err}"
    );
}

/// One deadline (`timeout_seconds`) bounds a whole request, however many calls it makes:
/// three pinned reads from an endpoint that never answers end after about one timeout, as
/// unavailable, not after three (or vault killing the provider). An endpoint that pages
/// without end is stopped at a repeated NextToken.
#[test]
fn a_slow_or_endlessly_paging_endpoint_is_bounded() {
    let home = TestHome::initialised();
    let slow = StandIn::start(
        r#"{"*": {"status": 200, "body": {}, "sleep": 60}}"#,
        None,
        home.path(),
    );
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!(
            "[providers.aws]\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\ntimeout_seconds = 2\n",
            slow.url
        ),
    )
    .unwrap();
    let manifest = home.path().join("app.toml");
    std::fs::write(
        &manifest,
        "[env]\nA = \"aws:sm:prod/a?version-stage=AWSPREVIOUS\"\n\
         B = \"aws:sm:prod/b?version-stage=AWSPREVIOUS\"\n\
         C = \"aws:sm:prod/c?version-stage=AWSPREVIOUS\"\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let output = vault(
        &home,
        &[
            "run",
            "--manifest",
            manifest.to_str().unwrap(),
            "--",
            "true",
        ],
    )
    .output()
    .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(125), "{err}");
    assert!(err.contains("within 2 s"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}: {err}",
        started.elapsed()
    );
    drop(slow);

    let paging = StandIn::start(
        r#"{"ListSecrets": {"status": 200, "body": {"SecretList": [{"Name": "x"}], "NextToken": "t"}},
            "DescribeParameters": {"status": 200, "body": {"Parameters": [], "NextToken": "t"}}}"#,
        None,
        home.path(),
    );
    point_at(&home, &paging.url);
    for prefix in ["aws:sm:", "aws:ssm:x"] {
        let output = vault(&home, &["list", prefix]).output().unwrap();
        let err = stderr(&output);
        assert!(!output.status.success(), "{prefix}: {err}");
        assert!(
            err.contains("gave the same NextToken twice"),
            "{prefix}: {err}"
        );
    }
    // Writing through it: nothing listed is written, and the repeat stops the describe.
    let output = vault(&home, &["set", "aws:ssm:x"])
        .write_stdin("value-through-pages\n")
        .output()
        .unwrap();
    let err = stderr(&output);
    assert!(err.contains("gave the same NextToken twice"), "{err}");
    assert!(!err.contains("value-through-pages"), "{err}");
}

/// timeout_seconds stays inside vault's 30 s wait for a provider.
#[test]
fn a_timeout_past_vaults_wait_is_invalid() {
    let home = TestHome::initialised();
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        "[providers.aws]\nregion = \"us-east-1\"\ntimeout_seconds = 60\n",
    )
    .unwrap();
    let output = vault(&home, &["get", "aws:sm:prod/db"]).output().unwrap();
    let err = stderr(&output);
    assert!(!output.status.success(), "{err}");
    assert!(
        err.contains("timeout_seconds must be a whole number of seconds from 1 to 25"),
        "{err}"
    );
}

/// An ARN's region picks the host a call goes to: one that is not a region's shape is
/// invalid, and no request is made.
#[test]
fn an_arn_whose_region_is_not_a_region_is_invalid() {
    let home = TestHome::initialised();
    let stand_in = StandIn::start(r#"{"*": {"status": 200, "body": {}}}"#, None, home.path());
    point_at(&home, &stand_in.url);
    for address in [
        "aws:sm:arn:aws:secretsmanager:s3.us-east-1:123456789012:secret:db",
        "aws:sm:arn:aws:secretsmanager:evil.example.com:123456789012:secret:db",
    ] {
        let output = vault(&home, &["get", address]).output().unwrap();
        let err = stderr(&output);
        assert!(!output.status.success(), "{address}: {err}");
        assert!(err.contains("is not an AWS region"), "{address}: {err}");
    }
    assert_eq!(stand_in.requests(), Vec::<String>::new());
}

/// A response body is bounded: an endpoint announcing and streaming 4 GiB gets an error at
/// the bound (4 MiB), quickly, instead of the provider's memory.
#[test]
fn an_endless_response_body_is_cut_at_the_bound() {
    let home = TestHome::initialised();
    let endless = StandIn::start(r#"{"*": {"endless": true}}"#, None, home.path());
    point_at(&home, &endless.url);
    let started = std::time::Instant::now();
    let output = vault(&home, &["get", "--reveal", "aws:sm:prod/db"])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(5), "{err}");
    assert!(err.contains("length limit exceeded"), "{err}");
    assert!(!err.contains("AAAAAAAA"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}: {err}",
        started.elapsed()
    );
}

/// The bound lets the largest legitimate answer through: a batch of 20 secrets of 64 KiB,
/// with characters JSON escapes.
#[test]
fn the_largest_batch_fits_under_the_bound() {
    let server = MotoServer::start();
    server.boto(
        "value = ('line \"quoted\"\\n' * 5000)[:65536]\n\
         for i in range(20):\n    sm.create_secret(Name='big/s%02d' % i, SecretString=value)\n",
    );
    let home = aws_home(&server, "");
    let manifest = home.path().join("app.toml");
    let env: String = (0..20)
        .map(|i| format!("S{i:02} = \"aws:sm:big/s{i:02}\"\n"))
        .collect();
    std::fs::write(&manifest, format!("[env]\n{env}")).unwrap();
    let output = vault(
        &home,
        &[
            "run",
            "--manifest",
            manifest.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "printf %s \"$S00$S19\" | wc -c",
        ],
    )
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "131072");
}

/// A CA (ca.pem) and a server certificate for 127.0.0.1 it signed (server.pem, server.key)
/// in `dir`, made by openssl.
fn make_certificates(dir: &std::path::Path) {
    let openssl = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            stderr(&output)
        );
    };
    std::fs::write(dir.join("server.ext"), "subjectAltName = IP:127.0.0.1\n").unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
}

/// AWS_CA_BUNDLE (passed on by vault) is honoured as the AWS CLI does: its certificates are
/// the roots trusted. Without it a private CA is refused; a bundle that is not PEM
/// certificates is invalid, naming the variable.
#[test]
fn aws_ca_bundle_is_the_trusted_roots() {
    let home = TestHome::initialised();
    let certificates = tempfile::tempdir().unwrap();
    make_certificates(certificates.path());
    let stand_in = StandIn::start_with(
        r#"{"GetSecretValue": {"status": 200, "body": {"Name": "prod/db",
             "SecretString": "over-private-tls"}}}"#,
        None,
        home.path(),
        Some(certificates.path()),
    );
    point_at(&home, &stand_in.url);
    let get = |bundle: Option<&std::path::Path>| {
        let mut command = vault(&home, &["get", "--reveal", "aws:sm:prod/db"]);
        if let Some(bundle) = bundle {
            command.env("AWS_CA_BUNDLE", bundle);
        }
        command.output().unwrap()
    };
    let output = get(Some(&certificates.path().join("ca.pem")));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "over-private-tls");

    let output = get(None);
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(stdout(&output).is_empty());
    assert!(
        stderr(&output).contains("TLS certificate is not trusted (AWS_CA_BUNDLE"),
        "{}",
        stderr(&output)
    );

    let not_pem = certificates.path().join("server.key");
    let output = get(Some(&not_pem));
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(5), "{err}");
    assert!(
        err.contains("AWS_CA_BUNDLE") && err.contains("no PEM certificate"),
        "{err}"
    );
}

/// A listed name is one line: a line break or an escape sequence in a name a provider
/// answers (AWS allows neither, a hostile endpoint sends anything) is shown escaped.
#[test]
fn a_listed_name_with_a_line_break_prints_as_one_line() {
    let home = TestHome::initialised();
    let stand_in = StandIn::start(
        r#"{"ListSecrets": {"status": 200, "body": {"SecretList": [
             {"Name": "evil\nsm:injected"}, {"Name": "red\u001b[31m"}]}}}"#,
        None,
        home.path(),
    );
    point_at(&home, &stand_in.url);
    let output = vault(&home, &["list", "aws:sm:"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "sm:evil\\u{a}sm:injected\nsm:red\\u{1b}[31m\n"
    );
}
