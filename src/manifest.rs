//! The `vault run` manifest: which variables a service gets, and from where.
//!
//! ```toml
//! command = ["/usr/bin/app", "--serve"]   # optional; a command after -- wins
//!
//! [env]
//! DB_PASSWORD = "secret:DB_PASSWORD"
//! HOME_DIR = "env:HOME"
//! TLS_KEY = "file:/etc/app/tls.key"
//! LOG_LEVEL = "info"
//! ```
//!
//! Variables may also be written at the top level, next to `command`. A variable may be a
//! table instead: `NAME = { from = "secret:NAME", description = "…", required = false,
//! default = "…" }` (`from` defaults to `secret:NAME`). A project keeps its manifest as
//! `secretsd.toml`, found upward from the current directory like `Cargo.toml`.

use std::path::Path;

use crate::error::{Error, Result};
use crate::names::validate_name;
use crate::resolve::{Binding, Reference};

pub struct Manifest {
    pub command: Vec<String>,
    pub bindings: Vec<Binding>,
    /// `[profiles.NAME.env]`: variables a profile sets instead, or in addition.
    pub profiles: std::collections::BTreeMap<String, Vec<Binding>>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = crate::regular_file::read_text(path, path, "manifest").map_err(|e| match e {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Error::NotFound(format!(
                    "cannot read the manifest {}: no such file",
                    path.display()
                ))
            }
            other => other,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, source: &str) -> Result<Manifest> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            Error::BadData(format!(
                "the manifest {source} is not valid TOML: {}",
                e.message()
            ))
        })?;
        let bad = |message: String| Error::BadData(format!("the manifest {source}: {message}"));
        let mut command = Vec::new();
        let mut bindings = Vec::new();
        let mut profiles = std::collections::BTreeMap::new();
        let add = |name: &str,
                   value: &toml::Value,
                   bindings: &mut Vec<Binding>,
                   as_file: bool|
         -> Result<()> {
            validate_name(name).map_err(|e| bad(e.to_string()))?;
            if bindings.iter().any(|b: &Binding| b.variable == name) {
                return Err(bad(format!(
                    "{name} is given twice (a variable is in [env] or in [files], once)"
                )));
            }
            let binding = match value {
                toml::Value::String(reference) => {
                    Reference::check_near_miss(reference, name).map_err(|e| bad(e.to_string()))?;
                    Binding::new(name, Reference::parse(reference))
                }
                toml::Value::Table(fields) => binding_from_table(name, fields).map_err(bad)?,
                _ => {
                    return Err(bad(format!(
                        "{name} must be a reference (like \"secret:{name}\") or a table (like {{ from = \"secret:{name}\", required = false }})"
                    )));
                }
            };
            bindings.push(Binding { as_file, ..binding });
            Ok(())
        };
        for (key, value) in &table {
            match (key.as_str(), value) {
                ("command", toml::Value::Array(items)) => {
                    for item in items {
                        let toml::Value::String(word) = item else {
                            return Err(bad("command must be an array of strings".into()));
                        };
                        command.push(word.clone());
                    }
                }
                ("command", _) => {
                    return Err(bad(
                        "command must be an array of strings, like [\"/usr/bin/app\", \"--flag\"]"
                            .into(),
                    ));
                }
                ("env", toml::Value::Table(variables)) => {
                    for (name, value) in variables {
                        add(name, value, &mut bindings, false)?;
                    }
                }
                ("files", toml::Value::Table(variables)) => {
                    for (name, value) in variables {
                        add(name, value, &mut bindings, true)?;
                    }
                }
                ("profiles", toml::Value::Table(named)) => {
                    for (profile, section) in named {
                        let variables = match section.as_table().map(|t| (t.len(), t.get("env"))) {
                            Some((1, Some(toml::Value::Table(variables)))) => variables,
                            _ => {
                                return Err(bad(format!(
                                    "[profiles.{profile}] holds one table, [profiles.{profile}.env]"
                                )));
                            }
                        };
                        let mut overrides = Vec::new();
                        for (name, value) in variables {
                            add(name, value, &mut overrides, false)?;
                        }
                        profiles.insert(profile.clone(), overrides);
                    }
                }
                (name, value) => add(name, value, &mut bindings, false)?,
            }
        }
        Ok(Manifest {
            command,
            bindings,
            profiles,
        })
    }

    /// The variables under `profile`: the `[env]` ones, each replaced by the profile's
    /// variable of the same name, and the profile's others added.
    pub fn bindings_for(&self, profile: Option<&str>) -> Vec<Binding> {
        let Some(overrides) = profile.and_then(|p| self.profiles.get(p)) else {
            return self.bindings.clone();
        };
        let mut bindings: Vec<Binding> = self
            .bindings
            .iter()
            .map(|b| {
                overrides
                    .iter()
                    .find(|o| o.variable == b.variable)
                    .unwrap_or(b)
                    .clone()
            })
            .collect();
        for extra in overrides {
            if !bindings.iter().any(|b| b.variable == extra.variable) {
                bindings.push(extra.clone());
            }
        }
        bindings
    }
}

/// `NAME = { from = "…", description = "…", required = false, default = "…" }`; `from`
/// defaults to `secret:NAME`, `required` to true.
fn binding_from_table(name: &str, fields: &toml::Table) -> std::result::Result<Binding, String> {
    let text = |key: &str| -> std::result::Result<Option<String>, String> {
        match fields.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{name}.{key} must be a string")),
        }
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !["from", "description", "required", "default"].contains(&k.as_str()))
    {
        return Err(format!(
            "{name} has an unknown field {unknown:?}; a variable has from, description, required and default"
        ));
    }
    let from = text("from")?.unwrap_or_else(|| format!("secret:{name}"));
    Reference::check_near_miss(&from, name).map_err(|e| e.to_string())?;
    let required = match fields.get("required") {
        None => true,
        Some(toml::Value::Boolean(b)) => *b,
        Some(_) => return Err(format!("{name}.required must be true or false")),
    };
    let mut binding = Binding::new(name, Reference::parse(&from));
    binding.required = required;
    binding.default = text("default")?;
    binding.description = text("description")?;
    Ok(binding)
}

/// The project manifest's file name, found upward from the current directory as cargo
/// finds Cargo.toml.
pub const PROJECT_MANIFEST: &str = "secretsd.toml";

/// The nearest `secretsd.toml` in `start` or a directory above it — refused (see
/// `strict::check_found_upward`) if another user could have put it there, or one nearer:
/// a manifest chooses the program's environment (`PYTHONPATH`, `LD_PRELOAD`) and which
/// secrets it gets.
pub fn find_project_manifest(start: &Path) -> Result<Option<std::path::PathBuf>> {
    let found = start
        .ancestors()
        .map(|dir| dir.join(PROJECT_MANIFEST))
        .find(|candidate| candidate.is_file());
    if let Some(path) = &found {
        crate::store::strict::check_found_upward(path, start, "project manifest")?;
    }
    Ok(found)
}

/// The manifest a command uses: the one given, else the project's. Either must be the
/// user's or root's, where nobody else could replace it.
pub fn locate(given: Option<&Path>) -> Result<std::path::PathBuf> {
    if let Some(path) = given {
        // Read by the path it was checked by (see `strict::real_checked`).
        let real = crate::store::strict::real_checked(path, "manifest")?.ok_or_else(|| {
            Error::NotFound(format!(
                "cannot read the manifest {}: no such file",
                path.display()
            ))
        })?;
        return Ok(real);
    }
    let here = std::env::current_dir()
        .map_err(|e| Error::Failed(format!("cannot tell the current directory: {e}")))?;
    find_project_manifest(&here)?.ok_or_else(|| {
        Error::Usage(format!(
            "no manifest: pass --manifest FILE, or create {PROJECT_MANIFEST} in this project (vault init --project writes one)"
        ))
    })
}

/// `text` (a manifest, possibly empty) with `NAME = "secret:NAME"` under `[env]` for each
/// of `names` it does not set yet; every other line is kept. Returns the text and the names
/// added.
pub fn add_secret_references(text: &str, names: &[String]) -> Result<(String, Vec<String>)> {
    let existing = if text.trim().is_empty() {
        Vec::new()
    } else {
        Manifest::parse(text, "the manifest")?
            .bindings
            .into_iter()
            .map(|b| b.variable)
            .collect()
    };
    let added: Vec<String> = names
        .iter()
        .filter(|n| !existing.contains(n))
        .cloned()
        .collect();
    if added.is_empty() {
        return Ok((text.to_string(), added));
    }
    let lines: String = added
        .iter()
        .map(|n| format!("{n} = \"secret:{n}\"\n"))
        .collect();
    let mut out = String::with_capacity(text.len() + lines.len() + 8);
    // Where [env] ends: before the next table header after it, or at the end.
    let header = |line: &str| line.trim_start().starts_with('[');
    let mut offset = 0;
    let mut env_end = None;
    let mut in_env = false;
    for line in text.split_inclusive('\n') {
        if header(line) {
            if in_env {
                env_end = Some(offset);
                break;
            }
            in_env = line.trim() == "[env]";
        }
        offset += line.len();
    }
    if in_env && env_end.is_none() {
        env_end = Some(text.len());
    }
    match env_end {
        Some(at) => {
            out.push_str(&text[..at]);
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&lines);
            out.push_str(&text[at..]);
        }
        None => {
            out.push_str(text);
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("\n[env]\n");
            out.push_str(&lines);
        }
    }
    // What was written must read back as a manifest setting every name.
    Manifest::parse(&out, "the manifest")?;
    Ok((out, added))
}

/// What `vault init --project` writes.
pub const PROJECT_TEMPLATE: &str = r#"# secretsd.toml: the variables this project's commands get from vault.
# `vault run -- CMD` and `vault check` find this file from any directory below it.
#
# A variable is a reference, or a table with more to say:
#   NAME = "secret:NAME"                  the vault (or the [lookup] order of config.toml)
#   NAME = "env:VAR"                      vault's own environment
#   NAME = "file:/path"                   a file's content
#   NAME = "infisical:/app/db/PASSWORD"   a provider (PROVIDER:KEY)
#   NAME = "info"                         a literal (literal:… forces one)
#   NAME = { from = "secret:NAME", description = "…", required = false, default = "…" }

# command = ["./manage.py", "runserver"]   # what `vault run` starts when no command is given

[env]
# DATABASE_URL = { description = "the app's database", from = "secret:DATABASE_URL" }
# LOG_LEVEL = { required = false, default = "info" }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_env_table_top_level_and_command() {
        let manifest = Manifest::parse(
            "command = [\"/bin/app\", \"-v\"]\nTOP = \"env:HOME\"\n[env]\nDB = \"secret:DB\"\n",
            "test",
        )
        .unwrap();
        assert_eq!(manifest.command, ["/bin/app", "-v"]);
        let names: Vec<_> = manifest
            .bindings
            .iter()
            .map(|b| b.variable.as_str())
            .collect();
        assert_eq!(names, ["TOP", "DB"]);
    }

    #[test]
    fn secret_references_are_added_under_env_keeping_every_other_line() {
        let (out, added) = add_secret_references(
            "# top\ncommand = [\"x\"]\n[env]\nA = \"env:A\"\n[profiles.p.env]\nB = \"1\"\n",
            &["A".into(), "C".into()],
        )
        .unwrap();
        assert_eq!(added, ["C"]);
        assert_eq!(
            out,
            "# top\ncommand = [\"x\"]\n[env]\nA = \"env:A\"\nC = \"secret:C\"\n[profiles.p.env]\nB = \"1\"\n"
        );
        let (out, _) = add_secret_references("command = [\"x\"]", &["D".into()]).unwrap();
        assert_eq!(out, "command = [\"x\"]\n\n[env]\nD = \"secret:D\"\n");
        let (out, _) = add_secret_references(PROJECT_TEMPLATE, &["E".into()]).unwrap();
        assert!(out.starts_with(PROJECT_TEMPLATE) && out.ends_with("E = \"secret:E\"\n"));
    }

    #[test]
    fn rejects_bad_names_types_and_duplicates() {
        for text in [
            "[env]\n1BAD = \"x\"\n",
            "[env]\nNUM = 5\n",
            "A = \"x\"\n[env]\nA = \"y\"\n",
            "command = \"app\"\n",
        ] {
            assert_eq!(
                Manifest::parse(text, "t").err().unwrap().exit_code(),
                6,
                "{text}"
            );
        }
    }
}
