//! Builds the built-in connectors under plugins/ for wasm32-wasip2 and records where their
//! components are, so `builtins.rs` can embed them with `include_bytes!`.
//!
//! The guest crates form their own workspace (plugins/Cargo.toml). A nested cargo builds them
//! into target/plugins, a separate target folder, so it does not wait on the outer build's lock.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Built-in connector crates and the file name of their component.
const BUILTINS: &[(&str, &str)] = &[
    ("echo", "trellis_echo.wasm"),
    ("sql", "trellis_sql.wasm"),
    ("rest", "trellis_rest.wasm"),
    ("llm", "trellis_llm.wasm"),
    ("openapi", "trellis_openapi.wasm"),
    ("ml", "trellis_ml.wasm"),
    ("slack", "trellis_slack.wasm"),
    ("google-sheets", "trellis_google_sheets.wasm"),
];

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let plugins = manifest_dir
        .join("../../plugins")
        .canonicalize()
        .expect("plugins/ exists");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let target_dir = guest_target_dir(&manifest_dir);

    for input in [
        "Cargo.toml",
        "Cargo.lock",
        "wit",
        "sdk/src",
        "sdk/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", plugins.join(input).display());
    }
    for (name, _) in BUILTINS {
        println!("cargo:rerun-if-changed={}", plugins.join(name).display());
    }
    // The SQL connector builds the template lexer from the server's workspace.
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("../sql-template/src").display()
    );

    ensure_target_installed();
    build_guests(&plugins.join("Cargo.toml"), &target_dir);

    let mut source = String::from("/// Built-in connector components, compiled from plugins/.\n");
    source.push_str("pub const BUILTIN_COMPONENTS: &[(&str, &[u8])] = &[\n");
    for (name, file) in BUILTINS {
        let path = target_dir.join(TARGET).join("release").join(file);
        assert!(
            path.exists(),
            "building the {name} connector produced no {}",
            path.display()
        );
        source.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    source.push_str("];\n");
    std::fs::write(out_dir.join("builtins.rs"), source).expect("writing builtins.rs");
}

/// target/plugins beside the host's own target folder.
fn guest_target_dir(manifest_dir: &Path) -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("../../target"));
    base.join("plugins")
}

fn ensure_target_installed() {
    let sysroot = Command::new(rustc()).args(["--print", "sysroot"]).output();
    let installed = sysroot.ok().is_some_and(|output| {
        let root = String::from_utf8_lossy(&output.stdout).trim().to_string();
        Path::new(&root).join("lib/rustlib").join(TARGET).exists()
    });
    if installed {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    assert!(
        status.is_ok_and(|status| status.success()),
        "the {TARGET} target is missing and `rustup target add {TARGET}` failed; install it by hand"
    );
}

fn build_guests(manifest: &Path, target_dir: &Path) {
    let mut command = Command::new(cargo());
    command
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir);
    // The outer build's settings are for the host target and its tools; they must not leak
    // into the guest build.
    for variable in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        command.env_remove(variable);
    }
    let status = command
        .status()
        .expect("running cargo for the built-in connectors");
    assert!(
        status.success(),
        "building the built-in connectors for {TARGET} failed"
    );
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn rustc() -> String {
    std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())
}
