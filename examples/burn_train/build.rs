//! Generates a model of this crate's own (`res/preact_se20.res`) and one from
//! resc's standard library with resc's build-script crate, as any project
//! would (see the README's "Using the generated code").

fn main() -> Result<(), resc_build::Error> {
    resc_build::Config::new().model("res/preact_se20.res", "preact_se20").stdlib_model("resnet20").compile()
}
