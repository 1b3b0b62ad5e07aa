//! The text-corpus loader, `gumbel_gan::data::text::load` / `load_with`, on arbitrary bytes
//! as a training and a test file: the input up to its first 0xFF byte is the training file,
//! the rest the test file (without a 0xFF byte both files hold the whole input; 0xFF is
//! never valid UTF-8, so the split loses no valid text). One load per input: the default
//! options (`load`) when the input length is 16 mod 17, else `load_with` and `max_len` =
//! length mod 17 (0 to 15). (Tokenizing is most of an execution's time, so one load per
//! input doubles the executions per second over loading with both.) Both files are also read as SeqGAN
//! sample files (`data::oracle::read_sample_file`, vocabulary 5000, length 20). A corpus
//! that loads is encoded, padded, stripped and decoded again. Any panic is a bug: a bad
//! file must be an `Err`.

#![no_main]

use gumbel_gan::data::oracle::read_sample_file;
use gumbel_gan::data::text::{TextOptions, load, load_with};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (train, test) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let train = gumbel_fuzz::write_input("train.txt", train);
    let test = gumbel_fuzz::write_input("test.txt", test);
    let loaded = match data.len() % 17 {
        16 => load(&train, &test),
        n => load_with(&train, &test, &TextOptions { max_len: Some(n) }),
    };
    if let Ok(corpus) = loaded {
        let ds = &corpus.dataset;
        for seq in ds.train.iter().chain(&ds.test) {
            if let Ok(p) = ds.padded(seq) {
                let _ = ds.vocab.decode(ds.strip(&p));
            }
        }
        let _ = ds.padded_batch(&ds.test);
    }
    for p in [&train, &test] {
        let _ = read_sample_file(p, 5000, 20);
    }
});
