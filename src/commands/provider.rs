//! `vault provider list` and `vault provider check`.

use serde_json::json;

use crate::cli::ProviderCommand;
use crate::commands::{Context, SUCCESS, print_report, print_stdout};
use crate::error::{Error, Result, exit};
use crate::providers::{self, client_error};
use secretsd_protocol::client::ProviderProcess;
use secretsd_protocol::conformance::{CheckOptions, check_hiding};

pub fn run(context: &Context, command: &ProviderCommand) -> Result<u8> {
    match command {
        ProviderCommand::List { json } => list(context, *json),
        ProviderCommand::Check { name, key_prefix } => conformance(context, name, key_prefix),
    }
}

fn list(context: &Context, as_json: bool) -> Result<u8> {
    let options = providers::client_options(&context.config.providers, context.global.verbose);
    let mut rows = Vec::new();
    for (name, path) in providers::discover() {
        // Ask each for its hello, then let it go; one another user could replace is not
        // started, and says why.
        let described = providers::trusted_executable(&path).and_then(|real| {
            ProviderProcess::spawn(&name, &real, options.clone())
                .map(|process| {
                    let hello = process.hello().clone();
                    let _ = process.close();
                    hello
                })
                .map_err(client_error)
        });
        rows.push((name, path, described));
    }
    if as_json {
        let items: Vec<_> = rows
            .iter()
            .map(|(name, path, hello)| match hello {
                Ok(hello) => json!({
                    "name": name, "path": path, "version": hello.version,
                    "protocol": hello.v, "ops": hello.ops, "title": providers::title(name),
                }),
                Err(e) => json!({"name": name, "path": path, "error": e.to_string()}),
            })
            .collect();
        let text = serde_json::to_string_pretty(&items)
            .map_err(|e| Error::Failed(format!("cannot format the list: {e}")))?;
        print_stdout(&format!("{text}\n"))?;
        return SUCCESS;
    }
    if rows.is_empty() {
        context.note(
            "no providers found: none of secretsd-provider-* is on $VAULT_PROVIDER_PATH or $PATH",
        );
        return SUCCESS;
    }
    let mut out = String::new();
    for (name, path, hello) in &rows {
        match hello {
            Ok(hello) => {
                let ops: Vec<String> = hello.ops.iter().map(ToString::to_string).collect();
                let title = providers::title(name)
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "{name:14} {:10} ops={:22} {}{title}\n",
                    hello.version,
                    ops.join(","),
                    path.display()
                ));
            }
            Err(e) => out.push_str(&format!("{name:14} BROKEN     {e}\n")),
        }
    }
    // Versions and errors are what the providers said.
    print_report(&out)?;
    SUCCESS
}

fn conformance(context: &Context, name: &str, key_prefix: &str) -> Result<u8> {
    if !providers::is_provider_name(name) {
        return Err(Error::Usage(format!(
            "{name:?} is not a provider name (lowercase letters, digits and '-')"
        )));
    }
    let path = providers::find(name)?;
    // What the configuration holds that may be secret (a token from BAO_TOKEN) is taken
    // out of the provider's stderr and of the report, as vault does for every provider.
    let (config, hidden) = context.with_resolver(|resolver| {
        let config = resolver.provider_config(name)?;
        Ok((config, resolver.providers().sent_to(name)))
    })?;
    let options = CheckOptions {
        config,
        key_prefix: key_prefix.to_string(),
        client: providers::options_for(
            name,
            &providers::client_options(&context.config.providers, context.global.verbose),
        ),
    };
    let cases = check_hiding(name, &path, &options, &hidden);
    let mut out = String::new();
    let mut failed = 0;
    for case in &cases {
        match &case.outcome {
            Ok(detail) => out.push_str(&format!("ok    {}: {detail}\n", case.name)),
            Err(reason) => {
                failed += 1;
                out.push_str(&format!("FAIL  {}: {reason}\n", case.name));
            }
        }
    }
    out.push_str(&format!(
        "{} passed, {failed} failed: provider {name} ({})\n",
        cases.len() - failed,
        path.display()
    ));
    print_report(&out)?;
    Ok(if failed == 0 {
        exit::OK
    } else {
        exit::PROVIDER
    })
}
