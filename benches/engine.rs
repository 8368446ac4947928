use std::time::Instant;
use resc::engine::raw;
fn main() {
    println!("peak 1 core {:.1} GFLOP/s", raw::fma_peak_gflops(0.5));
    for (m, k, n) in [(64usize, 256usize, 3136usize), (256, 64, 3136), (64, 576, 3136), (512, 2048, 49), (512, 4608, 49), (2048, 512, 49), (128, 1152, 784), (256, 2304, 196), (1024, 256, 196)] {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut c = vec![0.0f32; m * n];
        for threads in [1, 2, 20] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.min(2)).build().unwrap();
            pool.install(|| {
                let f = |c: &mut Vec<f32>| if threads == 20 {
                    use rayon::prelude::*;
                    let half = m / 2;
                    c.par_chunks_mut(half * n).zip(a.par_chunks(half * k)).for_each(|(cc, aa)| raw::gemm(cc, (n, 1), aa, (k, 1), &b, (n, 1), (half, n, k), 1));
                } else { raw::gemm(c, (n, 1), &a, (k, 1), &b, (n, 1), (m, n, k), threads) };
                for _ in 0..3 { f(&mut c); }
                let t = Instant::now();
                let reps = 20;
                for _ in 0..reps { f(&mut c); }
                let s = t.elapsed().as_secs_f64() / reps as f64;
                println!("m{m} k{k} n{n} t{threads}: {:.1} GFLOP/s", 2.0 * (m * n * k) as f64 / s / 1e9);
            });
        }
    }
}
