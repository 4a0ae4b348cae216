//! Any bytes as a JSON-lines input file, in every input format, through the record reader
//! and (for pre-tokenized input) the writer: errors name a line, nothing panics.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use tokpack::text::{InputFormat, RecordReader};
use tokpack::{Writer, WriterOptions};

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("tokpack-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let input = dir.join("in.jsonl");
    if std::fs::File::create(&input).and_then(|mut f| f.write_all(data)).is_err() {
        return;
    }
    for format in [InputFormat::Tokens, InputFormat::Jsonl, InputFormat::Chat, InputFormat::Text] {
        let mut reader = RecordReader::new(vec![input.clone()], format, "text", Some("\n\n".into()));
        let mut o = WriterOptions::new(1000);
        o.sync = false;
        let Ok(mut w) = Writer::create(dir.join("out.tpk"), o) else {
            return;
        };
        while let Ok(Some(record)) = reader.next_record() {
            if let tokpack::text::Record::Tokens { ids, mask, .. } = record {
                let _ = w.push_document(&ids, mask.as_deref());
            }
        }
        drop(w);
    }
});
