//! What `nix-store --export` streams, read for what each NAR really is: its size and SHA-256,
//! from the bytes (Nix checks the NAR hash itself, not the size, and a runner then fails on it).
//! The stream is walked by the NAR's grammar, each file's contents hashed as it passes.
//!
//! The stream: for each path `1`, the NAR, the magic `NIXE`, the path, its references, its deriver,
//! `0` (no signature); then `0`. Numbers are u64 LE; a string is its length, bytes, zeros to 8.

use std::io::{self, Read};

use sha2::{Digest, Sha256 as Hash};

/// One path of the stream, as its bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The store path.
    pub path: String,
    /// The bytes of its NAR.
    pub nar_size: u64,
    /// The SHA-256 of its NAR, computed from the bytes.
    pub nar_sha256: [u8; 32],
}

const EXPORT_MAGIC: u64 = 0x4558_494e;
/// Names, targets and the like are short; a file's contents are streamed, never held.
const MAX_TOKEN: u64 = 1 << 16;
const MAX_DEPTH: usize = 256;

/// The paths of a file holding an export stream, as far as it is whole (Nix says why it stopped).
pub fn read_file(file: &std::path::Path) -> Vec<Exported> {
    let mut paths = Vec::new();
    let _ = std::fs::File::open(file).and_then(|f| read(f, &mut paths));
    paths
}

/// Reads the paths of an export stream into `paths`, to its end or the first error.
fn read(stream: impl Read, paths: &mut Vec<Exported>) -> io::Result<()> {
    let mut input = Input { inner: io::BufReader::new(stream), hash: None, count: 0 };
    loop {
        match input.u64()? {
            0 => return Ok(()),
            1 => {}
            n => return Err(bad(format_args!("a path starts with {n}, not 1"))),
        }
        input.hash = Some(Hash::new());
        input.count = 0;
        input.expect(&["nix-archive-1"])?;
        input.node(0)?;
        let nar_sha256 = input.hash.take().map(|h| h.finalize().into()).unwrap_or_default();
        let nar_size = input.count;
        check(input.u64()? == EXPORT_MAGIC, "the export's magic is missing after a NAR")?;
        let path = String::from_utf8(input.token()?).map_err(|_| bad("a store path that is not UTF-8"))?;
        for _ in 0..input.u64()? {
            input.token()?;
        }
        input.token()?;
        check(input.u64()? == 0, "a signature in the export, which nix-store never writes")?;
        paths.push(Exported { path, nar_size, nar_sha256 });
    }
}

struct Input<R> {
    inner: R,
    /// The NAR being read: its hash and size (the framing after it is not the NAR's).
    hash: Option<Hash>,
    count: u64,
}

impl<R: Read> Input<R> {
    fn bytes(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_exact(buf)?;
        if let Some(hash) = self.hash.as_mut() {
            hash.update(&*buf);
            self.count = self.count.saturating_add(buf.len() as u64);
        }
        Ok(())
    }

    fn u64(&mut self) -> io::Result<u64> {
        let mut buf = [0; 8];
        self.bytes(&mut buf)?;
        Ok(u64::from_le_bytes(buf))
    }

    fn padding(&mut self, len: u64) -> io::Result<()> {
        let mut pad = [0; 8];
        let n = ((8 - len % 8) % 8) as usize;
        self.bytes(&mut pad[..n])?;
        check(pad[..n].iter().all(|b| *b == 0), "padding that is not zeros")
    }

    /// A short string (a name, a tag).
    fn token(&mut self) -> io::Result<Vec<u8>> {
        let len = self.u64()?;
        check(len <= MAX_TOKEN, format_args!("a {len}-byte name, longer than any NAR name"))?;
        let mut buf = vec![0; len as usize];
        self.bytes(&mut buf)?;
        self.padding(len)?;
        Ok(buf)
    }

    /// The words, in order.
    fn expect(&mut self, words: &[&str]) -> io::Result<()> {
        for word in words {
            let got = self.token()?;
            if got != word.as_bytes() {
                return Err(bad(format_args!("{:?} where the NAR has {word:?}", String::from_utf8_lossy(&got))));
            }
        }
        Ok(())
    }

    /// A file's contents: streamed through the hash.
    fn contents(&mut self) -> io::Result<()> {
        let (len, mut buf) = (self.u64()?, vec![0; 1 << 16]);
        for start in (0..len).step_by(buf.len()) {
            let n = (len - start).min(buf.len() as u64) as usize;
            self.bytes(&mut buf[..n])?;
        }
        self.padding(len)
    }

    fn node(&mut self, depth: usize) -> io::Result<()> {
        check(depth <= MAX_DEPTH, "directories nested deeper than any NAR")?;
        self.expect(&["(", "type"])?;
        match self.token()?.as_slice() {
            b"regular" => {
                let mut tag = self.token()?;
                if tag == b"executable" {
                    self.expect(&[""])?;
                    tag = self.token()?;
                }
                check(tag == b"contents", "a regular file without contents")?;
                self.contents()?;
                self.expect(&[")"])
            }
            b"symlink" => {
                self.expect(&["target"])?;
                self.token()?;
                self.expect(&[")"])
            }
            b"directory" => loop {
                match self.token()?.as_slice() {
                    b")" => return Ok(()),
                    b"entry" => {
                        self.expect(&["(", "name"])?;
                        self.token()?;
                        self.expect(&["node"])?;
                        self.node(depth + 1)?;
                        self.expect(&[")"])?;
                    }
                    other => return Err(bad(format_args!("{:?} in a directory", String::from_utf8_lossy(other)))),
                }
            },
            other => Err(bad(format_args!("a node of type {:?}", String::from_utf8_lossy(other)))),
        }
    }
}

fn bad(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("not a `nix-store --export` stream: {what}"))
}

/// `Ok` when `whole`, else why the stream is not an export.
fn check(whole: bool, what: impl std::fmt::Display) -> io::Result<()> {
    whole.then_some(()).ok_or_else(|| bad(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(out: &mut Vec<u8>, strings: &[&[u8]]) {
        for s in strings {
            out.extend((s.len() as u64).to_le_bytes());
            out.extend(*s);
            out.extend(std::iter::repeat_n(0, (8 - s.len() % 8) % 8));
        }
    }

    /// A NAR of a directory with an executable and a link, as Nix writes it.
    fn nar() -> Vec<u8> {
        let mut nar = Vec::new();
        strings(&mut nar, &[b"nix-archive-1", b"(", b"type", b"directory", b"entry", b"(", b"name", b"bin", b"node"]);
        strings(&mut nar, &[b"(", b"type", b"regular", b"executable", b"", b"contents", b"echo hi\n", b")", b")"]);
        strings(&mut nar, &[b"entry", b"(", b"name", b"link", b"node", b"(", b"type", b"symlink", b"target", b"bin"]);
        strings(&mut nar, &[b")", b")", b")"]);
        nar
    }

    #[test]
    fn each_nar_is_measured_by_its_own_bytes() {
        let nar = nar();
        let mut stream = Vec::new();
        for path in ["/nix/store/aaaa-x", "/nix/store/bbbb-y"] {
            stream.extend(1u64.to_le_bytes());
            stream.extend(&nar);
            stream.extend(EXPORT_MAGIC.to_le_bytes());
            strings(&mut stream, &[path.as_bytes()]);
            stream.extend(1u64.to_le_bytes());
            strings(&mut stream, &[b"/nix/store/cccc-z", b""]);
            stream.extend(0u64.to_le_bytes());
        }
        stream.extend(0u64.to_le_bytes());
        let mut read = Vec::new();
        super::read(&stream[..], &mut read).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[1].path, "/nix/store/bbbb-y");
        assert_eq!(read[0].nar_size, nar.len() as u64);
        assert_eq!(read[0].nar_sha256, <[u8; 32]>::from(Hash::digest(&nar)));

        // Cut short, or not a NAR at all: an error, never a guess.
        assert!(super::read(&stream[..stream.len() - 20], &mut Vec::new()).is_err());
        let mut junk = 1u64.to_le_bytes().to_vec();
        strings(&mut junk, &[b"not-a-nar"]);
        let err = super::read(&junk[..], &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("not a `nix-store --export` stream"));
    }
}
