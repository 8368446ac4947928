//! A pickle reader that understands only what a PyTorch state dict is made
//! of, and executes nothing: every global is looked up in a short list of
//! known constructors, and any other one (`os.system`, `builtins.eval`, ...)
//! is an error naming it, raised before anything could be called.

use std::collections::HashMap;

/// A value of the pickle machine, limited to what state dicts hold.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// Ordered, as `OrderedDict` and Python dicts are.
    Dict(Vec<(Value, Value)>),
    /// One of the allowed globals, not yet called.
    Global(Known),
    /// A storage named by `torch.save`'s persistent id.
    Storage {
        dtype: Dtype,
        key: String,
        numel: u64,
    },
    Tensor(Tensor),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub dtype: Dtype,
    /// The storage's file name in the archive's `data/` folder.
    pub key: String,
    pub storage_numel: u64,
    /// In elements.
    pub offset: u64,
    pub shape: Vec<u64>,
    pub stride: Vec<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I8,
    U8,
    Bool,
}

impl Dtype {
    pub fn width(self) -> u64 {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
        }
    }
}

/// The globals a state dict may name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Known {
    OrderedDict,
    RebuildTensor,
    RebuildParameter,
    Storage(Dtype),
}

fn known(module: &str, name: &str) -> Option<Known> {
    Some(match (module, name) {
        ("collections", "OrderedDict") => Known::OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2") => Known::RebuildTensor,
        ("torch._utils", "_rebuild_parameter") => Known::RebuildParameter,
        ("torch", "FloatStorage") => Known::Storage(Dtype::F32),
        ("torch", "DoubleStorage") => Known::Storage(Dtype::F64),
        ("torch", "HalfStorage") => Known::Storage(Dtype::F16),
        ("torch", "BFloat16Storage") => Known::Storage(Dtype::BF16),
        ("torch", "LongStorage") => Known::Storage(Dtype::I64),
        ("torch", "IntStorage") => Known::Storage(Dtype::I32),
        ("torch", "CharStorage") => Known::Storage(Dtype::I8),
        ("torch", "ByteStorage") => Known::Storage(Dtype::U8),
        ("torch", "BoolStorage") => Known::Storage(Dtype::Bool),
        _ => return None,
    })
}

#[derive(Debug, PartialEq)]
pub enum PickleError {
    /// A global outside the list: what a malicious file would call.
    Global { module: String, name: String },
    /// Anything else: a truncated stream, an opcode state dicts do not use, a
    /// call with the wrong arguments.
    Bad(String),
}

fn bad<T>(m: impl Into<String>) -> Result<T, PickleError> {
    Err(PickleError::Bad(m.into()))
}

/// Nesting beyond this is no state dict; refusing it keeps drops shallow.
const MAX_DEPTH: usize = 100;

/// Values copied out of the memo, counted in nodes: `(t, t)` memoized and
/// fetched again doubles each time, so a few hundred bytes could otherwise
/// ask for 2^100 nodes.
const MAX_COPIED: usize = 4_000_000;

enum Slot {
    Mark,
    V(Value, usize),
}

/// Runs the pickle program `data` and returns the value it builds.
pub fn load(data: &[u8]) -> Result<Value, PickleError> {
    let mut m = Machine { data, at: 0, stack: Vec::new(), memo: HashMap::new(), copied: 0 };
    m.run()
}

struct Machine<'a> {
    data: &'a [u8],
    at: usize,
    stack: Vec<Slot>,
    memo: HashMap<u32, (Value, usize)>,
    copied: usize,
}

impl Machine<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else { return bad("the pickle stream ends early") };
        let s = &self.data[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.at..];
        let Some(n) = rest.iter().position(|&b| b == b'\n') else { return bad("a global name without its line end") };
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.at += n + 1;
        Ok(s)
    }

    fn text(&mut self, n: usize) -> Result<Value, PickleError> {
        let b = self.take(n)?;
        Ok(Value::Str(
            std::str::from_utf8(b).map_err(|_| PickleError::Bad("a string that is not UTF-8".into()))?.into(),
        ))
    }

    fn push(&mut self, v: Value, depth: usize) -> Result<(), PickleError> {
        if depth > MAX_DEPTH {
            return bad(format!("values nested over {MAX_DEPTH} deep"));
        }
        self.stack.push(Slot::V(v, depth));
        Ok(())
    }

    fn pop(&mut self) -> Result<(Value, usize), PickleError> {
        match self.stack.pop() {
            Some(Slot::V(v, d)) => Ok((v, d)),
            _ => bad("an opcode finds no value where it needs one"),
        }
    }

    /// The values above the topmost mark, which goes.
    fn pop_mark(&mut self) -> Result<(Vec<Value>, usize), PickleError> {
        let Some(i) = self.stack.iter().rposition(|s| matches!(s, Slot::Mark)) else {
            return bad("a mark is missing");
        };
        let mut depth = 0;
        let items = self
            .stack
            .drain(i..)
            .skip(1)
            .map(|s| match s {
                Slot::V(v, d) => {
                    depth = depth.max(d);
                    v
                }
                Slot::Mark => unreachable!("the topmost mark"),
            })
            .collect();
        Ok((items, depth))
    }

    fn top_mut(&mut self) -> Result<(&mut Value, &mut usize), PickleError> {
        match self.stack.last_mut() {
            Some(Slot::V(v, d)) => Ok((v, d)),
            _ => bad("an opcode finds no value where it needs one"),
        }
    }

    fn tuple(&mut self, n: usize) -> Result<(), PickleError> {
        let mut items = Vec::with_capacity(n);
        let mut depth = 0;
        for _ in 0..n {
            let (v, d) = self.pop()?;
            depth = depth.max(d);
            items.push(v);
        }
        items.reverse();
        self.push(Value::Tuple(items), depth + 1)
    }

    fn set_items(&mut self, items: Vec<Value>, depth: usize) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return bad("a dict update with an odd number of values");
        }
        let (target, d) = self.top_mut()?;
        let Value::Dict(entries) = target else { return bad("items set on something that is not a dict") };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            match entries.iter_mut().find(|(key, _)| *key == k) {
                Some(e) => e.1 = v,
                None => entries.push((k, v)),
            }
        }
        *d = (*d).max(depth + 1);
        Ok(())
    }

    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return bad(format!("pickle protocol {proto}"));
                    }
                }
                0x95 => {
                    self.take(8)?;
                }
                b'.' => {
                    return match self.stack.pop() {
                        Some(Slot::V(v, _)) => Ok(v),
                        _ => bad("the pickle ends without a value"),
                    };
                }
                b'(' => self.stack.push(Slot::Mark),
                b'0' => {
                    self.stack.pop();
                }
                b'}' => self.push(Value::Dict(Vec::new()), 1)?,
                b']' => self.push(Value::List(Vec::new()), 1)?,
                b')' => self.push(Value::Tuple(Vec::new()), 1)?,
                b'N' => self.push(Value::None, 0)?,
                0x88 => self.push(Value::Bool(true), 0)?,
                0x89 => self.push(Value::Bool(false), 0)?,
                b'J' => {
                    let v = i32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
                    self.push(Value::Int(v.into()), 0)?
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v.into()), 0)?
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes"));
                    self.push(Value::Int(v.into()), 0)?
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    if n > 8 {
                        return bad("an integer wider than 64 bits");
                    }
                    let b = self.take(n)?;
                    let fill = if b.last().is_some_and(|&x| x & 0x80 != 0) { 0xff } else { 0 };
                    let mut w = [fill; 8];
                    w[..n].copy_from_slice(b);
                    self.push(Value::Int(i64::from_le_bytes(w)), 0)?
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
                    self.push(Value::Float(v), 0)?
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let v = self.text(n)?;
                    self.push(v, 0)?
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let v = self.text(n)?;
                    self.push(v, 0)?
                }
                0x8d => {
                    let n = u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"));
                    let v = self.text(usize::try_from(n).unwrap_or(usize::MAX))?;
                    self.push(v, 0)?
                }
                b'q' | b'r' | 0x94 => {
                    let key = match op {
                        b'q' => self.u8()? as u32,
                        b'r' => self.u32()?,
                        _ => self.memo.len() as u32,
                    };
                    let Some(Slot::V(v, d)) = self.stack.last() else { return bad("nothing to remember") };
                    self.memo.insert(key, (v.clone(), *d));
                }
                b'h' | b'j' => {
                    let key = if op == b'h' { self.u8()? as u32 } else { self.u32()? };
                    let Some((v, d)) = self.memo.get(&key) else {
                        return bad(format!("memo entry {key} was never stored"));
                    };
                    self.copied = self.copied.saturating_add(nodes(v));
                    if self.copied > MAX_COPIED {
                        return bad(format!("more than {MAX_COPIED} values copied from the memo"));
                    }
                    let (v, d) = (v.clone(), *d);
                    self.push(v, d)?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let k = known(&module, &name).ok_or(PickleError::Global { module, name })?;
                    self.push(Value::Global(k), 0)?
                }
                0x93 => {
                    let (name, _) = self.pop()?;
                    let (module, _) = self.pop()?;
                    let (Value::Str(module), Value::Str(name)) = (module, name) else {
                        return bad("a global named by something other than strings");
                    };
                    let k = known(&module, &name).ok_or(PickleError::Global { module, name })?;
                    self.push(Value::Global(k), 0)?
                }
                b't' => {
                    let (items, d) = self.pop_mark()?;
                    self.push(Value::Tuple(items), d + 1)?
                }
                0x85 => self.tuple(1)?,
                0x86 => self.tuple(2)?,
                0x87 => self.tuple(3)?,
                b'l' => {
                    let (items, d) = self.pop_mark()?;
                    self.push(Value::List(items), d + 1)?
                }
                b'd' => {
                    let (items, d) = self.pop_mark()?;
                    self.push(Value::Dict(Vec::new()), 1)?;
                    self.set_items(items, d)?
                }
                b's' => {
                    let (v, dv) = self.pop()?;
                    let (k, dk) = self.pop()?;
                    self.set_items(vec![k, v], dv.max(dk))?
                }
                b'u' => {
                    let (items, d) = self.pop_mark()?;
                    self.set_items(items, d)?
                }
                b'a' => {
                    let (v, dv) = self.pop()?;
                    let (target, d) = self.top_mut()?;
                    let Value::List(l) = target else { return bad("append to something that is not a list") };
                    l.push(v);
                    *d = (*d).max(dv + 1);
                }
                b'e' => {
                    let (items, di) = self.pop_mark()?;
                    let (target, d) = self.top_mut()?;
                    let Value::List(l) = target else { return bad("append to something that is not a list") };
                    l.extend(items);
                    *d = (*d).max(di + 1);
                }
                b'Q' => {
                    let (pid, _) = self.pop()?;
                    let v = storage(pid)?;
                    self.push(v, 0)?
                }
                b'R' => {
                    let (args, d) = self.pop()?;
                    let (f, _) = self.pop()?;
                    let v = call(f, args)?;
                    self.push(v, d)?
                }
                b'b' => {
                    // A state for the object below: the state dict's `_metadata`
                    // (module versions), which loading does not need.
                    let (_state, _) = self.pop()?;
                    self.top_mut()?;
                }
                other => {
                    return bad(format!("opcode 0x{other:02x} at byte {}, which state dicts do not use", self.at - 1));
                }
            }
        }
    }
}

/// How many values `v` holds, itself included (its depth is bounded).
fn nodes(v: &Value) -> usize {
    match v {
        Value::Tuple(t) | Value::List(t) => 1 + t.iter().map(nodes).sum::<usize>(),
        Value::Dict(d) => 1 + d.iter().map(|(k, v)| nodes(k) + nodes(v)).sum::<usize>(),
        _ => 1,
    }
}

/// `('storage', torch.FloatStorage, '0', 'cpu', 1234)`.
fn storage(pid: Value) -> Result<Value, PickleError> {
    let Value::Tuple(t) = pid else { return bad("a persistent id that is not a tuple") };
    match &t[..] {
        [Value::Str(kind), Value::Global(Known::Storage(dtype)), Value::Str(key), _, Value::Int(numel)]
            if kind == "storage" && *numel >= 0 =>
        {
            Ok(Value::Storage { dtype: *dtype, key: key.clone(), numel: *numel as u64 })
        }
        _ => bad("a persistent id that is not a tensor storage"),
    }
}

fn ints(v: &Value) -> Result<Vec<u64>, PickleError> {
    let Value::Tuple(t) = v else { return bad("a tensor size or stride that is not a tuple") };
    t.iter()
        .map(|x| match x {
            Value::Int(i) if *i >= 0 => Ok(*i as u64),
            _ => bad("a tensor size or stride that is not a natural number"),
        })
        .collect()
}

fn call(f: Value, args: Value) -> Result<Value, PickleError> {
    let Value::Tuple(args) = args else { return bad("call arguments that are not a tuple") };
    match f {
        Value::Global(Known::OrderedDict) => Ok(Value::Dict(Vec::new())),
        Value::Global(Known::RebuildTensor) => match &args[..] {
            [Value::Storage { dtype, key, numel }, Value::Int(offset), size, stride, ..] if *offset >= 0 => {
                let (shape, stride) = (ints(size)?, ints(stride)?);
                if shape.len() != stride.len() {
                    return bad("a tensor whose size and stride differ in length");
                }
                Ok(Value::Tensor(Tensor {
                    dtype: *dtype,
                    key: key.clone(),
                    storage_numel: *numel,
                    offset: *offset as u64,
                    shape,
                    stride,
                }))
            }
            _ => bad("_rebuild_tensor_v2 called with other arguments than a tensor's"),
        },
        Value::Global(Known::RebuildParameter) => match args.into_iter().next() {
            Some(t @ Value::Tensor(_)) => Ok(t),
            _ => bad("_rebuild_parameter called without a tensor"),
        },
        _ => bad("a call of something that is not a known constructor"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_global_outside_the_list_is_refused_by_name() {
        // What `pickle.dumps` writes for a class whose __reduce__ returns (os.system, ("touch x",)).
        let evil = b"\x80\x02cposix\nsystem\nq\x00X\x07\x00\x00\x00touch xq\x01\x85q\x02Rq\x03.";
        assert_eq!(load(evil), Err(PickleError::Global { module: "posix".into(), name: "system".into() }));
        let stack_global = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.";
        assert_eq!(load(stack_global), Err(PickleError::Global { module: "builtins".into(), name: "eval".into() }));
    }

    #[test]
    fn truncated_and_hostile_streams_are_errors() {
        for bytes in
            [&b""[..], b"\x80", b"\x80\x02}q\x00(X\xff\xff\xff\x7f", b"\x80\x02h\x05.", b"\x80\x02u.", b"\x80\x02\xff"]
        {
            assert!(matches!(load(bytes), Err(PickleError::Bad(_))), "{bytes:?}");
        }
        // Deep nesting is refused, not recursed into.
        let mut deep = b"\x80\x02".to_vec();
        deep.extend(std::iter::repeat_n(b')', 1).chain(std::iter::repeat_n(0x85, 100_000)));
        deep.push(b'.');
        assert!(matches!(load(&deep), Err(PickleError::Bad(m)) if m.contains("nested")));
        // (t, t) memoized and fetched, 90 times: refused, not 2^90 values.
        let mut doubling = b"\x80\x02)q\x00".to_vec();
        for _ in 0..90 {
            doubling.extend_from_slice(b"0h\x00h\x00\x86q\x00");
        }
        doubling.push(b'.');
        assert!(matches!(load(&doubling), Err(PickleError::Bad(_))));
    }
}
