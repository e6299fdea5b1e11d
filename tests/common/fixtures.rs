//! Fixtures made by project code: small pictures with identifying metadata hidden in every place
//! each format allows. Every secret is a distinctive string, so a leak can also be found by a raw
//! byte search, independently of exiftool.

use std::io::Cursor;

use exif::experimental::Writer;
use exif::{Field, In, Rational, Tag, Value};
use image::{ImageEncoder, RgbImage};

/// Strings planted in the metadata; none may appear in a scrubbed output.
pub const SECRETS: &[&str] = &[
    "Jane Smith",
    "SecretCam",
    "SN-4471-SECRET",
    "MAKERNOTE-SECRET",
    "Secretville",
    "Secret Street",
    "TRAILER-SECRET",
    "2019:07:04",
    "prVt-SECRET",
    "JUNK-SECRET",
];

/// The orientation planted in every fixture's Exif block (Rotate 90 CW).
pub const ORIENTATION: u16 = 6;

/// A textured test picture (a photo stand-in: gradients plus a checker pattern).
pub fn picture(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let checker = if (x / 16 + y / 16) % 2 == 0 { 60 } else { 0 };
        image::Rgb([
            (x * 255 / width) as u8 / 2 + checker,
            (y * 255 / height) as u8 / 2 + checker,
            ((x + y) % 200) as u8,
        ])
    })
}

/// JPEG-encodes a picture with the image crate (JFIF, no metadata).
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).encode_image(img).unwrap();
    out
}

/// [`picture`] with the first `len` pixels of row `seed % height` painted `colour`, as a JPEG at
/// quality 85. Each seed gives other bytes, so no upload of one is a re-upload of another; but the
/// pictures look alike to the perceptual hash. For photos that must not be look-alikes of each
/// other, use [`varied_jpeg`].
pub fn marked_jpeg(width: u32, height: u32, seed: u32, len: u32, colour: [u8; 3]) -> Vec<u8> {
    let mut img = picture(width, height);
    for x in 0..len {
        img.put_pixel(x, seed % height, image::Rgb(colour));
    }
    encode_jpeg(&img, 85)
}

/// A `width`×`height` JPEG whose bytes differ per seed: [`marked_jpeg`] with a mark up to 64
/// pixels long whose colour also follows the seed. A look-alike of every other seed's.
pub fn distinct_jpeg(seed: u32, width: u32, height: u32) -> Vec<u8> {
    marked_jpeg(width, height, seed, width.min(64), [255, (seed * 37 % 256) as u8, (seed % 7) as u8 * 30])
}

/// A small (96×72) JPEG whose picture, and so perceptual hash, differs from every other seed's:
/// blocks of pseudo-random grey levels, so look-alike detection never links two of them.
pub fn varied_jpeg(seed: u32) -> Vec<u8> {
    let mut img = RgbImage::new(96, 72);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let mut h =
            seed.wrapping_mul(0x9E37_79B9) ^ (x / 12).wrapping_mul(0x85EB_CA6B) ^ (y / 12).wrapping_mul(0xC2B2_AE35);
        h ^= h >> 15;
        h = h.wrapping_mul(0x2C1B_3C6D);
        h ^= h >> 12;
        let v = (h & 0xFF) as u8;
        *px = image::Rgb([v, v.wrapping_add(40), v.wrapping_sub(40)]);
    }
    encode_jpeg(&img, 85)
}

fn ascii(tag: Tag, ifd: In, s: &str) -> Field {
    Field { tag, ifd_num: ifd, value: Value::Ascii(vec![s.as_bytes().to_vec()]) }
}

fn rationals(tag: Tag, values: &[(u32, u32)]) -> Field {
    Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Value::Rational(values.iter().map(|&(num, denom)| Rational { num, denom }).collect()),
    }
}

/// A TIFF-structured Exif block with camera, owner, time, serial number, MakerNote and GPS,
/// `orientation` in IFD0, and optionally a thumbnail in IFD1.
pub fn exif_tiff(orientation: u16, thumbnail: Option<&[u8]>) -> Vec<u8> {
    let fields = vec![
        ascii(Tag::Make, In::PRIMARY, "SecretCam"),
        ascii(Tag::Model, In::PRIMARY, "SecretCam Spy 3000"),
        ascii(Tag::Artist, In::PRIMARY, "Jane Smith"),
        ascii(Tag::DateTime, In::PRIMARY, "2019:07:04 10:11:12"),
        Field { tag: Tag::Orientation, ifd_num: In::PRIMARY, value: Value::Short(vec![orientation]) },
        ascii(Tag::DateTimeOriginal, In::PRIMARY, "2019:07:04 10:11:12"),
        ascii(Tag::BodySerialNumber, In::PRIMARY, "SN-4471-SECRET"),
        Field {
            tag: Tag::MakerNote,
            ifd_num: In::PRIMARY,
            value: Value::Undefined(b"MAKERNOTE-SECRET lat 51.5".to_vec(), 0),
        },
        ascii(Tag::GPSLatitudeRef, In::PRIMARY, "N"),
        rationals(Tag::GPSLatitude, &[(51, 1), (30, 1), (2424, 100)]),
        ascii(Tag::GPSLongitudeRef, In::PRIMARY, "W"),
        rationals(Tag::GPSLongitude, &[(0, 1), (7, 1), (3939, 100)]),
        rationals(Tag::GPSAltitude, &[(1234, 10)]),
    ];
    let mut writer = Writer::new();
    for f in &fields {
        writer.push_field(f);
    }
    if let Some(jpeg) = thumbnail {
        writer.set_jpeg(jpeg, In::THUMBNAIL);
    }
    let mut out = Cursor::new(Vec::new());
    writer.write(&mut out, false).unwrap();
    out.into_inner()
}

fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![0xFF, marker];
    s.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    s.extend_from_slice(payload);
    s
}

fn exif_segment(tiff: &[u8]) -> Vec<u8> {
    segment(0xE1, &[b"Exif\0\0".as_slice(), tiff].concat())
}

/// A small JPEG that carries its own GPS Exif: what phones embed as thumbnails and append as
/// depth maps, and what the scrubber must not let through inside something else.
pub fn jpeg_with_gps(width: u32, height: u32) -> Vec<u8> {
    let plain = encode_jpeg(&picture(width, height), 80);
    let mut out = plain[..2].to_vec();
    out.extend(exif_segment(&exif_tiff(1, None)));
    out.extend_from_slice(&plain[2..]);
    out
}

/// An XMP packet with GPS, a creator, a location and a date.
pub fn xmp_packet() -> String {
    r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
 exif:GPSLatitude="51,30.404N" exif:GPSLongitude="0,7.6565W" photoshop:City="Secretville"
 photoshop:DateCreated="2019:07:04">
<dc:creator><rdf:Seq><rdf:li>Jane Smith</rdf:li></rdf:Seq></dc:creator>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"#
        .to_string()
}

/// Photoshop image resources holding an IPTC block (by-line, city, street).
fn photoshop_iptc() -> Vec<u8> {
    let mut iptc = Vec::new();
    for (dataset, value) in [(80u8, "Jane Smith"), (90, "Secretville"), (92, "Secret Street")] {
        iptc.extend_from_slice(&[0x1C, 2, dataset]);
        iptc.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
        iptc.extend_from_slice(value.as_bytes());
    }
    if iptc.len() % 2 == 1 {
        iptc.push(0);
    }
    let mut out = b"Photoshop 3.0\0".to_vec();
    out.extend_from_slice(b"8BIM");
    out.extend_from_slice(&0x0404u16.to_be_bytes());
    out.extend_from_slice(&[0, 0]); // empty Pascal name, padded
    out.extend_from_slice(&u32::try_from(iptc.len()).unwrap().to_be_bytes());
    out.extend(iptc);
    out
}

/// A JPEG with metadata in every place JPEG allows: JFIF and JFXX thumbnails, Exif (GPS,
/// MakerNote, serial, IFD1 thumbnail that itself has GPS), XMP, extended XMP, a second Exif
/// block, MPF, FlashPix, IPTC, a vendor APP15, a comment, and a whole GPS-tagged JPEG after EOI.
pub fn jpeg_everything() -> Vec<u8> {
    let base = encode_jpeg(&picture(320, 240), 90);
    // Skip the encoder's SOI and JFIF APP0: ours replaces it.
    let mut rest = &base[2..];
    if rest[..2] == [0xFF, 0xE0] {
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        rest = &rest[2 + len..];
    }
    let thumb = jpeg_with_gps(32, 24);
    let mut jfif = b"JFIF\0\x01\x02\0\0\x48\0\x48\x02\x02".to_vec();
    jfif.extend_from_slice(&[200; 12]); // a 2×2 RGB thumbnail
    let mut jfxx = b"JFXX\0\x10".to_vec();
    jfxx.extend_from_slice(&thumb);
    let xmp = [b"http://ns.adobe.com/xap/1.0/\0".as_slice(), xmp_packet().as_bytes()].concat();
    let mut extended = b"http://ns.adobe.com/xmp/extension/\0".to_vec();
    extended.extend_from_slice(b"0123456789ABCDEF0123456789ABCDEF");
    let ext_body = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>Jane Smith at Secret Street</x:xmpmeta>";
    extended.extend_from_slice(&u32::try_from(ext_body.len()).unwrap().to_be_bytes());
    extended.extend_from_slice(&0u32.to_be_bytes());
    extended.extend_from_slice(ext_body);

    let mut out = vec![0xFF, 0xD8];
    out.extend(segment(0xE0, &jfif));
    out.extend(segment(0xE0, &jfxx));
    out.extend(exif_segment(&exif_tiff(ORIENTATION, Some(&thumb))));
    out.extend(segment(0xE1, &xmp));
    out.extend(segment(0xE1, &extended));
    out.extend(exif_segment(&exif_tiff(ORIENTATION, None)));
    // The colour profile split over two APP2 segments, as large profiles are.
    let profile = identifying_icc_profile();
    let (first, second) = profile.split_at(200);
    out.extend(segment(0xE2, &[b"ICC_PROFILE\0\x01\x02".as_slice(), first].concat()));
    out.extend(segment(0xE2, &[b"ICC_PROFILE\0\x02\x02".as_slice(), second].concat()));
    // An Adobe segment with text hidden after its twelve defined bytes.
    out.extend(segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01Jane Smith SN-4471-SECRET"));
    out.extend(segment(0xE2, b"MPF\0MM\0\x2a\0\0\0\x08\0\0\0\0\0\0Jane Smith"));
    out.extend(segment(0xE2, b"FPXR\0\0Jane Smith"));
    out.extend(segment(0xED, &photoshop_iptc()));
    out.extend(segment(0xEF, b"Vendor data: Jane Smith SN-4471-SECRET"));
    out.extend(segment(0xFE, b"Jane Smith's class at Secret Street"));
    out.extend_from_slice(rest);
    out.extend(jpeg_with_gps(64, 48));
    out.extend_from_slice(b"TRAILER-SECRET Jane Smith");
    out
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut h = crc32fast::Hasher::new();
    h.update(kind);
    h.update(data);
    out.extend_from_slice(&h.finalize().to_be_bytes());
    out
}

/// A display profile that identifies its owner in every place a profile allows: description,
/// copyright and device-model text tags, and the header's manufacturer, model, creator, CMM,
/// platform, date and profile id; with real colour tags (primaries, white point, shared TRCs).
pub fn identifying_icc_profile() -> Vec<u8> {
    let xyz = |v: [i32; 3]| {
        let mut t = b"XYZ \0\0\0\0".to_vec();
        for x in v {
            t.extend_from_slice(&x.to_be_bytes());
        }
        t
    };
    let text = |s: &str| [b"text\0\0\0\0".as_slice(), s.as_bytes(), b"\0"].concat();
    let mut desc = b"desc\0\0\0\0".to_vec();
    let d = b"Jane Smith's MacBook Pro at Secret Street\0";
    desc.extend_from_slice(&(d.len() as u32).to_be_bytes());
    desc.extend_from_slice(d);
    desc.extend_from_slice(&[0; 8 + 3 + 67]);
    let gamma = b"curv\0\0\0\0\0\0\0\x01\x02\x33\0\0".to_vec();
    // sRGB primaries and D50 white as s15Fixed16.
    let tags: Vec<(&[u8; 4], Vec<u8>)> = vec![
        (b"desc", desc),
        (b"cprt", text("Copyright Jane Smith, Secretville")),
        (b"dmdd", text("SN-4471-SECRET Jane Smith")),
        (b"wtpt", xyz([0xF6D6, 0x1_0000, 0xD32D])),
        (b"rXYZ", xyz([0x6FA2, 0x38F5, 0x0390])),
        (b"gXYZ", xyz([0x6299, 0xB785, 0x18DA])),
        (b"bXYZ", xyz([0x24A0, 0x0F84, 0xB6CF])),
        (b"rTRC", gamma),
    ];
    let count = tags.len() + 2;
    let start = 128 + 4 + count * 12;
    let (mut data, mut table, mut trc) = (Vec::new(), Vec::new(), (0u32, 0u32));
    for (sig, bytes) in &tags {
        while data.len() % 4 != 0 {
            data.push(0);
        }
        let offset = (start + data.len()) as u32;
        if *sig == b"rTRC" {
            trc = (offset, bytes.len() as u32);
        }
        table.push((**sig, offset, bytes.len() as u32));
        data.extend_from_slice(bytes);
    }
    table.push((*b"gTRC", trc.0, trc.1));
    table.push((*b"bTRC", trc.0, trc.1));
    let mut p = vec![0u8; 128];
    p[0..4].copy_from_slice(&((start + data.len()) as u32).to_be_bytes());
    p[4..8].copy_from_slice(b"JANE");
    p[8..12].copy_from_slice(&[2, 0x10, 0, 0]);
    p[12..16].copy_from_slice(b"mntr");
    p[16..20].copy_from_slice(b"RGB ");
    p[20..24].copy_from_slice(b"XYZ ");
    p[24..36].copy_from_slice(&[0x07, 0xE3, 0, 7, 0, 4, 0, 10, 0, 11, 0, 12]);
    p[36..40].copy_from_slice(b"acsp");
    p[40..44].copy_from_slice(b"APPL");
    p[48..52].copy_from_slice(b"SMTH");
    p[52..56].copy_from_slice(b"SCRT");
    p[68..80].copy_from_slice(&[0, 0, 0xF6, 0xD6, 0, 1, 0, 0, 0, 0, 0xD3, 0x2D]);
    p[80..84].copy_from_slice(b"jane");
    p[84..100].copy_from_slice(b"ICC-ID-SECRET-16");
    p.extend_from_slice(&(count as u32).to_be_bytes());
    for (sig, offset, size) in table {
        p.extend_from_slice(&sig);
        p.extend_from_slice(&offset.to_be_bytes());
        p.extend_from_slice(&size.to_be_bytes());
    }
    p.extend(data);
    p
}

/// A PNG with metadata in every place PNG allows: tEXt, zTXt, iTXt (XMP and plain), eXIf (GPS,
/// orientation), tIME, a named colour profile, a private chunk, and data after IEND.
pub fn png_everything() -> Vec<u8> {
    let mut base = Vec::new();
    image::codecs::png::PngEncoder::new(&mut base)
        .write_image(picture(160, 120).as_raw(), 160, 120, image::ExtendedColorType::Rgb8)
        .unwrap();
    // Signature (8) + IHDR chunk (25).
    let (head, rest) = base.split_at(33);
    let mut iccp = b"Jane Smith's MacBook\0\0".to_vec();
    iccp.extend(miniz_oxide::deflate::compress_to_vec_zlib(&identifying_icc_profile(), 6));
    let mut ztxt = b"Comment\0\0".to_vec();
    ztxt.extend(miniz_oxide::deflate::compress_to_vec_zlib(b"Jane Smith at Secret Street", 6));
    let itxt_xmp = [b"XML:com.adobe.xmp\0\0\0\0\0".as_slice(), xmp_packet().as_bytes()].concat();
    let itxt_plain = b"Description\0\0\0en\0\0Jane Smith in Secretville".to_vec();

    let mut out = head.to_vec();
    out.extend(png_chunk(b"iCCP", &iccp));
    out.extend(png_chunk(b"tEXt", b"Author\0Jane Smith"));
    out.extend(png_chunk(b"zTXt", &ztxt));
    out.extend(png_chunk(b"iTXt", &itxt_xmp));
    out.extend(png_chunk(b"iTXt", &itxt_plain));
    out.extend(png_chunk(b"eXIf", &exif_tiff(ORIENTATION, None)));
    out.extend(png_chunk(b"tIME", &[0x07, 0xE3, 7, 4, 10, 11, 12]));
    out.extend(png_chunk(b"prVt", b"prVt-SECRET Jane Smith"));
    out.extend_from_slice(rest);
    out.extend_from_slice(b"TRAILER-SECRET Jane Smith");
    out
}

fn riff_chunk(fourcc: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = fourcc.to_vec();
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
    out
}

/// A WebP with metadata in every place WebP allows: EXIF (GPS, orientation, thumbnail), XMP, an
/// unknown chunk, a colour profile, and data after the RIFF container.
pub fn webp_everything() -> Vec<u8> {
    let (w, h) = (160u32, 120u32);
    let mut simple = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut simple)
        .write_image(picture(w, h).as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    // The encoder writes RIFF, size, WEBP, then one VP8L chunk.
    let vp8l = &simple[12..];
    let mut vp8x = vec![0x20 | 0x08 | 0x04, 0, 0, 0];
    vp8x.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
    let mut body = b"WEBP".to_vec();
    body.extend(riff_chunk(b"VP8X", &vp8x));
    body.extend(riff_chunk(b"ICCP", &identifying_icc_profile()));
    body.extend_from_slice(vp8l);
    body.extend(riff_chunk(b"EXIF", &exif_tiff(ORIENTATION, Some(&jpeg_with_gps(32, 24)))));
    body.extend(riff_chunk(b"XMP ", xmp_packet().as_bytes()));
    body.extend(riff_chunk(b"JUNK", b"JUNK-SECRET Jane Smith"));
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
    out.extend(body);
    out.extend_from_slice(b"TRAILER-SECRET Jane Smith");
    out
}

/// An animated WebP whose frames hide EXIF and XMP chunks inside them, next to their pixels.
pub fn webp_animated_everything() -> Vec<u8> {
    let (w, h) = (64u32, 48u32);
    let mut frames = Vec::new();
    for (i, shade) in [0u8, 90].into_iter().enumerate() {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([shade + (x * 2) as u8, (y * 4) as u8, 128]));
        let mut simple = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut simple)
            .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        let mut frame = Vec::new();
        for v in [0u32, 0, w - 1, h - 1, 100] {
            frame.extend_from_slice(&v.to_le_bytes()[..3]);
        }
        frame.push(0);
        frame.extend(riff_chunk(b"EXIF", &exif_tiff(ORIENTATION, None)));
        frame.extend_from_slice(&simple[12..]);
        frame.extend(riff_chunk(b"XMP ", format!("{} frame {i}", xmp_packet()).as_bytes()));
        frames.push(riff_chunk(b"ANMF", &frame));
    }
    let mut vp8x = vec![0x02, 0, 0, 0];
    vp8x.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
    let mut body = b"WEBP".to_vec();
    body.extend(riff_chunk(b"VP8X", &vp8x));
    body.extend(riff_chunk(b"ANIM", &[255, 255, 255, 255, 0, 0]));
    for f in frames {
        body.extend(f);
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
    out.extend(body);
    out
}

/// An animated WebP that claims a small canvas but carries many frames announcing 16383×16383
/// bitstreams: a bomb for any decoder that trusts a frame header.
pub fn webp_frame_bomb(frames: usize) -> Vec<u8> {
    let mut vp8l = vec![0x2F];
    let bits: u32 = 16_382 | (16_382 << 14);
    vp8l.extend_from_slice(&bits.to_le_bytes());
    vp8l.extend_from_slice(&[0; 16]);
    let mut frame = Vec::new();
    for v in [0u32, 0, 16_382, 16_382, 100] {
        frame.extend_from_slice(&v.to_le_bytes()[..3]);
    }
    frame.push(0);
    frame.extend(riff_chunk(b"VP8L", &vp8l));
    let mut body = b"WEBP".to_vec();
    let mut vp8x = vec![0x02, 0, 0, 0];
    vp8x.extend_from_slice(&63u32.to_le_bytes()[..3]);
    vp8x.extend_from_slice(&63u32.to_le_bytes()[..3]);
    body.extend(riff_chunk(b"VP8X", &vp8x));
    body.extend(riff_chunk(b"ANIM", &[0; 6]));
    for _ in 0..frames {
        body.extend(riff_chunk(b"ANMF", &frame));
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
    out.extend(body);
    out
}

/// A PNG whose header claims `side`×`side` pixels around a tiny (invalid) IDAT: a decompression
/// bomb as far as any decoder that trusts the header is concerned.
pub fn png_bomb(side: u32) -> Vec<u8> {
    let mut ihdr = side.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(png_chunk(b"IHDR", &ihdr));
    out.extend(png_chunk(b"IDAT", &miniz_oxide::deflate::compress_to_vec_zlib(&vec![0u8; 1 << 20], 9)));
    out.extend(png_chunk(b"IEND", b""));
    out
}

/// A JPEG whose frame header claims `side`×`side` pixels, with a real small scan behind it.
pub fn jpeg_bomb(side: u16) -> Vec<u8> {
    let mut jpeg = encode_jpeg(&picture(64, 64), 80);
    // Patch the SOF0 frame header's height and width.
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    jpeg[sof + 5..sof + 7].copy_from_slice(&side.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&side.to_be_bytes());
    jpeg
}
