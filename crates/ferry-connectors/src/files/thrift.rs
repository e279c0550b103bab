//! Just enough Apache Thrift for the Hive Metastore: the binary protocol
//! (strict message headers) over a plain socket, as HMS 2.x/3.x serve it by
//! default (`TBinaryProtocol` on a buffered `TSocket`, no framing).
//!
//! Values are a small tree ([`TValue`]) rather than generated structs: the
//! sink sends a handful of calls and reads a few fields of the answers, and
//! unknown fields of newer servers are read past by their type. A generated
//! client of the whole Hive IDL (the `hive_metastore` crate: ~900 files on
//! volo) would cost more build time than Ferry's whole connector.
//!
//! Spec: <https://github.com/apache/thrift/blob/master/doc/specs/thrift-binary-protocol.md>.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Thrift type ids.
mod ty {
    pub const STOP: u8 = 0;
    pub const BOOL: u8 = 2;
    pub const BYTE: u8 = 3;
    pub const DOUBLE: u8 = 4;
    pub const I16: u8 = 6;
    pub const I32: u8 = 8;
    pub const I64: u8 = 10;
    pub const STRING: u8 = 11;
    pub const STRUCT: u8 = 12;
    pub const MAP: u8 = 13;
    pub const SET: u8 = 14;
    pub const LIST: u8 = 15;
}

/// Message types of the header.
const CALL: u32 = 1;
const REPLY: u32 = 2;
const EXCEPTION: u32 = 3;
const VERSION_1: u32 = 0x8001_0000;
/// Bounds on a reply, against a broken or hostile peer: bytes in all, one
/// string's or collection's length, values in all, nesting.
const MAX_REPLY_BYTES: u64 = 64 << 20;
const MAX_LEN: usize = 16 << 20;
const MAX_VALUES: u64 = 4 << 20;
const MAX_DEPTH: usize = 64;

/// A Thrift value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TValue {
    Bool(bool),
    Byte(i8),
    Double(f64),
    I16(i16),
    I32(i32),
    I64(i64),
    Str(String),
    /// Fields by id, in order.
    Struct(Vec<(i16, TValue)>),
    /// Element type, elements (a set reads as a list).
    List(u8, Vec<TValue>),
    /// Key type, value type, entries.
    Map(u8, u8, Vec<(TValue, TValue)>),
}

impl TValue {
    pub(crate) fn str(s: impl Into<String>) -> TValue {
        TValue::Str(s.into())
    }

    /// A `map<string,string>`.
    pub(crate) fn string_map<'a>(entries: impl IntoIterator<Item = (&'a str, String)>) -> TValue {
        TValue::Map(
            ty::STRING,
            ty::STRING,
            entries
                .into_iter()
                .map(|(k, v)| (TValue::str(k), TValue::Str(v)))
                .collect(),
        )
    }

    /// A `list<string>`.
    pub(crate) fn string_list(items: impl IntoIterator<Item = String>) -> TValue {
        TValue::List(ty::STRING, items.into_iter().map(TValue::Str).collect())
    }

    /// A `list<struct>`.
    pub(crate) fn struct_list(items: Vec<TValue>) -> TValue {
        TValue::List(ty::STRUCT, items)
    }

    fn type_id(&self) -> u8 {
        match self {
            TValue::Bool(_) => ty::BOOL,
            TValue::Byte(_) => ty::BYTE,
            TValue::Double(_) => ty::DOUBLE,
            TValue::I16(_) => ty::I16,
            TValue::I32(_) => ty::I32,
            TValue::I64(_) => ty::I64,
            TValue::Str(_) => ty::STRING,
            TValue::Struct(_) => ty::STRUCT,
            TValue::List(..) => ty::LIST,
            TValue::Map(..) => ty::MAP,
        }
    }

    /// Field `id` of a struct.
    pub(crate) fn field(&self, id: i16) -> Option<&TValue> {
        match self {
            TValue::Struct(fields) => fields.iter().find(|(i, _)| *i == id).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            TValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_list(&self) -> &[TValue] {
        match self {
            TValue::List(_, items) => items,
            _ => &[],
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            TValue::Bool(b) => out.push(u8::from(*b)),
            TValue::Byte(b) => out.push(*b as u8),
            TValue::Double(d) => out.extend_from_slice(&d.to_bits().to_be_bytes()),
            TValue::I16(v) => out.extend_from_slice(&v.to_be_bytes()),
            TValue::I32(v) => out.extend_from_slice(&v.to_be_bytes()),
            TValue::I64(v) => out.extend_from_slice(&v.to_be_bytes()),
            TValue::Str(s) => write_string(out, s),
            TValue::Struct(fields) => {
                for (id, v) in fields {
                    out.push(v.type_id());
                    out.extend_from_slice(&id.to_be_bytes());
                    v.write(out);
                }
                out.push(ty::STOP);
            }
            TValue::List(elem, items) => {
                out.push(*elem);
                out.extend_from_slice(&(items.len() as i32).to_be_bytes());
                for i in items {
                    i.write(out);
                }
            }
            TValue::Map(k, v, entries) => {
                out.push(*k);
                out.push(*v);
                out.extend_from_slice(&(entries.len() as i32).to_be_bytes());
                for (key, value) in entries {
                    key.write(out);
                    value.write(out);
                }
            }
        }
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as i32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Reader<R: Read> {
    inner: R,
    /// Values still allowed in this reply.
    values_left: u64,
}

impl<R: Read> Reader<R> {
    fn bytes<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.inner.read_exact(&mut b)?;
        Ok(b)
    }

    fn u8(&mut self) -> io::Result<u8> {
        Ok(self.bytes::<1>()?[0])
    }

    fn i32(&mut self) -> io::Result<i32> {
        Ok(i32::from_be_bytes(self.bytes()?))
    }

    fn len(&mut self) -> io::Result<usize> {
        let n = self.i32()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= MAX_LEN)
            .ok_or_else(|| invalid(format!("a length of {n}")))
    }

    fn string(&mut self) -> io::Result<String> {
        let n = self.len()?;
        let mut buf = vec![0u8; n];
        self.inner.read_exact(&mut buf)?;
        String::from_utf8(buf).map_err(|_| invalid("a string that is not UTF-8".into()))
    }

    fn value(&mut self, t: u8, depth: usize) -> io::Result<TValue> {
        if depth > MAX_DEPTH {
            return Err(invalid("values nested too deeply".into()));
        }
        self.values_left = self
            .values_left
            .checked_sub(1)
            .ok_or_else(|| invalid(format!("more than {MAX_VALUES} values")))?;
        Ok(match t {
            ty::BOOL => TValue::Bool(self.u8()? != 0),
            ty::BYTE => TValue::Byte(self.u8()? as i8),
            ty::DOUBLE => TValue::Double(f64::from_bits(u64::from_be_bytes(self.bytes()?))),
            ty::I16 => TValue::I16(i16::from_be_bytes(self.bytes()?)),
            ty::I32 => TValue::I32(self.i32()?),
            ty::I64 => TValue::I64(i64::from_be_bytes(self.bytes()?)),
            ty::STRING => TValue::Str(self.string()?),
            ty::STRUCT => {
                let mut fields = Vec::new();
                loop {
                    let ft = self.u8()?;
                    if ft == ty::STOP {
                        break;
                    }
                    let id = i16::from_be_bytes(self.bytes()?);
                    fields.push((id, self.value(ft, depth + 1)?));
                }
                TValue::Struct(fields)
            }
            ty::LIST | ty::SET => {
                let elem = self.u8()?;
                let n = self.len()?;
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    items.push(self.value(elem, depth + 1)?);
                }
                TValue::List(elem, items)
            }
            ty::MAP => {
                let (k, v) = (self.u8()?, self.u8()?);
                let n = self.len()?;
                let mut entries = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let key = self.value(k, depth + 1)?;
                    entries.push((key, self.value(v, depth + 1)?));
                }
                TValue::Map(k, v, entries)
            }
            other => return Err(invalid(format!("unknown Thrift type {other}"))),
        })
    }
}

fn invalid(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad Thrift reply: {what}"),
    )
}

/// What a call returned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    /// The result (field 0), absent for `void`.
    Ok(Option<TValue>),
    /// A declared exception: its field id in the result and its message.
    Thrown(i16, String),
}

/// Calls `method` with `args` (the fields of its argument struct) on the
/// server at `addr` (`host:port`), on a fresh connection. Blocking: run it
/// on a blocking thread.
pub(crate) fn call(
    addr: &str,
    timeout: Duration,
    method: &str,
    args: Vec<(i16, TValue)>,
) -> io::Result<Reply> {
    let socket = connect(addr, timeout)?;
    socket.set_read_timeout(Some(timeout))?;
    socket.set_write_timeout(Some(timeout))?;
    let mut out = Vec::new();
    out.extend_from_slice(&(VERSION_1 | CALL).to_be_bytes());
    write_string(&mut out, method);
    out.extend_from_slice(&1i32.to_be_bytes());
    TValue::Struct(args).write(&mut out);
    let mut w = BufWriter::new(&socket);
    w.write_all(&out)?;
    w.flush()?;
    drop(w);
    let mut r = Reader {
        inner: BufReader::new(&socket).take(MAX_REPLY_BYTES),
        values_left: MAX_VALUES,
    };
    let header = r.i32()? as u32;
    if header & 0xffff_0000 != VERSION_1 {
        return Err(invalid(format!("message header {header:#x}")));
    }
    let name = r.string()?;
    let _seq = r.i32()?;
    let result = r.value(ty::STRUCT, 0)?;
    match header & 0xff {
        REPLY if name == method => {}
        EXCEPTION => {
            let message = result.field(1).and_then(TValue::as_str).unwrap_or("");
            return Err(io::Error::other(format!(
                "the server could not run {method}: {message}"
            )));
        }
        other => return Err(invalid(format!("message type {other} for {name}"))),
    }
    // A result struct holds one field: 0 (the value) or a declared exception.
    match result {
        TValue::Struct(mut fields) if !fields.is_empty() => {
            let (id, v) = fields.swap_remove(0);
            if id == 0 {
                return Ok(Reply::Ok(Some(v)));
            }
            let message = v
                .field(1)
                .and_then(TValue::as_str)
                .unwrap_or("")
                .to_string();
            Ok(Reply::Thrown(id, message))
        }
        _ => Ok(Reply::Ok(None)),
    }
}

fn connect(addr: &str, timeout: Duration) -> io::Result<TcpStream> {
    use std::net::ToSocketAddrs;
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{addr} resolves to no address"),
    );
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_written() {
        let v = TValue::Struct(vec![
            (1, TValue::str("orders")),
            (2, TValue::I32(-7)),
            (3, TValue::string_map([("EXTERNAL", "TRUE".to_string())])),
            (4, TValue::string_list(["a".to_string(), "ü".to_string()])),
            (
                5,
                TValue::struct_list(vec![TValue::Struct(vec![(1, TValue::Bool(true))])]),
            ),
            (6, TValue::I64(i64::MIN)),
        ]);
        let mut buf = Vec::new();
        v.write(&mut buf);
        let back = Reader {
            inner: &buf[..],
            values_left: MAX_VALUES,
        }
        .value(ty::STRUCT, 0)
        .unwrap();
        assert_eq!(back, v);
        assert_eq!(back.field(1).and_then(TValue::as_str), Some("orders"));
    }

    #[test]
    fn hostile_lengths_are_refused() {
        let buf = [ty::STRING, 0, 1, 0x7f, 0xff, 0xff, 0xff];
        let err = Reader {
            inner: &buf[..],
            values_left: MAX_VALUES,
        }
        .value(ty::STRUCT, 0)
        .unwrap_err();
        assert!(err.to_string().contains("length"), "{err}");
        // A list of many empty structs: bounded by the value budget.
        let mut bomb = vec![ty::LIST, 0, 1, ty::STRUCT, 0x00, 0xff, 0xff, 0xff];
        bomb.extend(std::iter::repeat_n(ty::STOP, 0xff_ffff));
        let err = Reader {
            inner: &bomb[..],
            values_left: 1000,
        }
        .value(ty::STRUCT, 0)
        .unwrap_err();
        assert!(err.to_string().contains("values"), "{err}");
    }
}
