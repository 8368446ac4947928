//! Cranelift code generation: the model's shape check and its fused
//! elementwise kernels, compiled for the host into one JIT module. This
//! module only builds code; calling it is `raw`'s business.

use std::collections::HashMap;

use cranelift_codegen::Context;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{AbiParam, Block, InstBuilder, MemFlagsData, Type, UserFuncName, Value, types};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};

use super::kernels::{KernelSpec, OperandKind, Stage};
use super::shapecheck::{Ins, Program};

/// A compiled function's address inside a live [`Compiled`] module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FnAddr(pub(super) usize);

/// Functions being compiled into one module.
pub struct Jit {
    module: JITModule,
    ctx: Context,
    fctx: FunctionBuilderContext,
    kernels: HashMap<KernelSpec, FuncId>,
    funcs: Vec<FuncId>,
}

/// The finished module: owns the code, which lives as long as it does.
pub struct Compiled {
    /// Kept for its executable memory; never freed while `table` is used.
    pub code: JITModule,
    pub table: Table,
}

/// Where the compiled functions are.
pub struct Table {
    kernels: HashMap<KernelSpec, FnAddr>,
    shape_check: Option<FnAddr>,
    /// Distinct kernels compiled (identical ones are shared).
    pub kernel_count: usize,
}

impl Table {
    pub fn kernel(&self, spec: &KernelSpec) -> FnAddr {
        self.kernels[spec]
    }

    pub fn shape_check(&self) -> Option<FnAddr> {
        self.shape_check
    }
}

fn flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

impl Jit {
    pub fn new() -> Result<Jit, String> {
        let mut b = settings::builder();
        for (k, v) in [("opt_level", "speed"), ("is_pic", "false"), ("use_colocated_libcalls", "false")] {
            b.set(k, v).map_err(|e| e.to_string())?;
        }
        let isa = cranelift_native::builder()
            .map_err(|e| format!("this CPU is not supported by the JIT: {e}"))?
            .finish(settings::Flags::new(b))
            .map_err(|e| e.to_string())?;
        let module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        Ok(Jit {
            ctx: module.make_context(),
            module,
            fctx: FunctionBuilderContext::new(),
            kernels: HashMap::new(),
            funcs: Vec::new(),
        })
    }

    fn ptr(&self) -> Type {
        self.module.target_config().pointer_type()
    }

    fn declare(&mut self, params: usize, returns: bool) -> Result<FuncId, String> {
        let ptr = self.ptr();
        let mut sig = self.module.make_signature();
        sig.params.extend((0..params).map(|_| AbiParam::new(ptr)));
        if returns {
            sig.returns.push(AbiParam::new(types::I64));
        }
        let name = format!("f{}", self.funcs.len());
        let id = self.module.declare_function(&name, Linkage::Local, &sig).map_err(|e| e.to_string())?;
        self.funcs.push(id);
        self.ctx.func.signature = sig;
        self.ctx.func.name = UserFuncName::user(0, id.as_u32());
        Ok(id)
    }

    fn define(&mut self, id: FuncId) -> Result<(), String> {
        self.module.define_function(id, &mut self.ctx).map_err(|e| format!("{e:?}"))?;
        self.module.clear_context(&mut self.ctx);
        Ok(())
    }

    /// Adds a kernel unless an identical one is already there.
    pub fn kernel(&mut self, spec: &KernelSpec) -> Result<(), String> {
        if self.kernels.contains_key(spec) {
            return Ok(());
        }
        // fn(dst, src, operands: *const *const f32, len): one plane
        let id = self.declare(4, false)?;
        let ptr = self.ptr();
        let config = self.module.target_config();
        let mut fb = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
        emit_kernel(&mut fb, spec, ptr);
        fb.seal_all_blocks();
        fb.finalize(config);
        self.define(id)?;
        self.kernels.insert(spec.clone(), id);
        Ok(())
    }

    /// The machine code a kernel compiles to, as text (for tests and for
    /// looking at what a chain becomes); nothing is added to the module.
    pub fn disassemble(&mut self, spec: &KernelSpec) -> Result<String, String> {
        let ptr = self.ptr();
        let mut ctx = self.module.make_context();
        let mut sig = self.module.make_signature();
        sig.params.extend((0..4).map(|_| AbiParam::new(ptr)));
        ctx.func.signature = sig;
        let config = self.module.target_config();
        let mut fb = FunctionBuilder::new(&mut ctx.func, &mut self.fctx);
        emit_kernel(&mut fb, spec, ptr);
        fb.seal_all_blocks();
        fb.finalize(config);
        ctx.set_disasm(true);
        let code = ctx.compile(self.module.isa(), &mut Default::default()).map_err(|e| format!("{:?}", e.inner))?;
        Ok(code.vcode.clone().unwrap_or_default())
    }

    /// Adds the shape check: `fn(input_dims: *const i64, out: *mut i64) -> i64`,
    /// 0 when every check holds, else the failing check's index plus one.
    pub fn shape_check(&mut self, p: &Program) -> Result<FuncId, String> {
        let id = self.declare(2, true)?;
        let config = self.module.target_config();
        let mut fb = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
        emit_shape_check(&mut fb, p);
        fb.seal_all_blocks();
        fb.finalize(config);
        self.define(id)?;
        Ok(id)
    }

    pub fn finish(mut self, shape_check: Option<FuncId>) -> Result<Compiled, String> {
        self.module.finalize_definitions().map_err(|e| e.to_string())?;
        let addr = |id: FuncId| FnAddr(self.module.get_finalized_function(id) as usize);
        let kernels: HashMap<KernelSpec, FnAddr> = self.kernels.iter().map(|(k, &id)| (k.clone(), addr(id))).collect();
        let shape_check = shape_check.map(addr);
        Ok(Compiled { table: Table { kernel_count: kernels.len(), kernels, shape_check }, code: self.module })
    }
}

/// A counted loop `for i in (start..).step_by(step) while i + step <= end`;
/// returns the final `i`.
fn counted_loop(
    fb: &mut FunctionBuilder,
    start: Value,
    end: Value,
    step: i64,
    mut body: impl FnMut(&mut FunctionBuilder, Value),
) -> Value {
    let head = fb.create_block();
    let work = fb.create_block();
    let after = fb.create_block();
    fb.append_block_param(head, types::I64);
    fb.append_block_param(after, types::I64);
    fb.ins().jump(head, &[start.into()]);
    fb.switch_to_block(head);
    let i = fb.block_params(head)[0];
    let next = fb.ins().iadd_imm_s(i, step);
    let fits = fb.ins().icmp(IntCC::SignedLessThanOrEqual, next, end);
    fb.ins().brif(fits, work, &[], after, &[i.into()]);
    fb.switch_to_block(work);
    body(fb, i);
    fb.ins().jump(head, &[next.into()]);
    fb.switch_to_block(after);
    fb.block_params(after)[0]
}

/// Per-channel values, addresses and constants, computed once per channel
/// for either vector or scalar code.
struct Hoisted {
    dst: Value,
    src: Value,
    per_channel: Vec<Value>,
    tensors: Vec<Value>,
    zero: Value,
    six: Value,
    consts: Vec<(u32, Value)>,
}

impl Hoisted {
    fn constant(&self, bits: u32) -> Value {
        self.consts.iter().find(|c| c.0 == bits).expect("constant hoisted").1
    }
}

fn hoist(
    fb: &mut FunctionBuilder,
    spec: &KernelSpec,
    (dst, src): (Value, Value),
    scalars: &[Value],
    bases: &[Value],
    ty: Type,
) -> Hoisted {
    // Constants as `vconst` (not splats of `f32const`): cranelift
    // rematerializes scalar constants at each use, which would drag a splat
    // into the loop; a vector constant is hoisted out of it.
    let constant = |fb: &mut FunctionBuilder, v: f32| {
        if ty == types::F32 {
            fb.ins().f32const(v)
        } else {
            let bytes: Vec<u8> = (0..4).flat_map(|_| v.to_le_bytes()).collect();
            let c = fb.func.dfg.constants.insert(bytes.into());
            fb.ins().vconst(ty, c)
        }
    };
    let zero = constant(fb, 0.0);
    let six = constant(fb, 6.0);
    let mut consts: Vec<(u32, Value)> = Vec::new();
    for stage in &spec.stages {
        if let Stage::MulConst(k) | Stage::LeakyRelu(k) = stage
            && !consts.iter().any(|c| c.0 == *k)
        {
            consts.push((*k, constant(fb, f32::from_bits(*k))));
        }
    }
    let per_channel = scalars.iter().map(|&v| if ty == types::F32 { v } else { fb.ins().splat(ty, v) }).collect();
    Hoisted { dst, src, per_channel, tensors: bases.to_vec(), zero, six, consts }
}

/// The stages applied to `x` at element offset `off_bytes` (a Value) plus
/// `imm` bytes; operands in spec order.
fn apply(
    fb: &mut FunctionBuilder,
    spec: &KernelSpec,
    h: &Hoisted,
    ty: Type,
    mut x: Value,
    off: Value,
    imm: i32,
) -> Value {
    let (mut pc, mut tc) = (0, 0);
    for stage in &spec.stages {
        x = match stage {
            Stage::Affine => {
                let (s, b) = (h.per_channel[pc], h.per_channel[pc + 1]);
                pc += 2;
                fb.ins().fma(x, s, b)
            }
            Stage::Bias => {
                pc += 1;
                fb.ins().fadd(x, h.per_channel[pc - 1])
            }
            Stage::ScaleChannel => {
                pc += 1;
                fb.ins().fmul(x, h.per_channel[pc - 1])
            }
            Stage::AddTensor | Stage::MulTensor => {
                let addr = fb.ins().iadd(h.tensors[tc], off);
                tc += 1;
                let t = fb.ins().load(ty, flags(), addr, imm);
                if *stage == Stage::AddTensor { fb.ins().fadd(x, t) } else { fb.ins().fmul(x, t) }
            }
            Stage::MulConst(k) => fb.ins().fmul(x, h.constant(*k)),
            Stage::Relu => max_zero(fb, ty, x, h.zero),
            Stage::Relu6 => {
                let y = max_zero(fb, ty, x, h.zero);
                // min(y, 6) as `6 < y ? 6 : y`: one `vminps`, and NaN stays NaN.
                select_where(fb, ty, FloatCC::LessThan, h.six, y, h.six, y)
            }
            Stage::LeakyRelu(k) => {
                let neg = fb.ins().fmul(x, h.constant(*k));
                select_where(fb, ty, FloatCC::GreaterThan, x, h.zero, x, neg)
            }
        };
    }
    x
}

/// `a CC b ? x : y`, lane-wise for vectors.
fn select_where(fb: &mut FunctionBuilder, ty: Type, cc: FloatCC, a: Value, b: Value, x: Value, y: Value) -> Value {
    let m = fb.ins().fcmp(cc, a, b);
    if ty == types::F32 {
        fb.ins().select(m, x, y)
    } else {
        let m = fb.ins().bitcast(ty, MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little), m);
        fb.ins().bitselect(m, x, y)
    }
}

/// ReLU as compare and select, `x < 0 ? 0 : x`: the form `a < b ? b : a`
/// that cranelift's x64 backend matches to one `maxps` (`fmax` would lower to
/// a longer sequence, and `x > 0 ? x : 0` to a compare and a blend). With `x`
/// as `a`, a NaN input compares false and comes out as itself, as in PyTorch.
fn max_zero(fb: &mut FunctionBuilder, ty: Type, x: Value, zero: Value) -> Value {
    select_where(fb, ty, FloatCC::LessThan, x, zero, zero, x)
}

/// One plane: `len` values, one value per per-channel operand. The channel
/// loop is the caller's (`raw::kernel`): with it inside, cranelift
/// recomputed the plane's addresses in every iteration of the inner loops
/// (its constant rematerialization pins them there). Per-channel values are
/// loaded and splatted here, in the entry block; cranelift 0.135.8 still
/// places the register-to-register broadcast inside the loop, one
/// `vbroadcastss` per 16 values.
fn emit_kernel(fb: &mut FunctionBuilder, spec: &KernelSpec, ptr: Type) {
    let entry = fb.create_block();
    fb.append_block_params_for_function_params(entry);
    fb.switch_to_block(entry);
    let p = fb.block_params(entry).to_vec();
    let (dst, src, ops, len) = (p[0], p[1], p[2], p[3]);
    let kinds = spec.operand_kinds();
    let mut scalars = Vec::new();
    let mut bases = Vec::new();
    for (k, kind) in kinds.iter().enumerate() {
        let at = fb.ins().load(ptr, flags(), ops, (k * 8) as i32);
        match kind {
            OperandKind::PerChannel => scalars.push(fb.ins().load(types::F32, flags(), at, 0)),
            OperandKind::Tensor => bases.push(at),
        }
    }
    let zero_i = fb.ins().iconst(types::I64, 0);
    let vec = hoist(fb, spec, (dst, src), &scalars, &bases, types::F32X4);
    let one = hoist(fb, spec, (dst, src), &scalars, &bases, types::F32);
    let body = |fb: &mut FunctionBuilder, i: Value, ty: Type, h: &Hoisted, lanes: i32, unroll: i32| {
        let off = fb.ins().ishl_imm_u(i, 2);
        let sa = fb.ins().iadd(h.src, off);
        let da = fb.ins().iadd(h.dst, off);
        let xs: Vec<Value> = (0..unroll).map(|u| fb.ins().load(ty, flags(), sa, u * lanes * 4)).collect();
        let ys: Vec<Value> =
            xs.into_iter().enumerate().map(|(u, x)| apply(fb, spec, h, ty, x, off, u as i32 * lanes * 4)).collect();
        for (u, y) in ys.into_iter().enumerate() {
            fb.ins().store(flags(), y, da, u as i32 * lanes * 4);
        }
    };
    let i = counted_loop(fb, zero_i, len, 16, |fb, i| body(fb, i, types::F32X4, &vec, 4, 4));
    let i = counted_loop(fb, i, len, 4, |fb, i| body(fb, i, types::F32X4, &vec, 4, 1));
    counted_loop(fb, i, len, 1, |fb, i| body(fb, i, types::F32, &one, 1, 1));
    fb.ins().return_(&[]);
}

fn emit_shape_check(fb: &mut FunctionBuilder, p: &Program) {
    let entry = fb.create_block();
    fb.append_block_params_for_function_params(entry);
    fb.switch_to_block(entry);
    let (input, out) = (fb.block_params(entry)[0], fb.block_params(entry)[1]);
    let fail: Block = fb.create_block();
    fb.append_block_param(fail, types::I64);
    let mut r: Vec<Value> = Vec::with_capacity(p.ins.len());
    for ins in &p.ins {
        let g = |x: &u32| r[*x as usize];
        let v = match ins {
            Ins::Input(d) => fb.ins().load(types::I64, flags(), input, *d as i32 * 8),
            Ins::Const(v) => fb.ins().iconst(types::I64, *v),
            Ins::Add(a, b) => fb.ins().iadd(g(a), g(b)),
            Ins::Sub(a, b) => fb.ins().isub(g(a), g(b)),
            Ins::Mul(a, b) => fb.ins().imul(g(a), g(b)),
            Ins::Div(a, b) => fb.ins().sdiv(g(a), g(b)),
            Ins::Rem(a, b) => fb.ins().srem(g(a), g(b)),
            Ins::Eq(a, b) => {
                let c = fb.ins().icmp(IntCC::Equal, g(a), g(b));
                fb.ins().uextend(types::I64, c)
            }
            Ins::Ge(a, b) => {
                let c = fb.ins().icmp(IntCC::SignedGreaterThanOrEqual, g(a), g(b));
                fb.ins().uextend(types::I64, c)
            }
            Ins::And(a, b) => fb.ins().band(g(a), g(b)),
            Ins::Or(a, b) => fb.ins().bor(g(a), g(b)),
            Ins::Select(c, a, b) => fb.ins().select(g(c), g(a), g(b)),
            Ins::Check(c, id) => {
                let cont = fb.create_block();
                let code = fb.ins().iconst(types::I64, *id as i64 + 1);
                fb.ins().brif(g(c), cont, &[], fail, &[code.into()]);
                fb.switch_to_block(cont);
                code
            }
            Ins::Store(slot, v) => {
                let v = g(v);
                fb.ins().store(flags(), v, out, *slot as i32 * 8);
                v
            }
        };
        r.push(v);
    }
    let ok = fb.ins().iconst(types::I64, 0);
    fb.ins().return_(&[ok]);
    fb.switch_to_block(fail);
    let code = fb.block_params(fail)[0];
    fb.ins().return_(&[code]);
}
