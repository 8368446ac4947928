//! The IR: a petgraph `StableDiGraph` of ops. Each node keeps its op, its
//! hierarchical name, the span it came from and its output shape; scopes record
//! the block instances and stages the nodes belong to, for summaries and
//! clusters.

pub mod op;
pub mod shape;

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;

pub use op::{Op, ShapeError, StateKind};
pub use shape::{Dim, Shape};

use crate::source::Span;

#[derive(Clone, Debug)]
pub struct Node {
    pub op: Op,
    /// Hierarchical name: `layer1.0.conv1`. For ops with state it is the
    /// `state_dict` prefix; for the others it is only for display.
    pub name: String,
    pub span: Span,
    pub shape: Shape,
    pub scope: ScopeId,
}

/// An edge carries the input position at the consumer.
#[derive(Clone, Copy, Debug)]
pub struct Edge {
    pub port: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeId(pub u32);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeKind {
    Model,
    /// An instance of a block template.
    Instance {
        template: String,
    },
    /// A labelled sequence: a stage (`layer1`) or a list (`downsample`).
    Container,
}

#[derive(Clone, Debug)]
pub struct Scope {
    pub path: String,
    pub kind: ScopeKind,
    pub parent: Option<ScopeId>,
    /// Where it was written: the call for an instance, the labelled layer for a container.
    pub span: Span,
    pub children: Vec<Child>,
    /// For an instance, its integer arguments and input channels
    /// (`in_channels`): backends name their parameters after them.
    pub args: Vec<(String, i64)>,
}

/// The ordered contents of a scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Child {
    Node(NodeIndex),
    Scope(ScopeId),
}

#[derive(Clone, Debug)]
pub struct Graph {
    pub name: String,
    pub graph: StableDiGraph<Node, Edge>,
    pub scopes: Vec<Scope>,
    pub input: NodeIndex,
    pub output: NodeIndex,
    /// Nodes in creation order, which is a topological order and the order of
    /// the reference `state_dict`.
    pub order: Vec<NodeIndex>,
    pub span: Span,
    /// The stochastic-depth schedule, described, when the model has one.
    pub drop_path: Option<String>,
    /// The network's number and flag arguments, as the model gives them or
    /// by their defaults, in parameter order.
    pub args: Vec<ModelArg>,
}

/// A number or flag argument of the model's network (`classes: int = 1000`).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelArg {
    pub name: String,
    pub value: ArgValue,
    /// Where the network declares the parameter.
    pub span: Span,
}

/// The value of a [`ModelArg`], or one to build the model with instead.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ArgValue {
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Graph {
    pub fn node(&self, ix: NodeIndex) -> &Node {
        &self.graph[ix]
    }

    pub fn scope(&self, id: ScopeId) -> &Scope {
        &self.scopes[id.0 as usize]
    }

    /// Inputs of a node, in port order.
    pub fn inputs(&self, ix: NodeIndex) -> Vec<NodeIndex> {
        let mut edges: Vec<_> = self
            .graph
            .edges_directed(ix, petgraph::Direction::Incoming)
            .map(|e| (e.weight().port, e.source()))
            .collect();
        edges.sort_by_key(|e| e.0);
        edges.into_iter().map(|e| e.1).collect()
    }

    /// The last node of a scope in creation order: its output.
    pub fn scope_output(&self, id: ScopeId) -> Option<NodeIndex> {
        match self.scope(id).children.last()? {
            Child::Node(n) => Some(*n),
            Child::Scope(s) => self.scope_output(*s),
        }
    }

    /// All nodes under a scope, depth first in creation order.
    pub fn scope_nodes(&self, id: ScopeId, out: &mut Vec<NodeIndex>) {
        for c in &self.scope(id).children {
            match c {
                Child::Node(n) => out.push(*n),
                Child::Scope(s) => self.scope_nodes(*s, out),
            }
        }
    }
}

/// Builds a graph in creation order.
#[derive(Debug)]
pub struct GraphBuilder {
    pub graph: StableDiGraph<Node, Edge>,
    pub scopes: Vec<Scope>,
    pub order: Vec<NodeIndex>,
}

impl GraphBuilder {
    pub fn new(model_span: Span) -> Self {
        GraphBuilder {
            graph: StableDiGraph::new(),
            scopes: vec![Scope {
                path: String::new(),
                kind: ScopeKind::Model,
                parent: None,
                span: model_span,
                children: Vec::new(),
                args: Vec::new(),
            }],
            order: Vec::new(),
        }
    }

    pub fn root(&self) -> ScopeId {
        ScopeId(0)
    }

    pub fn add_scope(&mut self, parent: ScopeId, path: String, kind: ScopeKind, span: Span) -> ScopeId {
        let id = ScopeId(self.scopes.len() as u32);
        self.scopes.push(Scope { path, kind, parent: Some(parent), span, children: Vec::new(), args: Vec::new() });
        self.scopes[parent.0 as usize].children.push(Child::Scope(id));
        id
    }

    pub fn add_node(&mut self, node: Node, inputs: &[NodeIndex]) -> NodeIndex {
        let scope = node.scope;
        let ix = self.graph.add_node(node);
        for (port, &src) in inputs.iter().enumerate() {
            self.graph.add_edge(src, ix, Edge { port: port as u32 });
        }
        self.scopes[scope.0 as usize].children.push(Child::Node(ix));
        self.order.push(ix);
        ix
    }

    pub fn shape(&self, ix: NodeIndex) -> &Shape {
        &self.graph[ix].shape
    }

    pub fn finish(self, name: String, input: NodeIndex, output: NodeIndex, span: Span) -> Graph {
        Graph {
            name,
            graph: self.graph,
            scopes: self.scopes,
            input,
            output,
            order: self.order,
            span,
            drop_path: None,
            args: Vec::new(),
        }
    }
}
