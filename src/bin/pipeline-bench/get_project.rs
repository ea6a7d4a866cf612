//! GetProject throughput and latency on SQLite with many projects, against a bare tonic server
//! measured in the same run.
//!
//! The reference is `pipeline-bench reference-server`: a child process, pinned like the real
//! server, whose ProjectService answers GetProject with a fixed project of the same encoded
//! size as the real ones (built from the same fields by the same conversion) and every other
//! method with UNIMPLEMENTED. It has no authentication, no tracing and no database, so the ratio
//! ours/reference is what the service's own work costs on top of tonic. Short rounds alternate
//! reference / ours / reference / ours …, and the ratio reported is the median of the per-pair
//! ratios, so drift of the machine during the run cancels out.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use pipeline::domain::access::Principal;
use pipeline::domain::project::{Category, InvestmentType, Project, ProjectFields, Stage};
use pipeline::domain::values::Id;
use pipeline::proto::v1;
use pipeline::service::projects::CreateProject;
use pipeline::store::{Store, WriteContext};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use v1::project_service_client::ProjectServiceClient;
use v1::project_service_server::{ProjectService, ProjectServiceServer};

use crate::common::{Database, histogram, median, ms, now_us, start_server};

/// The target from issue #8: GetProject throughput at least this fraction of the reference.
const TARGET_RATIO: f64 = 0.35;

/// Client tasks per HTTP/2 connection, the same for both targets.
pub const TASKS_PER_CONNECTION: usize = 8;

pub struct Options {
    pub projects: usize,
    pub seconds_per_round: f64,
    pub rounds: usize,
    pub concurrency: usize,
    /// `taskset -c` list for the servers (the real one and the reference); None: unpinned.
    pub server_cpus: Option<String>,
    /// `taskset -c` list this process pins itself to; None: unpinned.
    pub client_cpus: Option<String>,
}

/// The id of the `i`-th benchmark project; every id has the same length.
pub(crate) fn project_id(i: usize) -> String {
    format!("bench-{i:07}")
}

/// The descriptive fields of the `i`-th benchmark project: the kind of values a county enters
/// (Chinese names, a national project code, amounts in the hundreds of millions).
pub fn sample_fields(i: usize) -> ProjectFields {
    const CATEGORIES: [Category; 8] = [
        Category::Transport,
        Category::Water,
        Category::Energy,
        Category::Industry,
        Category::Urban,
        Category::Agriculture,
        Category::Social,
        Category::Ecology,
    ];
    const TOWNSHIPS: [&str; 4] = ["太和镇", "城关镇", "工业园区", "河东乡"];
    const DEPARTMENTS: [&str; 4] = ["县交通运输局", "县水利局", "县经信局", "县住建局"];
    ProjectFields {
        display_name: format!(
            "县域重点项目（第{:05}号）标准化厂房及配套基础设施工程",
            i % 100_000
        ),
        description: "新建标准化厂房约 12 万平方米及园区道路、给排水、供电等配套设施，\
                      建成后可容纳企业 30 家，年产值约 20 亿元。"
            .to_string(),
        project_code: Some(format!("2203-510922-04-01-{:06}", i % 1_000_000)),
        category: CATEGORIES[i % CATEGORIES.len()],
        investment_type: if i.is_multiple_of(2) {
            InvestmentType::Government
        } else {
            InvestmentType::Enterprise
        },
        township: TOWNSHIPS[i % TOWNSHIPS.len()].to_string(),
        department: DEPARTMENTS[i % DEPARTMENTS.len()].to_string(),
        owner: "县工业投资发展集团有限公司".to_string(),
        leader: "张副县长".to_string(),
        total_investment_yuan: 1_200_000_000 + i as i64 * 1_000,
        annual_planned_investment_yuan: 300_000_000 + i as i64 * 100,
        completed_investment_yuan: 142_000_000 + i as i64 * 10,
        statistics_enrolment_date: None,
    }
}

/// The message the reference server returns: project 1 as the real service would encode it.
fn reference_project() -> v1::Project {
    let now = now_us();
    v1::Project::from(&Project {
        id: project_id(1),
        uid: uuid::Uuid::new_v4().to_string(),
        fields: sample_fields(1),
        stage: Stage::Preparation,
        suspended_from_stage: None,
        stage_changed_at_us: now,
        created_at_us: now,
        updated_at_us: now,
        version: 1,
        reported_investment_yuan: 0,
    })
}

/// Pins every thread of this process to `cpus` (a `taskset -c` list).
pub fn pin_self(cpus: Option<&str>) -> anyhow::Result<()> {
    let Some(cpus) = cpus else { return Ok(()) };
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "taskset -a -p -c {cpus} failed");
    Ok(())
}

/// A child process of this binary, optionally pinned; killed on drop.
pub struct Helper {
    pub child: Child,
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// `taskset -c cpus <this binary>`, or the binary itself when `cpus` is None.
pub fn helper_command(cpus: Option<&str>) -> anyhow::Result<Command> {
    let exe = std::env::current_exe()?;
    Ok(match cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus]).arg(exe);
            c
        }
        None => Command::new(exe),
    })
}

/// `pipeline-bench reference-server --listen ADDR`: serves the reference until killed.
pub async fn reference_server(listen: SocketAddr) -> anyhow::Result<()> {
    let reference = Reference {
        project: reference_project(),
    };
    tonic::transport::Server::builder()
        .add_service(ProjectServiceServer::new(reference))
        .serve(listen)
        .await?;
    Ok(())
}

/// The bench-only reference: GetProject returns a fixed project; nothing else is implemented.
struct Reference {
    project: v1::Project,
}

#[tonic::async_trait]
impl ProjectService for Reference {
    async fn get_project(
        &self,
        request: Request<v1::GetProjectRequest>,
    ) -> Result<Response<v1::Project>, Status> {
        let mut project = self.project.clone();
        project.name = request.into_inner().name;
        Ok(Response::new(project))
    }

    async fn create_project(
        &self,
        _: Request<v1::CreateProjectRequest>,
    ) -> Result<Response<v1::Project>, Status> {
        Err(Status::unimplemented("reference server"))
    }

    async fn list_projects(
        &self,
        _: Request<v1::ListProjectsRequest>,
    ) -> Result<Response<v1::ListProjectsResponse>, Status> {
        Err(Status::unimplemented("reference server"))
    }

    async fn update_project(
        &self,
        _: Request<v1::UpdateProjectRequest>,
    ) -> Result<Response<v1::Project>, Status> {
        Err(Status::unimplemented("reference server"))
    }

    async fn delete_project(
        &self,
        _: Request<v1::DeleteProjectRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("reference server"))
    }

    async fn change_project_stage(
        &self,
        _: Request<v1::ChangeProjectStageRequest>,
    ) -> Result<Response<v1::Project>, Status> {
        Err(Status::unimplemented("reference server"))
    }

    async fn create_prerequisite(
        &self,
        _: Request<v1::CreatePrerequisiteRequest>,
    ) -> Result<Response<v1::Prerequisite>, Status> {
        Err(Status::unimplemented("reference server"))
    }

    async fn list_prerequisites(
        &self,
        _: Request<v1::ListPrerequisitesRequest>,
    ) -> Result<Response<v1::ListPrerequisitesResponse>, Status> {
        Err(Status::unimplemented("reference server"))
    }

    async fn update_prerequisite(
        &self,
        _: Request<v1::UpdatePrerequisiteRequest>,
    ) -> Result<Response<v1::Prerequisite>, Status> {
        Err(Status::unimplemented("reference server"))
    }

    async fn delete_prerequisite(
        &self,
        _: Request<v1::DeletePrerequisiteRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("reference server"))
    }
}

/// A free loopback port.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `connections` HTTP/2 connections to `addr`.
pub async fn connect_all(addr: &str, connections: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::with_capacity(connections);
    for _ in 0..connections {
        channels.push(Channel::from_shared(addr.to_string())?.connect().await?);
    }
    Ok(channels)
}

/// Starts the reference server pinned to `cpus` and waits until it answers.
async fn start_reference(cpus: Option<&str>) -> anyhow::Result<(Helper, String)> {
    let port = free_port()?;
    let child = helper_command(cpus)?
        .args(["reference-server", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let helper = Helper { child };
    let addr = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(channel) = Channel::from_shared(addr.clone())?.connect().await {
            let mut client = ProjectServiceClient::new(channel);
            let request = v1::GetProjectRequest {
                name: format!("projects/{}", project_id(0)),
            };
            if client.get_project(request).await.is_ok() {
                return Ok((helper, addr));
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the reference server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates `n` projects through the store, `parallel` transactions in flight at a time.
pub(crate) async fn load_projects(store: &Store, n: usize, parallel: usize) -> anyhow::Result<()> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..parallel {
        let store = store.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let ctx = WriteContext {
                actor: "bench".to_string(),
                principal: Principal::system("bench"),
                now_us: now_us(),
                today: chrono::Utc::now().date_naive(),
            };
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                let ctx = WriteContext {
                    now_us: now_us(),
                    ..ctx.clone()
                };
                let cmd = CreateProject {
                    project_id: Some(Id::parse(&project_id(i)).map_err(anyhow::Error::msg)?),
                    fields: sample_fields(i),
                    initial_stage: Stage::Preparation,
                };
                pipeline::service::projects::create(&store, &ctx, cmd, None)
                    .await
                    .map_err(|e| anyhow::anyhow!("creating project {i}: {e}"))?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// What one round against one target measured.
pub(crate) struct Round {
    pub(crate) calls: u64,
    pub(crate) errors: u64,
    pub(crate) elapsed: Duration,
    pub(crate) latencies: Histogram<u64>,
}

impl Round {
    pub(crate) fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
}

/// `concurrency` tasks call GetProject on random names until `duration` has passed.
pub(crate) async fn round(
    channels: &[Channel],
    bearer: Option<&MetadataValue<Ascii>>,
    projects: usize,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Round> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for t in 0..concurrency {
        let mut client = ProjectServiceClient::new(channels[t % channels.len()].clone());
        let bearer = bearer.cloned();
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(now_us() as u64 ^ (t as u64) << 32);
            let mut latencies = histogram();
            let (mut calls, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                let name = format!("projects/{}", project_id(rng.random_range(0..projects)));
                let mut request = Request::new(v1::GetProjectRequest { name });
                if let Some(bearer) = &bearer {
                    request
                        .metadata_mut()
                        .insert("authorization", bearer.clone());
                }
                let call = Instant::now();
                match client.get_project(request).await {
                    Ok(_) => {
                        calls += 1;
                        latencies.record((call.elapsed().as_micros() as u64).max(1))?;
                    }
                    Err(status) => {
                        errors += 1;
                        if errors == 1 {
                            eprintln!("GetProject failed: {status}");
                        }
                    }
                }
            }
            Ok::<_, anyhow::Error>((calls, errors, latencies))
        }));
    }
    let mut total = Round {
        calls: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: histogram(),
    };
    for task in tasks {
        let (calls, errors, latencies) = task.await??;
        total.calls += calls;
        total.errors += errors;
        total.latencies.add(&latencies)?;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

/// What all rounds of one target measured.
pub(crate) struct Totals {
    pub(crate) rates: Vec<f64>,
    p99s: Vec<f64>,
    pub(crate) errors: u64,
    pub(crate) latencies: Histogram<u64>,
}

impl Totals {
    pub(crate) fn new() -> Self {
        Self {
            rates: Vec::new(),
            p99s: Vec::new(),
            errors: 0,
            latencies: histogram(),
        }
    }

    pub(crate) fn add(&mut self, round: &Round) -> anyhow::Result<()> {
        self.rates.push(round.rate());
        self.p99s.push(ms(&round.latencies, 0.99));
        self.errors += round.errors;
        self.latencies.add(&round.latencies)?;
        Ok(())
    }

    pub(crate) fn json(&self) -> String {
        format!(
            "{{\"calls_per_s\":{:.1},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"errors\":{},\"calls\":{}}}",
            median(self.rates.clone()),
            ms(&self.latencies, 0.50),
            ms(&self.latencies, 0.99),
            self.errors,
            self.latencies.len(),
        )
    }
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let Options {
        projects,
        seconds_per_round,
        rounds,
        concurrency,
        server_cpus,
        client_cpus,
    } = options;
    anyhow::ensure!(projects > 0 && rounds > 0 && concurrency > 0);
    pin_self(client_cpus.as_deref())?;
    let server_cpus = server_cpus.as_deref();
    let total = Instant::now();

    // The data set, written through the store before the server starts.
    let dir = std::env::temp_dir().join(format!(
        "pipeline-bench-get-project-{}-{}",
        std::process::id(),
        now_us()
    ));
    std::fs::create_dir_all(&dir)?;
    let result = measure(
        &dir,
        projects,
        seconds_per_round,
        rounds,
        concurrency,
        server_cpus,
    )
    .await;
    std::fs::remove_dir_all(&dir).ok();
    result?;
    eprintln!(
        "get-project: done in {:.1} s",
        total.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn measure(
    dir: &std::path::Path,
    projects: usize,
    seconds_per_round: f64,
    rounds: usize,
    concurrency: usize,
    server_cpus: Option<&str>,
) -> anyhow::Result<()> {
    let loading = Instant::now();
    let store = Store::connect(&Store::sqlite_url(dir)).await?;
    store.migrate().await?;
    load_projects(&store, projects, 8).await?;
    store.close().await?;
    eprintln!(
        "loaded {projects} projects through the store in {:.1} s",
        loading.elapsed().as_secs_f64()
    );

    let server = start_server(Database::Dir(dir.to_path_buf()), server_cpus, &[]).await?;
    let (_reference, reference_addr) = start_reference(server_cpus).await?;
    let bearer = server.bearer()?;
    let connections = concurrency.div_ceil(TASKS_PER_CONNECTION);
    let ours = connect_all(&server.addr, connections).await?;
    let reference = connect_all(&reference_addr, connections).await?;

    // Both answer with messages of the same size.
    let name = format!("projects/{}", project_id(1));
    let mut request = Request::new(v1::GetProjectRequest { name: name.clone() });
    request
        .metadata_mut()
        .insert("authorization", bearer.clone());
    let ours_bytes = ProjectServiceClient::new(ours[0].clone())
        .get_project(request)
        .await?
        .into_inner()
        .encoded_len();
    let reference_bytes = ProjectServiceClient::new(reference[0].clone())
        .get_project(v1::GetProjectRequest { name })
        .await?
        .into_inner()
        .encoded_len();

    // Warm-up of both, not measured.
    let warm = Duration::from_secs_f64((seconds_per_round / 3.0).clamp(0.2, 1.0));
    round(&reference, None, projects, concurrency, warm).await?;
    round(&ours, Some(&bearer), projects, concurrency, warm).await?;

    let duration = Duration::from_secs_f64(seconds_per_round);
    let mut reference_totals = Totals::new();
    let mut ours_totals = Totals::new();
    let mut ratios = Vec::with_capacity(rounds);
    let mut p99_ratios = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let base = round(&reference, None, projects, concurrency, duration).await?;
        let mine = round(&ours, Some(&bearer), projects, concurrency, duration).await?;
        eprintln!(
            "round {}: reference {:.0} calls/s (p99 {:.2} ms), ours {:.0} calls/s (p99 {:.2} ms), ratio {:.3}",
            r + 1,
            base.rate(),
            ms(&base.latencies, 0.99),
            mine.rate(),
            ms(&mine.latencies, 0.99),
            mine.rate() / base.rate(),
        );
        ratios.push(mine.rate() / base.rate());
        p99_ratios.push(ms(&mine.latencies, 0.99) / ms(&base.latencies, 0.99));
        reference_totals.add(&base)?;
        ours_totals.add(&mine)?;
    }
    let ratio = median(ratios.clone());
    let p99_ratio = median(p99_ratios);
    let pinned = server_cpus.unwrap_or("unpinned");
    println!(
        "GetProject on SQLite: ours (`pipeline serve`) vs a bare tonic server returning a project of the same size, \
         servers on CPU {pinned}, {rounds} alternating rounds of {seconds_per_round} s"
    );
    println!(
        "| projects | concurrency | message bytes ours / ref | reference calls/s | reference p50 / p99 ms | ours calls/s | ours p50 / p99 ms | throughput ours/ref (median of pairs) | p99 ours/ref | target |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {projects} | {concurrency} | {ours_bytes} / {reference_bytes} | {:.0} | {:.2} / {:.2} | {:.0} | {:.2} / {:.2} | {ratio:.3} | {p99_ratio:.2} | ≥ {TARGET_RATIO} {} |",
        median(reference_totals.rates.clone()),
        ms(&reference_totals.latencies, 0.50),
        ms(&reference_totals.latencies, 0.99),
        median(ours_totals.rates.clone()),
        ms(&ours_totals.latencies, 0.50),
        ms(&ours_totals.latencies, 0.99),
        if ratio >= TARGET_RATIO {
            "met"
        } else {
            "NOT met"
        },
    );
    let ratio_list: Vec<String> = ratios.iter().map(|r| format!("{r:.4}")).collect();
    println!(
        "{{\"bench\":\"get_project\",\"database\":\"sqlite\",\"projects\":{projects},\"concurrency\":{concurrency},\
         \"connections\":{connections},\"rounds\":{rounds},\"seconds_per_round\":{seconds_per_round},\
         \"server_cpus\":\"{pinned}\",\"message_bytes\":{ours_bytes},\"reference_message_bytes\":{reference_bytes},\
         \"reference\":{},\"ours\":{},\"throughput_ratio\":{ratio:.4},\"throughput_ratios\":[{}],\
         \"p99_ratio\":{p99_ratio:.4},\"target_ratio\":{TARGET_RATIO},\"target_met\":{}}}",
        reference_totals.json(),
        ours_totals.json(),
        ratio_list.join(","),
        ratio >= TARGET_RATIO,
    );
    if reference_totals.errors + ours_totals.errors > 0 {
        println!(
            "(errors: reference {}, ours {})",
            reference_totals.errors, ours_totals.errors
        );
    }
    server.stop();
    Ok(())
}
