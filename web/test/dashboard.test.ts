// The dashboard in a real browser: Debian's chromium, headless, driven by playwright-core,
// against `pipeline serve` loaded with the demo county as of 2026-10-15 (README "The demo
// county"). Run by .ci/run (`npm test` in web/, after `cargo build`):
//
//   PIPELINE_BIN=../target/debug/pipeline CHROMIUM=/usr/bin/chromium npm test
//
// It checks that the page shows the demo's numbers, that a wrong token gets a clear message,
// that a ForecastMilestone call made here (native gRPC) turns a light on the page within 2 s,
// that a milestone's page plots its revisions, and that the page resumes its event stream from
// its cursor across a server restart, receiving the event of a change made while it was away. Screenshots go to
// test-output/ (TEST_OUTPUT_DIR), kept by CI as artifacts.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { chromium, type Page } from "playwright-core";
import { AlertLight, MilestoneService, MilestoneStatus } from "../src/gen/pipeline/v1/milestone_pb.js";
import { ReportService } from "../src/gen/pipeline/v1/report_pb.js";

const BIN = resolve(process.env.PIPELINE_BIN ?? "../target/debug/pipeline");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const OUT = resolve(process.env.TEST_OUTPUT_DIR ?? "test-output");
const TODAY = "2026-10-15";
/** How soon a change made through the API must show on the page. */
const LIVE_LIMIT_MS = 2000;

let failures = 0;
let passes = 0;
async function check(name: string, body: () => Promise<void>): Promise<void> {
  const started = Date.now();
  try {
    await body();
    passes += 1;
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    failures += 1;
    console.log(`FAIL ${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => done(typeof address === "object" && address ? address.port : 0));
    });
  });
}

const dataDir = mkdtempSync(join(tmpdir(), "pipeline-dashboard-"));
mkdirSync(OUT, { recursive: true });
const port = await freePort();
const origin = `http://127.0.0.1:${port}`;

const demo = spawnSync(BIN, ["demo", "--data-dir", dataDir, "--today", TODAY], { encoding: "utf8" });
assert(demo.status === 0, `pipeline demo failed: ${demo.stderr}`);

let server: ChildProcess | undefined;
let serverLog = "";
async function startServer(): Promise<void> {
  const child = spawn(BIN, ["serve", "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`, "--today", TODAY], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (d) => (serverLog += d));
  child.stderr?.on("data", (d) => (serverLog += d));
  server = child;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const answer = await fetch(`${origin}/`);
      if (answer.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the server did not start:\n${serverLog}`);
}
async function stopServer(): Promise<void> {
  const child = server;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
  server = undefined;
}

await startServer();
const token = readFileSync(join(dataDir, "admin-token"), "utf8").trim();
const withToken: Interceptor = (next) => (request) => {
  request.header.set("authorization", `Bearer ${token}`);
  return next(request);
};
const grpc = createGrpcTransport({ baseUrl: origin, interceptors: [withToken] });
const milestones = createClient(MilestoneService, grpc);
const reports = createClient(ReportService, grpc);
const statusDate = { year: 2026, month: 10, day: 15 };

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
const context = await browser.newContext({ viewport: { width: 1400, height: 1800 }, locale: "zh-CN" });
const page: Page = await context.newPage();
const pageErrors: string[] = [];
page.on("pageerror", (err) => pageErrors.push(err.message));

async function signIn(secret: string): Promise<void> {
  await page.locator("#token").fill(secret);
  await page.locator("#login-form button[type=submit]").click();
}

async function lightOnPage(milestone: string): Promise<string | null> {
  return page.locator(`#milestones tr[data-milestone="${milestone}"]`).getAttribute("data-light");
}

try {
  await check("a wrong token gets a clear message and the token form again", async () => {
    await page.goto(`${origin}/`);
    await signIn("pl_this-is-not-a-token");
    const error = page.locator("#error");
    await error.waitFor({ state: "visible", timeout: 5000 });
    const text = (await error.textContent()) ?? "";
    assert(text.includes("令牌无效") && text.includes("UNAUTHENTICATED"), `error says ${JSON.stringify(text)}`);
    assert(await page.locator("#login").isVisible(), "the token form is not shown again");
    assert(
      (await page.evaluate(() => sessionStorage.getItem("pipeline.dashboard.token"))) === null,
      "the refused token was kept",
    );
  });

  await check("the board shows the demo county's numbers", async () => {
    await signIn(token);
    await page.locator("#project-count").waitFor({ timeout: 10_000 });
    const summary = await reports.getPipelineSummary({ statusDate });
    const count = (light: AlertLight) => summary.byLight.find((c) => c.light === light)?.milestoneCount ?? 0;
    // The demo's figures as the README states them, and as the API answers them now.
    assert(summary.projectCount === 24, `the API says ${summary.projectCount} projects`);
    assert((await page.locator("#project-count").textContent()) === "24", "project count");
    assert((await page.locator("#count-red").textContent()) === String(count(AlertLight.RED)), "red count");
    assert((await page.locator("#count-red").textContent()) === "2", "2 RED milestones");
    assert((await page.locator("#count-yellow").textContent()) === "3", "3 YELLOW milestones");
    assert((await page.locator("#count-green").textContent()) === "21", "21 GREEN milestones");
    assert(((await page.locator("#overview").textContent()) ?? "").includes("162.39 亿元"), "total investment");
    assert((await page.locator("#status-date").inputValue()) === TODAY, "status date");
    // Every township with an open milestone, its lights summing to the 26 open milestones.
    const townshipRows = page.locator("#by-township tbody tr");
    let total = 0;
    for (const cells of await townshipRows.evaluateAll((rows) =>
      rows.map((r) => [...r.querySelectorAll("td")].slice(1).map((td) => Number(td.textContent))),
    )) {
      total += cells.reduce((a, b) => a + b, 0);
    }
    assert(total === 26, `lights by township sum to ${total}`);
    assert((await page.locator('#by-township tr[data-unit="金华镇"]').count()) === 1, "金华镇 listed");
    // The late milestones with their days late; the fund batch closing with its undeclared.
    const late = await page.locator("#late tbody tr").count();
    assert(late > 0, "no overdue or slipped milestone shown");
    assert(((await page.locator("#late").textContent()) ?? "").includes("天"), "days late");
    const funding = (await page.locator("#funding").textContent()) ?? "";
    assert(funding.includes("fund-batch-5") || (await page.locator('#funding tr[data-window="fundingWindows/fund-batch-5"]').count()) === 1, `fund batch 5 not listed: ${funding}`);
    assert((await page.locator("#rank-township tbody tr").count()) > 0, "township ranking");
    assert((await page.locator("#rank-department tbody tr").count()) > 0, "department ranking");
    await page.locator('#stream-status[data-state="live"]').waitFor({ timeout: 5000 });
    await page.screenshot({ path: join(OUT, "dashboard.png"), fullPage: true });
  });

  await check(`a ForecastMilestone call turns a light on the page within ${LIVE_LIMIT_MS} ms`, async () => {
    const green = (
      await milestones.listMilestones({ parent: "projects/-", pageSize: 1000, statusDate, filter: "light = GREEN" })
    ).milestones.find((m) => m.status !== MilestoneStatus.ACHIEVED && m.baselineDate);
    assert(green, "the demo has no open GREEN milestone");
    assert((await lightOnPage(green.name)) === "GREEN", "the milestone is not GREEN on the page");
    const base = green.baselineDate!;
    const later = new Date(Date.UTC(base.year, base.month - 1, base.day + 90));
    const forecast = { year: later.getUTCFullYear(), month: later.getUTCMonth() + 1, day: later.getUTCDate() };
    const called = Date.now();
    const answer = await milestones.forecastMilestone({
      name: green.name,
      forecastDate: forecast,
      reason: "征地拆迁未完成（浏览器测试）",
    });
    assert(answer.light === AlertLight.RED, `the API answered ${AlertLight[answer.light]}`);
    await page
      .locator(`#milestones tr[data-milestone="${green.name}"][data-light="RED"]`)
      .waitFor({ timeout: LIVE_LIMIT_MS });
    console.log(`     the light turned RED on the page ${Date.now() - called} ms after the call`);
    assert((await page.locator("#count-red").textContent()) === "3", "the RED count did not move to 3");
    await page.screenshot({ path: join(OUT, "dashboard-after-forecast.png"), fullPage: true });
  });

  await check("a milestone's page plots baseline vs forecast, one point per revision", async () => {
    const late = page.locator("#late tbody tr").first();
    const name = await late.getAttribute("data-milestone");
    assert(name, "no late milestone row");
    const revisions = (await milestones.listMilestoneRevisions({ name, pageSize: 1000 })).revisions;
    await late.locator("a").click();
    await page.locator("#milestone-page svg.chart").waitFor({ timeout: 5000 });
    const points = await page.locator("#milestone-page svg .forecast-point").count();
    assert(points === revisions.length, `${points} points for ${revisions.length} revisions`);
    assert((await page.locator("#milestone-page svg path.baseline").count()) === 1, "no baseline line");
    await page.screenshot({ path: join(OUT, "milestone.png"), fullPage: true });
    await page.goto(`${origin}/#`);
    await page.locator("#project-count").waitFor({ timeout: 5000 });
  });

  await check("across a server restart the stream resumes from its cursor and misses no event", async () => {
    await page.locator('#stream-status[data-state="live"]').waitFor({ timeout: 5000 });
    assert(
      (await page.evaluate(() => sessionStorage.getItem("pipeline.dashboard.token"))) !== null,
      "the token is not kept in the tab",
    );
    const before = Number(await page.locator("#stream-events").getAttribute("data-count"));
    // The page may not reconnect until the change below is committed, so that only a stream
    // resumed from the page's cursor can bring its event (one opened "from now" would not).
    const watch = "**/pipeline.v1.EventService/WatchEvents";
    await page.route(watch, (route) => route.abort("connectionrefused"));
    await stopServer();
    await page.locator('#stream-status[data-state="dropped"]').waitFor({ timeout: 10_000 });
    await startServer();
    const green = (
      await milestones.listMilestones({ parent: "projects/-", pageSize: 1000, statusDate, filter: "light = GREEN" })
    ).milestones.find((m) => m.status !== MilestoneStatus.ACHIEVED && m.baselineDate);
    assert(green, "no GREEN milestone left");
    const base = green.baselineDate!;
    const later = new Date(Date.UTC(base.year, base.month - 1, base.day + 90));
    await milestones.forecastMilestone({
      name: green.name,
      forecastDate: { year: later.getUTCFullYear(), month: later.getUTCMonth() + 1, day: later.getUTCDate() },
      reason: "重启期间的变更（浏览器测试）",
    });
    await page.unroute(watch);
    await page.locator('#stream-status[data-state="resumed"]').waitFor({ timeout: 10_000 });
    await page.waitForFunction(
      (n) => Number(document.getElementById("stream-events")?.dataset.count) > n,
      before,
      { timeout: 5000 },
    );
    await page
      .locator(`#milestones tr[data-milestone="${green.name}"][data-light="RED"]`)
      .waitFor({ timeout: LIVE_LIMIT_MS });
    const status = (await page.locator("#stream-status").textContent()) ?? "";
    assert(status.includes("游标"), `the page does not say it resumed from its cursor: ${status}`);
    await page.screenshot({ path: join(OUT, "dashboard-resumed.png"), fullPage: true });
  });

  await check("the page raised no script errors", async () => {
    assert(pageErrors.length === 0, pageErrors.join("\n"));
  });
} finally {
  await browser.close();
  await stopServer();
  rmSync(dataDir, { recursive: true, force: true });
}

console.log(`dashboard: ${passes} passed, ${failures} failed; screenshots in ${OUT}`);
if (failures > 0) {
  console.log(`--- server log ---\n${serverLog}`);
  process.exit(1);
}
