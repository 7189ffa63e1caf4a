//! `vault check`: what `vault run` would start with, masked, without starting anything.

use super::*;

/// `vault check`: every variable of the manifest, where its value comes from (masked),
/// and every required one without a value named at once (exit 3).
pub fn check(context: &Context, args: &crate::cli::CheckArgs) -> Result<u8> {
    context.use_cache_args(&args.cache);
    let sources = Sources::load(context, args.manifest.as_deref(), &args.env_files)?;
    let bindings = &sources.bindings;
    if let Some(profile) = &context.profile {
        context.note(&format!("profile {profile}"));
    }
    // Where along the lookup chain each secret: reference was found (env, a .env, the
    // vault, a provider): a value from an unexpected place is what check is run to see.
    let (outcomes, answered) = context.with_resolver(|resolver| {
        let outcomes = resolver.resolve_each(bindings)?;
        let answered: Vec<Option<String>> = bindings
            .iter()
            .map(|binding| match &binding.reference {
                crate::resolve::Reference::Secret(name) => {
                    resolver.source_of(name).map(str::to_string)
                }
                _ => None,
            })
            .collect();
        Ok((outcomes, answered))
    })?;
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    let mut failed = Vec::new();
    for ((binding, outcome), answered) in bindings.iter().zip(outcomes).zip(answered) {
        // Where the value came from, in full once it did: a reference that found nothing
        // may be a literal with a colon (`admin:hunter2`), shown as errors show it.
        let from = if outcome.is_ok() {
            binding.reference.to_string()
        } else {
            binding.reference.for_error()
        };
        // Said of every variable, so that a reference mistyped into a literal shows.
        let kind = match binding.reference {
            Reference::Literal(_) => "literal",
            _ => "reference",
        };
        let (state, shown) = match outcome {
            Ok(value) => match &answered {
                Some(answered) => (
                    "ok",
                    format!("{}  (from {answered})", crate::value::mask(&value)),
                ),
                None => ("ok", crate::value::mask(&value)),
            },
            Err(Error::NotFound(_)) if binding.default.is_some() => {
                ("default", "(the manifest's default)".to_string())
            }
            Err(Error::NotFound(_)) if !binding.required => ("unset", "(optional)".to_string()),
            Err(Error::NotFound(e)) => {
                missing.push(binding.variable.clone());
                ("MISSING", e)
            }
            Err(e) => {
                failed.push(binding.variable.clone());
                ("FAILED", e.to_string())
            }
        };
        rows.push((binding, kind, from, state, shown, answered));
    }
    if args.json {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|(b, kind, from, state, shown, answered)| {
                serde_json::json!({
                    "name": b.variable,
                    "kind": kind,
                    "from": from,
                    "source": answered,
                    "description": b.description,
                    "required": b.required,
                    "state": state.to_lowercase(),
                    "shown": shown,
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&items)
            .map_err(|e| Error::Failed(format!("cannot write JSON: {e}")))?;
        print_stdout(&format!("{text}\n"))?;
    } else {
        let width = rows
            .iter()
            .map(|(b, ..)| b.variable.len())
            .max()
            .unwrap_or(4)
            .min(crate::names::MAX_COLUMN);
        // "literal", or "reference secret:NAME".
        let source = |kind: &str, from: &str| match kind {
            "literal" => kind.to_string(),
            _ => format!("{kind} {from}"),
        };
        let from_width = rows
            .iter()
            .map(|(_, kind, from, ..)| source(kind, from).chars().count())
            .max()
            .unwrap_or(4)
            .min(crate::names::MAX_COLUMN);
        let mut out = String::new();
        for (binding, kind, from, state, shown, _) in &rows {
            let line = format!(
                "{:width$}  {:from_width$}  {state:8} {shown}{}",
                binding.variable,
                source(kind, from),
                binding
                    .description
                    .as_deref()
                    .map(|d| format!("  # {}", crate::names::printable(d, false)))
                    .unwrap_or_default()
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        print_report(&out)?;
    }
    if !missing.is_empty() || !failed.is_empty() {
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!(
                "required variables without a value: {}",
                missing.join(", ")
            ));
        }
        if !failed.is_empty() {
            problems.push(format!(
                "variables that could not be resolved: {}",
                failed.join(", ")
            ));
        }
        let message = format!("{} ({})", problems.join("; "), sources.names());
        return Err(if failed.is_empty() {
            Error::NotFound(message)
        } else {
            Error::Failed(message)
        });
    }
    context.note(&format!(
        "all {} variables of {} have a value",
        rows.len(),
        sources.names()
    ));
    SUCCESS
}
