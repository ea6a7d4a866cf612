//! `pipeline ledger import`: a client of the running service. The file is read and checked
//! whole first; only a file without bad rows (or with `--skip-bad-rows`, its good rows) is
//! written, through the same RPCs any client calls, so access control, validation and events
//! are the API's. Every create carries a request id derived from the file's content and the
//! row, and updates are sent only for values that differ, so the same file imported twice
//! changes nothing the second time.

use std::collections::HashMap;

use chrono::NaiveDate;
use prost_types::FieldMask;
use sha2::{Digest, Sha256};
use tonic::transport::Channel;

use super::parse::{self, LedgerRow, Mappings, Problem};
use super::sheet;
use super::{Authed, authed};
use crate::api::milestones::kind_from_proto;
use crate::api::projects::{
    category_from_proto, investment_type_from_proto, prerequisite_kind_from_proto,
    prerequisite_state_from_proto, stage_from_proto,
};
use crate::domain::milestone::MilestoneKind;
use crate::domain::prerequisite::PrerequisiteKind;
use crate::domain::project::Stage;
use crate::proto::{self, v1};
use v1::milestone_service_client::MilestoneServiceClient;
use v1::project_service_client::ProjectServiceClient;

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Check and report only; write nothing.
    pub dry_run: bool,
    /// Write the good rows of a file that has bad ones (without it such a file writes none).
    pub skip_bad_rows: bool,
    /// `--map 列名=field`.
    pub maps: Mappings,
    /// The year of dates written without one (`10月底`).
    pub year: i32,
    /// Draw a progress bar on the terminal.
    pub progress: bool,
}

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    /// Bad in the file, or refused by the service.
    Skipped,
}

/// The result of an import (or of its dry run).
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Every problem, `sheet!cell: message`, in file order.
    pub problems: Vec<Problem>,
    /// The rows read, by sheet row label ("项目台账!5"), with what happened to each.
    pub rows: Vec<(String, Outcome)>,
    /// Whether anything was sent to the service.
    pub written: bool,
    /// Rows that were fine to import (before any write).
    pub good_rows: usize,
}

impl ImportReport {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.rows.iter().filter(|(_, o)| *o == outcome).count()
    }

    /// Labels of the rows with `outcome`.
    pub fn labels(&self, outcome: Outcome) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|(_, o)| *o == outcome)
            .map(|(label, _)| label.as_str())
            .collect()
    }

    /// True when the file had no problem worth a failing exit (unknown columns are notes).
    pub fn clean(&self) -> bool {
        self.problems
            .iter()
            .all(|p| p.row.is_none() && !p.cell.is_empty())
            && self.count(Outcome::Skipped) == 0
    }
}

/// Reads, checks and (unless refused) imports `bytes`, a ledger called `file_name`, through
/// `channel` with `token`. An unreadable file or a sheet without the required columns is a
/// report with its problems and nothing written.
pub async fn import(
    channel: Channel,
    token: &str,
    file_name: &str,
    bytes: &[u8],
    options: &ImportOptions,
) -> ImportReport {
    let mut report = ImportReport::default();
    let file_problem = |message: String| Problem {
        sheet: file_name.to_string(),
        cell: String::new(),
        message,
        row: None,
    };
    let sheets = match sheet::read(file_name, bytes) {
        Ok(sheets) => sheets,
        Err(message) => {
            report.problems.push(file_problem(message));
            return report;
        }
    };
    let mut rows: Vec<LedgerRow> = Vec::new();
    let mut bad_rows: std::collections::HashSet<(String, usize)> = Default::default();
    let mut fatal = false;
    let mut usable = 0;
    let blank = |sheet: &sheet::Sheet| sheet.rows.iter().all(|r| r.iter().all(|c| c.is_blank()));
    let non_empty = sheets.iter().filter(|s| !blank(s)).count();
    for sheet in &sheets {
        if blank(sheet) {
            continue;
        }
        match parse::layout(sheet, &options.maps) {
            Ok((layout, notes)) => {
                usable += 1;
                report.problems.extend(notes);
                let (parsed, problems) = parse::rows(sheet, &layout, options.year);
                for p in &problems {
                    if let Some(r) = p.row {
                        bad_rows.insert((sheet.name.clone(), r));
                    }
                }
                report.problems.extend(problems);
                rows.extend(parsed);
            }
            Err(no_table) => {
                // A project table missing required columns refuses the file. In a workbook
                // of several sheets, one with fewer than three of them is another kind of
                // table (a cover page, an export's milestone sheet) and is passed over.
                if non_empty == 1 || no_table.required_found >= 3 {
                    fatal = true;
                    report.problems.extend(no_table.problems);
                }
            }
        }
    }
    if usable == 0 && !fatal {
        report.problems.push(file_problem(
            "no sheet has a ledger table (a header row with 项目名称, 项目类别, 投资性质, 所属乡镇, 牵头部门)".into(),
        ));
        return report;
    }
    if fatal {
        return report;
    }
    // Checks across rows and the API's bounds, so that bad rows are known before any write.
    let mut codes: HashMap<String, String> = HashMap::new();
    let mut ids: HashMap<String, String> = HashMap::new();
    for row in &rows {
        let mut problems = Vec::new();
        if let Some(code) = &row.project_code {
            if let Some(first) = codes.insert(code.clone(), label(row)) {
                problems.push(format!(
                    "项目代码 {code} appears again (first at row {first}); each project once"
                ));
            }
            if code.is_empty()
                || code.len() > 64
                || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                problems.push(format!(
                    "项目代码 {code:?} must be ASCII letters, digits and hyphens, at most 64"
                ));
            }
        }
        if let Some(id) = &row.project_id {
            if let Some(first) = ids.insert(id.clone(), label(row)) {
                problems.push(format!("id {id} appears again (first at row {first})"));
            }
            if crate::domain::values::Id::parse(id).is_err() {
                problems.push(format!(
                    "id {id:?} must be lowercase letters, digits and hyphens, 1 to 63"
                ));
            }
        }
        for (what, text, max) in [
            ("项目名称", &row.display_name, 200),
            ("所属乡镇", &row.township, 100),
            ("牵头部门", &row.department, 100),
            ("业主单位", &row.owner, 200),
            ("包联领导", &row.leader, 100),
            ("建设内容", &row.description, 4000),
        ] {
            if text.chars().count() > max {
                problems.push(format!("{what} is longer than {max} characters"));
            }
        }
        for message in problems {
            bad_rows.insert((row.sheet.clone(), row.row));
            report.problems.push(Problem {
                sheet: row.sheet.clone(),
                cell: sheet::address(row.row, 0),
                message,
                row: Some(row.row),
            });
        }
    }
    report.problems.sort_by_key(|p| {
        (
            p.sheet.clone(),
            p.row.unwrap_or(0),
            p.cell.len(),
            p.cell.clone(),
        )
    });
    let (good, bad): (Vec<LedgerRow>, Vec<LedgerRow>) = rows
        .into_iter()
        .partition(|r| !bad_rows.contains(&(r.sheet.clone(), r.row)));
    report.good_rows = good.len();
    for row in &bad {
        report.rows.push((label(row), Outcome::Skipped));
    }
    if options.dry_run || (!bad.is_empty() && !options.skip_bad_rows) {
        if !options.dry_run {
            report.problems.push(file_problem(format!(
                "{} bad row(s): nothing written (fix them, or import the {} good rows with --skip-bad-rows)",
                bad.len(),
                good.len()
            )));
        }
        return report;
    }
    report.written = true;
    let digest = hex(&Sha256::digest(bytes));
    let mut client = Client::new(channel, token);
    let bar = options.progress.then(|| {
        let bar = indicatif::ProgressBar::new(good.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let context = format!("台账导入 {file_name}");
    for row in &good {
        let outcome = match client.apply(row, &digest, &context).await {
            Ok(outcome) => outcome,
            Err(status) => {
                report.problems.push(Problem {
                    sheet: row.sheet.clone(),
                    cell: sheet::address(row.row, 0),
                    message: format!(
                        "refused by the service: {:?} {}",
                        status.code(),
                        status.message()
                    ),
                    row: Some(row.row),
                });
                Outcome::Skipped
            }
        };
        report.rows.push((label(row), outcome));
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    report
}

/// "项目台账!5": the sheet and the row number as the spreadsheet shows it.
fn label(row: &LedgerRow) -> String {
    format!("{}!{}", row.sheet, row.row + 1)
}

/// The id of a project created from a row with neither 项目代码 nor an id column: derived from
/// the file's content and the row, so that importing the same file again finds it.
fn derived_id(row: &LedgerRow, digest: &str) -> String {
    let text = format!("{digest}:{}:{}", row.sheet, row.row);
    format!("ledger-{}", &hex(&Sha256::digest(text.as_bytes()))[..16])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn date_of(d: Option<&v1::Date>) -> Option<NaiveDate> {
    d.and_then(|d| NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32))
}

/// The calls of an import.
struct Client {
    projects: ProjectServiceClient<Authed>,
    milestones: MilestoneServiceClient<Authed>,
}

impl Client {
    fn new(channel: Channel, token: &str) -> Self {
        Client {
            projects: ProjectServiceClient::new(authed(channel.clone(), token)),
            milestones: MilestoneServiceClient::new(authed(channel, token)),
        }
    }

    /// The project a row names: by 项目代码, else by its id column, else by the id an import of
    /// this file gives it (`derived_id`).
    async fn find(
        &mut self,
        row: &LedgerRow,
        digest: &str,
    ) -> Result<Option<v1::Project>, tonic::Status> {
        if let Some(code) = &row.project_code {
            let found = self
                .projects
                .list_projects(v1::ListProjectsRequest {
                    filter: format!("project_code = \"{code}\""),
                    page_size: 2,
                    ..Default::default()
                })
                .await?
                .into_inner();
            return Ok(found.projects.into_iter().next());
        }
        let id = row
            .project_id
            .clone()
            .unwrap_or_else(|| derived_id(row, digest));
        match self
            .projects
            .get_project(v1::GetProjectRequest {
                name: format!("projects/{id}"),
            })
            .await
        {
            Ok(p) => Ok(Some(p.into_inner())),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(s),
        }
    }

    async fn apply(
        &mut self,
        row: &LedgerRow,
        digest: &str,
        context: &str,
    ) -> Result<Outcome, tonic::Status> {
        let request_id = |what: &str| {
            let text = format!("{digest}:{}:{}:{what}", row.sheet, row.row);
            format!("ledger-{}", &hex(&Sha256::digest(text.as_bytes()))[..40])
        };
        let reason = format!("{context} {}", label(row));
        let wanted = project_message(row);
        let mut changed = false;
        let project = match self.find(row, digest).await? {
            None => {
                let initial = if row.stage.is_initial() {
                    row.stage
                } else {
                    Stage::Concept
                };
                let created = self
                    .projects
                    .create_project(v1::CreateProjectRequest {
                        project: Some(wanted.clone()),
                        project_id: row
                            .project_id
                            .clone()
                            .unwrap_or_else(|| derived_id(row, digest)),
                        request_id: request_id("create"),
                        initial_stage: v1::ProjectStage::from(initial) as i32,
                    })
                    .await?
                    .into_inner();
                // Children first: a project the row ends CANCELLED takes no new milestones.
                self.children(&created, true, row, &reason, &request_id)
                    .await?;
                self.stage(created, row, &reason, &request_id).await?;
                return Ok(Outcome::Created);
            }
            Some(existing) => existing,
        };
        let paths = differing(&project, &wanted);
        let project = if paths.is_empty() {
            project
        } else {
            changed = true;
            let mut update = wanted.clone();
            update.name = project.name.clone();
            self.projects
                .update_project(v1::UpdateProjectRequest {
                    project: Some(update),
                    update_mask: Some(FieldMask { paths }),
                })
                .await?
                .into_inner()
        };
        changed |= self
            .children(&project, false, row, &reason, &request_id)
            .await?;
        let before = project.stage;
        let project = self.stage(project, row, &reason, &request_id).await?;
        changed |= project.stage != before;
        Ok(if changed {
            Outcome::Updated
        } else {
            Outcome::Unchanged
        })
    }

    /// Moves the project to the row's stage when it differs.
    async fn stage(
        &mut self,
        project: v1::Project,
        row: &LedgerRow,
        reason: &str,
        request_id: &impl Fn(&str) -> String,
    ) -> Result<v1::Project, tonic::Status> {
        if stage_from_proto(project.stage) == Some(row.stage) {
            return Ok(project);
        }
        Ok(self
            .projects
            .change_project_stage(v1::ChangeProjectStageRequest {
                name: project.name.clone(),
                stage: v1::ProjectStage::from(row.stage) as i32,
                reason: reason.to_string(),
                request_id: request_id(&format!("stage-{}", row.stage.as_str())),
                ..Default::default()
            })
            .await?
            .into_inner())
    }

    /// The row's prerequisites and milestone baselines; true when something changed. A project
    /// just created (`fresh`) has neither, and is not asked.
    async fn children(
        &mut self,
        project: &v1::Project,
        fresh: bool,
        row: &LedgerRow,
        reason: &str,
        request_id: &impl Fn(&str) -> String,
    ) -> Result<bool, tonic::Status> {
        let mut changed = false;
        if !row.prerequisites.is_empty() {
            let existing = if fresh {
                Vec::new()
            } else {
                self.projects
                    .list_prerequisites(v1::ListPrerequisitesRequest {
                        parent: project.name.clone(),
                        page_size: 1000,
                        ..Default::default()
                    })
                    .await?
                    .into_inner()
                    .prerequisites
            };
            for (kind, state) in &row.prerequisites {
                let found = existing
                    .iter()
                    .find(|p| prerequisite_kind_from_proto(p.kind) == Some(*kind));
                match found {
                    Some(p) if prerequisite_state_from_proto(p.state) == Some(*state) => {}
                    Some(p) => {
                        changed = true;
                        self.projects
                            .update_prerequisite(v1::UpdatePrerequisiteRequest {
                                prerequisite: Some(v1::Prerequisite {
                                    name: p.name.clone(),
                                    state: v1::PrerequisiteState::from(*state) as i32,
                                    ..Default::default()
                                }),
                                update_mask: Some(FieldMask {
                                    paths: vec!["state".into()],
                                }),
                            })
                            .await?;
                    }
                    None => {
                        changed = true;
                        self.projects
                            .create_prerequisite(v1::CreatePrerequisiteRequest {
                                parent: project.name.clone(),
                                prerequisite: Some(v1::Prerequisite {
                                    kind: v1::PrerequisiteKind::from(*kind) as i32,
                                    title: prerequisite_title(*kind).into(),
                                    state: v1::PrerequisiteState::from(*state) as i32,
                                    ..Default::default()
                                }),
                                request_id: request_id(&format!("prerequisite-{}", kind.as_str())),
                                ..Default::default()
                            })
                            .await?;
                    }
                }
            }
        }
        if !row.milestones.is_empty() {
            let existing = if fresh {
                Vec::new()
            } else {
                self.milestones
                    .list_milestones(v1::ListMilestonesRequest {
                        parent: project.name.clone(),
                        page_size: 1000,
                        ..Default::default()
                    })
                    .await?
                    .into_inner()
                    .milestones
            };
            for (kind, baseline) in &row.milestones {
                let found = existing
                    .iter()
                    .find(|m| kind_from_proto(m.kind) == Some(*kind));
                match found {
                    Some(m) if date_of(m.baseline_date.as_ref()) == Some(*baseline) => {}
                    // An achieved milestone keeps its history; the ledger's plan is past.
                    Some(m) if m.actual_date.is_some() => {}
                    Some(m) => {
                        changed = true;
                        self.milestones
                            .rebaseline_milestone(v1::RebaselineMilestoneRequest {
                                name: m.name.clone(),
                                baseline_date: Some(proto::date(*baseline)),
                                reason: reason.to_string(),
                                request_id: request_id(&format!("rebaseline-{}", kind.as_str())),
                                ..Default::default()
                            })
                            .await?;
                    }
                    None => {
                        changed = true;
                        self.milestones
                            .create_milestone(v1::CreateMilestoneRequest {
                                parent: project.name.clone(),
                                milestone: Some(v1::Milestone {
                                    kind: v1::MilestoneKind::from(*kind) as i32,
                                    title: milestone_title(*kind).into(),
                                    baseline_date: Some(proto::date(*baseline)),
                                    ..Default::default()
                                }),
                                request_id: request_id(&format!("milestone-{}", kind.as_str())),
                                ..Default::default()
                            })
                            .await?;
                    }
                }
            }
        }
        Ok(changed)
    }
}

/// The row as a Project message (descriptive fields only).
fn project_message(row: &LedgerRow) -> v1::Project {
    v1::Project {
        display_name: row.display_name.clone(),
        description: row.description.clone(),
        project_code: row.project_code.clone().unwrap_or_default(),
        category: v1::ProjectCategory::from(row.category) as i32,
        investment_type: v1::InvestmentType::from(row.investment_type) as i32,
        township: row.township.clone(),
        department: row.department.clone(),
        owner: row.owner.clone(),
        leader: row.leader.clone(),
        total_investment_yuan: row.total_investment_yuan,
        annual_planned_investment_yuan: row.annual_planned_investment_yuan,
        completed_investment_yuan: row.completed_investment_yuan,
        statistics_enrolment_date: row.statistics_enrolment_date.map(proto::date),
        ..Default::default()
    }
}

/// The update-mask paths whose values differ between the stored project and the row.
fn differing(stored: &v1::Project, wanted: &v1::Project) -> Vec<String> {
    let mut paths = Vec::new();
    let mut check = |name: &str, same: bool| {
        if !same {
            paths.push(name.to_string());
        }
    };
    check("display_name", stored.display_name == wanted.display_name);
    check("description", stored.description == wanted.description);
    check("project_code", stored.project_code == wanted.project_code);
    check(
        "category",
        category_from_proto(stored.category) == category_from_proto(wanted.category),
    );
    check(
        "investment_type",
        investment_type_from_proto(stored.investment_type)
            == investment_type_from_proto(wanted.investment_type),
    );
    check("township", stored.township == wanted.township);
    check("department", stored.department == wanted.department);
    check("owner", stored.owner == wanted.owner);
    check("leader", stored.leader == wanted.leader);
    check(
        "total_investment_yuan",
        stored.total_investment_yuan == wanted.total_investment_yuan,
    );
    check(
        "annual_planned_investment_yuan",
        stored.annual_planned_investment_yuan == wanted.annual_planned_investment_yuan,
    );
    check(
        "completed_investment_yuan",
        stored.completed_investment_yuan == wanted.completed_investment_yuan,
    );
    check(
        "statistics_enrolment_date",
        stored.statistics_enrolment_date == wanted.statistics_enrolment_date,
    );
    paths
}

pub fn prerequisite_title(kind: PrerequisiteKind) -> &'static str {
    match kind {
        PrerequisiteKind::Land => "用地",
        PrerequisiteKind::PlanningPermit => "规划许可",
        PrerequisiteKind::EnvironmentalAssessment => "环评",
        PrerequisiteKind::EnergyAssessment => "能评",
        PrerequisiteKind::ConstructionPermit => "施工许可",
        PrerequisiteKind::FundingClosed => "资金到位",
        PrerequisiteKind::Other => "其他要件",
    }
}

pub fn milestone_title(kind: MilestoneKind) -> &'static str {
    match kind {
        MilestoneKind::ContractSigning => "签约",
        MilestoneKind::ConstructionStart => "开工",
        MilestoneKind::TrialProduction => "试生产",
        MilestoneKind::Completion => "竣工投产",
        MilestoneKind::Custom => "节点",
    }
}
