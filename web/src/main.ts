// The leaders' dashboard (领导看板): the county's pipeline as of a chosen status date, kept live
// by EventService.WatchEvents over gRPC-Web. Plain DOM; every call goes to the server that
// served this page (same origin, so no CORS is needed).

import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import type { Date as PbDate } from "./gen/pipeline/v1/common_pb.js";
import { EventService } from "./gen/pipeline/v1/event_pb.js";
import { FundingService, FundingWindowState } from "./gen/pipeline/v1/funding_pb.js";
import {
  AlertLight,
  MilestoneKind,
  MilestoneService,
  MilestoneStatus,
  RevisionField,
  type Milestone,
  type MilestoneRevision,
} from "./gen/pipeline/v1/milestone_pb.js";
import { ProjectService, type Project } from "./gen/pipeline/v1/project_pb.js";
import { RankingDimension, ReportService } from "./gen/pipeline/v1/report_pb.js";

const TOKEN_KEY = "pipeline.dashboard.token";
/** Funding windows closing within this many days of the status date are listed. */
const CLOSING_SOON_DAYS = 14;
/** Changes arriving together are shown with one reload. */
const RELOAD_DELAY_MS = 150;
/** Waits between reconnection attempts of the event stream, longest last. */
const RETRY_DELAYS_MS = [500, 1000, 2000, 4000];

// ---------------------------------------------------------------- small helpers

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function byId(id: string): HTMLElement {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from index.html`);
  return node;
}

function dateText(d: PbDate | undefined): string {
  if (!d || d.year === 0) return "—";
  return `${d.year}-${String(d.month).padStart(2, "0")}-${String(d.day).padStart(2, "0")}`;
}

function parseDate(text: string): PbDate | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return undefined;
  return { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) } as PbDate;
}

/** Days since 1970-01-01 of a calendar date (no time zone involved). */
function dayNumber(d: PbDate): number {
  return Date.UTC(d.year, d.month - 1, d.day) / 86_400_000;
}

function yi(yuan: bigint): string {
  // 亿元 with two decimals; exact enough for display of sums below 2^53 fen.
  return `${(Number(yuan) / 1e8).toFixed(2)} 亿元`;
}

const LIGHTS: [AlertLight, string, string][] = [
  [AlertLight.RED, "RED", "红灯"],
  [AlertLight.YELLOW, "YELLOW", "黄灯"],
  [AlertLight.GREEN, "GREEN", "绿灯"],
];

function lightName(light: AlertLight): string {
  return LIGHTS.find(([l]) => l === light)?.[1] ?? "NONE";
}

function lightDot(light: AlertLight): HTMLElement {
  const [, name, label] = LIGHTS.find(([l]) => l === light) ?? [light, "NONE", "无"];
  return el("span", { class: `light light-${name.toLowerCase()}`, "data-light": name, title: name }, label);
}

const KIND_LABELS: Record<number, string> = {
  [MilestoneKind.CONTRACT_SIGNING]: "签约",
  [MilestoneKind.CONSTRUCTION_START]: "开工",
  [MilestoneKind.TRIAL_PRODUCTION]: "试生产",
  [MilestoneKind.COMPLETION]: "竣工",
  [MilestoneKind.CUSTOM]: "其他",
};

function milestoneTitle(m: Milestone): string {
  return m.title || KIND_LABELS[m.kind] || "里程碑";
}

function table(headers: string[], rows: HTMLTableRowElement[], empty: string): HTMLElement {
  if (rows.length === 0) return el("p", { class: "empty" }, empty);
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows),
  );
}

function row(cells: (Node | string)[], attrs: Record<string, string> = {}): HTMLTableRowElement {
  return el("tr", attrs, ...cells.map((c) => el("td", {}, c)));
}

// ---------------------------------------------------------------- clients and token

let token = sessionStorage.getItem(TOKEN_KEY) ?? "";

const withToken: Interceptor = (next) => (request) => {
  request.header.set("authorization", `Bearer ${token}`);
  return next(request);
};

const transport = createGrpcWebTransport({
  baseUrl: window.location.origin,
  interceptors: [withToken],
});

const api = {
  projects: createClient(ProjectService, transport),
  milestones: createClient(MilestoneService, transport),
  funding: createClient(FundingService, transport),
  reports: createClient(ReportService, transport),
  events: createClient(EventService, transport),
};

/** Says what went wrong in the county's terms; a bad token sends the user back to the form. */
function explain(err: unknown): string {
  const e = ConnectError.from(err);
  switch (e.code) {
    case Code.Unauthenticated:
      return `令牌无效或已撤销，请重新输入。The token was refused (UNAUTHENTICATED): ${e.rawMessage}`;
    case Code.PermissionDenied:
      return `此令牌无权查看看板。This token may not read the dashboard (PERMISSION_DENIED): ${e.rawMessage}`;
    case Code.Unavailable:
      return `服务器暂不可用。The server is unavailable: ${e.rawMessage}`;
    default:
      return `出错了 (${Code[e.code]}): ${e.rawMessage}`;
  }
}

function showError(err: unknown): void {
  const message = explain(err);
  const box = byId("error");
  box.textContent = message;
  box.hidden = false;
  if (ConnectError.from(err).code === Code.Unauthenticated) {
    sessionStorage.removeItem(TOKEN_KEY);
    token = "";
    stopStream();
    showTokenForm();
  }
}

function clearError(): void {
  byId("error").hidden = true;
}

function showTokenForm(): void {
  byId("login").hidden = false;
  byId("board").hidden = true;
}

// ---------------------------------------------------------------- reading everything

async function allProjects(): Promise<Project[]> {
  const out: Project[] = [];
  let pageToken = "";
  do {
    const page = await api.projects.listProjects({ pageSize: 1000, pageToken });
    out.push(...page.projects);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

async function allMilestones(statusDate: PbDate | undefined): Promise<Milestone[]> {
  const out: Milestone[] = [];
  let pageToken = "";
  do {
    const page = await api.milestones.listMilestones({
      parent: "projects/-",
      pageSize: 1000,
      pageToken,
      statusDate,
      orderBy: "variance_days desc",
    });
    out.push(...page.milestones);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

function projectOf(m: Milestone): string {
  return m.name.split("/milestones/")[0];
}

// ---------------------------------------------------------------- the board

function chosenDate(): PbDate | undefined {
  return parseDate((byId("status-date") as HTMLInputElement).value);
}

let loading: Promise<void> | undefined;
let reloadAgain = false;

/** Reloads the board, or, while a reload runs, once more after it. */
function reload(): Promise<void> {
  if (loading) {
    reloadAgain = true;
    return loading;
  }
  loading = renderBoard()
    .catch(showError)
    .finally(() => {
      loading = undefined;
      if (reloadAgain) {
        reloadAgain = false;
        void reload();
      }
    });
  return loading;
}

async function renderBoard(): Promise<void> {
  const statusDate = chosenDate();
  const [summary, projects, milestones, windows, byDepartment, byTownship] = await Promise.all([
    api.reports.getPipelineSummary({ statusDate }),
    allProjects(),
    allMilestones(statusDate),
    api.funding.listFundingWindows({ pageSize: 1000, statusDate }),
    api.reports.listRankings({ statusDate, dimension: RankingDimension.DEPARTMENT, pageSize: 100 }),
    api.reports.listRankings({ statusDate, dimension: RankingDimension.TOWNSHIP, pageSize: 100 }),
  ]);
  const asOf = summary.statusDate;
  const dateInput = byId("status-date") as HTMLInputElement;
  if (!dateInput.value) dateInput.value = dateText(asOf);
  clearError();

  // Overview.
  const lightCount = (l: AlertLight) =>
    summary.byLight.find((c) => c.light === l)?.milestoneCount ?? 0;
  byId("overview").replaceChildren(
    el("div", { class: "figure" }, el("b", { id: "project-count" }, String(summary.projectCount)), "个项目 projects"),
    el("div", { class: "figure" }, el("b", {}, yi(summary.totalInvestmentYuan)), "总投资 total investment"),
    ...LIGHTS.map(([l, name, label]) =>
      el(
        "div",
        { class: `figure figure-${name.toLowerCase()}` },
        el("b", { id: `count-${name.toLowerCase()}` }, String(lightCount(l))),
        `${label} ${name} milestones`,
      ),
    ),
    el("div", { class: "figure" }, el("b", {}, dateText(asOf)), "统计日期 status date"),
  );

  // Lights by township and by department, counted over the milestones not yet achieved.
  const projectByName = new Map(projects.map((p) => [p.name, p]));
  const open = milestones.filter((m) => m.status !== MilestoneStatus.ACHIEVED);
  const tally = (key: (p: Project) => string) => {
    const counts = new Map<string, Map<AlertLight, number>>();
    for (const m of open) {
      const p = projectByName.get(projectOf(m));
      if (!p) continue;
      const unit = key(p) || "（未填）";
      const perLight = counts.get(unit) ?? new Map<AlertLight, number>();
      perLight.set(m.light, (perLight.get(m.light) ?? 0) + 1);
      counts.set(unit, perLight);
    }
    const units = [...counts.entries()].sort(
      ([a, x], [b, y]) =>
        (y.get(AlertLight.RED) ?? 0) - (x.get(AlertLight.RED) ?? 0) ||
        (y.get(AlertLight.YELLOW) ?? 0) - (x.get(AlertLight.YELLOW) ?? 0) ||
        a.localeCompare(b, "zh-CN"),
    );
    return units.map(([unit, perLight]) =>
      row(
        [unit, ...LIGHTS.map(([l]) => String(perLight.get(l) ?? 0))],
        { "data-unit": unit },
      ),
    );
  };
  const lightHeaders = LIGHTS.map(([, name, label]) => `${label} ${name}`);
  byId("by-township").replaceChildren(
    table(["乡镇 township", ...lightHeaders], tally((p) => p.township), "没有未完成的里程碑。"),
  );
  byId("by-department").replaceChildren(
    table(["部门 department", ...lightHeaders], tally((p) => p.department), "没有未完成的里程碑。"),
  );

  // Overdue and slipped milestones, latest first.
  const late = open
    .filter((m) => m.varianceDays > 0 || m.status === MilestoneStatus.OVERDUE)
    .sort((a, b) => b.varianceDays - a.varianceDays);
  byId("late").replaceChildren(
    table(
      ["", "项目 project", "里程碑 milestone", "计划 baseline", "预计 forecast", "滞后 days late", "状态 status"],
      late.map((m) => {
        const p = projectByName.get(projectOf(m));
        const link = el("a", { href: `#${m.name}` }, milestoneTitle(m));
        return row(
          [
            lightDot(m.light),
            p?.displayName ?? projectOf(m),
            link,
            dateText(m.baselineDate),
            dateText(m.forecastDate),
            el("span", { class: "days-late" }, `${m.varianceDays} 天`),
            m.status === MilestoneStatus.OVERDUE ? "逾期 OVERDUE" : "滑期 SLIPPED",
          ],
          { "data-milestone": m.name, "data-light": lightName(m.light) },
        );
      }),
      "没有逾期或滑期的里程碑。No overdue or slipped milestones.",
    ),
  );

  // Every open milestone with its light, so that any change of light shows.
  byId("milestones").replaceChildren(
    table(
      ["", "项目 project", "里程碑 milestone", "计划 baseline", "预计 forecast", "偏差 variance"],
      open.map((m) =>
        row(
          [
            lightDot(m.light),
            projectByName.get(projectOf(m))?.displayName ?? projectOf(m),
            el("a", { href: `#${m.name}` }, milestoneTitle(m)),
            dateText(m.baselineDate),
            dateText(m.forecastDate),
            `${m.varianceDays} 天`,
          ],
          { "data-milestone": m.name, "data-light": lightName(m.light) },
        ),
      ),
      "没有未完成的里程碑。",
    ),
  );

  // Funding windows closing soon, with their 应报尽报 gaps.
  const today = asOf ? dayNumber(asOf) : 0;
  const closing = windows.fundingWindows.filter((w) => {
    if (!w.closeDate) return false;
    const left = dayNumber(w.closeDate) - today;
    return left >= 0 && left <= CLOSING_SOON_DAYS;
  });
  const coverage = await Promise.all(
    closing.map((w) => api.funding.getFundingCoverage({ name: w.name, statusDate })),
  );
  byId("funding").replaceChildren(
    table(
      ["资金窗口 window", "截止 closes", "剩余 days left", "应报 eligible", "已报 declared", "未报 undeclared", "草稿 drafts", "目标缺口 count gap", "金额缺口 amount gap", "未申报项目 undeclared projects"],
      coverage.map((c, i) =>
        row(
          [
            closing[i].title,
            dateText(closing[i].closeDate),
            `${c.daysToClose} 天`,
            String(c.eligibleCount),
            String(c.declaredCount),
            el("b", { class: c.undeclaredCount > 0 ? "gap" : "" }, String(c.undeclaredCount)),
            String(c.draftCount),
            String(c.countGap),
            yi(c.amountGap),
            c.undeclaredProjects.map((p) => p.displayName).join("、") || "—",
          ],
          {
            "data-window": c.fundingWindow,
            "data-state": c.windowState === FundingWindowState.OPEN ? "OPEN" : String(c.windowState),
          },
        ),
      ),
      `${CLOSING_SOON_DAYS} 天内没有截止的资金窗口。No window closes within ${CLOSING_SOON_DAYS} days.`,
    ),
  );

  // Rankings.
  const ranking = (response: typeof byDepartment, label: string) =>
    table(
      ["名次 rank", label, "项目 projects", "得分 score", "变化 change"],
      response.rows.map((r) =>
        row(
          [
            String(r.rank),
            r.unit,
            String(r.projectCount),
            r.totalScore.toFixed(1),
            !r.rankedBefore ? "—" : r.rankChange > 0 ? `↑${r.rankChange}` : r.rankChange < 0 ? `↓${-r.rankChange}` : "→",
          ],
          { "data-unit": r.unit },
        ),
      ),
      "暂无排名。",
    );
  byId("rank-department").replaceChildren(ranking(byDepartment, "部门 department"));
  byId("rank-township").replaceChildren(ranking(byTownship, "乡镇 township"));
  byId("updated").textContent = `更新于 updated ${new Date().toLocaleTimeString("zh-CN")}`;
}

// ---------------------------------------------------------------- a milestone's page

async function renderMilestone(name: string): Promise<void> {
  const statusDate = chosenDate();
  const [milestone, revisions] = await Promise.all([
    api.milestones.getMilestone({ name, statusDate }),
    allRevisions(name),
  ]);
  clearError();
  const page = byId("milestone-page");
  page.replaceChildren(
    el("p", {}, el("a", { href: "#" }, "← 返回看板 back to the board")),
    el("h2", {}, `${milestoneTitle(milestone)} `, lightDot(milestone.light)),
    el(
      "p",
      {},
      `计划 baseline ${dateText(milestone.baselineDate)} · 预计 forecast ${dateText(milestone.forecastDate)} · ` +
        `实际 actual ${dateText(milestone.actualDate)} · 偏差 variance ${milestone.varianceDays} 天 · ` +
        `滑期 ${milestone.slipCount} 次共 ${milestone.daysSlipped} 天`,
    ),
    el("p", { class: "reason" }, milestone.lightReason),
    revisionChart(revisions),
    table(
      ["记录日期 recorded", "字段 field", "原日期 from", "新日期 to", "变化 change", "原因 reason", "操作人 actor"],
      revisions.map((r) =>
        row([
          dateText(r.recordedDate),
          FIELD_LABELS[r.field] ?? String(r.field),
          dateText(r.oldDate),
          dateText(r.newDate),
          r.deltaDays > 0 ? `+${r.deltaDays} 天` : `${r.deltaDays} 天`,
          r.reason,
          r.actor,
        ]),
      ),
      "没有修订记录。",
    ),
  );
}

const FIELD_LABELS: Record<number, string> = {
  [RevisionField.BASELINE]: "计划 baseline",
  [RevisionField.FORECAST]: "预计 forecast",
  [RevisionField.ACTUAL]: "实际 actual",
};

async function allRevisions(name: string): Promise<MilestoneRevision[]> {
  const out: MilestoneRevision[] = [];
  let pageToken = "";
  do {
    const page = await api.milestones.listMilestoneRevisions({ name, pageSize: 1000, pageToken });
    out.push(...page.revisions);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

/**
 * Baseline vs forecast over the milestone's revisions: one point per revision (x: the
 * revision's order, labelled with the date it was recorded; y: the date it set), the baseline
 * as a step line, so a forecast drifting away from it is the slip.
 */
function revisionChart(revisions: MilestoneRevision[]): Element {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const width = 720;
  const height = 300;
  const pad = { left: 90, right: 50, top: 24, bottom: 50 };
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "计划与预计日期的修订历史 baseline vs forecast history");
  const dated = revisions.filter((r) => r.newDate);
  if (dated.length === 0) return svg;
  let baseline: number | undefined;
  let forecast: number | undefined;
  const points: { i: number; baseline?: number; forecast?: number; r: MilestoneRevision }[] = [];
  dated.forEach((r, i) => {
    const day = dayNumber(r.newDate!);
    if (r.field === RevisionField.BASELINE) {
      baseline = day;
      if (forecast === undefined) forecast = day;
    } else if (r.field === RevisionField.FORECAST) {
      forecast = day;
    } else {
      forecast = day;
    }
    points.push({ i, baseline, forecast, r });
  });
  const days = points.flatMap((p) => [p.baseline, p.forecast]).filter((d): d is number => d !== undefined);
  const lo = Math.min(...days) - 5;
  const hi = Math.max(...days) + 5;
  const x = (i: number) =>
    pad.left + (points.length === 1 ? 0.5 : i / (points.length - 1)) * (width - pad.left - pad.right);
  const y = (d: number) => pad.top + (1 - (d - lo) / (hi - lo)) * (height - pad.top - pad.bottom);
  const add = (tag: string, attrs: Record<string, string | number>, text?: string) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  const dayLabel = (d: number) => new Date(d * 86_400_000).toISOString().slice(0, 10);
  for (const d of [lo + 5, (lo + hi) / 2, hi - 5]) {
    const day = Math.round(d);
    add("line", { x1: pad.left, x2: width - pad.right, y1: y(day), y2: y(day), class: "grid" });
    add("text", { x: pad.left - 8, y: y(day) + 4, "text-anchor": "end", class: "axis" }, dayLabel(day));
  }
  const path = (key: "baseline" | "forecast", step: boolean) =>
    points
      .filter((p) => p[key] !== undefined)
      .map((p, n, all) => {
        const here = `${x(p.i)},${y(p[key]!)}`;
        if (n === 0) return `M${here}`;
        return step ? `H${x(p.i)} V${y(p[key]!)}` : `L${here}`;
      })
      .join(" ");
  add("path", { d: path("baseline", true), class: "baseline" });
  add("path", { d: path("forecast", false), class: "forecast" });
  for (const p of points) {
    if (p.forecast !== undefined) {
      add("circle", { cx: x(p.i), cy: y(p.forecast), r: 5, class: "forecast-point" });
      if (p.baseline !== undefined && p.forecast > p.baseline) {
        add("text", { x: x(p.i), y: y(p.forecast) - 10, "text-anchor": "middle", class: "slip" }, `+${p.forecast - p.baseline}天`);
      }
    }
    add("text", { x: x(p.i), y: height - pad.bottom + 18, "text-anchor": "middle", class: "axis" }, dateText(p.r.recordedDate));
  }
  add("text", { x: pad.left, y: height - 8, class: "legend baseline-legend" }, "— 计划 baseline");
  add("text", { x: pad.left + 160, y: height - 8, class: "legend forecast-legend" }, "● 预计 forecast（每次修订一点 one point per revision）");
  return svg;
}

// ---------------------------------------------------------------- the live stream

let cursor = "";
/** Events received since the page opened; shown, so that a reader sees updates arrive. */
let eventsReceived = 0;
let streamAbort: AbortController | undefined;
let reloadTimer: number | undefined;

function setStreamState(state: "connecting" | "live" | "dropped" | "resumed", detail = ""): void {
  const node = byId("stream-status");
  node.dataset.state = state;
  const text = {
    connecting: "正在连接实时更新… connecting",
    live: "实时更新中 live",
    dropped: "实时连接中断，正在重连 stream dropped, reconnecting",
    resumed: "实时连接已恢复，从游标续传，未丢失更新 stream resumed from its cursor",
  }[state];
  node.textContent = detail ? `${text} — ${detail}` : text;
}

function scheduleReload(): void {
  window.clearTimeout(reloadTimer);
  reloadTimer = window.setTimeout(() => void refresh(), RELOAD_DELAY_MS);
}

function stopStream(): void {
  streamAbort?.abort();
  streamAbort = undefined;
}

/**
 * Watches the event log from `cursor` for as long as the page is open. A dropped stream is
 * reopened from the last cursor received, so no event is lost across a server restart; the
 * board reloads after every batch and after every resumption.
 */
async function watch(): Promise<void> {
  stopStream();
  const abort = new AbortController();
  streamAbort = abort;
  let attempt = 0;
  let dropped = false;
  setStreamState("connecting");
  while (!abort.signal.aborted) {
    try {
      for await (const message of api.events.watchEvents({ cursor }, { signal: abort.signal })) {
        attempt = 0;
        const kind = message.response.case;
        if (kind === "batch") {
          cursor = message.response.value.cursor;
          eventsReceived += message.response.value.events.length;
          const counter = byId("stream-events");
          counter.dataset.count = String(eventsReceived);
          counter.textContent = `已接收 ${eventsReceived} 条更新 events received`;
          scheduleReload();
        } else if (kind === "caughtUp" || kind === "progress") {
          cursor = message.response.value.cursor || cursor;
          if (kind === "caughtUp") {
            // What changed before the stream opened (or while it was down) is read again.
            scheduleReload();
            if (dropped) setStreamState("resumed", new Date().toLocaleTimeString("zh-CN"));
            else setStreamState("live");
          }
        }
      }
      // The server ended the stream without an error (it does not, but reconnect all the same).
      throw new ConnectError("the event stream ended", Code.Unavailable);
    } catch (err) {
      if (abort.signal.aborted) return;
      const e = ConnectError.from(err);
      if (e.code === Code.Unauthenticated || e.code === Code.PermissionDenied) {
        showError(err);
        return;
      }
      dropped = true;
      setStreamState("dropped", e.rawMessage);
      const delay = RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)];
      attempt += 1;
      await new Promise((resolve) => window.setTimeout(resolve, delay));
    }
  }
}

// ---------------------------------------------------------------- routing and start

/** Shows the board, or a milestone's page when the hash names a milestone. */
async function refresh(): Promise<void> {
  const name = decodeURIComponent(window.location.hash.slice(1));
  const isMilestone = /^projects\/[^/]+\/milestones\/[^/]+$/.test(name);
  byId("board-sections").hidden = isMilestone;
  byId("milestone-page").hidden = !isMilestone;
  try {
    if (isMilestone) await renderMilestone(name);
    else await reload();
  } catch (err) {
    showError(err);
  }
}

async function start(): Promise<void> {
  byId("login").hidden = true;
  byId("board").hidden = false;
  await refresh();
  if (token) void watch();
}

function main(): void {
  const form = byId("login-form") as HTMLFormElement;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = byId("token") as HTMLInputElement;
    token = input.value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    input.value = "";
    clearError();
    void start();
  });
  byId("status-date").addEventListener("change", () => void refresh());
  byId("logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    token = "";
    stopStream();
    showTokenForm();
  });
  window.addEventListener("hashchange", () => void refresh());
  if (token) void start();
  else showTokenForm();
}

main();
