//! Writes a large noisy test JPEG with a GPS Exif block, for the memory and speed benchmarks:
//! `cargo run --release --example make_test_jpeg -- OUT WIDTH HEIGHT QUALITY`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, out, width, height, quality] = args.as_slice() else {
        eprintln!("usage: make_test_jpeg OUT WIDTH HEIGHT QUALITY");
        std::process::exit(2);
    };
    let (w, h, q): (u32, u32, u8) = (width.parse().unwrap(), height.parse().unwrap(), quality.parse().unwrap());
    // Photo-like: smooth gradients plus sensor noise, which is what makes phone JPEGs large.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let n = (state & 0x3F) as u32;
        image::Rgb([((x * 200 / w) + n) as u8, ((y * 200 / h) + (n >> 1)) as u8, (((x + y) % 256) / 2 + n) as u8])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, q).encode_image(&img).unwrap();
    // An Exif block with a GPS position, as a phone would write.
    let gps = [
        exif::Field {
            tag: exif::Tag::GPSLatitudeRef,
            ifd_num: exif::In::PRIMARY,
            value: exif::Value::Ascii(vec![b"N".to_vec()]),
        },
        exif::Field {
            tag: exif::Tag::GPSLatitude,
            ifd_num: exif::In::PRIMARY,
            value: exif::Value::Rational(vec![(51, 1).into(), (30, 1).into(), (2424, 100).into()]),
        },
    ];
    let mut writer = exif::experimental::Writer::new();
    gps.iter().for_each(|f| writer.push_field(f));
    let mut tiff = std::io::Cursor::new(Vec::new());
    writer.write(&mut tiff, false).unwrap();
    let payload = [b"Exif\0\0".as_slice(), tiff.get_ref()].concat();
    let mut out_bytes = jpeg[..2].to_vec();
    out_bytes.extend_from_slice(&[0xFF, 0xE1]);
    out_bytes.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    out_bytes.extend_from_slice(&payload);
    out_bytes.extend_from_slice(&jpeg[2..]);
    std::fs::write(out, &out_bytes).unwrap();
    println!("{out}: {w}×{h}, {} bytes", out_bytes.len());
}
