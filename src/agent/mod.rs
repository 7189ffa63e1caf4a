//! Grants for AI coding agents: which values a command an agent runs may use, for how
//! long, and the audit trail of what was run (see docs/DESIGN.md, "Agents"). The core: no
//! output here; `commands::agent` and `commands::mcp` own it.

pub mod audit;
pub mod confine;
pub mod grant;
pub mod sandbox;
