//! Links libedgeformer: from EDGEFORMER_LIB_DIR when set (a build tree or an
//! install prefix's lib folder), else from the system's library path.
use std::env;

fn main() {
    println!("cargo:rerun-if-env-changed=EDGEFORMER_LIB_DIR");
    if let Ok(dir) = env::var("EDGEFORMER_LIB_DIR") {
        if !dir.is_empty() {
            println!("cargo:rustc-link-search=native={dir}");
            // this package's own test binaries find the library without LD_LIBRARY_PATH
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
            // dependents read it as DEP_EDGEFORMER_LIB_DIR
            println!("cargo:lib_dir={dir}");
        }
    }
    println!("cargo:rustc-link-lib=dylib=edgeformer");
}
