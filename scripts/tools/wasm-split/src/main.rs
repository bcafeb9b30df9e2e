//! `dpe-wasm-split INPUT.wasm OUT_DIR`
//!
//! Splits the wasm that rustc wrote for the `app` crate at its split points
//! (each `#[lazy_route]` view and `#[lazy]` function) and writes, in
//! `OUT_DIR`:
//!
//! - `main.wasm`: the main module, for `wasm-bindgen --keep-lld-exports`;
//! - `NAME.PLACEHOLDER.wasm`, one a chunk, fetched the first time one of
//!   its split points is called;
//! - `__wasm_split.PLACEHOLDER.js`: the loader the main module imports;
//! - `__wasm_split_manifest.PLACEHOLDER.json`: which chunks each split
//!   point needs, so that a page rendered on the server can preload them.
//!
//! `PLACEHOLDER` is Leptos's 22-character hash placeholder: `scripts/build`
//! replaces it, in names and contents, with one hash of the whole build.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Leptos's placeholder for a file hash: as long as the hash that replaces
/// it, so that names inside the wasm chunks can be replaced in place.
const PLACEHOLDER: &str = "______________________";

fn split(input: &Path, out_dir: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    let wasm = std::fs::read(input)?;
    std::fs::create_dir_all(out_dir)?;
    let main_out = out_dir.join("main.wasm");
    // The loader imports `initSync` and the shared memory from the main
    // module's JavaScript, which sits beside it under its hashed name.
    let main_module = format!("./dpe.{PLACEHOLDER}.js");
    let link_name = format!("./__wasm_split.{PLACEHOLDER}.js");
    let mut options = wasm_split_cli_support::Options::new(&wasm);
    options.output_dir = out_dir;
    options.main_out_path = &main_out;
    options.main_module = &main_module;
    options.link_name = &link_name;
    let mut split = wasm_split_cli_support::transform(options)?;

    // The splitter names chunks `NAME.wasm`; browsers keep what /pkg serves
    // for a year, so each name gets the build's hash as well: in the file
    // name, in the loader that fetches it and in the preload manifest.
    let loader_path = out_dir.join(&link_name);
    let mut loader = std::fs::read_to_string(&loader_path)?;
    for chunk in &split.split_modules {
        let name = chunk
            .file_stem()
            .and_then(|stem| stem.to_str())
            .ok_or("a chunk without a UTF-8 name")?;
        let hashed = format!("{name}.{PLACEHOLDER}");
        loader = loader.replace(
            &format!("\"./{name}.wasm\""),
            &format!("\"./{hashed}.wasm\""),
        );
        std::fs::rename(chunk, out_dir.join(format!("{hashed}.wasm")))?;
        for chunks in split.prefetch_map.values_mut() {
            for entry in chunks.iter_mut().filter(|entry| *entry == name) {
                *entry = hashed.clone();
            }
        }
    }
    std::fs::write(&loader_path, loader)?;
    let manifest = out_dir.join(format!("__wasm_split_manifest.{PLACEHOLDER}.json"));
    std::fs::write(manifest, serde_json::to_string_pretty(&split.prefetch_map)?)?;
    Ok(split.split_modules.len())
}

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [input, out_dir] = args.as_slice() else {
        eprintln!("usage: dpe-wasm-split INPUT.wasm OUT_DIR");
        return ExitCode::from(2);
    };
    match split(input, out_dir) {
        Ok(chunks) => {
            println!("dpe-wasm-split: {chunks} chunks");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("dpe-wasm-split: {error}");
            ExitCode::FAILURE
        }
    }
}
