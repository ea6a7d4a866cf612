//! Reading a ledger file into cells: XLSX (and the other formats calamine reads) or CSV in
//! UTF-8 (with or without a byte order mark) or GB18030. Merged cells take the value of their
//! top-left cell, as an office reads them.

use std::io::Cursor;

use calamine::{Data, Reader, Sheets, open_workbook_auto_from_rs};
use chrono::NaiveDate;

/// The largest ledger read, in bytes. A county's ledger of a few thousand rows is well under a
/// megabyte; a file above this is refused before it is parsed.
pub const MAX_FILE_BYTES: usize = 20 * 1024 * 1024;

/// One cell's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Number(f64),
    /// A cell formatted as a date (its serial number turned into the day).
    Date(NaiveDate),
}

impl Cell {
    pub fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(t) => t.trim().is_empty(),
            _ => false,
        }
    }

    /// The cell as text, for headers and text fields.
    pub fn text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(t) => t.trim().to_string(),
            Cell::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            Cell::Number(n) => n.to_string(),
            Cell::Date(d) => d.to_string(),
        }
    }
}

/// One sheet: its name and its rows, `rows[r][c]` being the cell at row r + 1 and column c + 1
/// of the sheet (addresses are the sheet's own, whatever empty rows and columns lead it).
#[derive(Debug, Clone, Default)]
pub struct Sheet {
    pub name: String,
    pub rows: Vec<Vec<Cell>>,
}

impl Sheet {
    pub fn cell(&self, row: usize, col: usize) -> &Cell {
        self.rows
            .get(row)
            .and_then(|r| r.get(col))
            .unwrap_or(&Cell::Empty)
    }
}

/// The A1 address of the 0-based `row` and `col`.
pub fn address(row: usize, col: usize) -> String {
    let mut letters = String::new();
    let mut n = col + 1;
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.insert(0, (b'A' + rem as u8) as char);
        n = (n - 1) / 26;
    }
    format!("{letters}{}", row + 1)
}

/// Reads the sheets of `bytes`, a ledger named `file_name` (the extension says CSV; anything
/// else is opened as a workbook). Errors say what the file is not.
pub fn read(file_name: &str, bytes: &[u8]) -> Result<Vec<Sheet>, String> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(format!(
            "the file is {} bytes, above the {} MB a ledger may have; split it",
            bytes.len(),
            MAX_FILE_BYTES / (1024 * 1024)
        ));
    }
    if file_name.to_ascii_lowercase().ends_with(".csv") {
        return read_csv(file_name, bytes).map(|sheet| vec![sheet]);
    }
    let mut workbook = open_workbook_auto_from_rs(Cursor::new(bytes.to_vec()))
        .map_err(|e| format!("not a spreadsheet this tool reads (XLSX, XLS, ODS or CSV): {e}"))?;
    let mut sheets = Vec::new();
    for name in workbook.sheet_names() {
        let range = workbook
            .worksheet_range(&name)
            .map_err(|e| format!("sheet {name:?} cannot be read: {e}"))?;
        let (top, left) = range.start().unwrap_or((0, 0));
        let (top, left) = (top as usize, left as usize);
        let mut rows: Vec<Vec<Cell>> = vec![Vec::new(); top];
        for row in range.rows() {
            let mut cells = vec![Cell::Empty; left];
            cells.extend(row.iter().map(cell));
            rows.push(cells);
        }
        if let Sheets::Xlsx(xlsx) = &mut workbook
            && let Ok(merged) = xlsx.merge_cells_by_sheet_name(&name)
        {
            for region in merged {
                let (r0, c0) = (region.start.0 as usize, region.start.1 as usize);
                let value = rows
                    .get(r0)
                    .and_then(|r| r.get(c0))
                    .cloned()
                    .unwrap_or(Cell::Empty);
                for r in r0..=region.end.0 as usize {
                    for c in c0..=region.end.1 as usize {
                        if (r, c) == (r0, c0) || r >= rows.len() {
                            continue;
                        }
                        if rows[r].len() <= c {
                            rows[r].resize(c + 1, Cell::Empty);
                        }
                        rows[r][c] = value.clone();
                    }
                }
            }
        }
        sheets.push(Sheet { name, rows });
    }
    Ok(sheets)
}

fn cell(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::Text(s.clone()),
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::Bool(b) => Cell::Text(b.to_string()),
        Data::DateTime(dt) if dt.is_datetime() => match excel_serial_date(dt.as_f64()) {
            Some(day) => Cell::Date(day),
            None => Cell::Number(dt.as_f64()),
        },
        Data::DateTime(dt) => Cell::Number(dt.as_f64()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Text(s.clone()),
        Data::Error(e) => Cell::Text(format!("#{e:?}")),
    }
}

/// The day of an Excel serial date (the 1900 system, where serial 60 is the leap day 1900 never
/// had; ledgers hold dates after it), or None when it is out of any ledger's range.
pub fn excel_serial_date(serial: f64) -> Option<NaiveDate> {
    if !(61.0..=2_958_465.0).contains(&serial) {
        return None;
    }
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30)?;
    epoch.checked_add_signed(chrono::Duration::days(serial.floor() as i64))
}

fn read_csv(file_name: &str, bytes: &[u8]) -> Result<Sheet, String> {
    let text = decode(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("not a CSV file this tool reads: {e}"))?;
        rows.push(
            record
                .iter()
                .map(|field| {
                    if field.trim().is_empty() {
                        Cell::Empty
                    } else {
                        Cell::Text(field.to_string())
                    }
                })
                .collect(),
        );
    }
    let name = std::path::Path::new(file_name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "csv".into());
    Ok(Sheet { name, rows })
}

/// UTF-8 (a byte order mark dropped) when the bytes are UTF-8, else GB18030, which offices'
/// spreadsheet programs write on Chinese systems.
fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => encoding_rs::GB18030.decode(bytes).0.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_a1() {
        assert_eq!(address(0, 0), "A1");
        assert_eq!(address(9, 25), "Z10");
        assert_eq!(address(1, 26), "AA2");
        assert_eq!(address(2, 27), "AB3");
    }

    #[test]
    fn serial_dates_count_from_the_1900_system() {
        assert_eq!(
            excel_serial_date(46326.0),
            NaiveDate::from_ymd_opt(2026, 10, 31)
        );
        assert_eq!(excel_serial_date(12.0), None);
    }

    #[test]
    fn csv_is_utf8_with_or_without_bom_or_gb18030() {
        let utf8 = "项目名称,总投资\n水库,1234.56\n";
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), utf8.as_bytes()].concat();
        let gb = encoding_rs::GB18030.encode(utf8).0.into_owned();
        for bytes in [utf8.as_bytes().to_vec(), with_bom, gb] {
            let sheets = read("ledger.csv", &bytes).unwrap();
            assert_eq!(sheets[0].cell(0, 0), &Cell::Text("项目名称".into()));
            assert_eq!(sheets[0].cell(1, 0), &Cell::Text("水库".into()));
        }
    }

    #[test]
    fn a_file_that_is_not_a_spreadsheet_is_refused() {
        let err = read("ledger.xlsx", b"hello, not a zip").unwrap_err();
        assert!(err.starts_with("not a spreadsheet"), "{err}");
        let big = vec![0u8; MAX_FILE_BYTES + 1];
        assert!(read("ledger.xlsx", &big).unwrap_err().contains("MB"));
    }
}
