//! FundingService windows end to end on SQLite and PostgreSQL.

mod common;

use std::collections::HashSet;

use pipeline::proto::v1;
use prost_types::FieldMask;
use tonic::Code;
use tonic_types::StatusExt;

use common::TestServer;

fn date(year: i32, month: i32, day: i32) -> Option<v1::Date> {
    Some(v1::Date { year, month, day })
}

fn window(
    channel: v1::FundingChannel,
    title: &str,
    open: Option<v1::Date>,
    close: Option<v1::Date>,
) -> v1::FundingWindow {
    v1::FundingWindow {
        channel: channel as i32,
        title: title.into(),
        open_date: open,
        close_date: close,
        ..Default::default()
    }
}

fn bad_fields(status: &tonic::Status) -> HashSet<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

async fn windows_round_trip_and_listing(server: TestServer) {
    let mut client = server.funding().await;
    let fifth = client
        .create_funding_window(v1::CreateFundingWindowRequest {
            funding_window_id: "fund-batch-5".into(),
            request_id: "create-fund-5".into(),
            funding_window: Some(v1::FundingWindow {
                target_count: 16,
                eligibility: Some(v1::FundingEligibility {
                    categories: vec![
                        v1::ProjectCategory::Water as i32,
                        v1::ProjectCategory::Transport as i32,
                    ],
                    min_total_investment_yuan: 100_000_000,
                    required_prerequisites: vec![v1::PrerequisiteKind::Land as i32],
                    ..Default::default()
                }),
                ..window(
                    v1::FundingChannel::PolicyFinance,
                    "第五批",
                    date(2026, 9, 1),
                    date(2026, 9, 30),
                )
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fifth.name, "fundingWindows/fund-batch-5");
    let eligibility = fifth.eligibility.clone().unwrap();
    assert_eq!(
        eligibility.stages,
        vec![
            v1::ProjectStage::Reserve as i32,
            v1::ProjectStage::Preparation as i32
        ],
        "RESERVE and PREPARATION by default"
    );
    assert_eq!(
        eligibility.required_prerequisites,
        vec![v1::PrerequisiteKind::Land as i32]
    );
    let again = client
        .create_funding_window(v1::CreateFundingWindowRequest {
            funding_window_id: "fund-batch-5".into(),
            request_id: "create-fund-5".into(),
            funding_window: Some(v1::FundingWindow {
                target_count: 16,
                eligibility: fifth.eligibility.clone().map(|mut e| {
                    e.stages.clear();
                    e
                }),
                ..window(
                    v1::FundingChannel::PolicyFinance,
                    "第五批",
                    date(2026, 9, 1),
                    date(2026, 9, 30),
                )
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, fifth, "a retry returns the first result");
    for (id, channel, title, open, close) in [
        (
            "bond-3",
            v1::FundingChannel::SpecialBond,
            "第三批专项债",
            date(2026, 8, 1),
            date(2026, 8, 31),
        ),
        (
            "central-q4",
            v1::FundingChannel::CentralBudget,
            "四季度中央预算内投资",
            date(2026, 10, 1),
            date(2026, 10, 15),
        ),
        (
            "loan-2026",
            v1::FundingChannel::LongTermLoan,
            "中长期贷款",
            date(2026, 9, 10),
            date(2026, 12, 31),
        ),
    ] {
        client
            .create_funding_window(v1::CreateFundingWindowRequest {
                funding_window_id: id.into(),
                funding_window: Some(window(channel, title, open, close)),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let list = |filter: &str, order_by: &str| {
        let mut c = client.clone();
        let request = v1::ListFundingWindowsRequest {
            filter: filter.into(),
            order_by: order_by.into(),
            status_date: date(2026, 9, 15),
            ..Default::default()
        };
        async move {
            c.list_funding_windows(request)
                .await
                .unwrap()
                .into_inner()
                .funding_windows
                .into_iter()
                .map(|w| w.name.trim_start_matches("fundingWindows/").to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list("", "").await,
        vec!["bond-3", "fund-batch-5", "central-q4", "loan-2026"]
    );
    assert_eq!(
        list("state = OPEN", "").await,
        vec!["fund-batch-5", "loan-2026"]
    );
    assert_eq!(list("state = CLOSED", "").await, vec!["bond-3"]);
    assert_eq!(list("state = UPCOMING", "").await, vec!["central-q4"]);
    assert_eq!(list("channel = SPECIAL_BOND", "").await, vec!["bond-3"]);
    assert_eq!(
        list("", "open_date desc").await,
        vec!["central-q4", "loan-2026", "fund-batch-5", "bond-3"]
    );

    // Pages of one cover everything once.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_funding_windows(v1::ListFundingWindowsRequest {
                page_size: 1,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.funding_windows.into_iter().map(|w| w.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 4);

    // Updates: masks, etags, and the date rule across fields.
    let updated = client
        .update_funding_window(v1::UpdateFundingWindowRequest {
            funding_window: Some(v1::FundingWindow {
                name: fifth.name.clone(),
                close_date: date(2026, 10, 10),
                etag: fifth.etag.clone(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.close_date, date(2026, 10, 10));
    assert_eq!(updated.target_count, 16);
    let err = client
        .update_funding_window(v1::UpdateFundingWindowRequest {
            funding_window: Some(v1::FundingWindow {
                name: fifth.name.clone(),
                target_count: 20,
                etag: fifth.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["target_count".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    let err = client
        .update_funding_window(v1::UpdateFundingWindowRequest {
            funding_window: Some(v1::FundingWindow {
                name: fifth.name.clone(),
                close_date: date(2026, 8, 1),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        HashSet::from(["funding_window.close_date".to_string()])
    );
    let fetched = client
        .get_funding_window(v1::GetFundingWindowRequest {
            name: fifth.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, updated, "the refused update changed nothing");

    let log = pipeline::events::log::read(&server.store, 0, 1000)
        .await
        .unwrap();
    let kinds: Vec<v1::EventKind> = log.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        vec![
            v1::EventKind::FundingWindowCreated,
            v1::EventKind::FundingWindowCreated,
            v1::EventKind::FundingWindowCreated,
            v1::EventKind::FundingWindowCreated,
            v1::EventKind::FundingWindowUpdated,
        ]
    );
    assert_eq!(log[4].decode().unwrap().changed_fields, vec!["close_date"]);
}

async fn bad_windows_are_refused(server: TestServer) {
    let mut client = server.funding().await;
    let err = client
        .create_funding_window(v1::CreateFundingWindowRequest {
            funding_window_id: "Bad".into(),
            funding_window: Some(v1::FundingWindow {
                channel: 42,
                title: String::new(),
                open_date: date(2026, 10, 20),
                close_date: date(2026, 2, 30),
                target_count: -1,
                target_amount_yuan: -5,
                eligibility: Some(v1::FundingEligibility {
                    stages: vec![99],
                    min_total_investment_yuan: -1,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&err),
        [
            "funding_window_id",
            "funding_window.channel",
            "funding_window.title",
            "funding_window.close_date",
            "funding_window.target_count",
            "funding_window.target_amount_yuan",
            "funding_window.eligibility.stages[0]",
            "funding_window.eligibility.min_total_investment_yuan",
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
    let err = client
        .create_funding_window(v1::CreateFundingWindowRequest {
            funding_window: Some(window(
                v1::FundingChannel::SpecialBond,
                "倒挂",
                date(2026, 10, 20),
                date(2026, 10, 1),
            )),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        HashSet::from(["funding_window.close_date".to_string()]),
        "close before open"
    );
    let err = client
        .get_funding_window(v1::GetFundingWindowRequest {
            name: "fundingWindows/none".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = client
        .list_funding_windows(v1::ListFundingWindowsRequest {
            filter: "state = SOON".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), HashSet::from(["filter".to_string()]));
    assert!(
        pipeline::events::log::read(&server.store, 0, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing was written"
    );
}

/// Issue 15: a window with 100,000 eligibility stages was stored, its own response was over the
/// limit, and afterwards Get, List and every stream reaching its event failed. Each repeated
/// field now lists every value at most once.
async fn oversized_eligibility_is_refused_without_writes(server: TestServer) {
    let mut client = server.funding().await;
    let valid = || {
        window(
            v1::FundingChannel::PolicyFinance,
            "第五批",
            date(2026, 10, 1),
            date(2026, 10, 20),
        )
    };
    let with = |eligibility: v1::FundingEligibility| v1::FundingWindow {
        eligibility: Some(eligibility),
        ..valid()
    };
    let reserve = v1::ProjectStage::Reserve as i32;
    let water = v1::ProjectCategory::Water as i32;
    let land = v1::PrerequisiteKind::Land as i32;
    for (eligibility, field) in [
        (
            v1::FundingEligibility {
                stages: vec![reserve; 100_000],
                ..Default::default()
            },
            "funding_window.eligibility.stages",
        ),
        (
            v1::FundingEligibility {
                categories: vec![water; 10],
                ..Default::default()
            },
            "funding_window.eligibility.categories",
        ),
        (
            v1::FundingEligibility {
                required_prerequisites: vec![land; 100_000],
                ..Default::default()
            },
            "funding_window.eligibility.required_prerequisites",
        ),
        // Within the bound, a value listed twice is refused where it repeats.
        (
            v1::FundingEligibility {
                stages: vec![reserve, v1::ProjectStage::Preparation as i32, reserve],
                ..Default::default()
            },
            "funding_window.eligibility.stages[2]",
        ),
        (
            v1::FundingEligibility {
                categories: vec![water, water],
                ..Default::default()
            },
            "funding_window.eligibility.categories[1]",
        ),
    ] {
        let err = client
            .create_funding_window(v1::CreateFundingWindowRequest {
                funding_window: Some(with(eligibility)),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        assert_eq!(bad_fields(&err), HashSet::from([field.to_string()]));
        assert!(
            err.message().len() < 1024,
            "a small error: {}",
            err.message()
        );
    }
    let listed = client
        .list_funding_windows(v1::ListFundingWindowsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.funding_windows.is_empty(), "no window was written");
    assert!(
        pipeline::events::log::read(&server.store, 0, 10)
            .await
            .unwrap()
            .is_empty(),
        "no event was written"
    );

    // Every value once is the most, and round-trips.
    let all = v1::FundingEligibility {
        stages: (1..=8).collect(),
        categories: (1..=9).collect(),
        investment_type: v1::InvestmentType::Government as i32,
        min_total_investment_yuan: 10_000_000_000_000,
        required_prerequisites: (1..=7).collect(),
    };
    let created = client
        .create_funding_window(v1::CreateFundingWindowRequest {
            funding_window_id: "all".into(),
            funding_window: Some(with(all.clone())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.eligibility, Some(all.clone()));
    // An update past the bound changes nothing either.
    let err = client
        .update_funding_window(v1::UpdateFundingWindowRequest {
            funding_window: Some(v1::FundingWindow {
                name: created.name.clone(),
                eligibility: Some(v1::FundingEligibility {
                    stages: vec![reserve; 100_000],
                    ..Default::default()
                }),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["eligibility".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        HashSet::from(["funding_window.eligibility.stages".to_string()])
    );
    let read = client
        .get_funding_window(v1::GetFundingWindowRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);
    assert_eq!(
        pipeline::events::log::read(&server.store, 0, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Windows as large as they may be, under the smallest message limit the server accepts: each
/// page fits, and the pages hold every window once.
async fn window_pages_fit_the_message_limit(mut server: TestServer) {
    const LIMIT: usize = 64 * 1024;
    let today = server.today;
    server
        .restart_with(today, |options| options.max_message_bytes = LIMIT)
        .await;
    let mut client = server.funding().await;
    let big = "\u{20000}".repeat(4000);
    for i in 0..10 {
        client
            .create_funding_window(v1::CreateFundingWindowRequest {
                funding_window_id: format!("w{i:02}"),
                funding_window: Some(v1::FundingWindow {
                    title: "\u{20000}".repeat(200),
                    description: big.clone(),
                    eligibility: Some(v1::FundingEligibility {
                        stages: (1..=8).collect(),
                        categories: (1..=9).collect(),
                        required_prerequisites: (1..=7).collect(),
                        ..Default::default()
                    }),
                    ..window(
                        v1::FundingChannel::SpecialBond,
                        "",
                        date(2026, 10, 1),
                        date(2026, 10, 20 - i),
                    )
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    for order_by in ["", "open_date desc"] {
        let mut seen = Vec::new();
        let mut token = String::new();
        let mut pages = 0;
        loop {
            let page = client
                .list_funding_windows(v1::ListFundingWindowsRequest {
                    page_size: 1000,
                    page_token: token,
                    order_by: order_by.into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            assert!(prost::Message::encoded_len(&page) <= LIMIT);
            assert!(!page.funding_windows.is_empty());
            seen.extend(page.funding_windows.into_iter().map(|w| w.name));
            pages += 1;
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        assert!(pages >= 3, "{pages} pages");
        let mut names = seen.clone();
        names.sort();
        names.dedup();
        assert_eq!((seen.len(), names.len()), (10, 10), "{order_by}: {seen:?}");
        if order_by.is_empty() {
            let expected: Vec<String> = (0..10)
                .rev()
                .map(|i| format!("fundingWindows/w{i:02}"))
                .collect();
            assert_eq!(seen, expected, "by close date");
        }
    }
    let one = client
        .get_funding_window(v1::GetFundingWindowRequest {
            name: "fundingWindows/w03".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.description, big);
}

both_backends!(
    windows_round_trip_and_listing,
    bad_windows_are_refused,
    oversized_eligibility_is_refused_without_writes,
    window_pages_fit_the_message_limit
);
