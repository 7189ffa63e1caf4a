//! Prompts on a real terminal (a pseudo-terminal from util-linux `script`): hidden, and
//! answered only after vault asks.

mod common;

use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::TestHome;

/// Runs `vault ARGS` on a pseudo-terminal, typing each answer after its prompt appears.
/// Returns everything the terminal showed; vault must succeed.
fn on_terminal(home: &TestHome, args: &str, dialogue: &[(&str, &str)]) -> String {
    let (shown, status) = on_terminal_ending(home, args, dialogue);
    assert!(status.success(), "vault {args} failed: {shown}");
    shown
}

/// [`on_terminal`], however vault ends.
fn on_terminal_ending(
    home: &TestHome,
    args: &str,
    dialogue: &[(&str, &str)],
) -> (String, std::process::ExitStatus) {
    let binary = assert_cmd::cargo::cargo_bin("vault");
    // The environment of an ordinary `vault` call in this home, given to `script` instead.
    let template = home.vault_std(&[]);
    let environment: Vec<_> = template
        .get_envs()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))
        .collect();
    let mut child = std::process::Command::new("script")
        .args(["-qec", &format!("{} {args}", binary.display()), "/dev/null"])
        .env_clear()
        .envs(environment)
        .env("TERM", "dumb")
        .current_dir(home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs commands on a pseudo-terminal");
    let mut stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 1024];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut shown = String::new();
    let mut stdin = child.stdin.take().unwrap();
    for (prompt, answer) in dialogue {
        while !shown.contains(prompt) {
            let chunk = receiver
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no prompt {prompt:?}; the terminal showed {shown:?}"));
            shown.push_str(&String::from_utf8_lossy(&chunk));
        }
        // Let vault switch echo off after printing the prompt.
        std::thread::sleep(Duration::from_millis(300));
        stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
        shown = shown.replace(prompt, "<asked>");
    }
    let status = child.wait().unwrap();
    drop(stdin);
    while let Ok(chunk) = receiver.recv_timeout(Duration::from_millis(500)) {
        shown.push_str(&String::from_utf8_lossy(&chunk));
    }
    (shown, status)
}

#[test]
fn set_prompts_for_the_value_without_echoing_it() {
    let home = TestHome::initialised();
    let shown = on_terminal(
        &home,
        "set TYPED",
        &[("Value for TYPED:", "typed-secret-value")],
    );
    assert!(
        !shown.contains("typed-secret-value"),
        "the value was echoed: {shown}"
    );
    assert_eq!(home.reveal("TYPED"), "typed-secret-value");
}

#[test]
fn init_asks_for_the_passphrase_twice() {
    let home = TestHome::new();
    on_terminal(
        &home,
        "init --passphrase",
        &[
            ("New vault passphrase:", "terminal passphrase"),
            ("Repeat the passphrase:", "terminal passphrase"),
        ],
    );
    let shown = on_terminal(
        &home,
        "set FROM_TTY --generate",
        &[("Vault passphrase:", "terminal passphrase")],
    );
    assert!(shown.contains("stored FROM_TTY"), "{shown}");
}

#[test]
fn no_input_never_prompts_even_on_a_terminal() {
    let home = TestHome::initialised();
    let binary = assert_cmd::cargo::cargo_bin("vault");
    let output = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{} --no-input set QUIET_PLEASE", binary.display()),
            "/dev/null",
        ])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(!shown.contains("Value for"), "{shown}");
    assert!(
        shown.contains("--no-input") && shown.contains("--generate"),
        "{shown}"
    );
    assert_eq!(output.status.code(), Some(2), "{shown}");
}

#[test]
fn export_to_a_terminal_warns_that_it_prints_plaintext() {
    let home = TestHome::initialised();
    home.set("API_KEY", "shown-on-purpose");
    let shown = on_terminal(&home, "export", &[]);
    assert!(shown.contains("API_KEY='shown-on-purpose'"), "{shown}");
    assert!(shown.contains("plaintext to the terminal"), "{shown}");
    // Into a pipe or a file there is nothing to warn about.
    let output = home.vault(&["export"]).output().unwrap();
    assert!(!common::stderr(&output).contains("warning"));
}

/// `exec --redact` on a terminal gives the command a terminal of its own: colours pass,
/// `isatty` is true, values are masked.
#[test]
fn redaction_on_a_terminal_keeps_colours_and_the_terminal() {
    let home = TestHome::initialised();
    home.set("PW", "hunter2-redact-me");
    let shown = on_terminal(
        &home,
        r#"exec --redact -- sh -c 'printf "\033[31mred %s\033[0m\n" "$PW"; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo ALL-TTY'"#,
        &[],
    );
    assert!(
        shown.contains("\u{1b}[31mred ********\u{1b}[0m"),
        "{shown:?}"
    );
    assert!(shown.contains("ALL-TTY"), "{shown:?}");
    assert!(!shown.contains("hunter2-redact-me"), "{shown:?}");
}

/// A password prompt works through the redacting terminal: typed keys reach the command,
/// unechoed.
#[test]
fn a_hidden_prompt_works_through_redaction() {
    let home = TestHome::initialised();
    home.set("PW", "hunter2-redact-me");
    let shown = on_terminal(
        &home,
        r#"exec --redact -- bash -c 'read -r -s -p "Password: " typed; echo; echo "got:$typed"'"#,
        &[("Password:", "typed-answer")],
    );
    assert!(shown.contains("got:typed-answer"), "{shown:?}");
    assert_eq!(
        shown.matches("typed-answer").count(),
        1,
        "echoed while hidden: {shown:?}"
    );
}

/// The user's terminal comes back as it was (canonical mode, echo) even when the command
/// is killed, and a stream redirected away from the terminal keeps the pipe path.
#[test]
fn terminal_modes_come_back_and_redirected_streams_stay_pipes() {
    let home = TestHome::initialised();
    home.set("PW", "hunter2-redact-me");
    let shown = on_terminal(
        &home,
        r#"exec --redact -- sh -c 'kill -KILL $$'; echo "status $?"; stty -a | tr ' ;' '\n\n' | grep -x -e icanon -e echo"#,
        &[],
    );
    assert!(shown.contains("status 137"), "{shown:?}");
    assert!(
        shown.contains("icanon") && shown.contains("\necho"),
        "the terminal stayed raw: {shown:?}"
    );
    let out = home.path().join("out.txt");
    on_terminal(
        &home,
        &format!(
            r#"exec --redact -- sh -c '[ -t 1 ] && echo STDOUT-TTY; echo "$PW"; [ -t 2 ] && echo STDERR-TTY >&2' > {}"#,
            out.display()
        ),
        &[],
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "********\n");
}

/// On a terminal the recovery phrase is shown only after the user types yes.
#[test]
fn the_recovery_phrase_is_shown_after_confirming_on_a_terminal() {
    let home = TestHome::initialised();
    let shown = on_terminal(
        &home,
        "identity export-phrase",
        &[("Show it? Type yes:", "yes")],
    );
    let last = shown
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert_eq!(last.split_whitespace().count(), 24, "{shown:?}");
    let shown = on_terminal(
        &home,
        "identity export-phrase",
        &[("Show it? Type yes:", "no")],
    );
    assert!(shown.contains("not shown"), "{shown:?}");
}

/// A vault seen for the first time asks, on a terminal, whether to trust its owners —
/// showing them with their fingerprints — and remembers the answer; declined, nothing is
/// read.
#[test]
fn a_first_sight_is_asked_about_on_a_terminal() {
    let owner = TestHome::initialised();
    owner.set("SHARED", "for-the-newcomer");
    let newcomer = TestHome::new();
    let line = {
        let output = newcomer
            .vault(&["identity", "new", "--name", "newcomer"])
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    owner
        .vault(&["recipients", "add", &line])
        .assert()
        .success();
    std::fs::create_dir_all(newcomer.vault_file().parent().unwrap()).unwrap();
    std::fs::copy(owner.vault_file(), newcomer.vault_file()).unwrap();
    let question = "Trust this vault and its owners? Type yes:";
    let (shown, status) = on_terminal_ending(&newcomer, "get --reveal SHARED", &[(question, "no")]);
    assert!(!status.success());
    assert!(!shown.contains("for-the-newcomer"), "{shown}");
    assert!(shown.contains("verify --accept"), "{shown}");
    let shown = on_terminal(&newcomer, "get --reveal SHARED", &[(question, "yes")]);
    assert!(shown.contains("owner: "), "the owners are shown: {shown}");
    assert!(shown.contains("fp:"), "{shown}");
    assert!(shown.contains("for-the-newcomer"), "{shown}");
    assert_eq!(newcomer.reveal("SHARED"), "for-the-newcomer");
}

/// A PEM-like key of several lines, each long enough to identify but the last.
const PEM: &str = "-----BEGIN TEST PRIVATE KEY-----
Js6CWGGg9lhqyDntyed2VHx9axKvZzdDXmrp0+Q3Qi959FxDndQ18QZBEl6UYryN
X+eWXipK9hpUK3j9AmfINR7463thRebC93FpHOK7khZa+FRow9ZCbl32I4FyKcs5
Nf54/KlJxAFgUQ4fWTd562OFJQdj1cT9ly4M5ZDw+Ng/UgxNIvPpX1F59yXLeVHs
R42
-----END TEST PRIVATE KEY-----";

/// On a terminal, which turns each `\n` into `\r\n`, every line of a multi-line value is
/// masked, as it is through a pipe — the whole value, or a line printed alone.
#[test]
fn every_line_of_a_multi_line_key_is_masked_on_a_terminal() {
    let home = TestHome::initialised();
    home.set("TLS_KEY", PEM);
    let shown = on_terminal(
        &home,
        r#"exec --redact -- sh -c 'printf "%s\n" "$TLS_KEY"; printf "%s\n" "$TLS_KEY" | sed -n 3p'"#,
        &[],
    );
    let masked = "********\r\n".repeat(4) + "R42\r\n********\r\n********\r\n";
    assert!(shown.ends_with(&masked), "{shown:?}");
    for line in PEM.lines().filter(|l| l.len() >= 12) {
        assert!(!shown.contains(line), "{line} shown: {shown:?}");
    }
    let output = home
        .vault(&[
            "exec",
            "--redact",
            "--",
            "sh",
            "-c",
            r#"printf "%s\n" "$TLS_KEY""#,
        ])
        .output()
        .unwrap();
    assert_eq!(
        common::stdout(&output),
        "********\n".repeat(4) + "R42\n********\n"
    );
}

/// A prefix, a suffix or a piece from the middle of a value, of at least 12 characters,
/// is masked on a terminal and through a pipe; 11 characters are not enough to identify
/// it, and `[redact] min_fragment` moves the threshold.
#[test]
fn pieces_of_a_value_are_masked_on_a_terminal_and_through_a_pipe() {
    let home = TestHome::initialised();
    home.set("KEY", "Kq7vX2pLm9Tz4RwB8nYc3HdF6sJg1V");
    let script = r#"printf "[%.20s]\n" "$KEY"; printf "[%s]\n" "${KEY#??????????}"; printf "[%.15s]\n" "${KEY#?????}"; printf "[%.11s]\n" "${KEY#?????}""#;
    let expected = "[********]\n[********]\n[********]\n[2pLm9Tz4RwB]\n";
    let output = home
        .vault(&["exec", "--redact", "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert_eq!(common::stdout(&output), expected);
    let shown = on_terminal(&home, &format!("exec --redact -- sh -c '{script}'"), &[]);
    assert!(
        shown.ends_with(&expected.replace('\n', "\r\n")),
        "{shown:?}"
    );
    std::fs::create_dir_all(home.path().join("config/secretsd")).unwrap();
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        "[redact]\nmin_fragment = 16\n",
    )
    .unwrap();
    let output = home
        .vault(&["exec", "--redact", "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert_eq!(
        common::stdout(&output),
        "[********]\n[********]\n[2pLm9Tz4RwB8nYc]\n[2pLm9Tz4RwB]\n"
    );
}

/// Runs `vault ARGS` under `script` with its input at an end (`</dev/null`), as the
/// issue's reproduction does; returns what the terminal showed.
fn on_terminal_without_input(home: &TestHome, args: &str) -> Vec<u8> {
    let binary = assert_cmd::cargo::cargo_bin("vault");
    let template = home.vault_std(&[]);
    let environment: Vec<_> = template
        .get_envs()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))
        .collect();
    let output = std::process::Command::new("timeout")
        .args([
            "60",
            "script",
            "-qec",
            &format!("{} {args}", binary.display()),
            "/dev/null",
        ])
        .env_clear()
        .envs(environment)
        .env("TERM", "dumb")
        .current_dir(home.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    output.stdout
}

/// The end of input that `script` passes on when its own input ends used to reach the
/// command's terminal as a NUL, shown as `^@` (in about 3 runs of 8); now it reaches the
/// command as an end of file.
#[test]
fn no_stray_nul_when_input_ends_on_a_terminal() {
    let home = TestHome::initialised();
    home.set("PW", "hunter2-redact-me");
    for run in 0..30 {
        let shown = on_terminal_without_input(&home, r#"exec --redact -- sh -c "echo hi""#);
        assert_eq!(
            String::from_utf8_lossy(&shown),
            "hi\r\n",
            "run {run}: {shown:?}"
        );
    }
    // A command reading its input sees the end of it.
    for _ in 0..3 {
        let shown = on_terminal_without_input(&home, "exec --redact -- sh -c 'cat; echo done'");
        assert_eq!(String::from_utf8_lossy(&shown), "done\r\n");
    }
}

/// A mask shows a value's first and last characters: escaped, so a value that starts with
/// `ESC ]` or ends with `ESC [2J` (or `ESC c`) does not drive the terminal, in `get` and
/// in `import --dry-run`.
#[test]
fn masks_show_control_characters_escaped() {
    let home = TestHome::initialised();
    let value = "\u{1b}]0;owned\u{7}-long-enough-value\u{1b}[2J";
    home.vault(&["set", "HOSTILE"])
        .write_stdin(value)
        .assert()
        .success();
    let output = home.vault(&["get", "HOSTILE"]).output().unwrap();
    assert_eq!(common::stdout(&output), "\\u{1b}]***2J\n");
    let file = home.path().join("in.env");
    std::fs::write(
        &file,
        "FRESH='\u{1b}c-reset-the-terminal-\u{1b}c'\nHOSTILE='\u{1b}[2J-another-value-\u{1b}]'\n",
    )
    .unwrap();
    let output = home
        .vault(&["import", "--dotenv", file.to_str().unwrap(), "--dry-run"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", common::stderr(&output));
    let text = common::stdout(&output);
    assert!(text.contains("\\u{1b}c***\\u{1b}c"), "{text}");
    assert!(text.contains("\\u{1b}[***\\u{1b}]"), "{text}");
    assert!(!output.stdout.contains(&0x1b), "{text:?}");
}

/// A key typed while the command prints a value is echoed by the command's terminal into
/// the middle of it. Each side of the key is still a piece of the value of at least 12
/// characters, so each is masked on its own; the whole value never shows. (Pieces shorter
/// than that do show: SECURITY.md names this a limit.)
#[test]
fn a_key_typed_inside_a_value_being_printed_leaves_both_sides_masked() {
    let home = TestHome::initialised();
    home.set("KEY", "Kq7vX2pLm9Tz4RwB8nYc3HdF6sJg1V");
    // The first half, then a pause long enough for the key to be typed and echoed.
    let shown = on_terminal(
        &home,
        r#"exec --redact -- sh -c 'printf "go>%.15s" "$KEY"; sleep 3; printf "%s\n" "${KEY#???????????????}"'"#,
        &[("go>", "x")],
    );
    assert!(
        shown.ends_with("<asked>********x\r\n********\r\n"),
        "{shown:?}"
    );
    for piece in ["Kq7vX2pLm9Tz", "4RwB8nYc3HdF6sJg1V", "z4RwB", "B8nYc3"] {
        assert!(!shown.contains(piece), "{piece} shown: {shown:?}");
    }
}

/// Neither side of the command's terminal reaches the command through an inherited
/// descriptor: both are close-on-exec from the moment they exist, so the command holds
/// only its standard streams on the pseudo-terminal.
#[test]
fn the_command_inherits_no_descriptor_of_its_terminal_but_its_streams() {
    let home = TestHome::initialised();
    home.set("PW", "hunter2-redact-me");
    let shown = on_terminal(
        &home,
        r#"exec --redact -- sh -c 'for f in /proc/$$/fd/*; do echo "fd ${f##*/} $(readlink $f)"; done'"#,
        &[],
    );
    let fds: Vec<&str> = shown.lines().filter(|l| l.starts_with("fd ")).collect();
    assert!(fds.len() >= 3, "{shown:?}");
    for line in fds {
        let fields: Vec<&str> = line.trim_end().split(' ').collect();
        let number: u32 = fields[1].parse().unwrap();
        let target = fields.get(2).copied().unwrap_or_default();
        if number <= 2 {
            assert!(target.starts_with("/dev/pts/"), "{line:?}");
        } else {
            assert!(
                !target.contains("ptmx") && !target.starts_with("/dev/pts/"),
                "the command inherited {line:?}: {shown:?}"
            );
        }
    }
}
