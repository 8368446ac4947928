//! One diagnostic type that carries locations, wrapping a phase's error kind.
//!
//! Each phase has its own error enum deriving `thiserror::Error` and
//! `miette::Diagnostic` (code, message, help). `Diag` adds what the kind does not
//! know: where it happened (labels, possibly in several files), which block
//! instance it happened in, and how many identical copies were folded into it.
//! Rendering lives in the CLI; this module only describes.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

use crate::source::{SourceMap, Span};

type Kind = Arc<dyn Diagnostic + Send + Sync + 'static>;

#[derive(Clone)]
pub struct Diag {
    kind: Kind,
    primary: Option<(Span, String)>,
    secondary: Vec<(Span, String)>,
    /// "in layer3.17, an instance of bottleneck"
    context: Option<String>,
    extra_help: Option<String>,
    /// A "did you mean": replacing this span with this text is the fix.
    suggestion: Option<(Span, String)>,
    /// For an error in another file (a used file, the standard library): the
    /// place in the user's own file that led there.
    origin: Option<Span>,
    resolved: Option<Resolved>,
}

#[derive(Clone)]
struct Resolved {
    src: NamedSource<Arc<str>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Note>,
}

impl Diag {
    pub fn new(kind: impl Diagnostic + Send + Sync + 'static) -> Self {
        Diag {
            kind: Arc::new(kind),
            primary: None,
            secondary: Vec::new(),
            context: None,
            extra_help: None,
            suggestion: None,
            origin: None,
            resolved: None,
        }
    }

    /// The offending span, with its label text.
    pub fn at(mut self, span: Span, label: impl Into<String>) -> Self {
        self.primary = Some((span, label.into()));
        self
    }

    /// A span that helps ("the block's input comes from here").
    pub fn also(mut self, span: Span, label: impl Into<String>) -> Self {
        self.secondary.push((span, label.into()));
        self
    }

    pub fn in_context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.extra_help = Some(help.into());
        self
    }

    /// "did you mean `s`?" with `s` as the machine-applicable replacement of `span`.
    pub fn suggest(mut self, span: Span, replacement: impl Into<String>) -> Self {
        let r = replacement.into();
        self.extra_help = Some(format!("did you mean `{r}`?"));
        self.suggestion = Some((span, r));
        self
    }

    pub fn with_origin(mut self, span: Span) -> Self {
        self.origin = Some(span);
        self
    }

    pub fn suggestion(&self) -> Option<(Span, &str)> {
        self.suggestion.as_ref().map(|(s, r)| (*s, r.as_str()))
    }

    pub fn origin(&self) -> Option<Span> {
        self.origin
    }

    pub fn primary(&self) -> Option<(Span, &str)> {
        self.primary.as_ref().map(|(s, l)| (*s, l.as_str()))
    }

    pub fn secondary(&self) -> &[(Span, String)] {
        &self.secondary
    }

    /// The help line as shown to the user.
    pub fn help_text(&self) -> Option<String> {
        Diagnostic::help(self).map(|h| h.to_string())
    }

    /// The primary file's name and text, once resolved.
    pub fn source(&self) -> Option<(&str, &str)> {
        self.resolved.as_ref().map(|r| (r.src.name(), r.src.inner().as_ref()))
    }

    pub fn primary_span(&self) -> Option<Span> {
        self.primary.as_ref().map(|p| p.0)
    }

    pub fn has_context(&self) -> bool {
        self.context.is_some()
    }

    /// Identity for de-duplication: the same error at the same place, reached
    /// through many instances of one template, is reported once.
    pub fn key(&self) -> (Option<String>, Option<Span>, String) {
        (self.kind.code().map(|c| c.to_string()), self.primary_span(), self.kind.to_string())
    }

    pub fn code(&self) -> Option<String> {
        self.kind.code().map(|c| c.to_string())
    }

    /// Attach source text. Labels in other files than the primary one become
    /// related notes, since one miette report shows one source.
    pub fn resolve(&mut self, sources: &SourceMap) {
        let Some((span, label)) = &self.primary else {
            return;
        };
        let file = sources.get(span.file);
        let src = NamedSource::new(file.name.clone(), file.text.clone());
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            Some(label.clone()).filter(|l| !l.is_empty()),
            (span.start, span.len()),
        )];
        let mut related = Vec::new();
        for (other, text) in &self.secondary {
            if other.file == span.file {
                labels.push(LabeledSpan::new_with_span(Some(text.clone()), (other.start, other.len())));
            } else {
                let f = sources.get(other.file);
                related.push(Note {
                    message: text.clone(),
                    src: NamedSource::new(f.name.clone(), f.text.clone()),
                    span: (other.start, other.len()).into(),
                });
            }
        }
        self.resolved = Some(Resolved { src, labels, related });
    }
}

impl fmt::Debug for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Diag({:?}: {})", self.code(), self)
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(ctx) = &self.context {
            write!(f, " ({ctx})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diag {}

impl Diagnostic for Diag {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.kind.code()
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match (&self.extra_help, self.kind.help()) {
            (Some(h), _) => Some(Box::new(h)),
            (None, h) => h,
        }
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.resolved.as_ref().map(|r| &r.src as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.resolved.as_ref().map(|r| Box::new(r.labels.iter().cloned()) as Box<dyn Iterator<Item = LabeledSpan>>)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        let r = self.resolved.as_ref()?;
        if r.related.is_empty() {
            return None;
        }
        Some(Box::new(r.related.iter().map(|n| n as &dyn Diagnostic)))
    }
}

/// A secondary location in another file, shown as a related note.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
struct Note {
    message: String,
    src: NamedSource<Arc<str>>,
    span: miette::SourceSpan,
}

impl Diagnostic for Note {
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Advice)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(Some("here".into()), self.span))))
    }
}

/// Collects diagnostics, folding repeats of the same error at the same span.
#[derive(Debug, Default, Clone)]
pub struct Diags {
    list: Vec<Diag>,
    repeats: Vec<usize>,
    /// Where each key is in `list`: a file with thousands of errors must not
    /// take quadratic time to fold them.
    index: std::collections::HashMap<(Option<String>, Option<Span>, String), usize>,
}

impl Diags {
    pub fn push(&mut self, diag: Diag) {
        let key = diag.key();
        if let Some(&i) = self.index.get(&key) {
            self.repeats[i] += 1;
            return;
        }
        self.index.insert(key, self.list.len());
        self.list.push(diag);
        self.repeats.push(0);
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn extend(&mut self, other: Diags) {
        for d in other.into_vec() {
            self.push(d);
        }
    }

    /// Finish: attach sources and say how many instances shared each error.
    pub fn into_resolved(self, sources: &SourceMap) -> Vec<Diag> {
        let mut out = Vec::with_capacity(self.list.len());
        for (mut d, n) in self.list.into_iter().zip(self.repeats) {
            if n > 0 && d.has_context() {
                let ctx = d.context.take().unwrap_or_default();
                d.context = Some(format!("{ctx}, and {n} more instance{}", if n == 1 { "" } else { "s" }));
            }
            d.resolve(sources);
            out.push(d);
        }
        out
    }

    pub fn into_vec(self) -> Vec<Diag> {
        self.list
    }
}
