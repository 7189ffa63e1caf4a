//! The manual pages under `man/`, generated from the clap definitions in `cli.rs` (plus
//! the sections clap cannot know: exit status, environment, files, examples, security) and
//! from `protocol/SPEC.md` for `secretsd-provider(7)`. A test keeps the checked-in pages
//! equal to what this renders.

use clap::CommandFactory;

use secretsd::cli::Cli;

/// Escapes text for roff: backslashes, and a leading '.' or '\'' that would read as a
/// request.
fn roff(text: &str) -> String {
    let escaped: String = text
        .replace('\\', "\\e")
        .replace('-', "\\-")
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\[u{:04X}]", u32::from(c))
            }
        })
        .collect();
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// Inline markdown (`code`, **bold**, [links](url)) to roff fonts.
fn inline(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(['`', '*', '[']) {
        out.push_str(&roff(&rest[..start]));
        let tail = &rest[start..];
        if let Some(code) = tail.strip_prefix('`').and_then(|t| t.split_once('`')) {
            out.push_str(&format!("\\fB{}\\fR", roff(code.0)));
            rest = code.1;
        } else if let Some(bold) = tail.strip_prefix("**").and_then(|t| t.split_once("**")) {
            out.push_str(&format!("\\fB{}\\fR", roff(bold.0)));
            rest = bold.1;
        } else if let Some((label, after)) = tail.strip_prefix('[').and_then(|t| t.split_once("]("))
        {
            let after = after.split_once(')').map_or("", |(_, a)| a);
            out.push_str(&roff(label));
            rest = after;
        } else {
            out.push_str(&roff(&tail[..1]));
            rest = &tail[1..];
        }
    }
    out.push_str(&roff(rest));
    out
}

/// One option of a synopsis, with its value: `[--from SOURCE]...`. clap_mangen 0.3 names
/// options only (`[--from]`), which reads as a flag.
fn synopsis_option(arg: &clap::Arg) -> Option<String> {
    let name = match (arg.get_short(), arg.get_long()) {
        (Some(short), Some(long)) => format!("\\fB\\-{short}\\fR|\\fB\\-\\-{}\\fR", roff(long)),
        (Some(short), None) => format!("\\fB\\-{short}\\fR"),
        (None, Some(long)) => format!("\\fB\\-\\-{}\\fR", roff(long)),
        (None, None) => return None,
    };
    Some(format!("{name}{}", synopsis_value(arg)))
}

/// ` VALUE` for an option that takes one (its value name, else its id in capitals).
fn synopsis_value(arg: &clap::Arg) -> String {
    let takes_values =
        arg.get_num_args().is_some_and(|n| n.takes_values()) || arg.get_action().takes_values();
    if !takes_values {
        return String::new();
    }
    let names: Vec<String> = match arg.get_value_names() {
        Some(names) => names.iter().map(|n| roff(n)).collect(),
        None => vec![roff(&arg.get_id().as_str().to_uppercase())],
    };
    format!(" \\fI{}\\fR", names.join(" "))
}

/// Whether an argument may be given more than once, or take several values.
fn repeats(arg: &clap::Arg) -> bool {
    matches!(
        arg.get_action(),
        clap::ArgAction::Append | clap::ArgAction::Count
    ) || arg.get_num_args().is_some_and(|n| n.max_values() > 1)
}

/// The SYNOPSIS section: the command, its options with their values, required groups as
/// `<a|b>`, positionals (after `--` for a trailing command) and the subcommand.
fn synopsis(cmd: &clap::Command) -> String {
    let mut words = vec![format!(
        "\\fB{}\\fR",
        roff(cmd.get_bin_name().unwrap_or(cmd.get_name()))
    )];
    let grouped: Vec<Vec<&clap::Arg>> = cmd
        .get_groups()
        .filter(|g| g.is_required_set())
        .map(|g| {
            g.get_args()
                .filter_map(|id| cmd.get_arguments().find(|a| a.get_id() == id))
                .collect::<Vec<_>>()
        })
        .filter(|members| !members.is_empty())
        .collect();
    let in_group = |arg: &clap::Arg| grouped.iter().flatten().any(|g| g.get_id() == arg.get_id());
    let options: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional() && !in_group(a))
        .collect();
    for required in [false, true] {
        for arg in options.iter().filter(|a| a.is_required_set() == required) {
            let Some(text) = synopsis_option(arg) else {
                continue;
            };
            let dots = if repeats(arg) { "..." } else { "" };
            words.push(if required {
                format!("{text}{dots}")
            } else {
                format!("[{text}]{dots}")
            });
        }
    }
    for members in &grouped {
        let alternatives: Vec<String> = members.iter().filter_map(|a| synopsis_option(a)).collect();
        words.push(format!("<{}>", alternatives.join("|")));
    }
    for arg in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let value = match arg.get_value_names() {
            Some(names) => names.iter().map(|n| roff(n)).collect::<Vec<_>>().join(" "),
            None => roff(&arg.get_id().as_str().to_uppercase()),
        };
        let dots = if repeats(arg) { "..." } else { "" };
        let dashes = if arg.is_last_set() { "\\-\\- " } else { "" };
        words.push(if arg.is_required_set() {
            format!("{dashes}\\fI{value}\\fR{dots}")
        } else {
            format!("[{dashes}\\fI{value}\\fR{dots}]")
        });
    }
    if cmd.has_subcommands() {
        words.push(if cmd.is_subcommand_required_set() {
            "<\\fIcommand\\fR>".to_string()
        } else {
            "[\\fIcommand\\fR]".to_string()
        });
    }
    // Filled by roff; one line per option keeps lines short and none starts a request.
    format!(".SH SYNOPSIS\n{}\n", words.join("\n"))
}

fn section(out: &mut String, title: &str, body: &str) {
    out.push_str(&format!(".SH \"{title}\"\n{body}"));
}

/// `(term, description)` pairs as a tagged list.
fn tagged(items: &[(&str, &str)]) -> String {
    items
        .iter()
        .map(|(term, text)| format!(".TP\n\\fB{}\\fR\n{}\n", roff(term), roff(text)))
        .collect()
}

fn examples(items: &[(&str, &str)]) -> String {
    items
        .iter()
        .map(|(what, command)| {
            format!(
                ".PP\n{}\n.PP\n.RS 4\n.nf\n{}\n.fi\n.RE\n",
                roff(what),
                roff(command)
            )
        })
        .collect()
}

const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Success."),
    ("1", "An error."),
    ("2", "A usage error."),
    ("3", "Not found: a secret, a key or a reference."),
    (
        "4",
        "Locked out: no vault, no or the wrong identity or passphrase, unsafe file permissions, or a vault this machine does not trust (seen for the first time, or suspect: see vault-verify(1)).",
    ),
    ("5", "A provider failed."),
    (
        "6",
        "Bad data: a corrupt or truncated vault, an invalid name or value.",
    ),
    (
        "125",
        "exec and run: vault failed before the command started (a vault not trusted included).",
    ),
    ("126", "exec and run: the command cannot be executed."),
    ("127", "exec and run: the command was not found."),
];

const ENVIRONMENT: &[(&str, &str)] = &[
    ("VAULT_FILE", "The vault file, unless --vault is given."),
    (
        "VAULT_IDENTITY_KEY",
        "The identity itself (AGE-SECRET-KEY-1... lines or an SSH private key), unless --identity is given; for CI. It is removed from the environment of everything vault starts.",
    ),
    (
        "VAULT_IDENTITY_COMMAND",
        "A command whose output is the identity, unless --identity or VAULT_IDENTITY_KEY is given.",
    ),
    (
        "VAULT_IDENTITY",
        "The age identity file, unless one of the above is given.",
    ),
    (
        "CREDENTIALS_DIRECTORY",
        "systemd's credentials directory; vault-identity in it is the identity when neither --identity nor VAULT_IDENTITY is given.",
    ),
    (
        "VAULT_PASSPHRASE_FILE",
        "A file holding the passphrase of a passphrase vault.",
    ),
    (
        "VAULT_PASSPHRASE_COMMAND",
        "A command that prints the passphrase of a passphrase vault, when VAULT_PASSPHRASE_FILE is not set.",
    ),
    (
        "VAULT_CONFIG",
        "The configuration file, unless --config is given.",
    ),
    (
        "VAULT_PROVIDER_PATH",
        "Directories searched for secretsd-provider-NAME before PATH.",
    ),
    (
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN",
        "The aws provider's keys when [providers.aws] sets none and no profile: resolved by vault as default references (env:AWS_ACCESS_KEY_ID, ...) and sent in the provider's configuration, never in its environment. vault -v names the source, never the value.",
    ),
    (
        "AWS_PROFILE, AWS_REGION, AWS_DEFAULT_REGION, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, AWS_ENDPOINT_URL*, AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN, AWS_CONTAINER_CREDENTIALS_*",
        "Locators passed on to the aws provider, which finds credentials with them as the AWS CLI does (profiles, web identity, ECS, instance metadata).",
    ),
    (
        "VAULT_TRUST",
        "Owners pinned for vaults seen for the first time: ID[@EPOCH]:OWNER,... entries separated by spaces or ;, as vault verify prints them. For CI and services; it replaces a [security.vaults] pin for the same vault.",
    ),
    (
        "XDG_CONFIG_HOME, XDG_DATA_HOME",
        "Where the default identity, configuration and vault live.",
    ),
    (
        "XDG_STATE_HOME",
        "Where the trust record lives (else $HOME/.local/state; for root without HOME, /var/lib/secretsd). With none of them, vault refuses what needs the record.",
    ),
    (
        "COMPLETE",
        "Set by the completion scripts when they ask vault to complete a word.",
    ),
];

const FILES: &[(&str, &str)] = &[
    (
        "$XDG_DATA_HOME/secretsd/vault.age",
        "The vault: an age file holding one JSON document.",
    ),
    (
        "$XDG_DATA_HOME/secretsd/backups/",
        "Encrypted copies of the vault before each change (vault-ID.age), the .env files a rotation rewrote (vault-ID.files.age, encrypted the same way) and a JSON record of what changed (vault-ID.json: names, never values).",
    ),
    ("$XDG_DATA_HOME/secretsd/vault.age.lock", "The writer lock."),
    (
        "$XDG_CONFIG_HOME/secretsd/identity.txt",
        "The age identity made by vault init.",
    ),
    (
        "$XDG_CONFIG_HOME/secretsd/writer.key",
        "The key writes are signed with, for an identity that is not an age X25519 key (made by vault identity public or vault init).",
    ),
    (
        "$XDG_CONFIG_HOME/secretsd/config.toml",
        "Backups, providers and the lookup chain.",
    ),
    (
        "$XDG_STATE_HOME/secretsd/trust.json",
        "What this machine has seen of each vault: its owners, the highest epoch and generation, the membership block at that epoch, and where the vault was read.",
    ),
];

const SECURITY: &str = ".PP
Values are held in memory that is zeroed when freed, and are never written to disk in
plaintext except by an explicit export (mode 0600). They never appear in an error message
or in verbose output. A value given as an argument to vault set is visible in the process
list and shell history; vault warns about it: prefer the prompt or stdin.
.PP
Every change takes an exclusive lock, writes a temporary file beside the vault, syncs it
and renames it over the vault, so a crash leaves the old or the new vault. Vault,
identity and passphrase files readable by group or others are refused.
.PP
vault never prompts when stdin is not a terminal, or with --no-input. Providers receive
secrets only on their stdin, never in argv or their environment.
";

/// Examples per page; the key is the subcommand path ("" for vault itself).
fn examples_for(path: &str) -> &'static [(&'static str, &'static str)] {
    match path {
        "" => &[
            (
                "Create an identity and a vault, store a secret from the prompt, use it:",
                "vault init\nvault set DB_PASSWORD\nvault exec -- ./manage.py migrate",
            ),
            (
                "Run a service with secrets from several places:",
                "vault run --manifest /etc/app/app.toml -- /usr/bin/app",
            ),
        ],
        "init" => &[(
            "A vault for you and a teammate:",
            "vault init --recipient age1teammate...",
        )],
        "set" => &[
            (
                "From a pipe, without showing the value:",
                "printf %s \"$TOKEN\" | vault set API_TOKEN",
            ),
            (
                "A random value:",
                "vault set SESSION_KEY --generate --length 48 --charset base64url",
            ),
        ],
        "get" => &[(
            "Use a value in a command:",
            "curl -H \"Authorization: Bearer $(vault get --reveal API_TOKEN)\" https://api.example.com",
        )],
        "list" => &[("Names as JSON:", "vault list --json")],
        "exists" => &[(
            "In a script:",
            "vault exists DB_PASSWORD || vault set DB_PASSWORD --generate",
        )],
        "rm" => &[("Remove two secrets:", "vault rm OLD_TOKEN OLD_KEY")],
        "mv" => &[("Rename:", "vault mv API_TOKEN GITHUB_TOKEN")],
        "recipients" | "recipients-add" | "recipients-list" | "recipients-remove" => &[(
            "Share the vault with a teammate's SSH key:",
            "vault recipients add \"ssh-ed25519 AAAA... bob@laptop\"",
        )],
        "exec" => &[
            (
                "Only the database secrets, prefix removed:",
                "vault exec --prefix DB_ --strip-prefix -- psql",
            ),
            (
                "Mask secrets in a build log:",
                "vault exec --redact -- ./deploy.sh",
            ),
        ],
        "run" => &[(
            "As systemd's ExecStart=:",
            "ExecStart=/usr/local/bin/vault run --manifest %d/vault-manifest -- /usr/bin/app",
        )],
        "import" => &[
            (
                "Bring in a .env file, replacing what exists:",
                "vault import --dotenv .env --overwrite",
            ),
            (
                "Variables named SECRET_*:",
                "SECRET_SLACK_WEBHOOK=https://... vault import --from-env",
            ),
        ],
        "export" => &[
            (
                "A systemd EnvironmentFile=:",
                "vault export --format systemd -o /run/app/env",
            ),
            (
                "A manifest's references, resolved, as a .env file for docker compose:",
                "vault export --manifest app.toml --format docker -o .env",
            ),
        ],
        "status" => &[("Check a machine:", "vault status")],
        "check" => &[(
            "Before deploying, see that every variable of the project has a value:",
            "vault check || exit 1\nvault run -- ./manage.py migrate",
        )],
        "backup" => &[(
            "Before a risky change:",
            "vault backup --note \"before the migration\"",
        )],
        "restore" => &[
            ("See the backups:", "vault restore --list"),
            (
                "Undo the last change, after looking at what it would do:",
                "vault restore --latest --dry-run\nvault restore --latest",
            ),
        ],
        "rotate" => &[
            (
                "See the plan, then rotate and restart the services in order:",
                "vault rotate --policy rotation.toml --dry-run\nvault rotate --policy rotation.toml --restart --rollback-on-failure",
            ),
            (
                "Re-sign the JWTs with the current JWT_SECRET:",
                "vault rotate --policy rotation.toml --secrets ANON_KEY,SERVICE_ROLE_KEY",
            ),
        ],
        "sync" => &[
            (
                "The shared file's API keys into a local .env, keeping local variables:",
                "vault sync --from shared-file: --to dotenv:/opt/app/.env --only 'NINJA_*,THREATLOCKER_*' --preserve THREATLOCKER_BASE_URL",
            ),
            (
                "A named sync from the configuration file, first as a dry run:",
                "vault sync inventory --dry-run\nvault sync inventory",
            ),
        ],
        "systemd-timer" => &[(
            "Run a named sync every morning:",
            "vault systemd timer sync-secrets --on-calendar '*-*-* 08:00:00 UTC' --output-dir /etc/systemd/system -- vault sync inventory",
        )],
        "check-services" => &[(
            "Before and after a rotation:",
            "vault check-services --policy rotation.toml --save before.json\nvault check-services --policy rotation.toml --compare before.json",
        )],
        "systemd" | "systemd-unit" => &[(
            "Install a service:",
            "vault systemd unit billing --manifest /etc/billing/app.toml -- /usr/bin/billing > /etc/systemd/system/billing.service",
        )],
        "provider" | "provider-list" | "provider-check" => &[
            (
                "Check a provider you wrote:",
                "VAULT_PROVIDER_PATH=. vault provider check jsonfile",
            ),
            (
                "Check the AWS provider against SSM Parameter Store (its keys name a service):",
                "vault provider check aws --key-prefix ssm:/secretsd-check/",
            ),
        ],
        "completions" => &[(
            "bash, for the current user:",
            "vault completions bash > ~/.local/share/bash-completion/completions/vault",
        )],
        _ => &[],
    }
}

fn render(cmd: clap::Command, path: &str) -> String {
    let title = cmd.get_name().to_uppercase();
    let man = clap_mangen::Man::new(cmd.clone())
        .title(title)
        .date(MANUAL_DATE)
        .manual("vault manual")
        .source(format!("vault {}", env!("CARGO_PKG_VERSION")));
    let mut buffer = Vec::new();
    man.render_title(&mut buffer).expect("memory");
    man.render_name_section(&mut buffer).expect("memory");
    buffer.extend_from_slice(synopsis(&cmd).as_bytes());
    man.render_description_section(&mut buffer).expect("memory");
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut buffer).expect("memory");
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut buffer).expect("memory");
    }
    let mut out = String::from_utf8(buffer).expect("roff is text");
    section(&mut out, "EXIT STATUS", &tagged(EXIT_STATUS));
    if path.is_empty() {
        section(&mut out, "ENVIRONMENT", &tagged(ENVIRONMENT));
        section(&mut out, "FILES", &tagged(FILES));
    }
    let examples = examples_for(path);
    if !examples.is_empty() {
        section(&mut out, "EXAMPLES", &self::examples(examples));
    }
    section(&mut out, "SECURITY", SECURITY);
    let see_also = if path.is_empty() {
        "secretsd\\-provider(7), age(1), systemd.exec(5)\n".to_string()
    } else {
        "vault(1), secretsd\\-provider(7)\n".to_string()
    };
    section(&mut out, "SEE ALSO", &see_also);
    out
}

/// When the manual was last revised, for the page headers (not the build date, so
/// that generating the pages is reproducible).
const MANUAL_DATE: &str = "2026-11-25";

/// The longest input line mandoc's lint accepts without a style note.
const LINE: usize = 78;

/// A safe place to cut an over-long no-fill line: not inside an escape sequence.
fn cut_point(line: &str, limit: usize) -> usize {
    let bytes = line.as_bytes();
    let mut cut = limit.min(line.len());
    while cut > 1
        && (!line.is_char_boundary(cut)
            || bytes[cut - 1] == b'\\'
            || (cut >= 2 && bytes[cut - 2] == b'\\')
            || (cut >= 3 && bytes[cut - 3] == b'\\' && bytes[cut - 2] == b'f'))
    {
        cut -= 1;
    }
    cut
}

/// Rewrites generated roff so `mandoc -T lint` has nothing to say: one sentence per line,
/// lines of at most 78 bytes (no-fill lines are continued with `\c`), no paragraph macro
/// right after a heading.
fn lint_clean(page: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut no_fill = false;
    for line in page.lines() {
        let request = line.starts_with('.') || line.starts_with('\'');
        if line == ".PP" || line.starts_with(".PP ") {
            let after_heading = out.last().is_some_and(|l| {
                l.starts_with(".SH") || l.starts_with(".SS") || l == ".PP" || l.starts_with(".TH")
            });
            if after_heading {
                continue;
            }
        }
        if line == ".br" && out.last().is_some_and(|l| l == ".br") {
            continue;
        }
        if request {
            if line.starts_with(".nf") || line.starts_with(".EX") {
                no_fill = true;
            } else if line.starts_with(".fi") || line.starts_with(".EE") {
                no_fill = false;
            }
            out.push(line.to_string());
            continue;
        }
        if no_fill {
            let mut rest = line;
            while rest.len() > LINE {
                let cut = cut_point(rest, LINE - 2);
                out.push(format!("{}\\c", &rest[..cut]));
                rest = &rest[cut..];
            }
            out.push(rest.to_string());
            continue;
        }
        // Fill mode: a new line for each sentence, then wrap at spaces.
        let mut sentences = Vec::new();
        let mut start = 0;
        let bytes = line.as_bytes();
        for i in 1..bytes.len().saturating_sub(1) {
            if matches!(bytes[i - 1], b'.' | b'?' | b'!' | b':' | b';')
                && bytes[i] == b' '
                && bytes[i + 1].is_ascii_uppercase()
                && matches!(bytes[i - 1], b'.' | b'?' | b'!')
            {
                sentences.push(&line[start..i]);
                start = i + 1;
            }
        }
        sentences.push(&line[start..]);
        for sentence in sentences {
            let mut current = String::new();
            for word in sentence.split(' ').filter(|w| !w.is_empty()) {
                if !current.is_empty() && current.len() + 1 + word.len() > LINE {
                    out.push(std::mem::take(&mut current));
                }
                if !current.is_empty() {
                    current.push(' ');
                }
                current.push_str(word);
            }
            if !current.is_empty() {
                out.push(current);
            }
        }
    }
    let mut text: String = out
        .into_iter()
        .map(|l| {
            if (l.starts_with('.') || l.starts_with('\''))
                && !l.starts_with(".\\")
                && !is_request(&l)
            {
                format!("\\&{l}")
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    text.push('\n');
    text
}

/// Whether a line is one of the roff requests these pages use.
fn is_request(line: &str) -> bool {
    const REQUESTS: &[&str] = &[
        ".TH", ".SH", ".SS", ".PP", ".TP", ".IP", ".RS", ".RE", ".nf", ".fi", ".br", ".B ", ".I ",
        ".EX", ".EE", ".sp", ".ie", ".el", ".if", ".ne", ".\\\"", ".TQ", ".LP", ".P",
    ];
    REQUESTS.iter().any(|r| line.starts_with(r))
}

/// Every page as (file name, roff text).
pub fn pages() -> Vec<(String, String)> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut pages = vec![("vault.1".to_string(), render(cmd.clone(), ""))];
    let mut stack: Vec<(Vec<String>, clap::Command)> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .map(|s| (vec![s.get_name().to_string()], s.clone()))
        .collect();
    while let Some((names, sub)) = stack.pop() {
        for child in sub.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut child_names = names.clone();
            child_names.push(child.get_name().to_string());
            stack.push((child_names, child.clone()));
        }
        let dashed = names.join("-");
        let page = sub
            .clone()
            .name(format!("vault-{dashed}"))
            .bin_name(format!("vault {}", names.join(" ")));
        pages.push((format!("vault-{dashed}.1"), render(page, &dashed)));
    }
    pages.push(("secretsd-provider.7".to_string(), provider_page()));
    pages.sort();
    pages
        .into_iter()
        .map(|(name, page)| (name, lint_clean(&page)))
        .collect()
}

/// `protocol/SPEC.md` as a man(7) page.
fn provider_page() -> String {
    let spec = include_str!("../../protocol/SPEC.md");
    let mut out = format!(
        ".TH SECRETSD\\-PROVIDER 7 \"{MANUAL_DATE}\" \"vault {}\" \"vault manual\"\n.SH NAME\nsecretsd\\-provider \\- the protocol between vault and its provider executables\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut lines = spec.lines().peekable();
    let mut paragraph: Vec<String> = Vec::new();
    let flush = |paragraph: &mut Vec<String>, out: &mut String| {
        if !paragraph.is_empty() {
            out.push_str(&format!(".PP\n{}\n", inline(&paragraph.join(" "))));
            paragraph.clear();
        }
    };
    while let Some(line) = lines.next() {
        if line.starts_with("# ") {
            continue;
        }
        if let Some(title) = line.strip_prefix("## ") {
            flush(&mut paragraph, &mut out);
            let title = title.split_once(". ").map_or(title, |(_, t)| t);
            out.push_str(&format!(".SH \"{}\"\n", roff(&title.to_uppercase())));
        } else if let Some(title) = line.strip_prefix("### ") {
            flush(&mut paragraph, &mut out);
            out.push_str(&format!(".SS \"{}\"\n", roff(title)));
        } else if line.starts_with("```") {
            flush(&mut paragraph, &mut out);
            out.push_str(".PP\n.RS 4\n.nf\n");
            for code in lines.by_ref() {
                if code.starts_with("```") {
                    break;
                }
                out.push_str(&format!("{}\n", roff(code)));
            }
            out.push_str(".fi\n.RE\n");
        } else if line.starts_with('|') {
            flush(&mut paragraph, &mut out);
            let cells = |row: &str| -> Vec<String> {
                row.trim()
                    .trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().to_string())
                    .collect()
            };
            let header = cells(line);
            lines.next(); // the |---| separator
            while let Some(row) = lines.next_if(|l| l.starts_with('|')) {
                let row = cells(row);
                out.push_str(&format!(".TP\n{}\n", inline(&row[0])));
                let rest: Vec<String> = row[1..]
                    .iter()
                    .zip(&header[1..])
                    .filter(|(cell, _)| !cell.is_empty())
                    .map(|(cell, name)| format!("{}: {}", inline(name), inline(cell)))
                    .collect();
                out.push_str(&format!("{}\n", rest.join("; ")));
            }
        } else if let Some(item) = line.strip_prefix("* ") {
            flush(&mut paragraph, &mut out);
            let mut text = item.to_string();
            while let Some(more) = lines.next_if(|l| l.starts_with("  ") && !l.trim().is_empty()) {
                text.push(' ');
                text.push_str(more.trim());
            }
            out.push_str(&format!(".IP \\(bu 2\n{}\n", inline(&text)));
        } else if line.trim().is_empty() {
            flush(&mut paragraph, &mut out);
        } else {
            paragraph.push(line.trim().to_string());
        }
    }
    flush(&mut paragraph, &mut out);
    out.push_str(".SH \"SEE ALSO\"\nvault(1), vault\\-provider(1)\n");
    out
}
