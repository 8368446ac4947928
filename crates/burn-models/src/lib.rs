//! Every model of the resc standard library as burn 0.22 source, generated at
//! build time by `resc::backend::burn` and compiled here, so that a change in
//! the generator that breaks the generated code breaks this build.

use burn::prelude::{Device, Tensor};

/// What the tests need of any generated classifier.
pub trait Net {
    fn run(&self, x: Tensor<4>) -> Tensor<2>;
    /// burn's count: parameters and BN running statistics.
    fn state_elements(&self) -> usize;
}

/// Builds a model and loads a checkpoint into it.
pub type Loader = fn(&Device, &std::path::Path) -> Result<Box<dyn Net>, String>;

/// A generated model and what the compiler said about it.
pub struct Entry {
    pub name: &'static str,
    /// Trainable parameters, as resc counts them.
    pub params: u128,
    /// BN running statistics, as resc counts them.
    pub buffers: u128,
    /// A small input the model accepts, and the output resc infers for it.
    pub test_input: [usize; 4],
    pub test_output: [usize; 2],
    pub drop_path: bool,
    /// Every parameter and BN statistic with its PyTorch name and shape.
    pub state: &'static [(&'static str, &'static [usize])],
    pub build: fn(&Device) -> Box<dyn Net>,
    /// Builds the model and loads a PyTorch-named checkpoint (safetensors or torch.save).
    pub load: Loader,
}

include!(concat!(env!("OUT_DIR"), "/models.rs"));
