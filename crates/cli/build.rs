//! Link settings of the `invokd` binary that depend on the machine it is built for.
//!
//! Packed relative relocations (`DT_RELR`): the binary is position independent, and its
//! ~30,000 relative relocations as classic `RELA` entries are 750 KB that the dynamic loader reads
//! on every start, page by page (also in every spare process, which executes invokd). Packed, they
//! are 8 KB, and the server's idle RSS drops by about 1.3 MiB (docs/benchmarks.md, "Memory").
//! glibc loads such a binary only from 2.36 on, and refuses it on older ones, so the flag is
//! passed only when the C library the build links against is glibc 2.36 or newer; on other
//! C libraries, in cross builds, or when `INVOKD_NO_RELR` is set, the binary keeps `RELA`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=INVOKD_NO_RELR");
    if std::env::var_os("INVOKD_NO_RELR").is_some() {
        return;
    }
    let native = std::env::var("HOST").ok() == std::env::var("TARGET").ok();
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if native && linux_gnu && host_glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
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
