//! The reroot record the next init reads (`newroot::Record`): never panics; a record read,
//! written back and read again is the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reinit::newroot::Record;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let r = Record::parse(&text);
    let _ = r.summary();
    let written = r.render();
    assert_eq!(Record::parse(&written), r, "written:\n{written:?}");
});
