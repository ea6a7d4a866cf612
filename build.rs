//! Compiles the protobuf contract with protox (pure Rust, no protoc) and generates the tonic
//! client and server code. The encoded descriptor set is kept in OUT_DIR for server reflection.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    postgres_tests();

    // The dashboard's files are embedded (src/web/dashboard.rs): a file added to or removed
    // from web/dist must rebuild the crate, which rust-embed alone does not notice.
    println!("cargo:rerun-if-changed=web/dist");

    let proto_root = PathBuf::from("proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let mut files: Vec<PathBuf> = std::fs::read_dir(proto_root.join("pipeline/v1"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    files.sort();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let relative: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(&proto_root).map(PathBuf::from))
        .collect::<Result<_, _>>()?;

    let descriptors = protox::compile(&relative, [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("pipeline_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        // Streams send events that are already encoded; see src/transport/wire.rs.
        .extern_path(".pipeline.v1.EventBatch", "crate::proto::v1::EventBatch")
        // prost with a small first encode buffer: see src/transport/codec.rs.
        .codec_path("crate::transport::codec::LeanCodec")
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}

/// The PostgreSQL variants of the integration tests (tests/common/mod.rs) are compiled as
/// `#[ignore]`d unless `PIPELINE_TEST_DATABASE_URL` is set, so that a plain `cargo test` reports
/// them as ignored, with the reason, instead of passing without having run. Under `CI=true` they
/// are always compiled in, and a missing URL fails them.
fn postgres_tests() {
    println!("cargo::rustc-check-cfg=cfg(pipeline_postgres_tests)");
    println!("cargo:rerun-if-env-changed=PIPELINE_TEST_DATABASE_URL");
    println!("cargo:rerun-if-env-changed=CI");
    let url_set = std::env::var_os("PIPELINE_TEST_DATABASE_URL").is_some_and(|v| !v.is_empty());
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if url_set || in_ci {
        println!("cargo:rustc-cfg=pipeline_postgres_tests");
    }
}
