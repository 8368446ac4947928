//! Names, types, values and instantiation: from syntax trees to IR graphs.

pub(crate) mod builtins;
mod elaborate;
mod eval;
mod program;
mod resolve;
pub mod value;

use miette::Diagnostic;
use thiserror::Error;

pub use builtins::{FUNCTIONS as BUILTIN_FUNCTIONS, names as builtin_ops, param_docs as builtin_params};
pub use elaborate::{
    Limits, Spent, check_constants, elaborate_model, elaborate_model_spending, elaborate_model_with, elaborate_partial,
    elaborate_partial_spending,
};
pub use program::{ModelRef, Program, ReadFile};
pub use resolve::resolve;

#[derive(Debug, Error, Diagnostic)]
pub enum SemaError {
    #[error("unknown {what} `{name}`")]
    #[diagnostic(code(resc::sema::unknown_name))]
    UnknownName { what: &'static str, name: String },

    #[error("`{callee}` has no parameter `{name}`")]
    #[diagnostic(code(resc::sema::unknown_argument))]
    UnknownArg { callee: String, name: String },

    #[error("argument `{name}` is given twice")]
    #[diagnostic(code(resc::sema::duplicate_argument), help("remove one of them"))]
    DuplicateArg { name: String },

    #[error("missing argument `{name}` of `{callee}`")]
    #[diagnostic(
        code(resc::sema::missing_argument),
        help("pass it, e.g. `{callee}(.., {name}: <{ty}>)`, or give the parameter a default")
    )]
    MissingArg { callee: String, name: String, ty: String },

    #[error("too many arguments: `{callee}` takes {max}")]
    #[diagnostic(code(resc::sema::too_many_arguments), help("remove the extra arguments or name them"))]
    TooManyArgs { callee: String, max: usize },

    #[error("positional argument after a named one")]
    #[diagnostic(code(resc::sema::positional_after_named), help("put positional arguments first"))]
    PositionalAfterNamed,

    #[error("expected {expected}, found {found}")]
    #[diagnostic(code(resc::sema::type_mismatch))]
    TypeMismatch { expected: String, found: String },

    #[error("label `{label}` is used twice in one scope")]
    #[diagnostic(
        code(resc::sema::duplicate_label),
        help("labels become parameter names and must be unique; rename one")
    )]
    DuplicateLabel { label: String },

    #[error("`{name}` is defined twice")]
    #[diagnostic(code(resc::sema::duplicate_definition), help("rename one of the definitions"))]
    DuplicateDefinition { name: String },

    #[error("parameter `{name}` is declared twice")]
    #[diagnostic(code(resc::sema::duplicate_parameter))]
    DuplicateParam { name: String },

    #[error("block `{name}` contains itself: {cycle}")]
    #[diagnostic(
        code(resc::sema::cyclic_block),
        help("a block cannot use itself, directly or through other blocks; the network would be infinite")
    )]
    Cycle { name: String, cycle: String },

    #[error("integer overflow in `{op}`")]
    #[diagnostic(code(resc::sema::overflow), help("integers are 64-bit; the operands are {a} and {b}"))]
    Overflow { op: &'static str, a: String, b: String },

    #[error("division by zero")]
    #[diagnostic(code(resc::sema::division_by_zero))]
    DivByZero,

    #[error("{what} must be {allowed}, got {value}")]
    #[diagnostic(code(resc::sema::out_of_range))]
    OutOfRange { what: String, allowed: String, value: String },

    #[error("repeat count {count} is too large")]
    #[diagnostic(
        code(resc::sema::repeat_too_large),
        help("at most {max} repetitions of one layer; is the count a typo?")
    )]
    RepeatTooLarge { count: i64, max: i64 },

    #[error("repeat count {count} is negative")]
    #[diagnostic(code(resc::sema::negative_repeat), help("a layer repeats 0 or more times"))]
    NegativeRepeat { count: i64 },

    #[error("the model has more than {max} layers")]
    #[diagnostic(
        code(resc::sema::model_too_large),
        help("a repeat count or loop range is probably far larger than intended")
    )]
    ModelTooLarge { max: usize },

    #[error("building the model takes more than {max} loop iterations, repeats and block instances")]
    #[diagnostic(
        code(resc::sema::too_much_work),
        help("nested loops or repeats multiply; a range or repeat count is probably far larger than intended")
    )]
    TooMuchWork { max: u64 },

    #[error(
        "the models of this file need more than {max} layers, or more than {steps} loop iterations, repeats and block instances, in all"
    )]
    #[diagnostic(
        code(resc::sema::models_too_large),
        help("build fewer models at a time (`--model NAME`), or make them smaller")
    )]
    ModelsTooLarge { max: usize, steps: u64 },

    #[error("blocks nest more than {max} deep")]
    #[diagnostic(code(resc::sema::too_deep), help("a block passed to itself recurses without end"))]
    TooDeep { max: usize },

    #[error("`{op}` has parameters, so it needs a label")]
    #[diagnostic(
        code(resc::sema::needs_label),
        help("labels name the parameters (`conv1: conv(..)` gives `conv1.weight`); write `{label}: {op}(..)`")
    )]
    NeedsLabel { op: String, label: String },

    #[error("`{name}` is {found}, not a layer")]
    #[diagnostic(
        code(resc::sema::not_a_layer),
        help("a layer is a built-in op (`conv`, `bn`, `relu`, ...) or a block")
    )]
    NotALayer { name: String, found: String },

    #[error("`{name}` cannot be called with arguments")]
    #[diagnostic(code(resc::sema::not_callable))]
    NotCallable { name: String },

    #[error("index {index} is out of range for a list of {len}")]
    #[diagnostic(code(resc::sema::index_out_of_range))]
    IndexOutOfRange { index: i64, len: usize },

    #[error("`{found}` has no field `{field}`")]
    #[diagnostic(
        code(resc::sema::unknown_field),
        help("the input shape has `c` (or `channels`), `h` (`height`), `w` (`width`) and `rank`")
    )]
    UnknownField { found: String, field: String },

    #[error("cannot find `{path}`")]
    #[diagnostic(code(resc::sema::use_not_found))]
    UseNotFound { path: String, reason: String },

    #[error("`{found}` cannot be iterated")]
    #[diagnostic(code(resc::sema::not_iterable), help("loop over a list (`[64, 128]`) or a range (`0..n`)"))]
    NotIterable { found: String },

    #[error("expected a list of {expected}, got {got} elements")]
    #[diagnostic(code(resc::sema::list_length))]
    ListLength { expected: usize, got: usize },

    #[error("{what} is not supported yet")]
    #[diagnostic(code(resc::sema::unsupported))]
    Unsupported { what: String },

    #[error("`in` is only defined inside a block")]
    #[diagnostic(
        code(resc::sema::in_outside_block),
        help("`in` is the input of the block being built; top-level constants cannot read it")
    )]
    InOutsideBlock,

    #[error(
        "a model input must be a list of positive sizes with an optional symbolic batch first, like `[N, 3, 224, 224]`"
    )]
    #[diagnostic(code(resc::sema::bad_input_shape))]
    BadInputShape,

    #[error("the model's input has no batch dimension")]
    #[diagnostic(
        code(resc::sema::no_batch_dimension),
        help("layers read `[N, C, H, W]`: put the batch first, a name such as `N` to keep it free")
    )]
    NoBatchDim,

    #[error("the model's network must be a block, found {found}")]
    #[diagnostic(code(resc::sema::not_a_network), help("write `model NAME = network(args) on [N, C, H, W]`"))]
    NotANetwork { found: String },

    #[error("the model has {blocks} residual blocks, but the schedule lists {got} survival probabilities")]
    #[diagnostic(
        code(resc::sema::schedule_length),
        help("give one probability per residual block, in order, or use linear(p_L)")
    )]
    ScheduleLength { blocks: usize, got: usize },

    #[error("{message}")]
    #[diagnostic(code(resc::sema::assertion))]
    Assertion { message: String },

    #[error("an input of {given} does not fit a model whose input has rank {rank}")]
    #[diagnostic(
        code(resc::sema::input_override),
        help("give all dimensions (NxCxHxW) or all but the batch (CxHxW), each at least 1")
    )]
    InputOverride { given: String, rank: usize },

    #[error("no model `{name}`")]
    #[diagnostic(code(resc::sema::no_such_model))]
    NoSuchModel { name: String },
}

/// Suggests the closest of `candidates` to `name`, if any is close.
/// A label for an unlabelled `op` that the block does not use yet: `conv1`,
/// else `conv2`, ...
pub fn free_label(op: &str, taken: impl Fn(&str) -> bool) -> String {
    (1..).map(|i| format!("{op}{i}")).find(|l| !taken(l)).expect("some label is free")
}

pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    // Names people bring from PyTorch and timm.
    let lower = name.to_ascii_lowercase();
    if let Some((_, ours)) = ALIASES.iter().find(|(theirs, _)| *theirs == lower)
        && candidates.contains(ours)
    {
        return Some(ours.to_string());
    }
    // Fewest edits first, then the closest length, then Jaro-Winkler.
    let mut best: Option<((usize, usize, i64), &str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let edits = strsim::levenshtein(name, c);
        let jw = strsim::jaro_winkler(name, c);
        let close = edits <= (name.len() / 3).max(1) || jw > 0.85;
        let key = (edits, name.len().abs_diff(c.len()), -(jw * 1e6) as i64);
        if close && best.is_none_or(|(k, _)| key < k) {
            best = Some((key, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// What a PyTorch or timm name (or a part of one, `group_norm`'s `norm`)
/// is called here.
pub fn alias(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    ALIASES.iter().find(|(theirs, _)| *theirs == lower).map(|(_, ours)| *ours)
}

const ALIASES: &[(&str, &str)] = &[
    ("batchnorm", "bn"),
    ("batchnorm2d", "bn"),
    ("batch_norm", "bn"),
    ("norm", "bn"),
    ("conv2d", "conv"),
    ("convolution", "conv"),
    ("fc", "linear"),
    ("dense", "linear"),
    ("maxpool2d", "maxpool"),
    ("max_pool", "maxpool"),
    ("avgpool2d", "avgpool"),
    ("avg_pool", "avgpool"),
    ("adaptiveavgpool2d", "global_avg"),
    ("adaptive_avg_pool", "global_avg"),
    ("global_avg_pool", "global_avg"),
    ("gap", "global_avg"),
    ("swish", "silu"),
    ("padding", "pad"),
    ("kernel_size", "kernel"),
    ("out_channels", "channels"),
    ("out_features", "features"),
    ("num_classes", "classes"),
    ("cardinality", "groups"),
];

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggestions_prefer_fewest_edits_and_known_aliases() {
        let models = ["resnet18", "resnet50", "resnet152"];
        assert_eq!(did_you_mean("resnet51", models).as_deref(), Some("resnet50"));
        assert_eq!(did_you_mean("BatchNorm2d", ["bn", "conv"]).as_deref(), Some("bn"));
        assert_eq!(did_you_mean("padding", ["stride", "pad"]).as_deref(), Some("pad"));
        assert_eq!(did_you_mean("zzz", ["conv", "bn"]), None);
    }
}
