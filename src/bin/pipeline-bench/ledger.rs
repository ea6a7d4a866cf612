//! Ledger import throughput (issue 19): a ledger of `rows` projects written as XLSX in the
//! export's layout (项目代码, money in 万元, a stage, a planned construction start and trial
//! production, two 要件 columns), imported into a fresh server, against the raw write rate of
//! the same server: one client creating the same projects with bare CreateProject calls, one
//! after the other, as the import does. Also the dry run (reading and checking only).
//!
//! An imported row costs a lookup by 项目代码, CreateProject, two CreatePrerequisite and two
//! CreateMilestone: six calls, five of them writes (each its own transaction with its event);
//! the reference is one write per row, so the ratio says what the ledger's extra work costs.

use std::time::Instant;

use pipeline::ledger::import::{ImportOptions, Outcome, import};
use pipeline::proto::v1;
use rust_xlsxwriter::Workbook;
use v1::project_service_client::ProjectServiceClient;

use crate::common::{Database, start_server};

pub struct Options {
    pub rows: usize,
    pub postgres_url: Option<String>,
    pub server_cpus: Option<String>,
}

/// The ledger: a header row and `rows` projects.
fn ledger(rows: usize, prefix: &str) -> anyhow::Result<Vec<u8>> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("项目台账")?;
    let headers = [
        "项目名称",
        "项目代码",
        "项目类别",
        "投资性质",
        "所属乡镇",
        "牵头部门",
        "总投资（万元）",
        "年度计划投资（万元）",
        "项目阶段",
        "计划开工时间",
        "计划试生产时间",
        "用地",
        "环评",
    ];
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string(0, c as u16, *h)?;
    }
    for i in 0..rows {
        let r = 1 + i as u32;
        sheet.write_string(r, 0, format!("县域重点项目{i:05}"))?;
        sheet.write_string(r, 1, format!("{prefix}-510922-04-01-{i:06}"))?;
        sheet.write_string(r, 2, ["交通", "水利", "产业", "城建"][i % 4])?;
        sheet.write_string(r, 3, ["政府投资", "企业投资"][i % 2])?;
        sheet.write_string(r, 4, ["城关镇", "太和镇", "香山镇"][i % 3])?;
        sheet.write_string(r, 5, ["县水利局", "县经信局"][i % 2])?;
        sheet.write_number(r, 6, 12_000.0 + i as f64)?;
        sheet.write_string(r, 7, "3,000.50")?;
        sheet.write_string(r, 8, ["储备", "前期", "在建"][i % 3])?;
        sheet.write_string(r, 9, "2026年12月")?;
        sheet.write_string(r, 10, "2027-06-30")?;
        sheet.write_string(r, 11, "已办结")?;
        sheet.write_string(r, 12, "办理中")?;
    }
    Ok(book.save_to_buffer()?)
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let mut databases: Vec<(&str, Option<String>)> = vec![("SQLite", None)];
    if let Some(url) = &options.postgres_url {
        databases.push(("PostgreSQL", Some(url.clone())));
    }
    println!(
        "\n## Ledger import: {} rows (XLSX, {} columns) into a fresh server, against bare CreateProject calls\n",
        options.rows, 13
    );
    println!(
        "| backend | dry run rows/s | import rows/s | raw CreateProject rows/s | import / raw |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for (label, admin_url) in databases {
        let scratch = match &admin_url {
            Some(url) => {
                Some(crate::common::ScratchPostgres::create(url, "pipeline_bench_ledger").await?)
            }
            None => None,
        };
        let database = match &scratch {
            Some(scratch) => Database::Url(scratch.url.clone()),
            None => Database::Scratch,
        };
        let server = start_server(database, options.server_cpus.as_deref(), &[]).await?;
        let bytes = ledger(options.rows, "2611")?;
        let opts = |dry_run| ImportOptions {
            dry_run,
            year: 2026,
            ..Default::default()
        };
        let started = Instant::now();
        let dry = import(
            server.channel().await?,
            &server.token,
            "bench.xlsx",
            &bytes,
            &opts(true),
        )
        .await;
        let dry_rate = options.rows as f64 / started.elapsed().as_secs_f64();
        anyhow::ensure!(dry.good_rows == options.rows, "dry run: {:?}", dry.problems);
        let started = Instant::now();
        let report = import(
            server.channel().await?,
            &server.token,
            "bench.xlsx",
            &bytes,
            &opts(false),
        )
        .await;
        let import_rate = options.rows as f64 / started.elapsed().as_secs_f64();
        anyhow::ensure!(
            report.count(Outcome::Created) == options.rows,
            "import: {:?}",
            report.problems.iter().take(5).collect::<Vec<_>>()
        );
        // The reference: the same number of projects, one bare CreateProject each.
        let mut client = ProjectServiceClient::with_interceptor(
            server.channel().await?,
            crate::common::Bearer(server.bearer()?),
        );
        let started = Instant::now();
        for i in 0..options.rows {
            client
                .create_project(v1::CreateProjectRequest {
                    project: Some(v1::Project {
                        display_name: format!("参照项目{i:05}"),
                        project_code: format!("2612-510922-04-01-{i:06}"),
                        category: v1::ProjectCategory::Water as i32,
                        investment_type: v1::InvestmentType::Government as i32,
                        township: "城关镇".into(),
                        department: "县水利局".into(),
                        total_investment_yuan: 120_000_000,
                        annual_planned_investment_yuan: 30_005_000,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await?;
        }
        let raw_rate = options.rows as f64 / started.elapsed().as_secs_f64();
        println!(
            "| {label} | {dry_rate:.0} | {import_rate:.0} | {raw_rate:.0} | {:.2}× |",
            import_rate / raw_rate
        );
        println!(
            "{{\"bench\":\"ledger_import\",\"backend\":\"{label}\",\"rows\":{},\"dry_run_rows_per_s\":{dry_rate:.1},\"import_rows_per_s\":{import_rate:.1},\"raw_create_rows_per_s\":{raw_rate:.1}}}",
            options.rows
        );
        drop(server);
        if let Some(scratch) = scratch {
            scratch.drop().await;
        }
    }
    Ok(())
}
