//! Reading one wheel entry straight out of the artifact: pread the compressed bytes, inflate
//! with a per-thread decompressor, hand the output on in chunks. Nothing is allocated per
//! file (musl's allocator makes that costly), memory stays bounded whatever the file size,
//! and size and CRC-32 are checked at the end.

use flate2::{Crc, Decompress, FlushDecompress, Status};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

const CHUNK: usize = 256 << 10;

/// Where an entry's data lies in the artifact and what it must inflate to.
#[derive(Debug, Clone, Copy)]
pub struct RawEntry {
    /// Absolute offset of the entry's data in the artifact file.
    pub data_start: u64,
    pub compressed: u64,
    pub size: u64,
    pub deflated: bool,
    pub crc32: u32,
}

/// A wheel file's raw position is relative to the wheel (the caller adds its start); an
/// artifact entry's ([`wheelsfx_payload::reader::Payload::raw_entry`]) is absolute.
impl From<wheelsfx_payload::wheel::Raw> for RawEntry {
    fn from(r: wheelsfx_payload::wheel::Raw) -> RawEntry {
        RawEntry {
            data_start: r.data_start,
            compressed: r.compressed,
            size: r.size,
            deflated: r.deflated,
            crc32: r.crc32,
        }
    }
}

/// Per-thread buffers and decompressor, reused for every entry.
pub struct Extractor {
    inflate: Decompress,
    input: Vec<u8>,
    output: Vec<u8>,
}

impl Default for Extractor {
    fn default() -> Self {
        Extractor {
            inflate: Decompress::new(false),
            input: vec![0; CHUNK],
            output: vec![0; CHUNK],
        }
    }
}

impl Extractor {
    /// Streams the entry's bytes to `sink`. An error from `sink` comes back as it is; damage
    /// (bad deflate data, wrong size or CRC) comes back as `InvalidData`.
    pub fn extract(
        &mut self,
        file: &File,
        e: &RawEntry,
        mut sink: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut crc = Crc::new();
        let mut emit = |chunk: &[u8]| {
            crc.update(chunk);
            sink(chunk)
        };
        if e.deflated {
            self.inflate_to(file, e, &mut emit)?;
        } else {
            self.copy_to(file, e, &mut emit)?;
        }
        if crc.amount() as u64 != e.size || crc.sum() != e.crc32 {
            return Err(damaged("its size or CRC-32 does not match the zip directory"));
        }
        Ok(())
    }

    fn copy_to(&mut self, file: &File, e: &RawEntry, emit: &mut impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        let mut done = 0;
        while done < e.size {
            let n = ((e.size - done) as usize).min(CHUNK);
            read_at(file, &mut self.input[..n], e.data_start + done)?;
            emit(&self.input[..n])?;
            done += n as u64;
        }
        Ok(())
    }

    fn inflate_to(
        &mut self,
        file: &File,
        e: &RawEntry,
        emit: &mut impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        self.inflate.reset(false);
        let (mut read, mut pos, mut len) = (0u64, 0usize, 0usize);
        loop {
            if pos == len && read < e.compressed {
                len = ((e.compressed - read) as usize).min(CHUNK);
                read_at(file, &mut self.input[..len], e.data_start + read)?;
                read += len as u64;
                pos = 0;
            }
            let flush = if read == e.compressed {
                FlushDecompress::Finish
            } else {
                FlushDecompress::None
            };
            let (in0, out0) = (self.inflate.total_in(), self.inflate.total_out());
            let status = self
                .inflate
                .decompress(&self.input[pos..len], &mut self.output, flush)
                .map_err(|err| damaged(&format!("bad deflate data ({err})")))?;
            let consumed = (self.inflate.total_in() - in0) as usize;
            let produced = (self.inflate.total_out() - out0) as usize;
            pos += consumed;
            if produced > 0 {
                emit(&self.output[..produced])?;
            }
            if status == Status::StreamEnd {
                return Ok(());
            }
            if consumed == 0 && produced == 0 && pos == len && read == e.compressed {
                return Err(damaged("its deflate data ends early"));
            }
            if self.inflate.total_out() > e.size {
                return Err(damaged("it inflates to more than its declared size"));
            }
        }
    }
}

/// pread of an entry's bytes: an entry whose sizes run past the end of the artifact is
/// damage (`InvalidData`, so exit 3), not an I/O failure.
fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    file.read_exact_at(buf, at).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => damaged("its data runs past the end of the artifact"),
        _ => e,
    })
}

fn damaged(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}
