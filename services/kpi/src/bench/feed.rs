//! `kpi bench`, phase 1, the start of the data flow: the synthetic EPR feed written to a file,
//! capped at `--events` lines, so that every later phase (producing, the SQL peer) reads the
//! same bytes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use kpi_synth::SynthConfig;

/// The feed on disk.
pub struct Feed {
    pub path: PathBuf,
    /// Lines in the file (valid and invalid).
    pub lines: u64,
    pub seconds: f64,
}

/// Generates `config`'s feed into `dir/events.ndjson`, keeping its first `cap` lines.
pub fn generate(config: &SynthConfig, cap: u64, dir: &Path) -> anyhow::Result<Feed> {
    let path = dir.join("events.ndjson");
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let bar = ProgressBar::new(u64::from(config.people));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} generating: {pos}/{len} people [{bar:30}] {eta}")
            .expect("valid template"),
    );
    let started = Instant::now();
    let mut out = Capped { inner: BufWriter::new(file), lines_left: cap, lines: 0 };
    kpi_synth::generate(config, &mut out, |done| bar.set_position(u64::from(done))).context("generating events")?;
    out.inner.flush().with_context(|| format!("writing {}", path.display()))?;
    bar.finish_and_clear();
    Ok(Feed { path, lines: out.lines, seconds: started.elapsed().as_secs_f64() })
}

/// A writer that passes on whole lines until `lines_left` is spent, then swallows the rest: the
/// generator writes in arrival order, so the cap keeps the feed's earliest arrivals.
struct Capped<W> {
    inner: W,
    lines_left: u64,
    lines: u64,
}

impl<W: Write> Write for Capped<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut kept = 0;
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            if self.lines_left == 0 {
                break;
            }
            if piece.ends_with(b"\n") {
                self.lines_left -= 1;
                self.lines += 1;
            }
            kept += piece.len();
        }
        self.inner.write_all(&bytes[..kept])?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The feed's lines, blank ones skipped (as `kpi produce` does).
pub fn file_lines(path: &Path) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Vec<u8>>>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(BufReader::new(file)
        .split(b'\n')
        .map(|line| line.map_err(anyhow::Error::from))
        .filter(|line| line.as_ref().map_or(true, |l| !l.iter().all(u8::is_ascii_whitespace))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_whole_first_lines() {
        let mut out = Capped { inner: Vec::new(), lines_left: 2, lines: 0 };
        out.write_all(b"a\nb").unwrap();
        out.write_all(b"b\nc\nd\n").unwrap();
        assert_eq!(out.inner, b"a\nbb\n");
        assert_eq!(out.lines, 2);
    }
}
