//! Generates resnet20 from `examples/plain_vs_residual.res` with resc's
//! build-script crate, as a project of its own would.

fn main() -> Result<(), resc_build::Error> {
    resc_build::Config::new().model("../plain_vs_residual.res", "resnet20").compile()
}
