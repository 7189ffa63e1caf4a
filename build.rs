//! Links GCC's unwinder into the `vault` binaries instead of loading `libgcc_s.so.1`.
//!
//! Why: `vault exec` is on the start-up path of every command it runs, and a second shared
//! library is a real share of that start: ld.so opens, maps and relocates it, and its
//! constructor (`__cpu_indicator_init`) executes CPUID about ten times — each a trap to the
//! hypervisor on a virtual machine (6 µs apiece where we measure). Without it `vault exec`
//! took 0.18 ms less at 10 secrets (2.17 → 1.99 ms beside `env /bin/true` at 1.20 ms).
//!
//! How: this is what `gcc -static-libgcc` does, which rustc cannot be asked for because the
//! standard library names `-lgcc_s` itself. A linker script called `libgcc_s.so` placed
//! first on the library path answers that `-lgcc_s` with the static unwinder,
//! `libgcc_eh.a`, the one `-static-libgcc` and static-pie links use. The C library stays
//! dynamic (user and group lookups go through NSS). What the static unwinder gives up is
//! unwinding across shared libraries that bring their own `libgcc_s`; vault loads none (no
//! plugin is ever loaded into the process: age plugins and providers are executables).
//!
//! When the toolchain has no `libgcc_eh.a` (another C compiler, another C library), nothing
//! changes and the binaries load `libgcc_s.so.1` as usual.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if target_os != "linux" || target_env != "gnu" {
        return;
    }
    let Some(unwinder) = static_unwinder() else {
        return;
    };
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let script_dir = out_dir.join("static-libgcc");
    std::fs::create_dir_all(&script_dir).expect("create the linker script's directory");
    let script = format!(
        "/* -lgcc_s answered with the static unwinder (see build.rs) */\nGROUP ( {} )\n",
        unwinder.display()
    );
    std::fs::write(script_dir.join("libgcc_s.so"), script).expect("write the linker script");
    println!("cargo:rustc-link-search=native={}", script_dir.display());
}

/// `libgcc_eh.a` as the C compiler that links for rustc (`cc`, or `$CC`) finds it.
fn static_unwinder() -> Option<PathBuf> {
    let compiler = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let output = Command::new(compiler)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let path = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    // A compiler that does not have the file prints its bare name back.
    (path.is_absolute() && Path::new(&path).is_file() && !path_has_space(&path)).then_some(path)
}

/// A linker script names files unquoted; a path with a space in it is left alone.
fn path_has_space(path: &Path) -> bool {
    path.to_string_lossy().contains(char::is_whitespace)
}
