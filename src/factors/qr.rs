//! The QR code of an `otpauth://` URI as an inline SVG, made on the server, so
//! the secret never goes to another service and the page needs no script.

use qrcodegen::{QrCode, QrCodeEcc};

/// Modules of quiet zone around the code (ISO/IEC 18004 asks for four).
const QUIET: i32 = 4;

/// `text` as an SVG QR code (medium error correction), or `None` when it is
/// too long for a QR code.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let size = code.size();
    let side = size + 2 * QUIET;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if code.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + QUIET, y + QUIET));
            }
        }
    }
    Some(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" width="240" height="240" role="img" aria-label="QR code for your authenticator app" shape-rendering="crispEdges"><rect width="{side}" height="{side}" fill="#fff"/><path d="{path}" fill="#000"/></svg>"##
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_otpauth_uri_fits_in_a_qr_code() {
        let svg = svg(
            "otpauth://totp/Gatehouse:ada%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Gatehouse",
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("<path d=\"M"), "{svg}");
    }
}
