//! Embeds the static stub in the packer, so installing the packer is one step and packing
//! never needs a Rust toolchain. The stub is built for x86_64-unknown-linux-musl by a nested
//! cargo in its own target directory (no lock shared with the outer build), or taken as is
//! from $WHEELSFX_STUB (a prebuilt stub, e.g. for cross builds).

use std::env;
use std::path::PathBuf;
use std::process::Command;

const TARGET: &str = "x86_64-unknown-linux-musl";

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("wheelsfx-stub");
    println!("cargo:rerun-if-env-changed=WHEELSFX_STUB");
    if let Ok(prebuilt) = env::var("WHEELSFX_STUB") {
        std::fs::copy(&prebuilt, &out).unwrap_or_else(|e| panic!("cannot copy WHEELSFX_STUB={prebuilt}: {e}"));
        return;
    }
    let here = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = here.parent().unwrap().to_path_buf();
    for watched in ["stub/src", "stub/Cargo.toml", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    // OUT_DIR is <target>/[<triple>/]<profile>/build/<pkg>/out: keep the stub build beside
    // <profile>, in one place for every triple (a static packer, built --target musl, then
    // shares the stub a host build made).
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let mut target_dir = out_dir.ancestors().nth(4).unwrap();
    if target_dir.file_name() == env::var_os("TARGET").as_deref() {
        target_dir = target_dir.parent().unwrap();
    }
    let target_dir = target_dir.join("stub");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "wheelsfx-stub",
            "--bin",
            "wheelsfx-stub",
            "--target",
            TARGET,
        ])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("cannot run cargo to build the stub");
    if !status.success() {
        panic!("building the stub for {TARGET} failed; is the target installed? (rustup target add {TARGET})");
    }
    let built = target_dir.join(TARGET).join("release/wheelsfx-stub");
    std::fs::copy(&built, &out).unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
}
