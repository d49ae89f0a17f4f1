//! Any bytes, read as a capture file through the whole pipeline, every field of every frame
//! visited: must never panic, loop or allocate without bound.
#![no_main]

use keepsight_engine::capture::CaptureReader;
use keepsight_engine::Engine;
use keepsight_fields::{all_fields, Packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = CaptureReader::from_bytes(data.to_vec()) else { return };
    let mut engine = Engine::from_reader(reader);
    while let Ok(Some(frame)) = engine.next_frame() {
        for (id, _) in all_fields() {
            frame.visit(id, &mut |_| {});
        }
    }
});
