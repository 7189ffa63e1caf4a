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
//! Variables may also be written at the top level, next to `command`.

use std::path::Path;

use crate::error::{Error, Result};
use crate::names::validate_name;
use crate::resolve::{Binding, Reference};

pub struct Manifest {
    pub command: Vec<String>,
    pub bindings: Vec<Binding>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let what = "read the manifest";
            match e.kind() {
                std::io::ErrorKind::NotFound => {
                    Error::NotFound(format!("cannot {what} {}: no such file", path.display()))
                }
                _ => Error::io(what, path, e),
            }
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
        let add = |name: &str, value: &toml::Value, bindings: &mut Vec<Binding>| -> Result<()> {
            validate_name(name).map_err(|e| bad(e.to_string()))?;
            let toml::Value::String(reference) = value else {
                return Err(bad(format!(
                    "{name} must be a string reference (like \"secret:{name}\")"
                )));
            };
            if bindings.iter().any(|b: &Binding| b.variable == name) {
                return Err(bad(format!("{name} is given twice")));
            }
            Reference::check_near_miss(reference, name).map_err(|e| bad(e.to_string()))?;
            bindings.push(Binding {
                variable: name.to_string(),
                reference: Reference::parse(reference),
            });
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
                        add(name, value, &mut bindings)?;
                    }
                }
                (name, value) => add(name, value, &mut bindings)?,
            }
        }
        Ok(Manifest { command, bindings })
    }
}

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
