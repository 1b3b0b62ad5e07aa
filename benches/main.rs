//! Criterion benchmarks of gumbel-lab: `cargo bench --bench main`. One group per file in
//! `benches/benchmarks/`.

mod benchmarks;

criterion::criterion_main!(benchmarks::data::benches, benchmarks::gan::benches);
