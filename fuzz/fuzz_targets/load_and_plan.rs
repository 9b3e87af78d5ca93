//! Any bytes as a topology: loading and planning must never panic, only
//! report problems. Templates the topology names come from a fixed set so
//! the fuzzer also reaches rendering.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let read = |rel: &str| match rel {
        "r.conf" => Ok("hostname {{ node }}\n{% for p in all_pods | default(value=[]) %}{{ p.pod }}{% endfor %}\n".to_string()),
        "x.conf" => Ok("{{ vars | json_encode() }} {{ interfaces | json_encode() }}".to_string()),
        _ => Err("no such template".to_string()),
    };
    let Ok(loaded) = noglab::topology::load_str(std::path::Path::new("fuzz.yml"), text.to_string(), read) else {
        return;
    };
    let pods = loaded.topology.pods.clamp(1, 4);
    let layout = noglab::plan::Plumbing::for_pods(&loaded.topology, pods);
    let Ok(range) = noglab::plan::plumbing::range() else { return };
    if let Some(block) = noglab::plan::plumbing::allocate(range, layout.block_prefix(), &[]) {
        let _ = noglab::plan::expand(&loaded, pods, block);
    }
});
