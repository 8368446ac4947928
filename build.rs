//! Generates the ONNX protobuf types from the official `onnx.proto` (kept in
//! src/backend/onnx/), with protox as the compiler so that no `protoc` binary
//! is needed on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "src/backend/onnx/onnx.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["src/backend/onnx"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
