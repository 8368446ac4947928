//! The ONNX protobuf types, generated at build time from the official
//! `onnx.proto` next to this file (see build.rs).

#![allow(clippy::all, clippy::pedantic, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
