//! The block encoding: a header, then one varint-packed record per reading,
//! then a CRC-32 over all of it. Layout in docs/storage.md.

use crate::reading::Fault;

/// Bytes of an open block, header included, CRC excluded. Chosen from the
/// benchmark (BENCHMARKS.md): bigger blocks cost more to rewrite at each flush.
pub const BLOCK_BYTES: usize = 256;
/// Longest span of stamps in one block; a query starts its scan this far
/// before `since`, and retention drops whole blocks.
pub const MAX_SPAN_MS: i64 = 4 * 3_600_000;
/// Format version in the first byte of every block.
pub const VERSION: u8 = 1;
/// version u8, count u16 LE, first ms i64 LE, last ms i64 LE.
pub const HEADER: usize = 19;
const CRC: usize = 4;
/// Longest fault detail kept, in bytes (cut at a character boundary).
pub const MAX_DETAIL: usize = 200;
/// Values beyond this (°C) are kept as raw f64 instead of 0.001 °C steps.
const MAX_MILLI_VALUE: f64 = 9e12;

const KIND_VALUE: u64 = 0;
const KIND_FAULT: u64 = 1;
const KIND_RAW: u64 = 2;
const FLAG_UNSYNCED: u64 = 4;

/// Fault codes by their one-byte index in a record; append only.
const FAULT_CODES: [&str; 9] = [
    "crc",
    "power_on_85",
    "disconnected",
    "missing",
    "io",
    "parse",
    "timeout",
    "out_of_range",
    "simulated",
];

/// One reading inside a block (the sensor is the block's).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Wall-clock ms.
    pub ms: i64,
    /// The stamp was estimated.
    pub unsynced: bool,
    /// °C (rounded to 0.001 °C unless huge or not finite) or the fault.
    pub value: Result<f64, Fault>,
}

/// Why a reading did not go into a block: the caller seals it and starts a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// No room left in `BLOCK_BYTES`.
    Bytes,
    /// The stamp is older than the block's last one (the wall clock went back).
    Backwards,
    /// The stamp is more than `MAX_SPAN_MS` after the block's first one.
    Span,
    /// 65 535 readings already.
    Count,
}

/// An open block being filled, in a fixed-size buffer.
#[derive(Debug, Clone)]
pub struct BlockBuf {
    buf: heapless::Vec<u8, BLOCK_BYTES>,
    count: u16,
    first_ms: i64,
    last_ms: i64,
    prev_delta: i64,
    prev_milli: i64,
}

fn put_varint(out: &mut impl Extend<u8>, mut v: u64) {
    let mut tmp = [0u8; 10];
    let mut n = 0;
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            tmp[n] = b;
            n += 1;
            break;
        }
        tmp[n] = b | 0x80;
        n += 1;
    }
    out.extend(tmp[..n].iter().copied());
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn milli_of(v: f64) -> Option<i64> {
    (v.is_finite() && v.abs() < MAX_MILLI_VALUE).then(|| (v * 1000.0).round() as i64)
}

fn cut_detail(d: &str) -> &str {
    let mut end = d.len().min(MAX_DETAIL);
    while !d.is_char_boundary(end) {
        end -= 1;
    }
    &d[..end]
}

impl BlockBuf {
    /// A block whose first reading is `e`.
    pub fn new(e: &Entry) -> BlockBuf {
        let mut b = BlockBuf {
            buf: heapless::Vec::new(),
            count: 0,
            first_ms: e.ms,
            last_ms: e.ms,
            prev_delta: 0,
            prev_milli: 0,
        };
        b.buf
            .extend_from_slice(&[VERSION; HEADER])
            .expect("the header fits");
        b.push(e).expect("one reading always fits an empty block");
        b
    }

    /// Appends `e`, or says why it belongs in a new block.
    pub fn push(&mut self, e: &Entry) -> Result<(), Full> {
        if self.count == u16::MAX {
            return Err(Full::Count);
        }
        if e.ms < self.last_ms {
            return Err(Full::Backwards);
        }
        if e.ms
            .checked_sub(self.first_ms)
            .is_none_or(|s| s > MAX_SPAN_MS)
        {
            return Err(Full::Span);
        }
        let delta = e.ms - self.last_ms;
        let mut rec: heapless::Vec<u8, { MAX_DETAIL + 24 }> = heapless::Vec::new();
        let unsynced = if e.unsynced { FLAG_UNSYNCED } else { 0 };
        let dod = zigzag(delta - self.prev_delta);
        let mut milli = self.prev_milli;
        let tag = |kind: u64| (dod << 3) | unsynced | kind;
        match &e.value {
            Ok(v) => match milli_of(*v) {
                Some(m) => {
                    put_varint(&mut rec, tag(KIND_VALUE));
                    put_varint(&mut rec, zigzag(m - self.prev_milli));
                    milli = m;
                }
                None => {
                    put_varint(&mut rec, tag(KIND_RAW));
                    rec.extend(v.to_le_bytes());
                }
            },
            Err(f) => {
                put_varint(&mut rec, tag(KIND_FAULT));
                let code = FAULT_CODES.iter().position(|c| *c == f.code()).unwrap_or(4);
                rec.extend([code as u8]);
                let detail = cut_detail(f.detail()).as_bytes();
                put_varint(&mut rec, detail.len() as u64);
                rec.extend(detail.iter().copied());
            }
        }
        if self.buf.len() + rec.len() + CRC > BLOCK_BYTES {
            return Err(Full::Bytes);
        }
        self.buf.extend_from_slice(&rec).expect("checked above");
        self.count += 1;
        self.last_ms = e.ms;
        self.prev_delta = delta;
        self.prev_milli = milli;
        self.buf[1..3].copy_from_slice(&self.count.to_le_bytes());
        self.buf[3..11].copy_from_slice(&self.first_ms.to_le_bytes());
        self.buf[11..19].copy_from_slice(&self.last_ms.to_le_bytes());
        Ok(())
    }

    /// Readings in the block.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// The first (smallest) stamp.
    pub fn first_ms(&self) -> i64 {
        self.first_ms
    }

    /// The last (largest) stamp.
    pub fn last_ms(&self) -> i64 {
        self.last_ms
    }

    /// The stored form: the buffer and its CRC-32.
    pub fn sealed(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.buf.len() + CRC);
        v.extend_from_slice(&self.buf);
        v.extend_from_slice(&crc32fast::hash(&self.buf).to_le_bytes());
        v
    }
}

/// The header of a stored block, checked against its CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Readings in the block.
    pub count: u16,
    /// The first (smallest) stamp.
    pub first_ms: i64,
    /// The last (largest) stamp.
    pub last_ms: i64,
}

/// Checks a stored block's CRC and version and reads its header.
pub fn header(v: &[u8]) -> Result<Header, String> {
    if v.len() < HEADER + CRC {
        return Err(format!("{} bytes, shorter than a header", v.len()));
    }
    let (body, crc) = v.split_at(v.len() - CRC);
    let want = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
    if crc32fast::hash(body) != want {
        return Err("checksum mismatch".into());
    }
    if body[0] != VERSION {
        return Err(format!("unknown block format version {}", body[0]));
    }
    let i64_at = |i: usize| i64::from_le_bytes(body[i..i + 8].try_into().expect("8 bytes"));
    Ok(Header {
        count: u16::from_le_bytes([body[1], body[2]]),
        first_ms: i64_at(3),
        last_ms: i64_at(11),
    })
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.at).ok_or("record cut short")?;
            self.at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], String> {
        let s = self
            .b
            .get(self.at..self.at.saturating_add(n))
            .ok_or("record cut short")?;
        self.at += n;
        Ok(s)
    }
}

/// Decodes a stored block (CRC checked first).
pub fn decode(v: &[u8]) -> Result<Vec<Entry>, String> {
    let h = header(v)?;
    let mut c = Cursor {
        b: &v[..v.len() - CRC],
        at: HEADER,
    };
    let mut out = Vec::with_capacity(usize::from(h.count));
    let (mut ms, mut delta, mut milli) = (h.first_ms, 0i64, 0i64);
    for _ in 0..h.count {
        let tag = c.varint()?;
        delta = delta.wrapping_add(unzigzag(tag >> 3));
        ms = ms.wrapping_add(delta);
        let value = match tag & 3 {
            KIND_VALUE => {
                milli = milli.wrapping_add(unzigzag(c.varint()?));
                Ok(milli as f64 / 1000.0)
            }
            KIND_RAW => Ok(f64::from_le_bytes(c.bytes(8)?.try_into().expect("8 bytes"))),
            KIND_FAULT => {
                let code = c.bytes(1)?[0];
                let code = FAULT_CODES
                    .get(usize::from(code))
                    .ok_or_else(|| format!("unknown fault code {code}"))?;
                let len = c.varint()? as usize;
                let detail = String::from_utf8_lossy(c.bytes(len)?);
                Err(Fault::from_code(code, &detail))
            }
            k => return Err(format!("unknown record kind {k}")),
        };
        out.push(Entry {
            ms,
            unsynced: tag & FLAG_UNSYNCED != 0,
            value,
        });
    }
    if c.at != c.b.len() {
        return Err(format!(
            "{} bytes left after the last record",
            c.b.len() - c.at
        ));
    }
    if ms != h.last_ms {
        return Err("records do not end at the header's last stamp".into());
    }
    Ok(out)
}
