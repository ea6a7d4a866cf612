//! `pipeline ledger export`: the county's ledger as offices keep it, read from the running
//! service. Three sheets, each with a title row naming the status date and the light rule set:
//! 项目台账 (one row per project in the import's layout, money in 万元 with two decimals, so the
//! file imports back as it is), 里程碑 (baseline, forecast, actual, variance and the light as
//! the cell's fill) and 应报尽报 (the coverage of each open funding window). Header rows are
//! frozen and filtered, columns sized for Chinese text.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use rust_xlsxwriter::{Color, ExcelDateTime, Format, FormatAlign, Workbook, Worksheet, XlsxError};
use tonic::transport::Channel;

use super::authed;
use super::import::prerequisite_title;
use super::parse::{category_term, investment_type_term, prerequisite_state_term, stage_term};
use crate::api::milestones::kind_from_proto;
use crate::api::projects::{
    category_from_proto, investment_type_from_proto, prerequisite_kind_from_proto,
    prerequisite_state_from_proto, stage_from_proto,
};
use crate::domain::milestone::MilestoneKind;
use crate::domain::prerequisite::PrerequisiteKind;
use crate::proto::{self, v1};

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The day lights and windows are judged on.
    pub status_date: NaiveDate,
    /// A ListProjects filter choosing the projects (all when empty).
    pub filter: String,
    /// The title row's first words, e.g. the county's name.
    pub title: String,
}

/// The prerequisite columns, in ledger order.
pub const PREREQUISITE_COLUMNS: [PrerequisiteKind; 5] = [
    PrerequisiteKind::Land,
    PrerequisiteKind::PlanningPermit,
    PrerequisiteKind::EnvironmentalAssessment,
    PrerequisiteKind::EnergyAssessment,
    PrerequisiteKind::ConstructionPermit,
];

/// The project sheet's headers (the import reads every one of them back).
pub fn project_headers() -> Vec<String> {
    let mut headers: Vec<String> = [
        "系统编号",
        "项目名称",
        "项目代码",
        "建设内容",
        "项目类别",
        "投资性质",
        "所属乡镇",
        "牵头部门",
        "业主单位",
        "包联领导",
        "总投资（万元）",
        "年度计划投资（万元）",
        "累计完成投资（万元）",
        "项目阶段",
        "计划开工时间",
        "计划试生产时间",
        "入库纳统时间",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    headers.extend(
        PREREQUISITE_COLUMNS
            .iter()
            .map(|k| prerequisite_title(*k).to_string()),
    );
    headers
}

/// Reads the service and returns the workbook's bytes.
pub async fn export(
    channel: Channel,
    token: &str,
    options: &ExportOptions,
) -> Result<Vec<u8>, anyhow::Error> {
    let mut projects_client =
        v1::project_service_client::ProjectServiceClient::new(authed(channel.clone(), token));
    let mut milestones_client =
        v1::milestone_service_client::MilestoneServiceClient::new(authed(channel.clone(), token));
    let mut funding_client =
        v1::funding_service_client::FundingServiceClient::new(authed(channel.clone(), token));
    let mut investment_client =
        v1::investment_service_client::InvestmentServiceClient::new(authed(channel, token));
    let status = Some(proto::date(options.status_date));

    let mut projects = Vec::new();
    let mut token_page = String::new();
    loop {
        let page = projects_client
            .list_projects(v1::ListProjectsRequest {
                page_size: 1000,
                page_token: token_page.clone(),
                filter: options.filter.clone(),
                order_by: String::new(),
            })
            .await?
            .into_inner();
        projects.extend(page.projects);
        if page.next_page_token.is_empty() {
            break;
        }
        token_page = page.next_page_token;
    }
    let wanted: HashMap<&str, usize> = projects
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let mut milestones: Vec<v1::Milestone> = Vec::new();
    let mut token_page = String::new();
    loop {
        let page = milestones_client
            .list_milestones(v1::ListMilestonesRequest {
                parent: "projects/-".into(),
                page_size: 1000,
                page_token: token_page.clone(),
                status_date: status,
                ..Default::default()
            })
            .await?
            .into_inner();
        milestones.extend(
            page.milestones
                .into_iter()
                .filter(|m| wanted.contains_key(project_of(&m.name))),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token_page = page.next_page_token;
    }
    let mut prerequisites: HashMap<String, Vec<v1::Prerequisite>> = HashMap::new();
    for p in &projects {
        let list = projects_client
            .list_prerequisites(v1::ListPrerequisitesRequest {
                parent: p.name.clone(),
                page_size: 1000,
                ..Default::default()
            })
            .await?
            .into_inner()
            .prerequisites;
        prerequisites.insert(p.name.clone(), list);
    }
    let rule_set = investment_client
        .list_investment_pace(v1::ListInvestmentPaceRequest {
            month: options.status_date.format("%Y-%m").to_string(),
            page_size: 1,
            ..Default::default()
        })
        .await?
        .into_inner()
        .light_rule_set;
    let mut windows = Vec::new();
    let mut token_page = String::new();
    loop {
        let page = funding_client
            .list_funding_windows(v1::ListFundingWindowsRequest {
                page_size: 1000,
                page_token: token_page.clone(),
                filter: "state = OPEN".into(),
                status_date: status,
                ..Default::default()
            })
            .await?
            .into_inner();
        windows.extend(page.funding_windows);
        if page.next_page_token.is_empty() {
            break;
        }
        token_page = page.next_page_token;
    }
    let mut coverage = Vec::new();
    for w in &windows {
        let c = funding_client
            .get_funding_coverage(v1::GetFundingCoverageRequest {
                name: w.name.clone(),
                status_date: status,
            })
            .await?
            .into_inner();
        coverage.push((w.clone(), c));
    }

    let title = format!(
        "{}（状态日期 {}，亮灯规则 {}）",
        options.title, options.status_date, rule_set
    );
    let mut workbook = Workbook::new();
    let styles = Styles::new();
    write_projects(
        workbook.add_worksheet(),
        &styles,
        &format!("项目台账 {title}"),
        &projects,
        &milestones,
        &prerequisites,
    )?;
    write_milestones(
        workbook.add_worksheet(),
        &styles,
        &format!("里程碑 {title}"),
        &projects,
        &wanted,
        &milestones,
    )?;
    write_coverage(
        workbook.add_worksheet(),
        &styles,
        &format!("应报尽报 {title}"),
        &coverage,
    )?;
    Ok(workbook.save_to_buffer()?)
}

/// `projects/{p}` of a child's name.
fn project_of(name: &str) -> &str {
    let mut parts = name.splitn(3, '/');
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => &name[..a.len() + 1 + b.len()],
        _ => name,
    }
}

fn date_of(d: Option<&v1::Date>) -> Option<NaiveDate> {
    d.and_then(|d| NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32))
}

struct Styles {
    title: Format,
    header: Format,
    money: Format,
    date: Format,
    red: Format,
    yellow: Format,
    green: Format,
}

/// The fills of the lights (RGB).
pub const RED_FILL: u32 = 0xFF7C80;
pub const YELLOW_FILL: u32 = 0xFFEB84;
pub const GREEN_FILL: u32 = 0x63BE7B;

impl Styles {
    fn new() -> Self {
        let header = Format::new()
            .set_bold()
            .set_align(FormatAlign::Center)
            .set_background_color(Color::RGB(0xDDEBF7));
        Styles {
            title: Format::new().set_bold().set_font_size(14),
            header,
            money: Format::new().set_num_format("#,##0.00"),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            red: Format::new().set_background_color(Color::RGB(RED_FILL)),
            yellow: Format::new().set_background_color(Color::RGB(YELLOW_FILL)),
            green: Format::new().set_background_color(Color::RGB(GREEN_FILL)),
        }
    }
}

/// Display width of text: a CJK character is two columns.
fn width(text: &str) -> usize {
    text.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

/// Writes the title row, the header row (frozen, filtered) and sizes the columns to their
/// widest cell (`widths`, at most 60 columns).
fn frame(
    sheet: &mut Worksheet,
    styles: &Styles,
    name: &str,
    title: &str,
    headers: &[String],
    rows: u32,
    widths: &[usize],
) -> Result<(), XlsxError> {
    sheet.set_name(name)?;
    sheet.write_string_with_format(0, 0, title, &styles.title)?;
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(1, c as u16, h, &styles.header)?;
        let w = widths.get(c).copied().unwrap_or(0).max(width(h));
        sheet.set_column_width(c as u16, (w + 2).min(60) as f64)?;
    }
    sheet.set_freeze_panes(2, 0)?;
    sheet.autofilter(1, 0, 1 + rows, headers.len().saturating_sub(1) as u16)?;
    Ok(())
}

fn put_date(
    sheet: &mut Worksheet,
    styles: &Styles,
    row: u32,
    col: u16,
    day: Option<NaiveDate>,
) -> Result<(), XlsxError> {
    use chrono::Datelike;
    if let Some(d) = day {
        let value = ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8)?;
        sheet.write_datetime_with_format(row, col, &value, &styles.date)?;
    }
    Ok(())
}

fn write_projects(
    sheet: &mut Worksheet,
    styles: &Styles,
    title: &str,
    projects: &[v1::Project],
    milestones: &[v1::Milestone],
    prerequisites: &HashMap<String, Vec<v1::Prerequisite>>,
) -> Result<(), XlsxError> {
    let headers = project_headers();
    let mut widths = vec![0usize; headers.len()];
    // The baselines of each project's construction start and trial production.
    let mut baselines: HashMap<(&str, MilestoneKind), NaiveDate> = HashMap::new();
    for m in milestones {
        if let (Some(kind), Some(day)) =
            (kind_from_proto(m.kind), date_of(m.baseline_date.as_ref()))
        {
            baselines.entry((project_of(&m.name), kind)).or_insert(day);
        }
    }
    for (i, p) in projects.iter().enumerate() {
        let r = 2 + i as u32;
        let id = p.name.trim_start_matches("projects/");
        let texts: [(u16, String); 10] = [
            (0, id.to_string()),
            (1, p.display_name.clone()),
            (2, p.project_code.clone()),
            (3, p.description.clone()),
            (
                4,
                category_from_proto(p.category)
                    .map(category_term)
                    .unwrap_or_default()
                    .to_string(),
            ),
            (
                5,
                investment_type_from_proto(p.investment_type)
                    .map(investment_type_term)
                    .unwrap_or_default()
                    .to_string(),
            ),
            (6, p.township.clone()),
            (7, p.department.clone()),
            (8, p.owner.clone()),
            (9, p.leader.clone()),
        ];
        for (c, text) in texts {
            if !text.is_empty() {
                sheet.write_string(r, c, &text)?;
                widths[c as usize] = widths[c as usize].max(width(&text));
            }
        }
        for (c, yuan) in [
            (10u16, p.total_investment_yuan),
            (11, p.annual_planned_investment_yuan),
            (12, p.completed_investment_yuan),
        ] {
            sheet.write_number_with_format(r, c, yuan as f64 / 10_000.0, &styles.money)?;
            widths[c as usize] = widths[c as usize].max(format!("{:.2}", yuan as f64 / 1e4).len());
        }
        if let Some(stage) = stage_from_proto(p.stage) {
            sheet.write_string(r, 13, stage_term(stage))?;
        }
        put_date(
            sheet,
            styles,
            r,
            14,
            baselines
                .get(&(p.name.as_str(), MilestoneKind::ConstructionStart))
                .copied(),
        )?;
        put_date(
            sheet,
            styles,
            r,
            15,
            baselines
                .get(&(p.name.as_str(), MilestoneKind::TrialProduction))
                .copied(),
        )?;
        put_date(
            sheet,
            styles,
            r,
            16,
            date_of(p.statistics_enrolment_date.as_ref()),
        )?;
        for w in &mut widths[14..17] {
            *w = (*w).max(10);
        }
        let list = prerequisites.get(&p.name).map(Vec::as_slice).unwrap_or(&[]);
        for (j, kind) in PREREQUISITE_COLUMNS.iter().enumerate() {
            if let Some(state) = list
                .iter()
                .find(|x| prerequisite_kind_from_proto(x.kind) == Some(*kind))
                .and_then(|x| prerequisite_state_from_proto(x.state))
            {
                sheet.write_string(r, 17 + j as u16, prerequisite_state_term(state))?;
            }
        }
    }
    frame(
        sheet,
        styles,
        "项目台账",
        title,
        &headers,
        projects.len() as u32,
        &widths,
    )
}

fn light_term(light: i32) -> &'static str {
    match v1::AlertLight::try_from(light) {
        Ok(v1::AlertLight::Red) => "红灯",
        Ok(v1::AlertLight::Yellow) => "黄灯",
        Ok(v1::AlertLight::Green) => "绿灯",
        _ => "",
    }
}

fn status_term(status: i32) -> &'static str {
    match v1::MilestoneStatus::try_from(status) {
        Ok(v1::MilestoneStatus::OnTrack) => "正常",
        Ok(v1::MilestoneStatus::AtRisk) => "有风险",
        Ok(v1::MilestoneStatus::Slipped) => "滞后",
        Ok(v1::MilestoneStatus::Overdue) => "逾期",
        Ok(v1::MilestoneStatus::Achieved) => "已完成",
        _ => "",
    }
}

fn write_milestones(
    sheet: &mut Worksheet,
    styles: &Styles,
    title: &str,
    projects: &[v1::Project],
    wanted: &HashMap<&str, usize>,
    milestones: &[v1::Milestone],
) -> Result<(), XlsxError> {
    let headers: Vec<String> = [
        "项目名称",
        "项目代码",
        "节点",
        "基准日期",
        "预测日期",
        "实际日期",
        "偏差（天）",
        "状态",
        "亮灯",
        "亮灯说明",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut widths = vec![0usize; headers.len()];
    // Project order, then baseline.
    let mut ordered: BTreeMap<(usize, Option<NaiveDate>, &str), &v1::Milestone> = BTreeMap::new();
    for m in milestones {
        if let Some(&i) = wanted.get(project_of(&m.name)) {
            ordered.insert((i, date_of(m.baseline_date.as_ref()), &m.name), m);
        }
    }
    for (r, ((i, _, _), m)) in ordered.iter().enumerate() {
        let r = 2 + r as u32;
        let p = &projects[*i];
        for (c, text) in [
            (0u16, p.display_name.as_str()),
            (1, p.project_code.as_str()),
            (2, m.title.as_str()),
            (7, status_term(m.status)),
            (9, m.light_reason.as_str()),
        ] {
            if !text.is_empty() {
                sheet.write_string(r, c, text)?;
                widths[c as usize] = widths[c as usize].max(width(text));
            }
        }
        put_date(sheet, styles, r, 3, date_of(m.baseline_date.as_ref()))?;
        put_date(sheet, styles, r, 4, date_of(m.forecast_date.as_ref()))?;
        put_date(sheet, styles, r, 5, date_of(m.actual_date.as_ref()))?;
        sheet.write_number(r, 6, m.variance_days)?;
        let fill = match v1::AlertLight::try_from(m.light) {
            Ok(v1::AlertLight::Red) => Some(&styles.red),
            Ok(v1::AlertLight::Yellow) => Some(&styles.yellow),
            Ok(v1::AlertLight::Green) => Some(&styles.green),
            _ => None,
        };
        if let Some(fill) = fill {
            sheet.write_string_with_format(r, 8, light_term(m.light), fill)?;
        }
    }
    for w in &mut widths[3..6] {
        *w = 10;
    }
    frame(
        sheet,
        styles,
        "里程碑",
        title,
        &headers,
        ordered.len() as u32,
        &widths,
    )
}

fn channel_term(channel: i32) -> &'static str {
    match v1::FundingChannel::try_from(channel) {
        Ok(v1::FundingChannel::SpecialBond) => "专项债",
        Ok(v1::FundingChannel::PolicyFinance) => "政策性开发性金融工具",
        Ok(v1::FundingChannel::CentralBudget) => "中央预算内投资",
        Ok(v1::FundingChannel::LongTermLoan) => "中长期贷款",
        Ok(v1::FundingChannel::Other) => "其他",
        _ => "",
    }
}

fn write_coverage(
    sheet: &mut Worksheet,
    styles: &Styles,
    title: &str,
    coverage: &[(v1::FundingWindow, v1::FundingCoverage)],
) -> Result<(), XlsxError> {
    let headers: Vec<String> = [
        "申报窗口",
        "渠道",
        "截止日期",
        "距截止（天）",
        "符合条件项目",
        "已申报",
        "草稿未提交",
        "应报未报",
        "应报未报项目",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut widths = vec![0usize; headers.len()];
    for (i, (w, c)) in coverage.iter().enumerate() {
        let r = 2 + i as u32;
        sheet.write_string(r, 0, &w.title)?;
        sheet.write_string(r, 1, channel_term(w.channel))?;
        put_date(sheet, styles, r, 2, date_of(w.close_date.as_ref()))?;
        sheet.write_number(r, 3, c.days_to_close)?;
        sheet.write_number(r, 4, c.eligible_count)?;
        sheet.write_number(r, 5, c.declared_count)?;
        sheet.write_number(r, 6, c.draft_applications.len() as u32)?;
        sheet.write_number(r, 7, c.undeclared_projects.len() as u32)?;
        let names: Vec<&str> = c
            .undeclared_projects
            .iter()
            .map(|p| p.display_name.as_str())
            .collect();
        let names = names.join("、");
        if !names.is_empty() {
            sheet.write_string(r, 8, &names)?;
        }
        widths[0] = widths[0].max(width(&w.title));
        widths[1] = widths[1].max(width(channel_term(w.channel)));
        widths[2] = 10;
        widths[8] = widths[8].max(width(&names));
    }
    frame(
        sheet,
        styles,
        "应报尽报",
        title,
        &headers,
        coverage.len() as u32,
        &widths,
    )
}
