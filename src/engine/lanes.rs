//! How a batch is shared among the threads. At batch 1 every kernel splits
//! its own work across the threads, with a barrier at each of ~100 layer
//! boundaries and GEMMs cut into thread-sized pieces. At batch > 1 whole
//! samples can go to threads instead: no barriers, and every GEMM on one
//! thread, where the gemm crate runs nearest its peak. A lane is a run of
//! consecutive samples with its own memory plan and arena, so that lanes
//! running side by side never touch each other's memory (one shared arena
//! would not do: buffers with disjoint lifetimes share its space, and lanes
//! are at different steps at the same moment).

use std::time::Instant;

use super::jit::Table;
use super::lower::Lowered;
use super::memory::Plan;
use super::{Profiled, exec, raw};

/// Which samples each lane runs and on how many threads: `(first, count,
/// threads)`. With `split`, `threads` lanes of `batch / threads` samples
/// each run side by side on one thread each, and what is left over runs
/// after them on all threads; otherwise (or for a batch smaller than the
/// threads) one lane runs the whole batch on all threads.
pub fn shares(batch: usize, threads: usize, split: bool) -> Vec<(usize, usize, usize)> {
    let threads = threads.max(1);
    if !split || threads == 1 || batch < threads {
        return vec![(0, batch, threads)];
    }
    let per = batch / threads;
    let mut v: Vec<_> = (0..threads).map(|t| (t * per, per, 1)).collect();
    if !batch.is_multiple_of(threads) {
        v.push((threads * per, batch % threads, threads));
    }
    v
}

/// The threads lanes run on: one single-thread pool per lane side by side
/// (none with one thread), and the pool of all threads for the rest.
pub struct Pools<'p> {
    pub beside: &'p [rayon::ThreadPool],
    pub all: &'p rayon::ThreadPool,
}

/// Runs every lane: those of one thread side by side, then the rest on all
/// threads; with `profile`, adds each step's time and flops to it, once
/// per step (lanes side by side share the time: the first one's counts).
pub fn run(
    lanes: &mut [Lane],
    pools: Pools,
    (l, jit, isa): (&Lowered, &Table, raw::Isa),
    profile: Option<&mut [Profiled]>,
) {
    let steps = l.steps.len();
    let mut profiles: Vec<Option<Vec<Profiled>>> =
        lanes.iter().map(|_| profile.is_some().then(|| vec![Profiled::default(); steps])).collect();
    let side = if pools.beside.is_empty() { 0 } else { lanes.iter().take_while(|l| l.threads == 1).count() };
    let (beside, after) = lanes.split_at_mut(side);
    let (beside_p, after_p) = profiles.split_at_mut(side);
    std::thread::scope(|scope| {
        let mut work = beside.iter_mut().zip(beside_p.iter_mut()).zip(pools.beside);
        let first = work.next();
        for ((lane, p), pool) in work {
            scope.spawn(move || pool.install(|| lane.run(l, jit, isa, p.as_deref_mut())));
        }
        if let Some(((lane, p), pool)) = first {
            pool.install(|| lane.run(l, jit, isa, p.as_deref_mut()));
        }
    });
    for (lane, p) in after.iter_mut().zip(after_p.iter_mut()) {
        pools.all.install(|| lane.run(l, jit, isa, p.as_deref_mut()));
    }
    let Some(total) = profile else { return };
    for (si, e) in total.iter_mut().enumerate() {
        e.steps += 1;
        for (i, p) in profiles.iter().flatten().enumerate() {
            e.flops += p[si].flops;
            if i == 0 || i >= side {
                e.time += p[si].time;
            }
        }
    }
}

pub struct Lane {
    pub first: usize,
    pub count: usize,
    /// Threads its kernels split their work across.
    pub threads: usize,
    /// Every value's dims for this lane's samples (4 per value).
    pub dims: Vec<i64>,
    pub plan: Plan,
    pub arena: Vec<f32>,
    pub scratch: Vec<f32>,
}

impl Lane {
    pub fn new(first: usize, count: usize, threads: usize, dims: Vec<i64>, plan: Plan) -> Lane {
        let (arena, scratch) = (vec![0.0; plan.arena_len], vec![0.0; plan.scratch_len]);
        Lane { first, count, threads, dims, plan, arena, scratch }
    }

    /// Bytes of its arena, its scratch and its workers' scratch.
    pub fn bytes(&self) -> usize {
        (self.plan.arena_len + self.plan.scratch_len + self.plan.worker_scratch * self.threads) * 4
    }

    /// Copies its samples of the whole batch's `input` into its arena.
    pub fn load(&mut self, input: &[f32], at: usize) {
        let view = self.plan.views[at].expect("the input has a place");
        for s in 0..self.count {
            let from = (self.first + s) * view.len;
            self.arena[view.sample(s)].copy_from_slice(&input[from..from + view.len]);
        }
    }

    /// Appends its samples of value `at` to `out`.
    pub fn unload(&self, at: usize, out: &mut Vec<f32>) {
        let view = self.plan.views[at].expect("the output has a place");
        for s in 0..self.count {
            out.extend_from_slice(&self.arena[view.sample(s)]);
        }
    }

    /// Runs every step on its samples, adding each step's time and flops to
    /// `profile` when given.
    fn run(&mut self, l: &Lowered, jit: &Table, isa: raw::Isa, mut profile: Option<&mut [Profiled]>) {
        let cx = exec::Ctx { l, plan: &self.plan, jit, dims: &self.dims, threads: self.threads, isa };
        for (si, step) in l.steps.iter().enumerate() {
            let start = profile.is_some().then(Instant::now);
            exec::run_step(&cx, si, &mut self.arena, &mut self.scratch);
            if let (Some(p), Some(t)) = (profile.as_deref_mut(), start) {
                p[si].time += t.elapsed();
                p[si].flops += super::flops(step, &self.dims);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shares;

    #[test]
    fn every_sample_goes_to_exactly_one_lane_in_order() {
        for threads in 1..5 {
            for batch in 0..11 {
                for split in [false, true] {
                    let v = shares(batch, threads, split);
                    let mut next = 0;
                    for &(first, count, t) in &v {
                        assert_eq!(first, next, "{batch} on {threads}: {v:?}");
                        assert!(t == 1 || t == threads);
                        next += count;
                    }
                    assert_eq!(next, batch, "{batch} on {threads}: {v:?}");
                    let side = v.iter().filter(|s| s.2 == 1).count();
                    let splits = split && threads > 1 && batch >= threads;
                    assert_eq!(side, if splits { threads } else { usize::from(threads == 1) });
                }
            }
        }
    }
}
