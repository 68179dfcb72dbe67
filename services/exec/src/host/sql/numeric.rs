//! PostgreSQL `NUMERIC` in its binary wire format, rendered as exact decimal text.
//!
//! The format (PostgreSQL's `numeric_send`) is four big-endian 16-bit fields, the digit count,
//! the weight of the first digit as a power of 10,000, the sign and the display scale, followed
//! by that many base-10,000 digits.

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;
const POSITIVE_INFINITY: u16 = 0xD000;
const NEGATIVE_INFINITY: u16 = 0xF000;

/// Renders a binary `NUMERIC` as decimal text with exactly its display scale of fraction digits.
pub(super) fn numeric_to_string(bytes: &[u8]) -> Result<String, String> {
    let field = |index: usize| -> Result<u16, String> {
        let pair = bytes
            .get(index * 2..index * 2 + 2)
            .ok_or("NUMERIC value is truncated")?;
        Ok(u16::from_be_bytes([pair[0], pair[1]]))
    };
    let count = usize::from(field(0)?);
    let weight = i32::from(field(1)? as i16);
    let sign = field(2)?;
    let scale = usize::from(field(3)?);
    let digits: Vec<u16> = (0..count).map(|i| field(4 + i)).collect::<Result<_, _>>()?;

    let negative = match sign {
        POSITIVE => false,
        NEGATIVE => true,
        NAN => return Ok("NaN".into()),
        POSITIVE_INFINITY => return Ok("Infinity".into()),
        NEGATIVE_INFINITY => return Ok("-Infinity".into()),
        other => return Err(format!("NUMERIC value has an unknown sign {other:#x}")),
    };
    // The digit whose place value is 10,000^(weight - index), or 0 outside the stored digits.
    let digit_at = |index: i32| -> u16 {
        usize::try_from(index)
            .ok()
            .and_then(|i| digits.get(i))
            .copied()
            .unwrap_or(0)
    };

    let mut text = String::new();
    if negative {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        text.push_str(&digit_at(0).to_string());
        for index in 1..=weight {
            text.push_str(&format!("{:04}", digit_at(index)));
        }
    }
    if scale > 0 {
        let mut fraction = String::new();
        let groups = scale.div_ceil(4) as i32;
        for group in 0..groups {
            fraction.push_str(&format!("{:04}", digit_at(weight + 1 + group)));
        }
        fraction.truncate(scale);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(weight: i16, sign: u16, scale: u16, digits: &[u16]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for field in [digits.len() as u16, weight as u16, sign, scale] {
            bytes.extend_from_slice(&field.to_be_bytes());
        }
        for digit in digits {
            bytes.extend_from_slice(&digit.to_be_bytes());
        }
        bytes
    }

    #[test]
    fn integer_and_fraction() {
        // 12345678.9 is digits [1234, 5678, 9000] with weight 1.
        let bytes = encode(1, POSITIVE, 1, &[1234, 5678, 9000]);

        assert_eq!(numeric_to_string(&bytes).unwrap(), "12345678.9");
    }

    #[test]
    fn small_fraction_keeps_leading_zeros() {
        // 0.00001234 is one digit 1234 with weight -2.
        let bytes = encode(-2, POSITIVE, 8, &[1234]);

        assert_eq!(numeric_to_string(&bytes).unwrap(), "0.00001234");
    }

    #[test]
    fn negative_with_trailing_zero_groups() {
        // -20000 is one digit 2 with weight 1; the zero group is not stored.
        let bytes = encode(1, NEGATIVE, 2, &[2]);

        assert_eq!(numeric_to_string(&bytes).unwrap(), "-20000.00");
    }

    #[test]
    fn zero_and_special_values() {
        assert_eq!(
            numeric_to_string(&encode(0, POSITIVE, 0, &[])).unwrap(),
            "0"
        );
        assert_eq!(numeric_to_string(&encode(0, NAN, 0, &[])).unwrap(), "NaN");
        assert_eq!(
            numeric_to_string(&encode(0, NEGATIVE_INFINITY, 0, &[])).unwrap(),
            "-Infinity"
        );
    }

    #[test]
    fn truncated_bytes_are_an_error() {
        let mut bytes = encode(0, POSITIVE, 0, &[7]);
        bytes.pop();

        assert!(numeric_to_string(&bytes).is_err());
    }
}
