//! The web client (`web/dist`, built by `make web` / `npm run build`) is embedded in the binary
//! (`routes::web`). Cargo is told to rebuild when it changes, and warned when it is missing: such
//! a binary serves no editor (the Makefile builds the web client first).

fn main() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    if !dist.join("index.html").exists() {
        println!(
            "cargo:warning=web/dist is not built: this tandem binary will serve no editor \
             (run `make web`, or build with `make build-release`)"
        );
    }
}
