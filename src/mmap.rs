//! Mapping a file into memory: the one place in the crate with `unsafe`.

#![allow(unsafe_code)]

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use crate::error::{Error, Result};

/// A read-only memory map of a whole file.
///
/// # Safety contract
///
/// A mapping is only as stable as the file under it. tokpack writers never modify a
/// published file: they write a new file and rename it over the old one, so a mapping made
/// before the rename keeps the old, complete bytes. If some other program truncates or
/// rewrites the file in place while it is mapped, reads may see the new bytes or fault with
/// `SIGBUS`; that is outside what this crate can prevent, and `spec/FORMAT.md` tells users
/// not to do it.
#[derive(Debug)]
pub struct MappedFile {
    map: Mmap,
}

impl MappedFile {
    /// Maps the file at `path` read-only.
    pub fn open(path: &Path) -> Result<MappedFile> {
        let file = File::open(path).map_err(|e| Error::io("opening", path, e))?;
        // SAFETY: the mapping is read-only and private to this process. Its bytes are only
        // ever exposed as `&[u8]`; the contract above covers files changed under us by others,
        // which the writers of this crate never do (they publish by atomic rename).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io("mapping", path, e))?;
        Ok(MappedFile { map })
    }

    /// Advises the kernel that pages will be read at random (no read-ahead).
    pub fn advise_random(&self) {
        // Advice is a hint: a kernel that refuses it changes nothing we rely on.
        let _ = self.map.advise(memmap2::Advice::Random);
    }
}

impl AsRef<[u8]> for MappedFile {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}
