//! A Parquet file written a row group at a time through the low-level column writer: each
//! table declares its columns once ([`Spec`]) and pushes rows cell by cell, in column order.
//! Rows are buffered column-wise and flushed every [`ROWS_PER_GROUP`] rows, so a table of any
//! length (segments) costs one row group of memory.

use crate::model::Error;
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows buffered before they are written out as one row group.
pub(crate) const ROWS_PER_GROUP: usize = 64 * 1024;

/// The type of a column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    I32,
    I64,
    F64,
    Bool,
    Str,
    /// UTC instant, microseconds since the epoch (what the JSON's RFC 3339 strings show).
    Timestamp,
    /// A list of `I32`.
    I32List,
    /// A list of `Str`.
    StrList,
}

impl Type {
    fn physical(self) -> &'static str {
        match self {
            Type::I32 | Type::I32List => "int32",
            Type::I64 | Type::Timestamp => "int64",
            Type::F64 => "double",
            Type::Bool => "boolean",
            Type::Str | Type::StrList => "binary",
        }
    }

    fn annotation(self) -> &'static str {
        match self {
            Type::Str | Type::StrList => " (STRING)",
            Type::Timestamp => " (TIMESTAMP(MICROS,true))",
            _ => "",
        }
    }
}

/// One column: its name, type, and whether it may be null.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    pub name: &'static str,
    pub ty: Type,
    pub nullable: bool,
}

/// A column that is never null.
pub(crate) const fn req(name: &'static str, ty: Type) -> Spec {
    Spec {
        name,
        ty,
        nullable: false,
    }
}

/// A column that may be null (a list column: an empty list rather).
pub(crate) const fn opt(name: &'static str, ty: Type) -> Spec {
    Spec {
        name,
        ty,
        nullable: true,
    }
}

/// The Parquet schema of `specs`, in the message syntax the parquet crate reads.
fn schema(table: &str, specs: &[Spec]) -> String {
    let mut s = format!("message {table} {{\n");
    for c in specs {
        match c.ty {
            Type::I32List | Type::StrList => s.push_str(&format!(
                "  required group {} (LIST) {{ repeated group list {{ required {} element{}; }} }}\n",
                c.name,
                c.ty.physical(),
                c.ty.annotation()
            )),
            ty => s.push_str(&format!(
                "  {} {} {}{};\n",
                if c.nullable { "optional" } else { "required" },
                ty.physical(),
                c.name,
                ty.annotation()
            )),
        }
    }
    s.push('}');
    s
}

/// A column's buffered values and levels.
#[derive(Default)]
struct Buf {
    i32s: Vec<i32>,
    i64s: Vec<i64>,
    f64s: Vec<f64>,
    bools: Vec<bool>,
    strs: Vec<ByteArray>,
    def: Vec<i16>,
    rep: Vec<i16>,
}

impl Buf {
    fn clear(&mut self) {
        self.i32s.clear();
        self.i64s.clear();
        self.f64s.clear();
        self.bools.clear();
        self.strs.clear();
        self.def.clear();
        self.rep.clear();
    }
}

/// A Parquet file being written: rows pushed cell by cell ([`Table::row`]), in the order of
/// the columns given to [`Table::create`].
pub(crate) struct Table {
    specs: &'static [Spec],
    bufs: Vec<Buf>,
    rows: usize,
    written: u64,
    writer: SerializedFileWriter<File>,
    path: PathBuf,
}

impl Table {
    /// Creates `path` (its directory must exist) for a table named `name` with `specs`.
    pub(crate) fn create(path: &Path, name: &str, specs: &'static [Spec]) -> Result<Self, Error> {
        let text = schema(name, specs);
        let schema = parquet::schema::parser::parse_message_type(&text)
            .map_err(|e| Error::parquet(path, e))?;
        // Dictionaries pay where values repeat (names, addresses, kinds), not on frame numbers
        // and times, which are nearly all distinct; statistics per column chunk are what
        // engines prune with, per page they only cost.
        let mut props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(concat!("keepsight ", env!("CARGO_PKG_VERSION")).to_string())
            .set_dictionary_enabled(false)
            .set_statistics_enabled(parquet::file::properties::EnabledStatistics::Chunk);
        for c in specs {
            match c.ty {
                Type::Str => {
                    props = props.set_column_dictionary_enabled(c.name.into(), true);
                }
                Type::StrList => {
                    let path = vec![c.name.to_string(), "list".into(), "element".into()];
                    props = props.set_column_dictionary_enabled(path.into(), true);
                }
                _ => {}
            }
        }
        let props = props.build();
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props))
            .map_err(|e| Error::parquet(path, e))?;
        Ok(Table {
            specs,
            bufs: specs.iter().map(|_| Buf::default()).collect(),
            rows: 0,
            written: 0,
            writer,
            path: path.to_path_buf(),
        })
    }

    /// Starts a row: push every column's cell, in order, then [`Row::end`].
    pub(crate) fn row(&mut self) -> Row<'_> {
        Row { t: self, col: 0 }
    }

    /// Writes the buffered rows as one row group.
    fn flush(&mut self) -> Result<(), Error> {
        if self.rows == 0 {
            return Ok(());
        }
        let path = &self.path;
        let err = |e| Error::parquet(path, e);
        let mut group = self.writer.next_row_group().map_err(err)?;
        for (spec, buf) in self.specs.iter().zip(&self.bufs) {
            let Some(mut col) = group.next_column().map_err(err)? else {
                break;
            };
            let list = matches!(spec.ty, Type::I32List | Type::StrList);
            let def = (spec.nullable || list).then_some(&buf.def[..]);
            let rep = list.then_some(&buf.rep[..]);
            match spec.ty {
                Type::I32 | Type::I32List => {
                    col.typed::<Int32Type>().write_batch(&buf.i32s, def, rep)
                }
                Type::I64 | Type::Timestamp => {
                    col.typed::<Int64Type>().write_batch(&buf.i64s, def, rep)
                }
                Type::F64 => col.typed::<DoubleType>().write_batch(&buf.f64s, def, rep),
                Type::Bool => col.typed::<BoolType>().write_batch(&buf.bools, def, rep),
                Type::Str | Type::StrList => col
                    .typed::<ByteArrayType>()
                    .write_batch(&buf.strs, def, rep),
            }
            .map_err(err)?;
            col.close().map_err(err)?;
        }
        group.close().map_err(err)?;
        self.written += self.rows as u64;
        self.rows = 0;
        self.bufs.iter_mut().for_each(Buf::clear);
        Ok(())
    }

    /// Writes what is buffered and the file's footer; returns the rows written.
    pub(crate) fn finish(mut self) -> Result<u64, Error> {
        self.flush()?;
        let path = self.path.clone();
        self.writer.close().map_err(|e| Error::parquet(&path, e))?;
        Ok(self.written)
    }
}

/// One row being pushed: each call fills the next column, whose type it must match (a
/// mismatch is a bug in this crate's table definitions, caught by its tests).
pub(crate) struct Row<'a> {
    t: &'a mut Table,
    col: usize,
}

impl Row<'_> {
    fn next(&mut self, ty: Type, present: bool) -> &mut Buf {
        let spec = self.t.specs[self.col];
        assert_eq!(spec.ty, ty, "column {} of the table", spec.name);
        assert!(present || spec.nullable, "column {} is required", spec.name);
        let buf = &mut self.t.bufs[self.col];
        if spec.nullable {
            buf.def.push(i16::from(present));
        }
        self.col += 1;
        buf
    }

    pub(crate) fn i32(mut self, v: Option<i32>) -> Self {
        let buf = self.next(Type::I32, v.is_some());
        buf.i32s.extend(v);
        self
    }

    pub(crate) fn u32(self, v: Option<u32>) -> Self {
        // Frame numbers and ports fit; a value beyond i32 (none in practice) is kept as null
        // rather than wrapped.
        self.i32(v.and_then(|v| i32::try_from(v).ok()))
    }

    pub(crate) fn i64(mut self, v: Option<i64>) -> Self {
        let buf = self.next(Type::I64, v.is_some());
        buf.i64s.extend(v);
        self
    }

    pub(crate) fn f64(mut self, v: Option<f64>) -> Self {
        let buf = self.next(Type::F64, v.is_some());
        buf.f64s.extend(v);
        self
    }

    pub(crate) fn bool(mut self, v: Option<bool>) -> Self {
        let buf = self.next(Type::Bool, v.is_some());
        buf.bools.extend(v);
        self
    }

    pub(crate) fn str(mut self, v: Option<&str>) -> Self {
        let buf = self.next(Type::Str, v.is_some());
        buf.strs.extend(v.map(ByteArray::from));
        self
    }

    /// A string made once for many rows (a capture's id, a stream's address): each cell
    /// shares its bytes instead of copying them.
    pub(crate) fn shared(mut self, v: Option<&ByteArray>) -> Self {
        let buf = self.next(Type::Str, v.is_some());
        buf.strs.extend(v.cloned());
        self
    }

    /// A time in ns since the epoch, stored in microseconds (truncated, as the JSON shows it).
    pub(crate) fn time(mut self, ns: Option<i64>) -> Self {
        let buf = self.next(Type::Timestamp, ns.is_some());
        buf.i64s.extend(ns.map(|ns| ns.div_euclid(1_000)));
        self
    }

    fn list_levels(&mut self, ty: Type, n: usize) -> &mut Buf {
        let spec = self.t.specs[self.col];
        assert_eq!(spec.ty, ty, "column {} of the table", spec.name);
        let buf = &mut self.t.bufs[self.col];
        self.col += 1;
        // The list group is required, so only its repeated level counts: 0 is an empty list,
        // 1 an element.
        if n == 0 {
            buf.def.push(0);
            buf.rep.push(0);
        } else {
            buf.def.extend(std::iter::repeat_n(1, n));
            buf.rep.push(0);
            buf.rep.extend(std::iter::repeat_n(1, n - 1));
        }
        buf
    }

    pub(crate) fn u32_list(mut self, v: &[u32]) -> Self {
        let buf = self.list_levels(Type::I32List, v.len());
        buf.i32s
            .extend(v.iter().map(|&x| i32::try_from(x).unwrap_or(i32::MAX)));
        self
    }

    pub(crate) fn str_list(mut self, v: &[&str]) -> Self {
        let buf = self.list_levels(Type::StrList, v.len());
        buf.strs.extend(v.iter().map(|s| ByteArray::from(*s)));
        self
    }

    /// Ends the row (every column filled); writes a row group when enough are buffered.
    pub(crate) fn end(self) -> Result<(), Error> {
        assert_eq!(self.col, self.t.specs.len(), "a row fills every column");
        self.t.rows += 1;
        if self.t.rows >= ROWS_PER_GROUP {
            self.t.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    const SPECS: &[Spec] = &[
        req("n", Type::I32),
        opt("big", Type::I64),
        opt("x", Type::F64),
        req("flag", Type::Bool),
        opt("name", Type::Str),
        opt("at", Type::Timestamp),
        req("frames", Type::I32List),
        req("kinds", Type::StrList),
    ];

    /// Every value read back by the parquet crate's own record reader, as text per row.
    fn read_back(path: &Path) -> Vec<Vec<(String, String)>> {
        let r = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        r.get_row_iter(None)
            .unwrap()
            .map(|row| {
                row.unwrap()
                    .get_column_iter()
                    .map(|(n, f)| {
                        let v = match f {
                            Field::TimestampMicros(us) => format!("{us}us"),
                            f => f.to_string(),
                        };
                        (n.clone(), v)
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn values_nulls_and_lists_read_back_across_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let mut t = Table::create(&path, "t", SPECS).unwrap();
        let rows = ROWS_PER_GROUP + 3;
        for i in 0..rows {
            let odd = i % 2 == 1;
            t.row()
                .i32(Some(i as i32))
                .i64(odd.then_some(1 << 40))
                .f64((!odd).then_some(0.25))
                .bool(Some(odd))
                .str(odd.then_some("a b"))
                .time(Some(1_700_000_000_123_456_789 + i as i64))
                .u32_list(if odd { &[3, 4] } else { &[] })
                .str_list(if odd { &["late_heartbeat"] } else { &[] })
                .end()
                .unwrap();
        }
        assert_eq!(t.finish().unwrap(), rows as u64);
        let back = read_back(&path);
        assert_eq!(back.len(), rows);
        let text = |r: &[(String, String)]| {
            r.iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            text(&back[0]),
            "n=0 big=null x=0.25 flag=false name=null at=1700000000123456us frames=[] kinds=[]"
        );
        // The last rows sit in the second row group.
        assert_eq!(
            text(&back[ROWS_PER_GROUP + 1]),
            format!(
                "n={} big=1099511627776 x=null flag=true name=\"a b\" at=1700000000123522us frames=[3, 4] kinds=[\"late_heartbeat\"]",
                ROWS_PER_GROUP + 1
            )
        );
    }

    #[test]
    #[should_panic(expected = "column big")]
    fn a_cell_of_the_wrong_type_is_a_bug_caught_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Table::create(&dir.path().join("t.parquet"), "t", SPECS).unwrap();
        let _ = t.row().i32(Some(1)).i32(Some(2));
    }
}
