//! Sample pictures: small, complete JPEG and PNG files made in code, for tests, demos and
//! integrators who need an image to upload without shipping image files.

/// A small, complete baseline JPEG (one 8×8 grey block) carrying `comment` in a COM segment, so
/// that pictures differ byte for byte.
pub fn jpeg(comment: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8];
    push_jpeg_segment(&mut bytes, 0xFE, comment.as_bytes());
    let mut quant = vec![0x00];
    quant.extend([1u8; 64]);
    push_jpeg_segment(&mut bytes, 0xDB, &quant);
    push_jpeg_segment(&mut bytes, 0xC0, &[8, 0, 8, 0, 8, 1, 1, 0x11, 0]);
    // One Huffman code each, of length 1: DC difference 0, and end-of-block.
    let mut counts = vec![1u8];
    counts.resize(16, 0);
    for class in [0x00u8, 0x10] {
        let mut table = vec![class];
        table.extend(&counts);
        table.push(0);
        push_jpeg_segment(&mut bytes, 0xC4, &table);
    }
    push_jpeg_segment(&mut bytes, 0xDA, &[1, 1, 0x00, 0, 63, 0]);
    // Two zero bits (DC 0, end-of-block), padded with ones.
    bytes.extend([0x3F, 0xFF, 0xD9]);
    bytes
}

/// A valid JPEG of exactly `len` bytes: [`jpeg`] padded with COM segments of filler.
pub fn jpeg_sized(len: usize) -> Vec<u8> {
    let picture = jpeg("");
    let mut extra = len
        .checked_sub(picture.len())
        .expect("len above the bare picture");
    assert!(
        extra == 0 || extra >= 4,
        "a COM segment needs 4 bytes at least"
    );
    let mut padding = Vec::with_capacity(extra);
    let mut seed = 7u32;
    while extra > 0 {
        let mut payload = (extra - 4).min(65_533);
        // Never leave fewer than 4 bytes, which no segment could fill.
        if (1..4).contains(&(extra - 4 - payload)) {
            payload -= 4;
        }
        let filler: Vec<u8> = (0..payload)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 16) as u8 & 0x7F
            })
            .collect();
        push_jpeg_segment(&mut padding, 0xFE, &filler);
        extra -= payload + 4;
    }
    let mut bytes = picture[..2].to_vec();
    bytes.extend(padding);
    bytes.extend(&picture[2..]);
    assert_eq!(bytes.len(), len);
    bytes
}

fn push_jpeg_segment(bytes: &mut Vec<u8>, marker: u8, payload: &[u8]) {
    bytes.extend([0xFF, marker]);
    bytes.extend(((payload.len() + 2) as u16).to_be_bytes());
    bytes.extend(payload);
}

/// A complete 1×1 grey PNG picture.
pub fn png() -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut header = Vec::new();
    header.extend(1u32.to_be_bytes());
    header.extend(1u32.to_be_bytes());
    header.extend([8, 0, 0, 0, 0]);
    push_png_chunk(&mut bytes, b"IHDR", &header);
    // zlib, one stored block: filter byte 0 and one grey pixel, then the Adler-32 of both.
    let pixels = [
        0x78, 0x01, 0x01, 0x02, 0x00, 0xFD, 0xFF, 0x00, 0x80, 0x00, 0x82, 0x00, 0x81,
    ];
    push_png_chunk(&mut bytes, b"IDAT", &pixels);
    push_png_chunk(&mut bytes, b"IEND", &[]);
    bytes
}

fn push_png_chunk(bytes: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    bytes.extend((data.len() as u32).to_be_bytes());
    let start = bytes.len();
    bytes.extend(kind);
    bytes.extend(data);
    let crc = crc32(&bytes[start..]);
    bytes.extend(crc.to_be_bytes());
}

/// CRC-32 as PNG uses it (polynomial 0xEDB88320), bit by bit: the chunks are tiny.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
