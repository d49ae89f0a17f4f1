//! cargo-fuzz target `probe_response`: the check `keepsight_fuzzing::target("probe_response")` (see that crate).
#![no_main]

use keepsight_fuzzing::CountingAlloc;
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fuzz_target!(|data: &[u8]| {
    keepsight_fuzzing::target("probe_response").expect("a known target").check(data);
});
