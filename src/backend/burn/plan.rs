//! From the IR to a plan of Rust types: which scopes become structs, their
//! fields, and the forward program of each struct, unified over all the
//! instances of one template.

use std::collections::{BTreeMap, HashMap};

use petgraph::stable_graph::NodeIndex;

use super::CodegenError;
use crate::ir::{Child, Graph, Op, ScopeId, ScopeKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Conv,
    /// A conv with weight standardisation, apart from plain convs (its
    /// forward differs) and by its eps (the forward holds it).
    StdConv(u64),
    Bn,
    GroupNorm,
    ChannelConv,
    LayerNorm,
    AttentionPool,
    Linear,
    MaxPool,
    AvgPool,
    Dropout,
    DropPath,
}

impl OpKind {
    pub fn of(op: &Op) -> Option<OpKind> {
        match op.burn_form() {
            crate::ops::BurnForm::Field { kind, .. } => Some(kind),
            crate::ops::BurnForm::Inline { .. } => None,
        }
    }
}

/// One step of a forward program.
#[derive(Clone, Debug)]
pub struct Step {
    /// Identity across instances: a field path, or an inline op's source position.
    pub key: String,
    pub kind: StepKind,
    /// The IR node whose value the step produces (in this instance).
    pub out: NodeIndex,
    pub inputs: Vec<NodeIndex>,
}

#[derive(Clone, Debug)]
pub enum StepKind {
    /// An op computed inline (activations, adds, concats, slices...).
    Inline(NodeIndex),
    /// An op held in a module field (`conv1`, `downsample.1`).
    FieldOp { path: Vec<String>, node: NodeIndex },
    /// `self.path.forward(x)` on a struct field.
    Call { path: Vec<String>, scope: ScopeId },
    /// `for block in &self.path { x = block.forward(x) }`; with `dense`, each
    /// block's output is concatenated to its input instead.
    /// With `run`, the blocks are the run's, named as the struct's own fields.
    Loop { path: Vec<String>, scope: ScopeId, dense: Option<Dense>, run: Option<Run> },
}

/// Blocks of one template in a row, named `{prefix}{first}`, then
/// `{prefix}{first + 1}` and so on among the struct's other fields (DPN's
/// `conv3_1` .. `conv3_8`), each reading the one before: held as one
/// `Numbered` field (`conv3`) that names its blocks as the struct's own in
/// the checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub prefix: String,
    pub first: usize,
    pub members: Vec<ScopeId>,
}

/// A dense run (DenseNet's dense block): blocks named `{prefix}{first}`,
/// `{prefix}{first + 1}`, ..., each reading the concatenation of the run's
/// input and every earlier block's output, the run ending in the
/// concatenation of all. Held as a `Numbered` list, which keeps the names.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    pub prefix: String,
    pub first: usize,
}

/// A struct type and its instances in the model.
#[derive(Debug)]
pub struct StructType {
    pub name: String,
    /// The `.res` template, or the group's label, it comes from.
    pub origin: String,
    pub instances: Vec<ScopeId>,
}

pub struct Plan<'g> {
    pub g: &'g Graph,
    /// Type key of each struct-bearing scope.
    pub type_of: HashMap<ScopeId, String>,
    pub types: BTreeMap<String, StructType>,
    /// Types in dependency order: a type's field types come before it.
    pub order: Vec<String>,
}

fn last_part(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// The type names a generated file imports or refers to: burn's modules and
/// their configs, the support module's, and the prelude's.
const RESERVED_TYPE_NAMES: &[&str] = &[
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "AvgPool2dConfig",
    "BatchNorm",
    "BatchNormConfig",
    "Bool",
    "Box",
    "Config",
    "Conv1d",
    "Conv1dConfig",
    "Conv2d",
    "Conv2dConfig",
    "Device",
    "DropPath",
    "Dropout",
    "DropoutConfig",
    "Err",
    "GroupNorm",
    "GroupNormConfig",
    "Identity",
    "Int",
    "LayerNorm",
    "LayerNormConfig",
    "Linear",
    "LinearConfig",
    "LoadError",
    "MaxPool2d",
    "MaxPool2dConfig",
    "Module",
    "None",
    "Numbered",
    "Ok",
    "Option",
    "PaddingConfig1d",
    "PaddingConfig2d",
    "Param",
    "Relu",
    "Result",
    "Self",
    "Sigmoid",
    "Some",
    "String",
    "Tanh",
    "Tensor",
    "Vec",
];

pub fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut up = true;
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        // `wrn22_8` is `Wrn22_8`: digits on both sides keep their separator
        // (`Wrn228` would be another network), which Rust's naming allows.
        let between_digits =
            i > 0 && chars[i - 1].is_ascii_digit() && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c == '_' && between_digits {
            out.push('_');
            up = true;
        } else if c == '_' || c == '.' || c == '#' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) { format!("M{out}") } else { out }
}

impl<'g> Plan<'g> {
    pub fn new(g: &'g Graph) -> Result<Plan<'g>, CodegenError> {
        let mut plan = Plan { g, type_of: HashMap::new(), types: BTreeMap::new(), order: Vec::new() };
        plan.assign_types(ScopeId(0), None);
        plan.order_types();
        Ok(plan)
    }

    pub fn label_of_child(&self, c: &Child) -> &str {
        match c {
            Child::Scope(s) => last_part(&self.g.scope(*s).path),
            Child::Node(n) => last_part(&self.g.node(*n).name),
        }
    }

    /// A block called without a label adds its layers to its caller.
    pub fn is_unlabelled_instance(&self, s: ScopeId) -> bool {
        let sc = self.g.scope(s);
        matches!(sc.kind, ScopeKind::Instance { .. })
            && sc.parent.is_some_and(|p| self.g.scope(p).path == sc.path && s.0 != 0)
    }

    /// The children of a scope with unlabelled instances opened up.
    pub fn flat_children(&self, s: ScopeId) -> Vec<Child> {
        let mut out = Vec::new();
        for c in &self.g.scope(s).children {
            match c {
                Child::Scope(cs) if self.is_unlabelled_instance(*cs) => out.extend(self.flat_children(*cs)),
                _ => out.push(*c),
            }
        }
        out
    }

    /// A container whose members are named 0, 1, ...: a list, or a labelled
    /// block whose body is one (`conv1: deep_stem()`).
    pub fn is_numbered(&self, s: ScopeId) -> bool {
        let sc = self.g.scope(s);
        let list_like = match sc.kind {
            ScopeKind::Container => true,
            ScopeKind::Instance { .. } => s.0 != 0 && !self.is_unlabelled_instance(s),
            ScopeKind::Model => false,
        };
        list_like && {
            // The op joining numbered branches (`paths: concat { 0: .. } { 1: .. }`) is
            // computed inline and needs no field: it does not make the members a struct.
            let numbered = |c: &Child| self.label_of_child(c).parse::<u64>().is_ok();
            let inline = |c: &Child| matches!(c, Child::Node(n) if OpKind::of(&self.g.node(*n).op).is_none());
            let kids: Vec<Child> = self.flat_children(s).into_iter().filter(|c| numbered(c) || !inline(c)).collect();
            !kids.is_empty() && kids.iter().all(numbered)
        }
    }

    pub fn is_struct_scope(&self, s: ScopeId) -> bool {
        let sc = self.g.scope(s);
        match sc.kind {
            ScopeKind::Model => true,
            ScopeKind::Instance { .. } => s.0 == 0 || !(self.is_unlabelled_instance(s) || self.is_numbered(s)),
            ScopeKind::Container => !self.is_numbered(s) && self.dense_run(s).is_none(),
        }
    }

    /// The scope as a dense run, when it is one (see [`Dense`]).
    pub fn dense_run(&self, s: ScopeId) -> Option<Dense> {
        let g = self.g;
        if g.scope(s).kind != ScopeKind::Container {
            return None;
        }
        let kids = self.flat_children(s);
        let members: Vec<ScopeId> = kids
            .iter()
            .filter_map(|c| match c {
                Child::Scope(m) => Some(*m),
                Child::Node(_) => None,
            })
            .collect();
        let concats: Vec<NodeIndex> = kids
            .iter()
            .filter_map(|c| match c {
                Child::Node(n) => Some(*n),
                Child::Scope(_) => None,
            })
            .collect();
        if members.len() < 2
            || concats.len() != members.len()
            || concats.iter().any(|&n| !matches!(g.node(n).op, Op::Concat))
        {
            return None;
        }
        // Names: one prefix, numbers counting up by one.
        let label = |m: ScopeId| last_part(&g.scope(m).path).to_string();
        let first_label = label(members[0]);
        let prefix = first_label.trim_end_matches(|c: char| c.is_ascii_digit()).to_string();
        let first: usize = first_label[prefix.len()..].parse().ok()?;
        if prefix.is_empty() {
            return None;
        }
        // One block template for all (so one struct type).
        let template = |m: ScopeId| match &g.scope(m).kind {
            ScopeKind::Instance { template } => Some(template.clone()),
            _ => None,
        };
        for (k, &m) in members.iter().enumerate() {
            if label(m) != format!("{prefix}{}", first + k)
                || !self.is_struct_scope(m)
                || template(m).is_none()
                || template(m) != template(members[0])
            {
                return None;
            }
        }
        // Data flow: block k reads concat k-1 (the run's input for the first),
        // concat k joins the input and blocks 1..=k, in that order.
        let (input, _) = self.boundary(members[0]).ok()?;
        let mut joined = vec![input];
        for (k, &m) in members.iter().enumerate() {
            let (read, out) = self.boundary(m).ok()?;
            let expected = if k == 0 { input } else { concats[k - 1] };
            if read != expected {
                return None;
            }
            joined.push(out);
            if g.inputs(concats[k]) != joined {
                return None;
            }
        }
        (g.scope_output(s) == concats.last().copied()).then_some(Dense { prefix, first })
    }

    /// The runs among a struct scope's members (see [`Run`]), each with the
    /// name of the field that holds it.
    pub fn runs(&self, s: ScopeId) -> Vec<(String, Run)> {
        let g = self.g;
        let kids = self.flat_children(s);
        let labels: Vec<String> = kids.iter().map(|c| self.label_of_child(c).to_string()).collect();
        let split = |label: &str| -> Option<(String, usize)> {
            let prefix = label.trim_end_matches(|c: char| c.is_ascii_digit());
            let n = label[prefix.len()..].parse().ok()?;
            (!prefix.is_empty()).then(|| (prefix.to_string(), n))
        };
        let template = |m: ScopeId| match &g.scope(m).kind {
            ScopeKind::Instance { template } if self.is_struct_scope(m) => Some(template.clone()),
            _ => None,
        };
        // Read only by the next block.
        let feeds_only = |out: NodeIndex, next: ScopeId| {
            let mut inside = Vec::new();
            g.scope_nodes(next, &mut inside);
            g.order.iter().filter(|&&n| g.inputs(n).contains(&out)).all(|n| inside.contains(n))
        };
        let mut runs = Vec::new();
        let mut i = 0;
        while i < kids.len() {
            let (Child::Scope(m), Some((prefix, first))) = (kids[i], split(&labels[i])) else {
                i += 1;
                continue;
            };
            if template(m).is_none() {
                i += 1;
                continue;
            }
            let mut members = vec![m];
            while let Some(&Child::Scope(next)) = kids.get(i + members.len()) {
                let prev = *members.last().expect("a member");
                let chained = match (self.boundary(prev), self.boundary(next)) {
                    (Ok((_, out)), Ok((read, _))) => read == out && feeds_only(out, next),
                    _ => false,
                };
                if labels[i + members.len()] != format!("{prefix}{}", first + members.len())
                    || template(next) != template(m)
                    || !chained
                {
                    break;
                }
                members.push(next);
            }
            let n = members.len();
            let mut field = prefix.trim_end_matches('_').to_string();
            while labels.contains(&field) || runs.iter().any(|(f, _): &(String, Run)| *f == field) {
                field.push('_');
            }
            // A short run of plain names (a stem's `conv1` .. `conv3`) reads
            // better as fields of their own.
            let numbered_names = prefix.ends_with('_') || n >= 4;
            if n >= 2 && numbered_names && !field.is_empty() && !field.starts_with(|c: char| c.is_ascii_digit()) {
                runs.push((field, Run { prefix, first, members }));
            }
            i += n;
        }
        runs
    }

    fn assign_types(&mut self, s: ScopeId, parent_type: Option<&str>) {
        let g = self.g;
        let sc = g.scope(s);
        let mut mine = parent_type.map(str::to_string);
        if self.is_struct_scope(s) {
            let (key, origin) = match (&sc.kind, s.0) {
                (_, 0) => (format!("model:{}", g.name), g.name.clone()),
                (ScopeKind::Instance { template }, _) => (format!("block:{template}"), template.clone()),
                _ => {
                    // Groups with the same label pattern and the same members share a type:
                    // `stages.0` .. `stages.3`, each `{ blocks: .. }`.
                    // Numbered groups (`stages.0` .. `stages.3`) may share a type;
                    // named ones (`denseblock1`) keep their own.
                    let label = last_part(&sc.path);
                    let pattern = if label.parse::<u64>().is_ok() { "#".to_string() } else { label.to_string() };
                    let members: Vec<String> =
                        self.flat_children(s).iter().map(|c| self.label_of_child(c).to_string()).collect();
                    let p = parent_type.unwrap_or("");
                    (format!("group:{p}/{pattern}/{}", members.join(",")), label.to_string())
                }
            };
            self.type_of.insert(s, key.clone());
            self.types
                .entry(key.clone())
                .or_insert_with(|| StructType { name: String::new(), origin, instances: Vec::new() })
                .instances
                .push(s);
            mine = Some(key);
        }
        let kids: Vec<ScopeId> = sc
            .children
            .iter()
            .filter_map(|c| match c {
                Child::Scope(cs) => Some(*cs),
                Child::Node(_) => None,
            })
            .collect();
        for k in kids {
            self.assign_types(k, mine.as_deref());
        }
    }

    /// Names, and an order where each type follows the types of its fields.
    fn order_types(&mut self) {
        // A block never takes a name the generated file already uses.
        let mut used: HashMap<String, usize> = RESERVED_TYPE_NAMES.iter().map(|n| (n.to_string(), 1)).collect();
        let keys: Vec<String> = self.types.keys().cloned().collect();
        // Model first so its name wins; then blocks, then groups.
        let mut sorted = keys.clone();
        sorted.sort_by_key(|k| (!k.starts_with("model:"), !k.starts_with("block:"), k.clone()));
        for k in &sorted {
            let t = self.types.get_mut(k).expect("key");
            let mut name = camel(&t.origin);
            if k.starts_with("group:") {
                name = camel(&t.origin.replace(|c: char| c.is_ascii_digit(), ""));
                if name.is_empty() || name == "M" {
                    name = "Stage".into();
                }
            }
            let n = used.entry(name.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                name = format!("{name}{n}");
            }
            t.name = name;
        }
        // Depth-first from the model over first instances: children before parents.
        let mut order = Vec::new();
        self.visit_order(ScopeId(0), &mut order);
        for k in keys {
            if !order.contains(&k) {
                order.push(k);
            }
        }
        self.order = order;
    }

    fn visit_order(&self, s: ScopeId, order: &mut Vec<String>) {
        for c in &self.g.scope(s).children {
            if let Child::Scope(cs) = c {
                self.visit_order(*cs, order);
            }
        }
        if let Some(k) = self.type_of.get(&s)
            && !order.contains(k)
        {
            order.push(k.clone());
        }
    }

    pub fn type_name(&self, s: ScopeId) -> &str {
        &self.types[&self.type_of[&s]].name
    }

    /// Is this numbered container a stage: members all of one struct type?
    pub fn stage_type(&self, s: ScopeId) -> Option<String> {
        if !self.is_numbered(s) {
            return None;
        }
        let mut ty: Option<String> = None;
        for c in self.flat_children(s) {
            let Child::Scope(cs) = c else { return None };
            let t = self.type_of.get(&cs)?;
            if ty.as_ref().is_some_and(|x| x != t) {
                return None;
            }
            ty = Some(t.clone());
        }
        ty
    }

    /// The chain of scopes from `n`'s scope up to (excluding) `top`, outermost
    /// first, without unlabelled instances.
    fn chain_below(&self, n: NodeIndex, top: ScopeId) -> Option<Vec<ScopeId>> {
        let mut chain = Vec::new();
        let mut cur = Some(self.g.node(n).scope);
        while let Some(s) = cur {
            if s == top {
                chain.reverse();
                return Some(chain);
            }
            if !self.is_unlabelled_instance(s) {
                chain.push(s);
            }
            cur = self.g.scope(s).parent;
        }
        None
    }

    /// The forward program of one struct instance, and its input node.
    pub fn program(&self, s: ScopeId) -> Result<(NodeIndex, Vec<Step>), CodegenError> {
        let g = self.g;
        let mut nodes = Vec::new();
        g.scope_nodes(s, &mut nodes);
        let inside: std::collections::HashSet<NodeIndex> = nodes.iter().copied().collect();
        let input = if s.0 == 0 { Some(g.input) } else { None };
        let mut steps: Vec<Step> = Vec::new();
        let mut done_members: Vec<ScopeId> = Vec::new();
        let mut occurrences: HashMap<String, usize> = HashMap::new();
        // Stateless layers without a label share their op's name (two
        // `drop_path`s of one block): each still needs a field of its own.
        let mut field_names: HashMap<String, usize> = HashMap::new();
        let mut external: Option<NodeIndex> = input;
        let runs = if self.is_struct_scope(s) { self.runs(s) } else { Vec::new() };
        for &n in g.order.iter().filter(|n| inside.contains(n)) {
            if matches!(g.node(n).op, Op::Input) {
                continue;
            }
            for i in g.inputs(n) {
                if !inside.contains(&i) || matches!(g.node(i).op, Op::Input) {
                    match external {
                        None => external = Some(i),
                        Some(e) if e == i => {}
                        Some(_) => {
                            return Err(CodegenError::Unsupported {
                                what: "a block that reads more than one tensor from outside it".into(),
                                at: g.scope(s).path.clone(),
                            });
                        }
                    }
                }
            }
            let chain = self.chain_below(n, s).expect("node under its scope");
            let step = match chain.first() {
                None => {
                    let node = g.node(n);
                    match OpKind::of(&node.op) {
                        Some(_) => {
                            let mut rel = relative(&node.name, &g.scope(s).path);
                            let seen = field_names.entry(rel.clone()).or_insert(0);
                            *seen += 1;
                            if *seen > 1 {
                                rel = format!("{rel}{seen}");
                            }
                            Step {
                                key: rel.clone(),
                                kind: StepKind::FieldOp { path: vec![rel], node: n },
                                out: n,
                                inputs: g.inputs(n),
                            }
                        }
                        None => {
                            let base = format!("{}@{}:{}", node.op.kind_name(), node.span.file.0, node.span.start);
                            let k = occurrences.entry(base.clone()).or_insert(0);
                            *k += 1;
                            Step { key: format!("{base}#{k}"), kind: StepKind::Inline(n), out: n, inputs: g.inputs(n) }
                        }
                    }
                }
                Some(&top) => {
                    if done_members.contains(&top) {
                        continue;
                    }
                    let label = last_part(&g.scope(top).path).to_string();
                    if let Some((field, run)) = runs.iter().find(|(_, r)| r.members.contains(&top)) {
                        done_members.extend(run.members.iter().copied());
                        let (inp, _) = self.boundary(run.members[0])?;
                        let (_, out) = self.boundary(*run.members.last().expect("a member"))?;
                        Step {
                            key: field.clone(),
                            kind: StepKind::Loop {
                                path: vec![field.clone()],
                                scope: top,
                                dense: None,
                                run: Some(run.clone()),
                            },
                            out,
                            inputs: vec![inp],
                        }
                    } else if let Some(dense) = self.dense_run(top) {
                        done_members.push(top);
                        let (inp, out) = self.boundary(top)?;
                        Step {
                            key: label.clone(),
                            kind: StepKind::Loop { path: vec![label], scope: top, dense: Some(dense), run: None },
                            out,
                            inputs: vec![inp],
                        }
                    } else if self.is_struct_scope(top) {
                        done_members.push(top);
                        self.member_step(vec![label], top, &inside)?
                    } else if self.stage_type(top).is_some() {
                        done_members.push(top);
                        let (inp, out) = self.boundary(top)?;
                        Step {
                            key: label.clone(),
                            kind: StepKind::Loop { path: vec![label], scope: top, dense: None, run: None },
                            out,
                            inputs: vec![inp],
                        }
                    } else {
                        // A numbered list of mixed layers: a tuple field.
                        match chain.get(1) {
                            Some(&elem) => {
                                if done_members.contains(&elem) {
                                    continue;
                                }
                                done_members.push(elem);
                                let idx = last_part(&g.scope(elem).path).to_string();
                                if self.is_struct_scope(elem) {
                                    self.member_step(vec![label, idx], elem, &inside)?
                                } else if self.stage_type(elem).is_some() {
                                    // A list of stages, each a run of one block
                                    // (`stages.0.0`, as ByobNet names them): a tuple of Vecs.
                                    let (inp, out) = self.boundary(elem)?;
                                    Step {
                                        key: format!("{label}.{idx}"),
                                        kind: StepKind::Loop {
                                            path: vec![label, idx],
                                            scope: elem,
                                            dense: None,
                                            run: None,
                                        },
                                        out,
                                        inputs: vec![inp],
                                    }
                                } else {
                                    return Err(CodegenError::Unsupported {
                                        what: "a list inside a list".into(),
                                        at: g.scope(elem).path.clone(),
                                    });
                                }
                            }
                            None => {
                                let node = g.node(n);
                                let idx = last_part(&node.name).to_string();
                                let key = format!("{label}.{idx}");
                                let kind = match OpKind::of(&node.op) {
                                    Some(_) => StepKind::FieldOp { path: vec![label, idx], node: n },
                                    None => StepKind::Inline(n),
                                };
                                Step { key, kind, out: n, inputs: g.inputs(n) }
                            }
                        }
                    }
                }
            };
            steps.push(step);
        }
        let input = external.ok_or_else(|| CodegenError::Unsupported {
            what: "a block with no input".into(),
            at: g.scope(s).path.clone(),
        })?;
        Ok((input, steps))
    }

    fn member_step(
        &self,
        path: Vec<String>,
        scope: ScopeId,
        _inside: &std::collections::HashSet<NodeIndex>,
    ) -> Result<Step, CodegenError> {
        let (inp, out) = self.boundary(scope)?;
        Ok(Step { key: path.join("."), kind: StepKind::Call { path, scope }, out, inputs: vec![inp] })
    }

    /// The one tensor a scope reads from outside, and its output.
    pub fn boundary(&self, s: ScopeId) -> Result<(NodeIndex, NodeIndex), CodegenError> {
        let g = self.g;
        let mut nodes = Vec::new();
        g.scope_nodes(s, &mut nodes);
        let inside: std::collections::HashSet<NodeIndex> = nodes.iter().copied().collect();
        let mut ext = None;
        for &n in &nodes {
            for i in g.inputs(n) {
                if !inside.contains(&i) {
                    match ext {
                        None => ext = Some(i),
                        Some(e) if e == i => {}
                        Some(_) => {
                            return Err(CodegenError::Unsupported {
                                what: "a block that reads more than one tensor from outside it".into(),
                                at: g.scope(s).path.clone(),
                            });
                        }
                    }
                }
            }
        }
        let out = g.scope_output(s);
        match (ext, out) {
            (Some(i), Some(o)) => Ok((i, o)),
            _ => Err(CodegenError::Unsupported { what: "an empty block".into(), at: g.scope(s).path.clone() }),
        }
    }
}

pub fn relative(name: &str, prefix: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        name.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')).unwrap_or(name).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::camel;

    #[test]
    fn type_names_keep_numbers_apart() {
        assert_eq!(camel("wrn22_8"), "Wrn22_8");
        assert_eq!(camel("wrn_16_8"), "Wrn16_8");
        assert_eq!(camel("resnext50_32x4d"), "Resnext50_32x4d");
        assert_eq!(camel("resnest50d_4s2x40d"), "Resnest50d4s2x40d");
        assert_eq!(camel("resnet50_dp"), "Resnet50Dp");
        assert_eq!(camel("densenet_bc100_k12"), "DensenetBc100K12");
        assert_eq!(camel("2x"), "M2x");
    }
}
