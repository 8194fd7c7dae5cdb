//! Writes include/bolink.h from the exports with cbindgen, and records the build target.

use std::path::PathBuf;

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=BOLINK_TARGET={target}");
    println!("cargo:rustc-env=BOLINK_PLATFORMS={}", platforms(&target));
    if target.starts_with("i686-") && target.ends_with("-windows-gnu") {
        // The __stdcall exports are undecorated like the vendor's (UploadUtilNative_Init, not
        // UploadUtilNative_Init@4): ld maps each name of rustc's export list to the decorated
        // symbol. This says the mapping is wanted, so ld does it without a warning per function.
        println!("cargo:rustc-cdylib-link-arg=-Wl,--enable-stdcall-fixup");
    }
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=src/error.rs");
    println!("cargo:rerun-if-changed=src/carpic");
    println!("cargo:rerun-if-changed=cbindgen.toml");

    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    match cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
    {
        Ok(bindings) => {
            // Written where the build can see it; the committed header is compared by a test.
            let out =
                PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("bolink.h");
            bindings.write_to_file(&out);
            if std::env::var_os("BOLINK_WRITE_HEADER").is_some() {
                bindings.write_to_file(dir.join("include/bolink.h"));
            }
        }
        Err(e) => println!("cargo:warning=cbindgen could not generate the header: {e}"),
    }
}

/// The systems a build runs on, as `bolink_version()` states them. Today's Rust standard library
/// needs Windows 10 (ProcessPrng, WaitOnAddress); the `*-win7-windows-*` targets keep Windows 7.
fn platforms(target: &str) -> &'static str {
    if target.contains("-win7-windows-") {
        "; Windows 7 SP1 / Server 2008 R2 SP1 or later"
    } else if target.contains("-windows-") {
        "; Windows 10 / Server 2016 or later"
    } else {
        ""
    }
}
