//! The county's ledger (台账) layout and values: which column is which field (by header, with
//! the common variants built in and `--map` for the rest), money in 万元 or 亿元, the date
//! forms offices write, and the Chinese terms of the enumerated columns. Every problem is
//! reported with its cell.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;

use super::sheet::{Cell, Sheet, address};
use crate::domain::milestone::MilestoneKind;
use crate::domain::prerequisite::{PrerequisiteKind, PrerequisiteState};
use crate::domain::project::{Category, InvestmentType, Stage};
use crate::domain::values::MAX_YUAN;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    DisplayName,
    ProjectCode,
    ProjectId,
    Description,
    Category,
    InvestmentType,
    Township,
    Department,
    Owner,
    Leader,
    TotalInvestment,
    AnnualPlannedInvestment,
    CompletedInvestment,
    Stage,
    PlannedConstructionStart,
    PlannedTrialProduction,
    StatisticsEnrolment,
    Prerequisite(PrerequisiteKind),
    /// 备注 and the like: known, not imported.
    Ignored,
}

impl Field {
    /// The name `--map` uses (API field names where there is one).
    pub fn name(self) -> &'static str {
        match self {
            Field::DisplayName => "display_name",
            Field::ProjectCode => "project_code",
            Field::ProjectId => "project_id",
            Field::Description => "description",
            Field::Category => "category",
            Field::InvestmentType => "investment_type",
            Field::Township => "township",
            Field::Department => "department",
            Field::Owner => "owner",
            Field::Leader => "leader",
            Field::TotalInvestment => "total_investment_yuan",
            Field::AnnualPlannedInvestment => "annual_planned_investment_yuan",
            Field::CompletedInvestment => "completed_investment_yuan",
            Field::Stage => "stage",
            Field::PlannedConstructionStart => "construction_start",
            Field::PlannedTrialProduction => "trial_production",
            Field::StatisticsEnrolment => "statistics_enrolment_date",
            Field::Prerequisite(PrerequisiteKind::Land) => "prerequisite.land",
            Field::Prerequisite(PrerequisiteKind::PlanningPermit) => "prerequisite.planning_permit",
            Field::Prerequisite(PrerequisiteKind::EnvironmentalAssessment) => {
                "prerequisite.environmental_assessment"
            }
            Field::Prerequisite(PrerequisiteKind::EnergyAssessment) => {
                "prerequisite.energy_assessment"
            }
            Field::Prerequisite(PrerequisiteKind::ConstructionPermit) => {
                "prerequisite.construction_permit"
            }
            Field::Prerequisite(PrerequisiteKind::FundingClosed) => "prerequisite.funding_closed",
            Field::Prerequisite(PrerequisiteKind::Other) => "prerequisite.other",
            Field::Ignored => "ignore",
        }
    }

    pub const ALL: [Field; 24] = [
        Field::DisplayName,
        Field::ProjectCode,
        Field::ProjectId,
        Field::Description,
        Field::Category,
        Field::InvestmentType,
        Field::Township,
        Field::Department,
        Field::Owner,
        Field::Leader,
        Field::TotalInvestment,
        Field::AnnualPlannedInvestment,
        Field::CompletedInvestment,
        Field::Stage,
        Field::PlannedConstructionStart,
        Field::PlannedTrialProduction,
        Field::StatisticsEnrolment,
        Field::Prerequisite(PrerequisiteKind::Land),
        Field::Prerequisite(PrerequisiteKind::PlanningPermit),
        Field::Prerequisite(PrerequisiteKind::EnvironmentalAssessment),
        Field::Prerequisite(PrerequisiteKind::EnergyAssessment),
        Field::Prerequisite(PrerequisiteKind::ConstructionPermit),
        Field::Prerequisite(PrerequisiteKind::FundingClosed),
        Field::Ignored,
    ];

    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    fn is_money(self) -> bool {
        matches!(
            self,
            Field::TotalInvestment | Field::AnnualPlannedInvestment | Field::CompletedInvestment
        )
    }
}

/// The header variants offices write, after `normalize` (no spaces, no bracketed unit).
const HEADERS: &[(&str, Field)] = &[
    ("项目名称", Field::DisplayName),
    ("项目", Field::DisplayName),
    ("名称", Field::DisplayName),
    ("项目代码", Field::ProjectCode),
    ("统一项目代码", Field::ProjectCode),
    ("项目统一代码", Field::ProjectCode),
    ("项目编码", Field::ProjectCode),
    ("系统编号", Field::ProjectId),
    ("项目ID", Field::ProjectId),
    ("项目id", Field::ProjectId),
    ("建设内容", Field::Description),
    ("建设内容及规模", Field::Description),
    ("建设规模及内容", Field::Description),
    ("主要建设内容", Field::Description),
    ("项目类别", Field::Category),
    ("项目类型", Field::Category),
    ("行业类别", Field::Category),
    ("所属行业", Field::Category),
    ("投资性质", Field::InvestmentType),
    ("投资类型", Field::InvestmentType),
    ("投资主体", Field::InvestmentType),
    ("所属乡镇", Field::Township),
    ("属地乡镇", Field::Township),
    ("乡镇", Field::Township),
    ("所在乡镇", Field::Township),
    ("所在地", Field::Township),
    ("属地", Field::Township),
    ("牵头部门", Field::Department),
    ("牵头单位", Field::Department),
    ("责任单位", Field::Department),
    ("主管部门", Field::Department),
    ("业主单位", Field::Owner),
    ("项目业主", Field::Owner),
    ("建设单位", Field::Owner),
    ("包联领导", Field::Leader),
    ("联系领导", Field::Leader),
    ("责任领导", Field::Leader),
    ("包抓领导", Field::Leader),
    ("县级领导", Field::Leader),
    ("总投资", Field::TotalInvestment),
    ("计划总投资", Field::TotalInvestment),
    ("年度计划投资", Field::AnnualPlannedInvestment),
    ("年度计划", Field::AnnualPlannedInvestment),
    ("本年计划投资", Field::AnnualPlannedInvestment),
    ("年度投资计划", Field::AnnualPlannedInvestment),
    ("累计完成投资", Field::CompletedInvestment),
    ("累计完成", Field::CompletedInvestment),
    ("完成投资", Field::CompletedInvestment),
    ("开工以来累计完成投资", Field::CompletedInvestment),
    ("项目阶段", Field::Stage),
    ("项目状态", Field::Stage),
    ("进展阶段", Field::Stage),
    ("建设阶段", Field::Stage),
    ("计划开工时间", Field::PlannedConstructionStart),
    ("计划开工日期", Field::PlannedConstructionStart),
    ("计划开工", Field::PlannedConstructionStart),
    ("开工时间", Field::PlannedConstructionStart),
    ("计划试生产时间", Field::PlannedTrialProduction),
    ("计划试生产日期", Field::PlannedTrialProduction),
    ("计划试生产", Field::PlannedTrialProduction),
    ("计划投产时间", Field::PlannedTrialProduction),
    ("入库纳统时间", Field::StatisticsEnrolment),
    ("纳统时间", Field::StatisticsEnrolment),
    ("入库时间", Field::StatisticsEnrolment),
    ("用地", Field::Prerequisite(PrerequisiteKind::Land)),
    ("用地手续", Field::Prerequisite(PrerequisiteKind::Land)),
    ("用地预审", Field::Prerequisite(PrerequisiteKind::Land)),
    ("土地", Field::Prerequisite(PrerequisiteKind::Land)),
    (
        "规划",
        Field::Prerequisite(PrerequisiteKind::PlanningPermit),
    ),
    (
        "规划许可",
        Field::Prerequisite(PrerequisiteKind::PlanningPermit),
    ),
    (
        "规划选址",
        Field::Prerequisite(PrerequisiteKind::PlanningPermit),
    ),
    (
        "环评",
        Field::Prerequisite(PrerequisiteKind::EnvironmentalAssessment),
    ),
    (
        "环境影响评价",
        Field::Prerequisite(PrerequisiteKind::EnvironmentalAssessment),
    ),
    (
        "能评",
        Field::Prerequisite(PrerequisiteKind::EnergyAssessment),
    ),
    (
        "节能审查",
        Field::Prerequisite(PrerequisiteKind::EnergyAssessment),
    ),
    (
        "施工许可",
        Field::Prerequisite(PrerequisiteKind::ConstructionPermit),
    ),
    (
        "施工许可证",
        Field::Prerequisite(PrerequisiteKind::ConstructionPermit),
    ),
    (
        "资金到位",
        Field::Prerequisite(PrerequisiteKind::FundingClosed),
    ),
    ("备注", Field::Ignored),
    ("序号", Field::Ignored),
];

/// The fields without which no row can become a project (the API requires them).
const REQUIRED: [Field; 5] = [
    Field::DisplayName,
    Field::Category,
    Field::InvestmentType,
    Field::Township,
    Field::Department,
];

/// A header without spaces and without a bracketed part (its unit: "总投资（万元）").
fn normalize(header: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for ch in header.chars() {
        match ch {
            '(' | '（' | '[' | '【' => depth += 1,
            ')' | '）' | ']' | '】' => depth = (depth - 1).max(0),
            c if c.is_whitespace() => {}
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The yuan in one unit of a money column, from its header: 亿元, 万元 (the default: ledgers
/// keep money in 万元) or 元.
fn header_unit(header: &str) -> i64 {
    if header.contains("亿") {
        100_000_000
    } else if header.contains("万") {
        10_000
    } else if header.contains("（元）") || header.contains("(元)") {
        1
    } else {
        10_000
    }
}

/// A column of the layout.
#[derive(Debug, Clone)]
pub struct Column {
    pub field: Field,
    pub col: usize,
    pub header: String,
    /// Yuan per unit, for money columns.
    pub unit_yuan: i64,
}

/// Where a sheet's table is and what its columns hold.
#[derive(Debug, Clone)]
pub struct Layout {
    pub header_row: usize,
    pub columns: Vec<Column>,
}

/// A problem with its place, printed `sheet!cell: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub sheet: String,
    /// The A1 address, or empty for the sheet as a whole.
    pub cell: String,
    pub message: String,
    /// 0-based row it concerns, if one.
    pub row: Option<usize>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.cell.is_empty() {
            write!(f, "{}: {}", self.sheet, self.message)
        } else {
            write!(f, "{}!{}: {}", self.sheet, self.cell, self.message)
        }
    }
}

/// Column mappings given with `--map 列名=field`.
pub type Mappings = BTreeMap<String, Field>;

/// Parses a `--map` argument.
pub fn mapping(arg: &str) -> Result<(String, Field), String> {
    let (header, field) = arg
        .split_once('=')
        .ok_or_else(|| format!("--map {arg:?}: expected 列名=field"))?;
    let field = Field::parse(field.trim()).ok_or_else(|| {
        let names: Vec<_> = Field::ALL.iter().map(|f| f.name()).collect();
        format!(
            "--map {arg:?}: unknown field {field:?}; one of {}",
            names.join(", ")
        )
    })?;
    Ok((normalize(header), field))
}

/// Why a sheet has no usable table: its problems, and how many of the required columns it
/// does have (a sheet with few is some other table, such as an export's milestone sheet).
#[derive(Debug, Clone)]
pub struct NoTable {
    pub problems: Vec<Problem>,
    pub required_found: usize,
}

/// Finds the header row among the first 10 (the one naming the most known columns; title rows
/// come first in many ledgers) and maps its columns. Unknown headers are reported and ignored;
/// missing required columns refuse the sheet.
pub fn layout(sheet: &Sheet, maps: &Mappings) -> Result<(Layout, Vec<Problem>), NoTable> {
    let lookup = |text: &str| -> Option<Field> {
        let key = normalize(text);
        maps.get(&key)
            .copied()
            .or_else(|| HEADERS.iter().find(|(h, _)| *h == key).map(|(_, f)| *f))
    };
    let scan = sheet.rows.len().min(10);
    let best = (0..scan)
        .map(|r| {
            let known = sheet.rows[r]
                .iter()
                .filter(|c| !c.is_blank() && lookup(&c.text()).is_some())
                .count();
            (known, r)
        })
        .max_by_key(|(known, r)| (*known, std::cmp::Reverse(*r)));
    let problem = |cell: String, message: String| Problem {
        sheet: sheet.name.clone(),
        cell,
        message,
        row: None,
    };
    let Some((_, header_row)) = best.filter(|(known, _)| *known > 0) else {
        return Err(NoTable {
            problems: vec![problem(
                String::new(),
                "no header row found in the first 10 rows (expected headers such as 项目名称, 项目类别, 所属乡镇)".into(),
            )],
            required_found: 0,
        });
    };
    let mut columns = Vec::new();
    let mut warnings = Vec::new();
    let mut seen: HashSet<Field> = HashSet::new();
    for (col, cell) in sheet.rows[header_row].iter().enumerate() {
        if cell.is_blank() {
            continue;
        }
        let header = cell.text();
        match lookup(&header) {
            Some(Field::Ignored) => {}
            Some(field) if !seen.insert(field) => warnings.push(problem(
                address(header_row, col),
                format!(
                    "column {header:?} is a second {} column; ignored",
                    field.name()
                ),
            )),
            Some(field) => columns.push(Column {
                field,
                col,
                unit_yuan: if field.is_money() {
                    header_unit(&header)
                } else {
                    1
                },
                header,
            }),
            None => warnings.push(problem(
                address(header_row, col),
                format!("unknown column {header:?} ignored (name it with --map {header}=FIELD)"),
            )),
        }
    }
    let missing: Vec<&str> = REQUIRED
        .iter()
        .filter(|f| !seen.contains(f))
        .map(|f| f.name())
        .collect();
    if !missing.is_empty() {
        let mut all = warnings;
        all.push(problem(
            address(header_row, 0),
            format!(
                "required columns missing: {} (headers such as 项目名称, 项目类别, 投资性质, 所属乡镇, 牵头部门); nothing imported",
                missing.join(", ")
            ),
        ));
        return Err(NoTable {
            problems: all,
            required_found: REQUIRED.len() - missing.len(),
        });
    }
    Ok((
        Layout {
            header_row,
            columns,
        },
        warnings,
    ))
}

/// One ledger row, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerRow {
    pub sheet: String,
    /// 0-based row in the sheet.
    pub row: usize,
    pub display_name: String,
    pub project_code: Option<String>,
    pub project_id: Option<String>,
    pub description: String,
    pub category: Category,
    pub investment_type: InvestmentType,
    pub township: String,
    pub department: String,
    pub owner: String,
    pub leader: String,
    pub total_investment_yuan: i64,
    pub annual_planned_investment_yuan: i64,
    pub completed_investment_yuan: i64,
    /// CONCEPT when the ledger has no stage column or the cell is empty.
    pub stage: Stage,
    pub statistics_enrolment_date: Option<NaiveDate>,
    /// Prerequisites with a state in the ledger (a blank cell records none).
    pub prerequisites: Vec<(PrerequisiteKind, PrerequisiteState)>,
    /// Milestone baselines from the 计划… columns.
    pub milestones: Vec<(MilestoneKind, NaiveDate)>,
}

/// Reads the rows under the header: blank rows are skipped; every bad cell is a problem of its
/// row. `year` is the year of dates written without one (`10月底`).
pub fn rows(sheet: &Sheet, layout: &Layout, year: i32) -> (Vec<LedgerRow>, Vec<Problem>) {
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for r in layout.header_row + 1..sheet.rows.len() {
        let cells: Vec<&Cell> = layout
            .columns
            .iter()
            .map(|c| sheet.cell(r, c.col))
            .collect();
        if cells.iter().all(|c| c.is_blank()) {
            continue;
        }
        let mut bad = |col: usize, message: String| {
            problems.push(Problem {
                sheet: sheet.name.clone(),
                cell: address(r, col),
                message,
                row: Some(r),
            })
        };
        let mut row = LedgerRow {
            sheet: sheet.name.clone(),
            row: r,
            display_name: String::new(),
            project_code: None,
            project_id: None,
            description: String::new(),
            category: Category::Other,
            investment_type: InvestmentType::Government,
            township: String::new(),
            department: String::new(),
            owner: String::new(),
            leader: String::new(),
            total_investment_yuan: 0,
            annual_planned_investment_yuan: 0,
            completed_investment_yuan: 0,
            stage: Stage::Concept,
            statistics_enrolment_date: None,
            prerequisites: Vec::new(),
            milestones: Vec::new(),
        };
        for (column, cell) in layout.columns.iter().zip(&cells) {
            let text = cell.text();
            let required = REQUIRED.contains(&column.field);
            if cell.is_blank() {
                if required {
                    bad(column.col, format!("{} is empty", column.header));
                }
                continue;
            }
            let outcome: Result<(), String> = (|| {
                match column.field {
                    Field::DisplayName => row.display_name = text.clone(),
                    Field::ProjectCode => row.project_code = Some(text.clone()),
                    Field::ProjectId => row.project_id = Some(text.clone()),
                    Field::Description => row.description = text.clone(),
                    Field::Category => row.category = category(&text)?,
                    Field::InvestmentType => row.investment_type = investment_type(&text)?,
                    Field::Township => row.township = text.clone(),
                    Field::Department => row.department = text.clone(),
                    Field::Owner => row.owner = text.clone(),
                    Field::Leader => row.leader = text.clone(),
                    Field::TotalInvestment => {
                        row.total_investment_yuan = amount(cell, column.unit_yuan)?
                    }
                    Field::AnnualPlannedInvestment => {
                        row.annual_planned_investment_yuan = amount(cell, column.unit_yuan)?
                    }
                    Field::CompletedInvestment => {
                        row.completed_investment_yuan = amount(cell, column.unit_yuan)?
                    }
                    Field::Stage => row.stage = stage(&text)?,
                    Field::PlannedConstructionStart => row
                        .milestones
                        .push((MilestoneKind::ConstructionStart, date(cell, year)?)),
                    Field::PlannedTrialProduction => row
                        .milestones
                        .push((MilestoneKind::TrialProduction, date(cell, year)?)),
                    Field::StatisticsEnrolment => {
                        row.statistics_enrolment_date = Some(date(cell, year)?)
                    }
                    Field::Prerequisite(kind) => {
                        row.prerequisites.push((kind, prerequisite_state(&text)?))
                    }
                    Field::Ignored => {}
                }
                Ok(())
            })();
            if let Err(message) = outcome {
                bad(column.col, format!("{}: {message}", column.header));
            }
        }
        rows.push(row);
    }
    (rows, problems)
}

/// An amount in yuan from a cell of a money column whose unit is `unit_yuan`: a number, or
/// text such as `1,234.56`, `1234.56万元`, `3.2亿` (a unit written in the cell wins). At most
/// 10 trillion yuan, never negative, and exact to the yuan.
pub fn amount(cell: &Cell, unit_yuan: i64) -> Result<i64, String> {
    let (text, unit) = match cell {
        Cell::Number(n) => {
            if !n.is_finite() || *n < 0.0 {
                return Err(format!("{n} is not an amount (negative or not a number)"));
            }
            let yuan = (n * unit_yuan as f64).round();
            if yuan > MAX_YUAN as f64 {
                return Err(format!(
                    "{n} is above the limit of {MAX_YUAN} yuan (10 trillion)"
                ));
            }
            return Ok(yuan as i64);
        }
        Cell::Date(d) => return Err(format!("{d} is a date, not an amount")),
        Cell::Empty => return Ok(0),
        Cell::Text(t) => {
            let t: String = t
                .trim()
                .chars()
                .filter(|c| !matches!(c, ',' | '，' | ' '))
                .collect();
            if let Some(n) = t.strip_suffix("亿元").or_else(|| t.strip_suffix('亿')) {
                (n.to_string(), 100_000_000)
            } else if let Some(n) = t.strip_suffix("万元").or_else(|| t.strip_suffix('万')) {
                (n.to_string(), 10_000)
            } else if let Some(n) = t.strip_suffix('元') {
                (n.to_string(), 1)
            } else {
                (t, unit_yuan)
            }
        }
    };
    let original = cell.text();
    if text.starts_with('-') {
        return Err(format!("{original:?} is negative"));
    }
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(format!(
            "{original:?} is not an amount (write the number alone, e.g. 1234.56)"
        ));
    }
    // Exact: digits × unit / 10^decimals must be whole yuan.
    let digits: i128 = format!("{whole}{frac}")
        .trim_start_matches('0')
        .parse()
        .or_else(|_| {
            if format!("{whole}{frac}").chars().all(|c| c == '0') {
                Ok(0)
            } else {
                Err(())
            }
        })
        .map_err(|_| format!("{original:?} is above the limit of {MAX_YUAN} yuan"))?;
    let scale = 10i128
        .checked_pow(frac.len() as u32)
        .ok_or_else(|| format!("{original:?} has too many decimals"))?;
    let scaled = digits
        .checked_mul(i128::from(unit))
        .ok_or_else(|| format!("{original:?} is above the limit of {MAX_YUAN} yuan"))?;
    if scaled % scale != 0 {
        return Err(format!("{original:?} is finer than one yuan"));
    }
    let yuan = scaled / scale;
    if yuan > i128::from(MAX_YUAN) {
        return Err(format!(
            "{original:?} is above the limit of {MAX_YUAN} yuan (10 trillion)"
        ));
    }
    Ok(yuan as i64)
}

/// A date: a date cell or an Excel serial number, `2026-10-31`, `2026/10/31`, `2026.10.31`,
/// `2026年10月31日`, or a month alone (`2026年10月`, `2026-10`, `10月底`, `10月`), which means its
/// last day; a month without a year is in `year`.
pub fn date(cell: &Cell, year: i32) -> Result<NaiveDate, String> {
    match cell {
        Cell::Date(d) => Ok(*d),
        Cell::Number(n) => super::sheet::excel_serial_date(*n)
            .ok_or_else(|| format!("{n} is not a date (an Excel serial date or 2026-10-31)")),
        Cell::Empty => Err("is empty".into()),
        Cell::Text(t) => text_date(t.trim(), year),
    }
}

fn text_date(t: &str, year: i32) -> Result<NaiveDate, String> {
    let bad = || {
        format!(
            "{t:?} is not a date (2026-10-31, 2026/10/31, 2026年10月31日, 2026年10月 or 10月底)"
        )
    };
    let t = t.trim_end_matches('底').trim_end_matches('末');
    let t = t.trim_end_matches('日').trim_end_matches('号');
    let normalized: String = t
        .chars()
        .map(|c| match c {
            '年' | '月' | '/' | '.' => '-',
            c => c,
        })
        .collect();
    let parts: Vec<&str> = normalized
        .trim_end_matches('-')
        .split('-')
        .filter(|p| !p.is_empty())
        .collect();
    let num = |p: &str| p.parse::<i64>().map_err(|_| bad());
    let (y, m, d) = match parts.as_slice() {
        [y, m, d] if y.len() == 4 => (num(y)?, num(m)?, Some(num(d)?)),
        [y, m] if y.len() == 4 => (num(y)?, num(m)?, None),
        [m] if t.contains('月') => (i64::from(year), num(m)?, None),
        _ => return Err(bad()),
    };
    if !(1900..=2200).contains(&y) || !(1..=12).contains(&m) {
        return Err(bad());
    }
    let (y, m) = (y as i32, m as u32);
    match d {
        Some(d) => NaiveDate::from_ymd_opt(y, m, d as u32)
            .ok_or_else(|| format!("{t:?}: there is no day {d} in {y}-{m:02}")),
        None => {
            let next = if m == 12 {
                NaiveDate::from_ymd_opt(y + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(y, m + 1, 1)
            };
            next.and_then(|n| n.pred_opt()).ok_or_else(bad)
        }
    }
}

pub fn category(t: &str) -> Result<Category, String> {
    Ok(match t {
        "交通" => Category::Transport,
        "水利" => Category::Water,
        "能源" => Category::Energy,
        "产业" | "工业" => Category::Industry,
        "城建" | "城市更新" => Category::Urban,
        "农业" | "农业农村" => Category::Agriculture,
        "社会事业" => Category::Social,
        "生态环保" => Category::Ecology,
        "其他" => Category::Other,
        _ => {
            return Err(format!(
                "{t:?} is not a category (交通, 水利, 能源, 产业, 城建, 农业, 社会事业, 生态环保, 其他)"
            ));
        }
    })
}

pub fn investment_type(t: &str) -> Result<InvestmentType, String> {
    match t {
        "政府投资" | "政府" => Ok(InvestmentType::Government),
        "企业投资" | "企业" => Ok(InvestmentType::Enterprise),
        _ => Err(format!("{t:?} is not 政府投资 or 企业投资")),
    }
}

pub fn stage(t: &str) -> Result<Stage, String> {
    Ok(match t {
        "谋划" | "策划" | "包装" => Stage::Concept,
        "储备" => Stage::Reserve,
        "前期" | "前期工作" => Stage::Preparation,
        "在建" | "开工" | "新开工" | "续建" => Stage::Construction,
        "试生产" => Stage::TrialProduction,
        "投产" | "竣工" | "建成" => Stage::Operation,
        "暂停" | "停工" => Stage::Suspended,
        "终止" => Stage::Cancelled,
        _ => {
            return Err(format!(
                "{t:?} is not a stage (谋划, 储备, 前期, 在建, 试生产, 投产, 暂停, 终止)"
            ));
        }
    })
}

pub fn prerequisite_state(t: &str) -> Result<PrerequisiteState, String> {
    Ok(match t {
        "已办结" | "已完成" | "已取得" | "已办理" => PrerequisiteState::Done,
        "办理中" | "正在办理" | "在办" => PrerequisiteState::InProgress,
        "未启动" | "未办理" | "未开始" => PrerequisiteState::NotStarted,
        "不涉及" | "无需办理" => PrerequisiteState::Waived,
        _ => {
            return Err(format!(
                "{t:?} is not a state (已办结, 办理中, 未启动, 不涉及)"
            ));
        }
    })
}

/// The ledger terms the export writes (the first of each list above).
pub fn category_term(c: Category) -> &'static str {
    match c {
        Category::Transport => "交通",
        Category::Water => "水利",
        Category::Energy => "能源",
        Category::Industry => "产业",
        Category::Urban => "城建",
        Category::Agriculture => "农业",
        Category::Social => "社会事业",
        Category::Ecology => "生态环保",
        Category::Other => "其他",
    }
}

pub fn investment_type_term(t: InvestmentType) -> &'static str {
    match t {
        InvestmentType::Government => "政府投资",
        InvestmentType::Enterprise => "企业投资",
    }
}

pub fn stage_term(s: Stage) -> &'static str {
    match s {
        Stage::Concept => "谋划",
        Stage::Reserve => "储备",
        Stage::Preparation => "前期",
        Stage::Construction => "在建",
        Stage::TrialProduction => "试生产",
        Stage::Operation => "投产",
        Stage::Suspended => "暂停",
        Stage::Cancelled => "终止",
    }
}

pub fn prerequisite_state_term(s: PrerequisiteState) -> &'static str {
    match s {
        PrerequisiteState::Done => "已办结",
        PrerequisiteState::InProgress => "办理中",
        PrerequisiteState::NotStarted => "未启动",
        PrerequisiteState::Waived => "不涉及",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn amounts_in_wan_and_yi_are_exact_yuan() {
        let t = |s: &str| Cell::Text(s.into());
        assert_eq!(amount(&t("1234.56"), 10_000), Ok(12_345_600));
        assert_eq!(amount(&t("1,234.5"), 10_000), Ok(12_345_000));
        assert_eq!(amount(&t("3.2"), 100_000_000), Ok(320_000_000));
        assert_eq!(amount(&t("3.2亿元"), 10_000), Ok(320_000_000));
        assert_eq!(amount(&t("860万"), 1), Ok(8_600_000));
        assert_eq!(amount(&t("0"), 10_000), Ok(0));
        assert_eq!(amount(&Cell::Number(1234.56), 10_000), Ok(12_345_600));
        assert!(
            amount(&t("约3000"), 10_000)
                .unwrap_err()
                .contains("not an amount")
        );
        assert!(amount(&t("-5"), 10_000).unwrap_err().contains("negative"));
        assert!(amount(&t("0.00001"), 10_000).unwrap_err().contains("finer"));
        assert!(
            amount(&t("2000000000"), 10_000)
                .unwrap_err()
                .contains("limit")
        );
        assert!(amount(&Cell::Number(-1.0), 10_000).is_err());
    }

    #[test]
    fn every_date_form_offices_write() {
        let t = |s: &str| date(&Cell::Text(s.into()), 2026);
        assert_eq!(t("2026-10-31"), Ok(day(2026, 10, 31)));
        assert_eq!(t("2026/10/31"), Ok(day(2026, 10, 31)));
        assert_eq!(t("2026.10.31"), Ok(day(2026, 10, 31)));
        assert_eq!(t("2026年10月31日"), Ok(day(2026, 10, 31)));
        assert_eq!(t("2026年10月"), Ok(day(2026, 10, 31)));
        assert_eq!(t("2026年2月"), Ok(day(2026, 2, 28)));
        assert_eq!(t("2026-12"), Ok(day(2026, 12, 31)));
        assert_eq!(t("10月底"), Ok(day(2026, 10, 31)));
        assert_eq!(t("11月"), Ok(day(2026, 11, 30)));
        assert_eq!(date(&Cell::Number(46326.0), 2026), Ok(day(2026, 10, 31)));
        assert!(t("2026-02-30").unwrap_err().contains("no day 30"));
        assert!(t("下月").is_err());
        assert!(t("2026-13-01").is_err());
    }

    #[test]
    fn headers_match_their_variants_and_units() {
        assert_eq!(normalize("总投资（万元）"), "总投资");
        assert_eq!(normalize(" 计划 开工时间 "), "计划开工时间");
        assert_eq!(header_unit("总投资（亿元）"), 100_000_000);
        assert_eq!(header_unit("总投资(万元)"), 10_000);
        assert_eq!(header_unit("总投资"), 10_000);
        assert_eq!(header_unit("总投资（元）"), 1);
        assert_eq!(
            mapping("项目责任人=leader"),
            Ok(("项目责任人".to_string(), Field::Leader))
        );
        assert!(mapping("x=nothing").is_err());
    }
}
