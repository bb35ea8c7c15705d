//! Link settings of the `invokd` binary that depend on the machine it is built for.
//!
//! Packed relative relocations (`DT_RELR`): the binary is position independent, and its
//! ~30,000 relative relocations as classic `RELA` entries are 750 KB that the dynamic loader reads
//! on every start, page by page (also in every spare process, which executes invokd). Packed, they
//! are 8 KB, and the server's idle RSS drops by about 1.3 MiB (docs/benchmarks.md, "Memory").
//! glibc loads such a binary only from 2.36 on, and refuses it on older ones, so the flag is
//! passed only when the C library the build links against is glibc 2.36 or newer; on other
//! C libraries, in cross builds, or when `INVOKD_NO_RELR` is set, the binary keeps `RELA`.
//!
//! Code order (`symbol-order.txt`, made by `bench/symbol_order.py`): release builds place the
//! functions a server runs first and together, so that starting and serving pages in a few
//! 64 KiB fault-around windows of `.text` instead of a hundred (docs/benchmarks.md, "Memory").
//! The option is lld's; it is passed where rustc links with its own lld (x86_64 Linux from Rust
//! 1.90 on) unless the build chooses another linker, and never when `INVOKD_NO_SYMBOL_ORDER` is
//! set.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=INVOKD_NO_RELR");
    println!("cargo:rerun-if-env-changed=INVOKD_NO_SYMBOL_ORDER");
    let native = std::env::var("HOST").ok() == std::env::var("TARGET").ok();
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if std::env::var_os("INVOKD_NO_RELR").is_none()
        && native
        && linux_gnu
        && host_glibc_at_least(2, 36)
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("symbol-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    if std::env::var_os("INVOKD_NO_SYMBOL_ORDER").is_none()
        && std::env::var("PROFILE").as_deref() == Ok("release")
        && links_with_rust_lld()
        && order.is_file()
    {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // Functions renamed or removed since the file was made are expected, not news.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether the binary is linked by rustc's own lld: the default for x86_64-unknown-linux-gnu
/// since Rust 1.90, unless Cargo's configuration or RUSTFLAGS pick a linker.
fn links_with_rust_lld() -> bool {
    if std::env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") {
        return false;
    }
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if std::env::var_os("RUSTC_LINKER").is_some()
        || flags.contains("linker")
        || flags.contains("fuse-ld")
    {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let version = String::from_utf8_lossy(&out.stdout);
    let release = version
        .lines()
        .find_map(|l| l.strip_prefix("release: "))
        .unwrap_or("");
    let mut parts = release
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (1, 90)
}

/// Whether the glibc this build script runs on (the one a native build links against) is at
/// least `major.minor`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // one call into glibc, which has no safe wrapper in std
fn host_glibc_at_least(major: u32, minor: u32) -> bool {
    use std::ffi::{CStr, c_char};

    unsafe extern "C" {
        fn gnu_get_libc_version() -> *const c_char;
    }
    // SAFETY: glibc returns a pointer to a static NUL-terminated string such as "2.36".
    let version = unsafe { CStr::from_ptr(gnu_get_libc_version()) };
    let mut parts = version
        .to_str()
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn host_glibc_at_least(_major: u32, _minor: u32) -> bool {
    false
}
