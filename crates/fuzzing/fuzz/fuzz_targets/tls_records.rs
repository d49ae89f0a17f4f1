//! cargo-fuzz target `tls_records`: the check `keepsight_fuzzing::target("tls_records")` (see that crate).
#![no_main]

use keepsight_fuzzing::CountingAlloc;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fuzz_target!(|data: &[u8]| {
    keepsight_fuzzing::target("tls_records").expect("a known target").check(data);
});
