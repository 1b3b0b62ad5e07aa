//! The criterion benchmark target: `cargo bench --bench main` (or `-- --test` for a smoke
//! run). Groups live in `benchmarks/<family>.rs`.

use criterion::criterion_main;

mod benchmarks;

criterion_main!(benchmarks::gumbel::benches);
