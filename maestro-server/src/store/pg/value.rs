//! [`Val`] on the PostgreSQL wire: bound to whatever type the server inferred for a
//! placeholder, and read back from any column type the store's queries return.

use crate::store::sql::{DbError, DbResult, Val};
use bytes::{BufMut, BytesMut};
use std::borrow::Cow;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

type BoxError = Box<dyn std::error::Error + Sync + Send>;

fn cannot(what: &str, ty: &Type) -> BoxError {
    format!("cannot bind {what} to a parameter of type {ty}").into()
}

impl ToSql for Val<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::NUMERIC => encode_numeric(*i, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    i.to_string().as_str().to_sql(ty, out)
                }
                _ => Err(cannot("an integer", ty)),
            },
            Val::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                Type::INT8 => (f.round() as i64).to_sql(ty, out),
                Type::INT4 => (f.round() as i32).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::UNKNOWN => {
                    f.to_string().as_str().to_sql(ty, out)
                }
                _ => Err(cannot("a real", ty)),
            },
            Val::Text(t) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    t.as_ref().to_sql(ty, out)
                }
                Type::JSON => {
                    out.put_slice(t.as_bytes());
                    Ok(IsNull::No)
                }
                Type::JSONB => {
                    out.put_u8(1);
                    out.put_slice(t.as_bytes());
                    Ok(IsNull::No)
                }
                Type::INT8 => t.trim().parse::<i64>()?.to_sql(ty, out),
                Type::FLOAT8 => t.trim().parse::<f64>()?.to_sql(ty, out),
                Type::BYTEA => t.as_bytes().to_sql(ty, out),
                _ => Err(cannot("text", ty)),
            },
            Val::Blob(b) => match *ty {
                Type::BYTEA => b.as_ref().to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::UNKNOWN => {
                    std::str::from_utf8(b)?.to_sql(ty, out)
                }
                _ => Err(cannot("bytes", ty)),
            },
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// An integer in NUMERIC's binary form (base-10000 digits, most significant first).
fn encode_numeric(i: i64, out: &mut BytesMut) -> Result<IsNull, BoxError> {
    let negative = i < 0;
    let mut n = i.unsigned_abs();
    let mut digits = Vec::new();
    while n > 0 {
        digits.push((n % 10_000) as i16);
        n /= 10_000;
    }
    digits.reverse();
    // Trailing zero groups are left out (the weight keeps the magnitude).
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let groups = {
        let mut m = i.unsigned_abs();
        let mut g = 0i16;
        while m > 0 {
            g += 1;
            m /= 10_000;
        }
        g
    };
    out.put_i16(i16::try_from(digits.len())?);
    out.put_i16(groups - 1);
    out.put_u16(if negative { 0x4000 } else { 0 });
    out.put_u16(0);
    for d in digits {
        out.put_i16(d);
    }
    Ok(IsNull::No)
}

/// A column's bytes, whatever its type.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(raw))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

fn column_error(index: usize, message: impl Into<String>) -> DbError {
    DbError::Column {
        index,
        message: message.into(),
    }
}

/// Column `index` of `row` as a [`Val`]: integers and booleans as `Int`, floats and
/// fractional NUMERICs as `Real`, text and JSON as `Text`, BYTEA as `Blob`.
pub fn read(row: &tokio_postgres::Row, index: usize) -> DbResult<Val<'_>> {
    let Some(column) = row.columns().get(index) else {
        return Err(column_error(index, "no such column"));
    };
    let ty = column.type_().clone();
    let raw: Option<Raw<'_>> = row.try_get(index)?;
    let Some(Raw(bytes)) = raw else {
        return Ok(Val::Null);
    };
    let err = |e: BoxError| column_error(index, e.to_string());
    Ok(match ty {
        Type::INT8 => Val::Int(i64::from_sql(&ty, bytes).map_err(err)?),
        Type::INT4 => Val::Int(i32::from_sql(&ty, bytes).map_err(err)?.into()),
        Type::INT2 => Val::Int(i16::from_sql(&ty, bytes).map_err(err)?.into()),
        Type::OID => Val::Int(u32::from_sql(&ty, bytes).map_err(err)?.into()),
        Type::BOOL => Val::Int(bool::from_sql(&ty, bytes).map_err(err)?.into()),
        Type::FLOAT8 => Val::Real(f64::from_sql(&ty, bytes).map_err(err)?),
        Type::FLOAT4 => Val::Real(f32::from_sql(&ty, bytes).map_err(err)?.into()),
        Type::NUMERIC => decode_numeric(bytes).map_err(|m| column_error(index, m))?,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::UNKNOWN => {
            Val::Text(Cow::Borrowed(
                std::str::from_utf8(bytes).map_err(|e| column_error(index, e.to_string()))?,
            ))
        }
        Type::JSONB => Val::Text(Cow::Borrowed(
            std::str::from_utf8(bytes.get(1..).unwrap_or_default())
                .map_err(|e| column_error(index, e.to_string()))?,
        )),
        Type::BYTEA => Val::Blob(Cow::Borrowed(bytes)),
        Type::VOID => Val::Null,
        other => return Err(column_error(index, format!("unsupported type {other}"))),
    })
}

/// NUMERIC's binary form: an integer when it has no fraction and fits, else a double.
fn decode_numeric(b: &[u8]) -> Result<Val<'static>, String> {
    let word = |i: usize| -> Result<i16, String> {
        b.get(i..i + 2)
            .map(|w| i16::from_be_bytes([w[0], w[1]]))
            .ok_or_else(|| "short NUMERIC".to_string())
    };
    let ndigits = usize::try_from(word(0)?).map_err(|_| "bad NUMERIC".to_string())?;
    let weight = i32::from(word(2)?);
    let sign = word(4)? as u16;
    let dscale = word(6)?;
    if sign == 0xC000 {
        return Ok(Val::Real(f64::NAN));
    }
    let mut value = 0f64;
    let mut int: Option<i128> = Some(0);
    for k in 0..ndigits {
        let d = word(8 + 2 * k)?;
        let power = weight - k as i32;
        value += f64::from(d) * 10_000f64.powi(power);
        int = match (int, power >= 0) {
            (Some(acc), true) => 10_000i128
                .checked_pow(power as u32)
                .and_then(|p| acc.checked_add(i128::from(d) * p)),
            (_, false) if d != 0 => None,
            (acc, _) => acc,
        };
    }
    let negative = sign == 0x4000;
    if dscale == 0 {
        if let Some(i) = int.and_then(|i| i64::try_from(if negative { -i } else { i }).ok()) {
            return Ok(Val::Int(i));
        }
    }
    Ok(Val::Real(if negative { -value } else { value }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_round_trips_integers() {
        for i in [
            0i64,
            1,
            -1,
            9_999,
            10_000,
            123_456_789,
            -40_000,
            i64::MAX,
            i64::MIN + 1,
        ] {
            let mut out = BytesMut::new();
            encode_numeric(i, &mut out).expect("encode");
            assert_eq!(decode_numeric(&out).expect("decode"), Val::Int(i), "{i}");
        }
    }

    #[test]
    fn fractional_numeric_is_a_real() {
        // 12.5: ndigits 2, weight 0, sign +, dscale 1, digits [12, 5000].
        let b: Vec<u8> = [2i16, 0, 0, 1, 12, 5000]
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect();
        assert_eq!(decode_numeric(&b).expect("decode"), Val::Real(12.5));
    }
}
