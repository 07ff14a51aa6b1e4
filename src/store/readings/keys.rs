//! Key layouts of the block trees.
//!
//! Block key: `len u8, sensor id (≤ 255 bytes), first ms (sign-flipped BE),
//! unique id (BE)`, so one sensor's blocks are one contiguous range in time
//! order. Index key: `last ms (sign-flipped BE)` then the block key, so
//! retention walks blocks oldest-ending first across all sensors.

/// Bytes after the sensor prefix in a block key.
const TAIL: usize = 16;

/// A time as 8 bytes that sort like the signed number.
pub fn time_key(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

/// The inverse of `time_key`.
pub fn key_time(b: &[u8]) -> Option<i64> {
    let b: [u8; 8] = b.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(b) ^ (1 << 63)) as i64)
}

/// The sensor id as stored (cut to 255 bytes at a character boundary).
pub fn sensor_bytes(sensor: &str) -> &[u8] {
    let mut end = sensor.len().min(255);
    while !sensor.is_char_boundary(end) {
        end -= 1;
    }
    &sensor.as_bytes()[..end]
}

/// The prefix all of `sensor`'s block keys share.
pub fn prefix(sensor: &str) -> Vec<u8> {
    let id = sensor_bytes(sensor);
    let mut k = Vec::with_capacity(1 + id.len() + TAIL);
    k.push(id.len() as u8);
    k.extend_from_slice(id);
    k
}

/// The key of one block.
pub fn block(sensor: &str, first_ms: i64, unique: u64) -> Vec<u8> {
    let mut k = prefix(sensor);
    k.extend_from_slice(&time_key(first_ms));
    k.extend_from_slice(&unique.to_be_bytes());
    k
}

/// The sensor id and first ms of a block key.
pub fn parse_block(key: &[u8]) -> Option<(String, i64)> {
    let len = usize::from(*key.first()?);
    if key.len() != 1 + len + TAIL {
        return None;
    }
    let sensor = std::str::from_utf8(&key[1..1 + len]).ok()?.to_string();
    Some((sensor, key_time(&key[1 + len..])?))
}

/// The index key of a block ending at `last_ms`.
pub fn index(last_ms: i64, block_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + block_key.len());
    k.extend_from_slice(&time_key(last_ms));
    k.extend_from_slice(block_key);
    k
}
