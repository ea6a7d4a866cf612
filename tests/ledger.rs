//! The county's ledger (台账) in and out, on SQLite and PostgreSQL: a realistic ledger written
//! for the test (a title row, header variants, a merged township, amounts in 亿元 and 万元,
//! every date form, a blank row, three bad rows) imports with exactly the expected projects,
//! prerequisites, milestones and messages; the second import changes nothing; export → import
//! into an empty database → export gives the same cells, and the export has its fills.

mod common;

use calamine::{Data, Reader, Xlsx};
use chrono::NaiveDate;
use pipeline::ledger::import::{ImportOptions, ImportReport, Outcome, import};
use pipeline::proto::v1;
use rust_xlsxwriter::{Format, Workbook};

use common::TestServer;

const GOOD_ROWS: usize = 60;
const CATEGORIES: [&str; 11] = [
    "交通",
    "水利",
    "能源",
    "产业",
    "工业",
    "城建",
    "城市更新",
    "农业",
    "社会事业",
    "生态环保",
    "其他",
];
const TOWNSHIPS: [&str; 3] = ["城关镇", "太和镇", "香山镇"];
const DEPARTMENTS: [&str; 4] = ["县交通运输局", "县水利局", "县经信局", "县住建局"];
const STAGES: [&str; 6] = ["储备", "前期", "在建", "在建", "试生产", "投产"];
const PREREQ: [&str; 5] = ["已办结", "办理中", "未启动", "不涉及", ""];

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn code(i: usize) -> Option<String> {
    (i % 10 != 9).then(|| format!("2026-510922-{:02}-01-{:06}", i % 8, 100_000 + i))
}

fn stage(i: usize) -> &'static str {
    match i {
        58 => "暂停",
        59 => "终止",
        _ => STAGES[i % STAGES.len()],
    }
}

/// The planned construction start of row i, in the form the row writes it, and its day.
fn start(i: usize) -> (&'static str, NaiveDate) {
    match i % 5 {
        0 => ("serial", day(2026, 5, 20)),
        1 => ("2026-10-31", day(2026, 10, 31)),
        2 => ("2026/10/31", day(2026, 10, 31)),
        3 => ("2026年11月", day(2026, 11, 30)),
        _ => ("12月底", day(2026, 12, 31)),
    }
}

/// The total investment of row i (a 亿元 column) and its yuan.
fn total(i: usize) -> (Option<f64>, &'static str, i64) {
    match i % 3 {
        0 => (Some(3.25), "", 325_000_000),
        1 => (None, "1.5", 150_000_000),
        _ => (None, "8600万元", 86_000_000),
    }
}

/// The ledger: sheet 项目台账 with a merged title row, the header row, 60 good rows with a
/// blank row after the 30th, and three bad rows.
fn ledger() -> Vec<u8> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("项目台账").unwrap();
    let date_format = Format::new().set_num_format("yyyy-mm-dd");
    let headers = [
        "序号",
        "项目名称",
        "统一项目代码",
        "建设规模及内容",
        "行业类别",
        "投资主体",
        "属地乡镇",
        "责任单位",
        "项目业主",
        "联系领导",
        "总投资（亿元）",
        "年度计划投资（万元）",
        "累计完成(万元)",
        "进展阶段",
        "计划开工日期",
        "计划试生产时间",
        "入库纳统时间",
        "用地手续",
        "环评",
        "施工许可证",
        "备注",
        "自定义列",
    ];
    sheet
        .merge_range(
            0,
            0,
            0,
            headers.len() as u16 - 1,
            "某县2026年重点项目台账",
            &Format::new(),
        )
        .unwrap();
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string(1, c as u16, *h).unwrap();
    }
    let mut r = 2u32;
    for i in 0..GOOD_ROWS + 3 {
        if i == 30 {
            r += 1; // a blank row
        }
        let bad = i >= GOOD_ROWS;
        let base = if bad { i - GOOD_ROWS } else { i };
        sheet.write_number(r, 0, (i + 1) as f64).unwrap();
        sheet
            .write_string(r, 1, format!("{}重点项目{i:02}", TOWNSHIPS[base % 3]))
            .unwrap();
        let row_code = match i {
            62 => code(0), // a duplicate 项目代码
            _ if bad => Some(format!("2026-510922-09-09-{:06}", 900 + i)),
            _ => code(i),
        };
        if let Some(c) = row_code {
            sheet.write_string(r, 2, c).unwrap();
        }
        sheet.write_string(r, 3, format!("建设内容{i}")).unwrap();
        sheet
            .write_string(r, 4, CATEGORIES[base % CATEGORIES.len()])
            .unwrap();
        sheet
            .write_string(r, 5, if i % 2 == 0 { "政府投资" } else { "企业" })
            .unwrap();
        // Rows 0 to 2 share one merged township cell.
        if i == 0 {
            sheet
                .merge_range(r, 6, r + 2, 6, TOWNSHIPS[0], &Format::new())
                .unwrap();
        } else if i > 2 {
            sheet.write_string(r, 6, TOWNSHIPS[base % 3]).unwrap();
        }
        sheet
            .write_string(r, 7, DEPARTMENTS[base % DEPARTMENTS.len()])
            .unwrap();
        sheet.write_string(r, 8, format!("业主{i}")).unwrap();
        sheet.write_string(r, 9, "王副县长").unwrap();
        let (number, text, _) = total(base);
        match (i, number) {
            (60, _) => sheet.write_string(r, 10, "约3000").unwrap(),
            (_, Some(n)) => sheet.write_number(r, 10, n).unwrap(),
            _ => sheet.write_string(r, 10, text).unwrap(),
        };
        if i % 4 == 0 {
            sheet.write_string(r, 11, "1,234.56").unwrap();
        } else {
            sheet.write_number(r, 11, 1000.5 + i as f64).unwrap();
        }
        sheet.write_number(r, 12, 500.0 + 10.0 * i as f64).unwrap();
        sheet.write_string(r, 13, stage(base)).unwrap();
        let (form, _) = start(base);
        match (i, form) {
            (61, _) => sheet.write_string(r, 14, "2026-02-30").unwrap(),
            (_, "serial") => sheet
                .write_datetime_with_format(
                    r,
                    14,
                    rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 5, 20).unwrap(),
                    &date_format,
                )
                .unwrap(),
            (_, text) => sheet.write_string(r, 14, text).unwrap(),
        };
        if CATEGORIES[base % CATEGORIES.len()] == "产业" {
            sheet.write_string(r, 15, "2027年6月").unwrap();
        }
        if stage(base) == "在建" {
            sheet.write_string(r, 16, "2026-04-01").unwrap();
        }
        for (c, k) in [(17u16, 0usize), (18, 1), (19, 2)] {
            let state = PREREQ[(base + k) % PREREQ.len()];
            if !state.is_empty() {
                sheet.write_string(r, c, state).unwrap();
            }
        }
        sheet.write_string(r, 20, "重点").unwrap();
        sheet.write_string(r, 21, "x").unwrap();
        r += 1;
    }
    book.save_to_buffer().unwrap()
}

fn options(skip_bad_rows: bool, dry_run: bool) -> ImportOptions {
    ImportOptions {
        dry_run,
        skip_bad_rows,
        year: 2026,
        ..Default::default()
    }
}

async fn run(server: &TestServer, bytes: &[u8], options: &ImportOptions) -> ImportReport {
    import(
        server.channel().await,
        &server.admin_token,
        "台账.xlsx",
        bytes,
        options,
    )
    .await
}

async fn all_projects(server: &TestServer) -> Vec<v1::Project> {
    server
        .projects()
        .await
        .list_projects(v1::ListProjectsRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .projects
}

async fn event_count(server: &TestServer) -> usize {
    pipeline::events::log::read(&server.store, 0, 100_000)
        .await
        .unwrap()
        .len()
}

async fn export(server: &TestServer) -> Vec<u8> {
    pipeline::ledger::export::export(
        server.channel().await,
        &server.admin_token,
        &pipeline::ledger::export::ExportOptions {
            status_date: common::today(),
            filter: String::new(),
            title: "某县重点项目台账".into(),
        },
    )
    .await
    .unwrap()
}

/// Every sheet's cells as text, by sheet name.
fn cells(bytes: &[u8]) -> Vec<(String, Vec<Vec<String>>)> {
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    book.sheet_names()
        .into_iter()
        .map(|name| {
            let range = book.worksheet_range(&name).unwrap();
            let rows = range
                .rows()
                .map(|r| r.iter().map(|c| c.to_string()).collect())
                .collect();
            (name, rows)
        })
        .collect()
}

async fn a_realistic_ledger_imports_once_and_exports_round_trip(server: TestServer) {
    let bytes = ledger();
    let messages = |report: &ImportReport| -> Vec<String> {
        report.problems.iter().map(|p| p.to_string()).collect()
    };
    // The dry run: the unknown column is a note, the three bad rows are named by cell.
    let dry = run(&server, &bytes, &options(false, true)).await;
    let expected_problems = vec![
        "项目台账!V2: unknown column \"自定义列\" ignored (name it with --map 自定义列=FIELD)"
            .to_string(),
        "项目台账!K64: 总投资（亿元）: \"约3000\" is not an amount (write the number alone, e.g. 1234.56)"
            .to_string(),
        "项目台账!O65: 计划开工日期: \"2026-02-30\": there is no day 30 in 2026-02".to_string(),
        "项目台账!A66: 项目代码 2026-510922-00-01-100000 appears again (first at row 项目台账!3); each project once"
            .to_string(),
    ];
    assert_eq!(messages(&dry), expected_problems);
    assert!(!dry.written);
    assert_eq!(dry.good_rows, GOOD_ROWS);
    assert!(all_projects(&server).await.is_empty());

    // Without --skip-bad-rows nothing is written.
    let refused = run(&server, &bytes, &options(false, false)).await;
    assert!(!refused.written);
    assert!(
        messages(&refused)
            .last()
            .unwrap()
            .contains("3 bad row(s): nothing written"),
        "{:?}",
        messages(&refused)
    );
    assert!(all_projects(&server).await.is_empty());

    // With it, the 60 good rows.
    let first = run(&server, &bytes, &options(true, false)).await;
    assert_eq!(messages(&first), expected_problems);
    assert_eq!(first.count(Outcome::Created), GOOD_ROWS);
    assert_eq!(first.count(Outcome::Skipped), 3);
    assert_eq!(
        first.labels(Outcome::Skipped),
        vec!["项目台账!64", "项目台账!65", "项目台账!66"]
    );
    let projects = all_projects(&server).await;
    assert_eq!(projects.len(), GOOD_ROWS);
    let find = |i: usize| {
        projects
            .iter()
            .find(|p| p.display_name == format!("{}重点项目{i:02}", TOWNSHIPS[i % 3]))
            .unwrap_or_else(|| panic!("row {i} not imported"))
            .clone()
    };
    for i in [0usize, 1, 2, 3, 4, 9, 29, 30, 58, 59] {
        let p = find(i);
        assert_eq!(p.project_code, code(i).unwrap_or_default(), "{i}");
        assert_eq!(p.total_investment_yuan, total(i).2, "{i}");
        let annual = if i % 4 == 0 {
            12_345_600
        } else {
            (10_005_000 + 10_000 * i) as i64
        };
        assert_eq!(p.annual_planned_investment_yuan, annual, "{i}");
        assert_eq!(
            p.completed_investment_yuan,
            (5_000_000 + 100_000 * i) as i64,
            "{i}"
        );
        // The merged township cell reaches rows 1 and 2.
        let township = if i <= 2 {
            TOWNSHIPS[0]
        } else {
            TOWNSHIPS[i % 3]
        };
        assert_eq!(p.township, township, "{i}");
        let want = match stage(i) {
            "储备" => v1::ProjectStage::Reserve,
            "前期" => v1::ProjectStage::Preparation,
            "在建" => v1::ProjectStage::Construction,
            "试生产" => v1::ProjectStage::TrialProduction,
            "投产" => v1::ProjectStage::Operation,
            "暂停" => v1::ProjectStage::Suspended,
            _ => v1::ProjectStage::Cancelled,
        };
        assert_eq!(p.stage, want as i32, "{i}");
        let enrolled = (stage(i) == "在建").then_some(v1::Date {
            year: 2026,
            month: 4,
            day: 1,
        });
        assert_eq!(p.statistics_enrolment_date, enrolled, "{i}");
        let milestones = server
            .milestones()
            .await
            .list_milestones(v1::ListMilestonesRequest {
                parent: p.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .milestones;
        let baseline = milestones
            .iter()
            .find(|m| m.kind == v1::MilestoneKind::ConstructionStart as i32)
            .and_then(|m| m.baseline_date);
        let planned = start(i).1;
        use chrono::Datelike;
        assert_eq!(
            baseline,
            Some(v1::Date {
                year: planned.year(),
                month: planned.month() as i32,
                day: planned.day() as i32
            }),
            "{i}"
        );
        let prerequisites = server
            .projects()
            .await
            .list_prerequisites(v1::ListPrerequisitesRequest {
                parent: p.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .prerequisites;
        let expected = [0usize, 1, 2]
            .iter()
            .filter(|k| !PREREQ[(i + **k) % PREREQ.len()].is_empty())
            .count();
        assert_eq!(prerequisites.len(), expected, "{i}");
    }
    // 产业 rows have a trial production planned for the end of June 2027.
    let industry = find(3);
    let trial = server
        .milestones()
        .await
        .list_milestones(v1::ListMilestonesRequest {
            parent: industry.name.clone(),
            filter: "kind = TRIAL_PRODUCTION".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .milestones;
    assert_eq!(
        trial[0].baseline_date,
        Some(v1::Date {
            year: 2027,
            month: 6,
            day: 30
        })
    );

    // The same file again: nothing changes, not even the event log.
    let events = event_count(&server).await;
    let second = run(&server, &bytes, &options(true, false)).await;
    assert_eq!(second.count(Outcome::Unchanged), GOOD_ROWS);
    assert_eq!(second.count(Outcome::Created), 0);
    assert_eq!(second.count(Outcome::Updated), 0);
    assert_eq!(event_count(&server).await, events);

    // Export: three sheets, the title names the status date and the rule set, money in 万元,
    // the lights as fills.
    let exported = export(&server).await;
    let sheets = cells(&exported);
    let names: Vec<&str> = sheets.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["项目台账", "里程碑", "应报尽报"]);
    let projects_sheet = &sheets[0].1;
    assert_eq!(
        projects_sheet[0][0],
        "项目台账 某县重点项目台账（状态日期 2026-09-15，亮灯规则 lightRuleSets/default@1）"
    );
    assert_eq!(projects_sheet.len(), 2 + GOOD_ROWS);
    let row0 = projects_sheet
        .iter()
        .find(|r| r[1] == "城关镇重点项目00")
        .unwrap();
    assert_eq!(row0[2], "2026-510922-00-01-100000");
    assert_eq!(row0[10], "32500"); // 3.25亿 in 万元
    assert_eq!(row0[11], "1234.56");
    assert_eq!(row0[13], "储备");
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(exported.clone())).unwrap();
    let styles = book.worksheet_style("里程碑").unwrap();
    let lights = book.worksheet_range("里程碑").unwrap();
    let mut filled = 0;
    for (r, row) in lights.rows().enumerate().skip(2) {
        let Data::String(light) = &row[8] else {
            continue;
        };
        let expected = match light.as_str() {
            "红灯" => (0xFF, 0x7C, 0x80),
            "黄灯" => (0xFF, 0xEB, 0x84),
            _ => (0x63, 0xBE, 0x7B),
        };
        let style = styles.get((r as u32, 8)).expect("a style");
        let color = style
            .fill
            .as_ref()
            .and_then(|f| f.get_color())
            .expect("a fill");
        assert_eq!((color.red, color.green, color.blue), expected, "row {r}");
        filled += 1;
    }
    assert!(filled >= GOOD_ROWS, "{filled}");

    // Export → import into an empty database → export: the same cells.
    let empty = TestServer::start(server.backend).await;
    let copied = import(
        empty.channel().await,
        &empty.admin_token,
        "export.xlsx",
        &exported,
        &options(false, false),
    )
    .await;
    assert!(copied.problems.is_empty(), "{:?}", messages(&copied));
    assert_eq!(copied.count(Outcome::Created), GOOD_ROWS);
    assert_eq!(cells(&export(&empty).await), sheets);
}

async fn unreadable_and_incomplete_files_are_refused_whole(server: TestServer) {
    let report = run(
        &server,
        b"PK\x03\x04 not really a zip",
        &options(false, false),
    )
    .await;
    assert_eq!(report.problems.len(), 1);
    assert!(
        report.problems[0]
            .to_string()
            .starts_with("台账.xlsx: not a spreadsheet"),
        "{}",
        report.problems[0]
    );
    // A CSV (GB18030, as offices save it) without the 牵头部门 and 投资性质 columns.
    let csv = "项目名称,项目类别,所属乡镇\n水库,水利,城关镇\n";
    let gb = encoding_rs::GB18030.encode(csv).0.into_owned();
    let report = import(
        server.channel().await,
        &server.admin_token,
        "台账.csv",
        &gb,
        &options(false, false),
    )
    .await;
    assert_eq!(
        report
            .problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
        [
            "台账!A1: required columns missing: investment_type, department (headers such as 项目名称, 项目类别, 投资性质, 所属乡镇, 牵头部门); nothing imported"
        ]
    );
    assert!(all_projects(&server).await.is_empty());
}

/// The README's example ledger (a UTF-8 CSV with a byte order mark).
async fn the_readme_example_ledger_imports(server: TestServer) {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/ledger/example-ledger.csv"
    ))
    .unwrap();
    let go = |dry_run| {
        let bytes = bytes.clone();
        let server = &server;
        async move {
            import(
                server.channel().await,
                &server.admin_token,
                "example-ledger.csv",
                &bytes,
                &options(false, dry_run),
            )
            .await
        }
    };
    let dry = go(true).await;
    assert!(dry.problems.is_empty(), "{:?}", dry.problems);
    assert_eq!(dry.good_rows, 5);
    let first = go(false).await;
    assert_eq!(
        first.labels(Outcome::Created),
        [
            "example-ledger!2",
            "example-ledger!3",
            "example-ledger!4",
            "example-ledger!5",
            "example-ledger!6"
        ]
    );
    let second = go(false).await;
    assert_eq!(second.count(Outcome::Unchanged), 5);
    let projects = all_projects(&server).await;
    let hospital = projects
        .iter()
        .find(|p| p.display_name == "县人民医院住院综合楼")
        .unwrap();
    assert_eq!(hospital.total_investment_yuan, 450_000_000);
    assert_eq!(hospital.completed_investment_yuan, 36_000_000);
    assert_eq!(hospital.stage, v1::ProjectStage::Construction as i32);
    let road = projects
        .iter()
        .find(|p| p.display_name == "金华镇至太和镇公路改建")
        .unwrap();
    assert!(road.name.starts_with("projects/ledger-"), "{}", road.name);
}

both_backends!(
    a_realistic_ledger_imports_once_and_exports_round_trip,
    unreadable_and_incomplete_files_are_refused_whole,
    the_readme_example_ledger_imports,
);
