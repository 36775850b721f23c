//! Gives this package's test binaries an rpath to the library
//! folder edgeformer-sys linked from (EDGEFORMER_LIB_DIR), if any.
use std::env;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_EDGEFORMER_LIB_DIR");
    if let Ok(dir) = env::var("DEP_EDGEFORMER_LIB_DIR") {
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{dir}");
    }
}
