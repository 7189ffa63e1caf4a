//! Environment variables that make programs load or run code: `LD_PRELOAD`, `BASH_ENV`,
//! `PYTHONPATH`, `NODE_OPTIONS`, `PATH` and the others below.
//!
//! Whoever sets one decides what code the program runs. A vault is written by every
//! member, and a provider answers for whoever controls its backend: a teammate's
//! `vault set BASH_ENV` would run their code on every machine that `vault exec`s. So
//! `exec` and `run` pass these from a vault or a provider only when allowed by name
//! (`--allow-env NAME`, `[exec] allow_env`), and say which they held back. A literal (or an
//! `env:`/`file:` reference) in the user's own manifest is the user's choice and passes.
//!
//! The list is what a dynamic loader, a shell or a language runtime reads before or while
//! the program starts, and what programs run as a command (an editor, a pager), after
//! murk's and secretctl's refusals, glibc's list of variables unsafe for set-user-ID
//! programs, and each runtime's documentation. Deliberately not on it, because they load
//! no code of their own: `MALLOC_*` (allocator tuning, a trace file), `LOCPATH`/`NLSPATH` (locale and message
//! data), `TMPDIR`, `CDPATH`, `HOME`/`XDG_*` and `GIT_DIR` (places to read configuration
//! from, which must be planted first), proxies and `SSLKEYLOGFILE` (they redirect or record
//! traffic, they run nothing). Names are matched exactly: the environment is case-sensitive.

/// Names that load or run code.
pub const NAMES: &[&str] = &[
    // Where commands are found.
    "PATH",
    // Shells: files sourced at start, options and prompts expanded (with command
    // substitution), how words are split.
    "BASH_ENV",
    "ENV",
    "ZDOTDIR",
    "SHELLOPTS",
    "BASHOPTS",
    "PROMPT_COMMAND",
    "PS0",
    "PS1",
    "PS2",
    "PS3",
    "PS4",
    "IFS",
    // The C library: character-set converter modules, tunables (CVE-2023-4911).
    "GCONV_PATH",
    "GLIBC_TUNABLES",
    // Python: module paths, the startup file, user site-packages (.pth files run), warning
    // categories and the breakpoint hook (both import a module named in the value).
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "PYTHONWARNINGS",
    "PYTHONBREAKPOINT",
    // Perl, Ruby, Node.js, the JVM, PHP, .NET: options and module paths.
    "PERL5OPT",
    "PERL5LIB",
    "PERLLIB",
    "PERL5DB",
    "RUBYOPT",
    "RUBYLIB",
    "GEM_PATH",
    "GEM_HOME",
    "NODE_OPTIONS",
    "NODE_PATH",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "PHPRC",
    "PHP_INI_SCAN_DIR",
    "DOTNET_STARTUP_HOOKS",
    // OpenSSL: a configuration file can load an engine or provider module.
    "OPENSSL_CONF",
    "OPENSSL_ENGINES",
    "OPENSSL_MODULES",
    // git: commands it runs, where it finds its own programs and hooks.
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_EXEC_PATH",
    "GIT_PAGER",
    "GIT_EDITOR",
    "GIT_ASKPASS",
    "GIT_EXTERNAL_DIFF",
    "GIT_PROXY_COMMAND",
    "GIT_TEMPLATE_DIR",
    "GIT_SEQUENCE_EDITOR",
    // Commands other programs run for you.
    "PAGER",
    "MANPAGER",
    "LESSOPEN",
    "LESSCLOSE",
    "EDITOR",
    "VISUAL",
    "BROWSER",
    "SSH_ASKPASS",
    "SUDO_ASKPASS",
    "SUDO_EDITOR",
    "SYSTEMD_EDITOR",
    "SYSTEMD_PAGER",
    "FCEDIT",
    "SHELL",
    // Remote shells: rsync, CVS and Subversion run them as commands.
    "RSYNC_RSH",
    "RSYNC_CONNECT_PROG",
    "CVS_RSH",
    "SVN_SSH",
    // Tools whose options from the environment run commands: GNU tar
    // (--checkpoint-action=exec, --to-command, --use-compress-program), vim (ex commands
    // at start, its runtime scripts), cargo (the compiler and its wrappers), Node.js's REPL.
    "TAR_OPTIONS",
    "VIMINIT",
    "GVIMINIT",
    "EXINIT",
    "VIMRUNTIME",
    "RUSTC",
    "RUSTDOC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "NODE_REPL_EXTERNAL_MODULE",
    // Python's interactive prompt after the script: code read from stdin.
    "PYTHONINSPECT",
];

/// Every name that starts with one of these: the dynamic loaders' (`LD_PRELOAD`,
/// `LD_LIBRARY_PATH`, `LD_AUDIT`, macOS's `DYLD_INSERT_LIBRARIES`), bash's exported
/// functions, git's configuration from the environment (`GIT_CONFIG_COUNT`,
/// `GIT_CONFIG_KEY_0`, `GIT_CONFIG_PARAMETERS`: `core.sshCommand`, `core.pager`…) and Lua's
/// paths and init code (with their `_5_4` variants).
pub const PREFIXES: &[&str] = &[
    "LD_",
    "DYLD_",
    "BASH_FUNC_",
    "GIT_CONFIG",
    "LUA_PATH",
    "LUA_CPATH",
    "LUA_INIT",
    // cargo's compiler and wrappers in their configuration spelling
    // (`CARGO_BUILD_RUSTC_WRAPPER`, `CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER`, …).
    "CARGO_BUILD_RUSTC",
    "CARGO_BUILD_RUSTDOC",
    // npm's and yarn's configuration from the environment: `script_shell`,
    // `node_options`, `git`, lifecycle scripts' shell.
    "npm_config_",
    "NPM_CONFIG_",
    "YARN_",
];

/// Names that start with the first and end with one of the second: cargo's per-target
/// runner and linker (`CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER`), not `CARGO_TARGET_DIR`.
const FRAMED: &[(&str, &[&str])] = &[("CARGO_TARGET_", &["_RUNNER", "_LINKER", "_RUSTFLAGS"])];

/// Whether the variable `name` makes programs load or run code.
pub fn loads_code(name: &str) -> bool {
    // A set, not a scan of the list: `exec` asks this of every secret it passes, and
    // comparing each one with the 70 names cost ~400 instructions a name (4M at 10,000).
    static SET: std::sync::LazyLock<
        std::collections::HashSet<&'static str, foldhash::fast::FixedState>,
    > = std::sync::LazyLock::new(|| NAMES.iter().copied().collect());
    SET.contains(name)
        || PREFIXES.iter().any(|prefix| name.starts_with(prefix))
        || FRAMED.iter().any(|(start, ends)| {
            name.starts_with(start) && ends.iter().any(|end| name.ends_with(end))
        })
}

/// What may be passed although it loads code: the names allowed on the command line and in
/// the configuration.
pub struct Allowed<'a> {
    names: Vec<&'a str>,
}

impl<'a> Allowed<'a> {
    pub fn new(command_line: &'a [String], configuration: &'a [String]) -> Self {
        Allowed {
            names: command_line
                .iter()
                .chain(configuration)
                .map(String::as_str)
                .collect(),
        }
    }

    /// Whether a value for `name` from a vault or a provider is held back.
    pub fn holds_back(&self, name: &str) -> bool {
        loads_code(name) && !self.names.contains(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loaders_shells_and_runtimes_are_held_back_unless_allowed() {
        for name in [
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "BASH_ENV",
            "BASH_FUNC_ls%%",
            "PYTHONPATH",
            "NODE_OPTIONS",
            "GIT_CONFIG_COUNT",
            "LUA_INIT_5_4",
            "PATH",
            "TAR_OPTIONS",
            "VIMINIT",
            "GIT_SEQUENCE_EDITOR",
            "CARGO_BUILD_RUSTC_WRAPPER",
            "RUSTC_WRAPPER",
            "npm_config_script_shell",
            "PYTHONINSPECT",
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER",
        ] {
            assert!(loads_code(name), "{name}");
        }
        for name in NAMES {
            assert!(loads_code(name), "{name}");
        }
        for name in [
            "DB_PASSWORD",
            "ld_preload",
            "PATHS",
            "API_PATH",
            "GIT_TOKEN",
            "HOME",
            "CARGO_TARGET_DIR",
        ] {
            assert!(!loads_code(name), "{name}");
        }
        let command_line = vec!["PATH".to_string()];
        let configuration = vec!["NODE_OPTIONS".to_string()];
        let allowed = Allowed::new(&command_line, &configuration);
        assert!(!allowed.holds_back("PATH") && !allowed.holds_back("NODE_OPTIONS"));
        assert!(allowed.holds_back("BASH_ENV") && !allowed.holds_back("DB_PASSWORD"));
    }
}
