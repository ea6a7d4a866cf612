//! `pipeline demo` on SQLite and PostgreSQL: the county scenario (the README's demo county)
//! loads through the store, a second run changes nothing, a run with an earlier date leaves the
//! later steps for the next run, and the API (and the scanner) show the autumn push as of
//! 15 October 2026. The README's examples are run here as written: every `buf curl` command on
//! the server it names, its outputs and tables compared with what the service answers (an error
//! shown as `buf curl` prints it).

mod common;

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use pipeline::demo::{self, DemoReport, Tally};
use pipeline::events::outbox as events;
use pipeline::proto::v1;

use common::TestServer;

both_backends!(
    a_second_run_creates_nothing,
    a_run_with_an_earlier_date_leaves_the_rest_for_later,
    the_api_shows_the_autumn_push,
    the_readme_examples_answer_as_shown,
    the_readme_worked_example_plays_on_the_demo,
);

fn day(month: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, month, d).unwrap()
}

fn date(d: NaiveDate) -> Option<v1::Date> {
    Some(v1::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    })
}

/// What a client sees of the whole database, and the length of the event log.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    projects: BTreeMap<String, (String, String)>,
    milestones: BTreeMap<String, (String, i32, i32)>,
    applications: BTreeMap<String, (String, i64, i64)>,
    events: usize,
}

async fn snapshot(server: &TestServer) -> Snapshot {
    let projects = server
        .projects()
        .await
        .list_projects(v1::ListProjectsRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(projects.next_page_token.is_empty());
    let milestones = server
        .milestones()
        .await
        .list_milestones(v1::ListMilestonesRequest {
            parent: "projects/-".into(),
            page_size: 1000,
            status_date: date(demo::status_date()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(milestones.next_page_token.is_empty());
    let applications = server
        .funding()
        .await
        .list_funding_applications(v1::ListFundingApplicationsRequest {
            parent: "projects/-".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(applications.next_page_token.is_empty());
    let events = events::read_after(server.store.connection(), 0, 1_000_000)
        .await
        .unwrap();
    Snapshot {
        projects: projects
            .projects
            .into_iter()
            .map(|p| {
                let stage = p.stage().as_str_name().to_string();
                (p.name, (stage, p.etag))
            })
            .collect(),
        milestones: milestones
            .milestones
            .into_iter()
            .map(|m| {
                let status = m.status().as_str_name().to_string();
                (m.name, (status, m.variance_days, m.slip_count))
            })
            .collect(),
        applications: applications
            .funding_applications
            .into_iter()
            .map(|a| {
                let state = a.state().as_str_name().to_string();
                (
                    a.name,
                    (state, a.approved_amount_yuan, a.disbursed_amount_yuan),
                )
            })
            .collect(),
        events: events.len(),
    }
}

fn assert_complete(report: &DemoReport) {
    assert!(report.conflicts.is_empty(), "{:?}", report.conflicts);
    assert_eq!(report.deferred, Tally::default());
}

async fn a_second_run_creates_nothing(mut server: TestServer) {
    server.restart(demo::status_date()).await;
    let first = demo::load(&server.store, demo::status_date())
        .await
        .unwrap();
    assert_complete(&first);
    assert_eq!(first.present, Tally::default());
    assert_eq!(first.created.projects, 24);
    assert_eq!(first.created.prerequisites, 64);
    assert_eq!(first.created.milestones, 30);
    assert_eq!(first.created.funding_windows, 4);
    assert_eq!(first.created.funding_applications, 21);
    assert_eq!(first.created.disbursements, 2);
    assert_eq!(first.created.investment_plans, 3);
    assert_eq!(first.created.investment_reports, 26);
    assert_eq!(first.created.report_corrections, 1);
    let before = snapshot(&server).await;
    assert_eq!(before.projects.len(), 24);
    assert_eq!(before.milestones.len(), 30);
    assert_eq!(before.applications.len(), 21);
    assert!(before.events > first.created.total(), "{before:?}");

    let second = demo::load(&server.store, demo::status_date())
        .await
        .unwrap();
    assert_complete(&second);
    assert_eq!(second.created, Tally::default(), "{second:?}");
    assert_eq!(second.present, first.created);
    assert_eq!(snapshot(&server).await, before);
}

async fn a_run_with_an_earlier_date_leaves_the_rest_for_later(mut server: TestServer) {
    server.restart(demo::status_date()).await;
    // Mid-September: the special bonds are approved later, the fifth batch is not yet open.
    let early = demo::load(&server.store, day(9, 15)).await.unwrap();
    assert!(early.conflicts.is_empty(), "{:?}", early.conflicts);
    assert!(early.deferred.total() > 0);
    assert_eq!(early.created.projects, 24);
    assert_eq!(early.created.funding_windows, 2);
    // January to August reported, September not yet.
    assert_eq!(early.created.investment_reports, 24);
    assert_eq!(early.deferred.investment_reports, 2);
    let mut funding = server.funding().await;
    let missing = funding
        .get_funding_window(v1::GetFundingWindowRequest {
            name: format!("fundingWindows/{}", demo::FUND_BATCH_5),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let library = server
        .projects()
        .await
        .get_project(v1::GetProjectRequest {
            name: "projects/old-estates-2026".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(library.stage(), v1::ProjectStage::Concept);
    // Nothing that happens after the load date was recorded: the trial production of 鑫鸣灏
    // has its first slip (5 September) but not its second (25 September).
    let trial = server
        .milestones()
        .await
        .get_milestone(v1::GetMilestoneRequest {
            name: "projects/xinminghao-battery/milestones/trial-production".into(),
            status_date: date(day(9, 15)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(trial.forecast_date, date(day(11, 10)));
    assert_eq!(trial.slip_count, 1);
    // 鑫鸣灏's completed investment: carried over, plus January to August as corrected.
    let battery = server
        .projects()
        .await
        .get_project(v1::GetProjectRequest {
            name: "projects/xinminghao-battery".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(battery.reported_investment_yuan, 365_000_000);
    assert_eq!(battery.completed_investment_yuan, 175_000_000 + 365_000_000);

    let rest = demo::load(&server.store, demo::status_date())
        .await
        .unwrap();
    assert_complete(&rest);
    assert_eq!(rest.present, early.created);
    assert_eq!(rest.created, early.deferred);
    let loaded = snapshot(&server).await;
    assert_eq!(loaded.projects.len(), 24);
    assert_eq!(loaded.milestones.len(), 30);
    assert_eq!(loaded.applications.len(), 21);
    assert_eq!(
        loaded.projects["projects/old-estates-2026"].0,
        "PROJECT_STAGE_RESERVE"
    );
}

async fn the_api_shows_the_autumn_push(mut server: TestServer) {
    let status = demo::status_date();
    let report = demo::load(&server.store, status).await.unwrap();
    assert_complete(&report);
    // As an operator would: `pipeline serve --today 2026-10-15` after `pipeline demo`.
    server.restart(status).await;

    // The eight headline projects in their stages, and the sixteen newly reserved ones.
    let mut projects = server.projects().await;
    let railway = projects
        .list_projects(v1::ListProjectsRequest {
            filter: "display_name : \"绵遂内铁路\"".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .projects;
    assert_eq!(railway.len(), 1);
    assert_eq!(railway[0].name, "projects/mianshui-railway");
    assert_eq!(railway[0].stage(), v1::ProjectStage::Preparation);
    assert_eq!(railway[0].department, "县交通运输局");
    for (id, stage) in [
        ("mianshui-railway", v1::ProjectStage::Preparation),
        ("citangwan-reservoir", v1::ProjectStage::Construction),
        ("xinminghao-battery", v1::ProjectStage::Construction),
        ("zhenqin-battery", v1::ProjectStage::Construction),
        ("water-supply-integration", v1::ProjectStage::Preparation),
        ("water-network-1", v1::ProjectStage::Preparation),
        ("qinquan-renewal", v1::ProjectStage::Preparation),
        ("licheng-food", v1::ProjectStage::Concept),
    ] {
        let project = projects
            .get_project(v1::GetProjectRequest {
                name: format!("projects/{id}"),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(project.stage(), stage, "{id}");
        assert!(project.total_investment_yuan > 0, "{id}");
    }
    for (stage, expected) in [
        ("CONCEPT", 1),
        ("RESERVE", 16),
        ("PREPARATION", 4),
        ("CONSTRUCTION", 3),
    ] {
        let listed = projects
            .list_projects(v1::ListProjectsRequest {
                filter: format!("stage = {stage}"),
                page_size: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .projects;
        assert_eq!(listed.len(), expected, "{stage}");
    }

    // Milestones as of 15 October: every status appears.
    let loaded = snapshot(&server).await;
    let mut by_status = BTreeMap::<&str, usize>::new();
    for (status, _, _) in loaded.milestones.values() {
        *by_status.entry(status.as_str()).or_default() += 1;
    }
    assert_eq!(
        by_status,
        BTreeMap::from([
            ("MILESTONE_STATUS_ACHIEVED", 4),
            ("MILESTONE_STATUS_AT_RISK", 1),
            ("MILESTONE_STATUS_ON_TRACK", 21),
            ("MILESTONE_STATUS_OVERDUE", 1),
            ("MILESTONE_STATUS_SLIPPED", 3),
        ])
    );
    let milestone = |name: &str| loaded.milestones[name].clone();
    assert_eq!(
        milestone("projects/water-supply-integration/milestones/construction-start").0,
        "MILESTONE_STATUS_AT_RISK"
    );
    assert_eq!(
        milestone("projects/mianshui-railway/milestones/preliminary-design").0,
        "MILESTONE_STATUS_OVERDUE"
    );
    // The README's worked example: two slips, 35 days late.
    assert_eq!(
        milestone("projects/xinminghao-battery/milestones/trial-production"),
        ("MILESTONE_STATUS_SLIPPED".to_string(), 35, 2)
    );
    // 臻秦 slipped and recovered: on track, with its slip on record.
    assert_eq!(
        milestone("projects/zhenqin-battery/milestones/trial-production"),
        ("MILESTONE_STATUS_ON_TRACK".to_string(), -1, 1)
    );
    // The revisions carry the days they were recorded: asked as of 10 September, the trial
    // production had slipped once, by 10 days (YELLOW).
    let mut milestones = server.milestones().await;
    let asked = milestones
        .get_milestone(v1::GetMilestoneRequest {
            name: "projects/xinminghao-battery/milestones/trial-production".into(),
            status_date: date(day(9, 10)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(asked.status(), v1::MilestoneStatus::Slipped);
    assert_eq!(asked.variance_days, 10);
    assert_eq!(asked.light(), v1::AlertLight::Yellow);
    let red = milestones
        .list_milestones(v1::ListMilestonesRequest {
            parent: "projects/-".into(),
            filter: "light = RED".into(),
            status_date: date(status),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .milestones;
    let red: Vec<_> = red.into_iter().map(|m| m.name).collect();
    assert_eq!(
        red,
        [
            "projects/mianshui-railway/milestones/preliminary-design",
            "projects/xinminghao-battery/milestones/trial-production",
        ]
    );

    // Applications in every state, money approved and partly paid.
    let mut by_state = BTreeMap::<&str, usize>::new();
    let (mut approved, mut disbursed) = (0, 0);
    for (state, approved_yuan, disbursed_yuan) in loaded.applications.values() {
        *by_state.entry(state.as_str()).or_default() += 1;
        approved += approved_yuan;
        disbursed += disbursed_yuan;
    }
    assert_eq!(
        by_state,
        BTreeMap::from([
            ("FUNDING_APPLICATION_STATE_APPROVED", 3),
            ("FUNDING_APPLICATION_STATE_DRAFT", 3),
            ("FUNDING_APPLICATION_STATE_REJECTED", 1),
            ("FUNDING_APPLICATION_STATE_SUBMITTED", 12),
            ("FUNDING_APPLICATION_STATE_WITHDRAWN", 2),
        ])
    );
    assert_eq!(approved, 800_000_000);
    assert_eq!(disbursed, 160_000_000);

    // The fifth fund batch a week before it closes: 16 eligible, 10 declared, 2 drafts and 4
    // projects not declared (one withdrew to rework its figures).
    let coverage = server
        .funding()
        .await
        .get_funding_coverage(v1::GetFundingCoverageRequest {
            name: format!("fundingWindows/{}", demo::FUND_BATCH_5),
            status_date: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(coverage.window_state(), v1::FundingWindowState::Open);
    assert_eq!(coverage.days_to_close, 7);
    assert_eq!(coverage.eligible_count, 16);
    assert_eq!(coverage.target_count, 16);
    assert_eq!(coverage.declared_count, 10);
    assert_eq!(coverage.submitted_count, 10);
    assert_eq!(coverage.draft_count, 2);
    assert_eq!(coverage.undeclared_count, 4);
    let undeclared: Vec<_> = coverage
        .undeclared_projects
        .iter()
        .map(|p| p.project.as_str())
        .collect();
    assert!(
        undeclared.contains(&"projects/chengdong-smart-parking"),
        "{undeclared:?}"
    );
    let drafts: Vec<_> = coverage
        .draft_applications
        .iter()
        .map(|p| p.project.as_str())
        .collect();
    assert_eq!(
        drafts.len(),
        2,
        "{drafts:?} should be the gas network and the wetland"
    );
    assert!(drafts.contains(&"projects/gas-network-renewal"));
    assert!(drafts.contains(&"projects/fujiang-wetland"));

    // The scanner, at start-up on 15 October, raised the alerts a leader should see.
    let log = events::read_after(server.store.connection(), 0, 1_000_000)
        .await
        .unwrap();
    let raised = |kind: v1::EventKind, resource: &str| {
        log.iter()
            .any(|e| e.kind() == kind && e.resource == resource && e.actor != demo::ACTOR)
    };
    assert!(raised(
        v1::EventKind::MilestoneAtRisk,
        "projects/water-supply-integration/milestones/construction-start"
    ));
    assert!(raised(
        v1::EventKind::MilestoneOverdue,
        "projects/mianshui-railway/milestones/preliminary-design"
    ));
    assert!(raised(
        v1::EventKind::FundingWindowClosing,
        &format!("fundingWindows/{}", demo::FUND_BATCH_5)
    ));
    // Everything the demo wrote is recorded as its work.
    assert!(
        log.iter()
            .filter(|e| e.kind() == v1::EventKind::ProjectCreated)
            .all(|e| e.actor == demo::ACTOR)
    );
}

// ---------------------------------------------------------------------------------------------
// The README, run as written.

/// The README this test holds to its word.
const README: &str = include_str!("../README.md");

/// Where the README's servers listen: `cargo run -- serve` (the empty county in
/// `pipeline-data`, called with `$AUTH`) and the demo server (`$DEMO_AUTH`).
const EMPTY_PORT: u16 = 50051;
const DEMO_PORT: u16 = 50052;

/// A fenced block of the README.
struct Block {
    lang: String,
    body: String,
    /// The text between the previous block and this one.
    before: String,
}

fn fenced_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    let mut before = String::new();
    while let Some(line) = lines.next() {
        let Some(lang) = line.strip_prefix("```") else {
            before.push_str(line);
            before.push('\n');
            continue;
        };
        let mut body = String::new();
        for line in lines.by_ref() {
            if line.starts_with("```") {
                break;
            }
            body.push_str(line);
            body.push('\n');
        }
        blocks.push(Block {
            lang: lang.trim().to_string(),
            body,
            before: std::mem::take(&mut before),
        });
    }
    blocks
}

/// One `buf curl` command of the README, and the output shown after it, if any.
#[derive(Debug)]
struct Call {
    port: u16,
    /// The shell variable holding the authorization header.
    auth: String,
    /// `/package.Service/Method`.
    path: String,
    data: Option<String>,
    expected: Option<serde_json::Value>,
}

/// Every `buf curl` command of the README's `sh` blocks that names a method, in order; a block's
/// last command gets the `json` block right after it as its expected output.
fn readme_calls() -> Vec<Call> {
    let blocks = fenced_blocks(README);
    let mut calls = Vec::new();
    let mut outputs_used = 0;
    for (i, block) in blocks.iter().enumerate() {
        if block.lang != "sh" {
            continue;
        }
        let first_of_block = calls.len();
        let mut rest = block.body.as_str();
        while let Some(at) = rest.find("buf curl") {
            let command = &rest[at..];
            let url_at = command
                .find("http://")
                .expect("a buf curl command has a URL");
            let url_end = command[url_at..]
                .find(char::is_whitespace)
                .map_or(command.len(), |n| url_at + n);
            let url = &command[url_at..url_end];
            let flags = &command[..url_at];
            rest = &command[url_end..];

            let (data, flags_without_data) = match flags.find("--data '") {
                Some(d) => {
                    let json_start = d + "--data '".len();
                    let json_len = flags[json_start..].find('\'').expect("closing quote");
                    let data = flags[json_start..json_start + json_len].to_string();
                    let outside = format!("{}{}", &flags[..d], &flags[json_start + json_len + 1..]);
                    (Some(data), outside)
                }
                None => (None, flags.to_string()),
            };
            // Copied into a shell, the command must be one command: every line break outside
            // the quoted JSON is escaped.
            for line in flags_without_data.lines().rev().skip(1) {
                assert!(
                    line.trim_end().ends_with('\\'),
                    "README: a `buf curl` command breaks its line without a backslash: {flags}"
                );
            }
            let address = url.strip_prefix("http://127.0.0.1:").expect("a local URL");
            let (port, path) = match address.split_once('/') {
                Some((port, path)) => (port, format!("/{path}")),
                None => (address, String::new()),
            };
            if path.is_empty() {
                // `--list-services`: reflection, nothing to compare.
                continue;
            }
            assert!(
                flags.contains("--protocol grpc --http2-prior-knowledge"),
                "README: {url} is called without gRPC over plain HTTP/2"
            );
            let auth = flags
                .split("-H \"$")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_else(|| panic!("README: {url} is called without a token"))
                .to_string();
            calls.push(Call {
                port: port.parse().expect("a port"),
                auth,
                path,
                data,
                expected: None,
            });
        }
        if let Some(next) = blocks.get(i + 1)
            && next.lang == "json"
            && next.before.trim().is_empty()
        {
            let last = calls
                .get_mut(first_of_block..)
                .and_then(|c| c.last_mut())
                .expect("an output follows a block with a call");
            last.expected =
                Some(serde_json::from_str(&next.body).unwrap_or_else(|e| {
                    panic!("README: an output is not JSON ({e}):\n{}", next.body)
                }));
            outputs_used += 1;
        }
    }
    let outputs = blocks.iter().filter(|b| b.lang == "json").count();
    assert_eq!(
        outputs_used, outputs,
        "README: every JSON output follows the command that answers it"
    );
    calls
}

/// Where `expected` (an output shown in the README) differs from `actual`, if anywhere. In
/// `expected`, the string "…" stands for any value, an object with the key "…" may have more
/// fields, and an array ending in "…" may have more elements.
fn difference(
    expected: &serde_json::Value,
    actual: &serde_json::Value,
    at: &str,
) -> Option<String> {
    use serde_json::Value;
    let elided = |v: &Value| v.as_str() == Some("…");
    match (expected, actual) {
        (e, _) if elided(e) => None,
        (Value::Object(e), Value::Object(a)) => {
            let open = e.contains_key("…");
            for (key, value) in e.iter().filter(|(k, _)| k.as_str() != "…") {
                let Some(found) = a.get(key) else {
                    return Some(format!("{at}.{key}: shown, but not in the answer"));
                };
                if let Some(d) = difference(value, found, &format!("{at}.{key}")) {
                    return Some(d);
                }
            }
            if !open && let Some(key) = a.keys().find(|k| !e.contains_key(*k)) {
                return Some(format!("{at}.{key}: in the answer ({}), not shown", a[key]));
            }
            None
        }
        (Value::Array(e), Value::Array(a)) => {
            let open = e.last().is_some_and(elided);
            let shown = if open { &e[..e.len() - 1] } else { &e[..] };
            if a.len() < shown.len() || (!open && a.len() != shown.len()) {
                return Some(format!(
                    "{at}: {} elements shown, {} in the answer",
                    shown.len(),
                    a.len()
                ));
            }
            shown
                .iter()
                .zip(a)
                .enumerate()
                .find_map(|(i, (e, a))| difference(e, a, &format!("{at}[{i}]")))
        }
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => None,
        (e, a) if e == a => None,
        (e, a) => Some(format!("{at}: shown {e}, answered {a}")),
    }
}

/// Sends the bytes of an already encoded request and returns the response's bytes, so that
/// the README's JSON can be sent without knowing its type at compile time.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        let len = bytes::Buf::remaining(src);
        Ok(Some(bytes::Buf::copy_to_bytes(src, len).to_vec()))
    }
}

/// Whether the README shows `value` as the error `buf curl` prints for a failed call: an object
/// of `code`, `message` and, when there are any, `details`.
fn shows_an_error(value: &serde_json::Value) -> bool {
    value.as_object().is_some_and(|object| {
        object.get("code").is_some_and(serde_json::Value::is_string)
            && object
                .keys()
                .all(|key| ["code", "message", "details"].contains(&key.as_str()))
    })
}

/// A failed call as `buf curl` prints it (on stderr): the code in snake case as Connect names it,
/// the message, and each detail of the `grpc-status-details-bin` trailer as its type name and its
/// bytes in base64 without padding, undecoded.
fn as_buf_curl_error(status: &tonic::Status) -> serde_json::Value {
    use base64::Engine;
    use prost::Message;

    let code = match status.code() {
        // Connect spells it the American way.
        tonic::Code::Cancelled => "canceled".to_string(),
        code => format!("{code:?}")
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                let separator = (i > 0 && c.is_ascii_uppercase()).then_some('_');
                separator.into_iter().chain(c.to_lowercase())
            })
            .collect(),
    };
    let mut error = serde_json::json!({"code": code, "message": status.message()});
    let details = tonic_types::pb::Status::decode(status.details())
        .expect("the status details are a google.rpc.Status")
        .details;
    if !details.is_empty() {
        error["details"] = details
            .iter()
            .map(|any| {
                serde_json::json!({
                    "type": any.type_url.rsplit('/').next().unwrap_or_default(),
                    "value": base64::engine::general_purpose::STANDARD_NO_PAD.encode(&any.value),
                })
            })
            .collect();
    }
    error
}

/// Makes a README call as `buf curl` would: its JSON request to the method's input type, the
/// answer back to proto3 JSON (camelCase names, 64-bit integers as strings, defaults left out).
/// A call fails the test unless the README shows the error it answers, which is then returned as
/// `buf curl` prints it. A stream only has its request checked (it does not end by itself), and
/// answers None.
async fn call_as_buf_curl(server: &TestServer, call: &Call) -> Option<serde_json::Value> {
    use prost::Message;
    use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

    let pool = DescriptorPool::decode(pipeline::proto::FILE_DESCRIPTOR_SET).unwrap();
    let (service, method) = call.path[1..].split_once('/').unwrap();
    let method = pool
        .get_service_by_name(service)
        .and_then(|s| s.methods().find(|m| m.name() == method))
        .unwrap_or_else(|| panic!("README: no method {}", call.path));
    let request = match &call.data {
        Some(data) => {
            let mut json = serde_json::Deserializer::from_str(data);
            let message = DynamicMessage::deserialize(method.input(), &mut json)
                .unwrap_or_else(|e| panic!("README: the request of {} ({e}): {data}", call.path));
            json.end().unwrap();
            message
        }
        None => DynamicMessage::new(method.input()),
    };
    if method.is_server_streaming() || method.is_client_streaming() {
        return None;
    }
    let mut grpc = tonic::client::Grpc::new(server.authed(&server.admin_token).await);
    grpc.ready().await.unwrap();
    let answer = match grpc
        .unary(
            tonic::Request::new(request.encode_to_vec()),
            call.path.parse().unwrap(),
            RawCodec,
        )
        .await
    {
        Ok(answer) => answer.into_inner(),
        Err(status) if call.expected.as_ref().is_some_and(shows_an_error) => {
            return Some(as_buf_curl_error(&status));
        }
        Err(status) => panic!("README: {} failed: {status:?}", call.path),
    };
    let answer = DynamicMessage::decode(method.output(), answer.as_slice()).unwrap();
    Some(
        answer
            .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
            .unwrap(),
    )
}

/// The rows of the README table whose header line starts with `header`.
fn readme_table(header: &str) -> Vec<Vec<String>> {
    let mut lines = README.lines().skip_while(|line| !line.starts_with(header));
    assert!(lines.next().is_some(), "README: no table {header}");
    lines
        .skip(1)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            line.trim()
                .trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect()
}

/// The README's command line that starts with `prefix`, split into arguments.
fn readme_command(prefix: &str) -> Vec<String> {
    let line = README
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("README: no command {prefix}"));
    line.split_whitespace().map(str::to_string).collect()
}

/// The value of `flag` in a command line.
fn flag_value<'a>(command: &'a [String], flag: &str) -> &'a str {
    let at = command
        .iter()
        .position(|arg| arg == flag)
        .unwrap_or_else(|| panic!("README: {command:?} has no {flag}"));
    &command[at + 1]
}

/// Loads the demo into `server`'s database by running `pipeline demo` with the README's flags
/// (the database swapped for the test's), checks what it prints against the README, and serves
/// it as the README's `serve` line does.
async fn load_the_demo_as_the_readme_does(server: &mut TestServer) {
    let demo_line = readme_command("cargo run -- demo ");
    let serve_line = readme_command("cargo run -- serve --data-dir demo-data");
    assert_eq!(flag_value(&demo_line, "--data-dir"), "demo-data");
    assert_eq!(flag_value(&serve_line, "--data-dir"), "demo-data");
    assert_eq!(
        flag_value(&serve_line, "--listen"),
        format!("127.0.0.1:{DEMO_PORT}")
    );
    let load_day: NaiveDate = flag_value(&demo_line, "--today").parse().unwrap();
    let serve_day: NaiveDate = flag_value(&serve_line, "--today").parse().unwrap();
    assert_eq!(serve_day, demo::status_date());

    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"));
    command.args(["demo", "--today", &load_day.to_string()]);
    let destination = match server.backend {
        common::Backend::Sqlite => {
            let dir = server
                .url
                .strip_prefix("sqlite://")
                .and_then(|rest| rest.strip_suffix("/pipeline.db?mode=rwc"))
                .expect("the test server's SQLite URL names its data directory")
                .to_string();
            command.args(["--data-dir", &dir]);
            dir
        }
        common::Backend::Postgres => {
            command.args(["--database-url", &server.url]);
            "the database of --database-url".to_string()
        }
    };
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("run pipeline demo");
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "pipeline demo failed: {printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown = fenced_blocks(README)
        .into_iter()
        .find(|b| b.lang == "text" && b.body.starts_with("County scenario"))
        .expect("README: the output of `demo`")
        .body
        .replace("demo-data", &destination);
    let report = printed
        .find("County scenario")
        .map(|at| &printed[at..])
        .unwrap_or_default();
    assert!(
        report.starts_with(&shown),
        "README shows:\n{shown}\npipeline demo printed:\n{report}"
    );

    server.restart(serve_day).await;
}

/// Every `buf curl` of the README, in order, on the server it names: the first calls on an
/// empty county, the rest on the demo served as of 15 October 2026; every output and table shown
/// is what comes back.
async fn the_readme_examples_answer_as_shown(empty: TestServer) {
    let mut demo_server = TestServer::start_on(empty.backend, demo::status_date()).await;
    load_the_demo_as_the_readme_does(&mut demo_server).await;

    let calls = readme_calls();
    assert!(calls.len() >= 12, "{calls:#?}");
    let mut answers = Vec::new();
    for call in &calls {
        let (server, auth) = match call.port {
            EMPTY_PORT => (&empty, "AUTH"),
            DEMO_PORT => (&demo_server, "DEMO_AUTH"),
            other => panic!("README: a call to port {other}, where no server of the README runs"),
        };
        assert_eq!(
            call.auth, auth,
            "README: {} on port {} with the token of the other server",
            call.path, call.port
        );
        let Some(answer) = call_as_buf_curl(server, call).await else {
            assert!(
                call.expected.is_none(),
                "README: an output is shown for the stream {}",
                call.path
            );
            continue;
        };
        if let Some(expected) = &call.expected
            && let Some(difference) = difference(expected, &answer, "")
        {
            panic!(
                "README: the output shown for {} on port {} differs: {difference}\nanswered: {answer:#}",
                call.path, call.port
            );
        }
        answers.push((call.path.as_str(), answer));
    }
    let answer_of = |path: &str| {
        answers
            .iter()
            .rev()
            .find(|(p, _)| *p == path)
            .map(|(_, a)| a)
            .unwrap_or_else(|| panic!("README: no call of {path}"))
    };

    // The township ranking, shown as a table.
    let rows = answer_of("/pipeline.v1.ReportService/ListRankings")["rows"]
        .as_array()
        .unwrap();
    let table = readme_table("| rank | township |");
    assert_eq!(
        table.len(),
        rows.len(),
        "README: every township is in the table"
    );
    let indicator = |name: &str| match name {
        "on_time_start_rate" => "on-time starts",
        "on_time_trial_production_rate" => "on-time trial productions",
        "overdue_count" => "overdue",
        "average_days_slipped" => "slip",
        "investment_completion_rate" => "investment",
        "report_on_time_rate" => "reports on time",
        "funding_coverage_rate" => "funding coverage",
        "problems_closed_on_time_rate" => "problems on time",
        "problems_average_days_overdue" => "problem days overdue",
        other => panic!("an indicator the README does not name: {other}"),
    };
    for (cells, row) in table.iter().zip(rows) {
        let number = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
        assert_eq!(cells[0], number(&row["rank"]).to_string(), "{cells:?}");
        assert_eq!(cells[1], row["unit"].as_str().unwrap(), "{cells:?}");
        assert_eq!(
            cells[2],
            number(&row["projectCount"]).to_string(),
            "{cells:?}"
        );
        assert_eq!(
            cells[3],
            format!("{:.2}", number(&row["totalScore"])),
            "{cells:?}"
        );
        let measured: Vec<String> = row["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["measured"] == serde_json::Value::Bool(true))
            .map(|i| {
                format!(
                    "{} {}",
                    indicator(i["indicator"].as_str().unwrap()),
                    number(&i["score"])
                )
            })
            .collect();
        assert_eq!(cells[4], measured.join(", "), "{cells:?}");
    }

    // The demo's headline projects, as the README's table lists them.
    let mut projects = demo_server.projects().await;
    let table = readme_table("| project | id | township | stage on 15 October |");
    assert_eq!(table.len(), 8);
    for cells in &table {
        let project = projects
            .get_project(v1::GetProjectRequest {
                name: format!("projects/{}", cells[1]),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(project.display_name, cells[0]);
        assert_eq!(project.township, cells[2]);
        assert_eq!(
            project.stage().as_str_name(),
            format!("PROJECT_STAGE_{}", cells[3])
        );
    }
}

/// The README's worked example, row by row, on the demo's 鑫鸣灏 trial production: the first
/// rows are what the demo recorded, the later ones follow as the county carries on.
async fn the_readme_worked_example_plays_on_the_demo(mut server: TestServer) {
    let report = demo::load(&server.store, demo::status_date())
        .await
        .unwrap();
    assert_complete(&report);
    server.restart(demo::status_date()).await;
    let name = "projects/xinminghao-battery/milestones/trial-production";
    let table = readme_table("| status date | what happened |");
    assert_eq!(table.len(), 7, "{table:?}");
    let readme_day = |cell: &str| {
        NaiveDate::parse_from_str(&format!("{cell} 2026"), "%d %b %Y")
            .unwrap_or_else(|e| panic!("README: {cell:?} is not a day ({e})"))
    };
    let overdue_alerts = |log: &[v1::Event]| {
        log.iter()
            .filter(|e| e.kind() == v1::EventKind::MilestoneOverdue && e.resource == name)
            .count()
    };
    for cells in &table {
        let (status_date, happened) = (readme_day(&cells[0]), cells[1].as_str());
        let milestone = if happened == "scheduled" || happened.contains("late: forecast") {
            // Recorded by the demo: asked as of that day, the revisions answer.
            server
                .milestones()
                .await
                .get_milestone(v1::GetMilestoneRequest {
                    name: name.into(),
                    status_date: date(status_date),
                })
                .await
                .unwrap()
                .into_inner()
        } else if happened.starts_with("baseline passed") {
            server.restart(status_date).await;
            let log = events::read_after(server.store.connection(), 0, 1_000_000)
                .await
                .unwrap();
            assert!(happened.contains("one MILESTONE_OVERDUE"));
            assert_eq!(overdue_alerts(&log), 1);
            get_today(&server, name).await
        } else if let Some(rest) = happened.strip_prefix("rebaselined to ") {
            server.restart(status_date).await;
            let baseline = readme_day(rest.split(" with").next().unwrap());
            server
                .milestones()
                .await
                .rebaseline_milestone(v1::RebaselineMilestoneRequest {
                    name: name.into(),
                    baseline_date: date(baseline),
                    reason: "县政府专题会同意调整试生产节点".into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
        } else if happened.starts_with("new baseline passed") {
            server.restart(status_date).await;
            let log = events::read_after(server.store.connection(), 0, 1_000_000)
                .await
                .unwrap();
            assert!(happened.contains("a second MILESTONE_OVERDUE"));
            assert_eq!(overdue_alerts(&log), 2);
            get_today(&server, name).await
        } else if let Some(rest) = happened.strip_prefix("achieved on ") {
            assert_eq!(server.today, status_date);
            let actual = readme_day(rest.split(';').next().unwrap());
            let achieved = server
                .milestones()
                .await
                .achieve_milestone(v1::AchieveMilestoneRequest {
                    name: name.into(),
                    actual_date: date(actual),
                    reason: "首条产线试生产".into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            assert!(happened.ends_with("the project moves to TRIAL_PRODUCTION"));
            let project = server
                .projects()
                .await
                .get_project(v1::GetProjectRequest {
                    name: "projects/xinminghao-battery".into(),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(project.stage(), v1::ProjectStage::TrialProduction);
            achieved
        } else {
            panic!("README: a row the test does not know how to play: {cells:?}");
        };
        let shown_day = |d: &Option<v1::Date>| {
            d.as_ref()
                .map(|d| {
                    let d = NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32).unwrap();
                    d.format("%-d %b").to_string()
                })
                .unwrap_or_else(|| "—".to_string())
        };
        assert_eq!(milestone.status_date, date(status_date), "{cells:?}");
        assert_eq!(
            [
                shown_day(&milestone.forecast_date),
                milestone
                    .status()
                    .as_str_name()
                    .trim_start_matches("MILESTONE_STATUS_")
                    .to_string(),
                milestone.variance_days.to_string().replace('-', "−"),
                milestone
                    .light()
                    .as_str_name()
                    .trim_start_matches("ALERT_LIGHT_")
                    .to_string(),
            ],
            cells[2..],
            "README worked example, row {cells:?}"
        );
    }
}

async fn get_today(server: &TestServer, name: &str) -> v1::Milestone {
    server
        .milestones()
        .await
        .get_milestone(v1::GetMilestoneRequest {
            name: name.into(),
            status_date: None,
        })
        .await
        .unwrap()
        .into_inner()
}
