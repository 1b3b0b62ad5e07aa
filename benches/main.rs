//! Criterion benchmarks of gumbel-lab: one group per op and element type (`op/dtype`), one
//! file per kernel family under `benches/benchmarks/`.
//!
//! `cargo bench --bench main` builds with `-C target-cpu=native` (`.cargo/config.toml`), so
//! wide's vectors are real AVX2/AVX-512 registers; `cargo bench --bench main -- --test` runs
//! every benchmark once (the CI smoke run). Filter with a regex on the id, e.g.
//! `cargo bench --bench main -- 'softmax/f32'`.

mod benchmarks;

criterion::criterion_main!(
    benchmarks::softmax::benches,
    benchmarks::matmul::benches,
    benchmarks::elementwise::benches,
    benchmarks::gumbel::benches,
    benchmarks::gumbel_rao::benches,
    benchmarks::binary_concrete::benches,
    benchmarks::data::benches,
    benchmarks::autograd::benches,
    benchmarks::estimators::benches,
    benchmarks::gan::benches,
);
