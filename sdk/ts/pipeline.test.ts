// The TypeScript client generated from proto/ (Connect-ES v2, `buf generate` into gen/), calling a
// running `pipeline serve` over the gRPC protocol, as an SDK user would: create a project and a
// milestone, slip the milestone past the tolerance, read its light, receive the slip on
// WatchEvents, and decode an error's ErrorInfo and BadRequest.
//
//   PIPELINE_ADDRESS=127.0.0.1:50051 PIPELINE_TOKEN_FILE=../../pipeline-data/admin-token npm test
//
// Node's test runner runs it through tsx, which strips the types and runs the TypeScript as it
// is: no build step and no compiled output to keep in step with the sources. `npm run typecheck`
// (tsc, which CI runs too) checks the types of this file against the generated code.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb";
import { type Date as CivilDate, DateSchema } from "./gen/pipeline/v1/common_pb";
import { EventKind, EventService, type WatchEventsResponse } from "./gen/pipeline/v1/event_pb";
import {
  AlertLight,
  MilestoneKind,
  MilestoneService,
  MilestoneStatus,
} from "./gen/pipeline/v1/milestone_pb";
import {
  InvestmentType,
  ProjectCategory,
  ProjectService,
  ProjectStage,
} from "./gen/pipeline/v1/project_pb";

function setting(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`set ${name} (see the comment at the top of pipeline.test.ts)`);
  }
  return value;
}

const address = setting("PIPELINE_ADDRESS");
const token = readFileSync(setting("PIPELINE_TOKEN_FILE"), "utf8").trim();

// Every call but health and reflection carries the bearer token.
const bearer: Interceptor = (next) => (request) => {
  request.header.set("authorization", `Bearer ${token}`);
  return next(request);
};
const transport = createGrpcTransport({ baseUrl: `http://${address}`, interceptors: [bearer] });
const projects = createClient(ProjectService, transport);
const milestones = createClient(MilestoneService, transport);
const events = createClient(EventService, transport);

/** Today plus `offset` days, on the UTC calendar (far enough from any edge of the day). */
function day(offset: number): CivilDate {
  const d = new Date(Date.now() + offset * 86_400_000);
  return create(DateSchema, {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
  });
}

/** The next message of a stream, failing the test when the stream ends first. */
async function next(stream: AsyncIterator<WatchEventsResponse>): Promise<WatchEventsResponse> {
  const { value, done } = await stream.next();
  assert.ok(!done, "the event stream ended");
  return value;
}

test("a milestone slips, turns red and the slip arrives on WatchEvents", async () => {
  const project = await projects.createProject({
    projectId: `ts-${crypto.randomUUID().slice(0, 12)}`,
    requestId: crypto.randomUUID(),
    project: {
      displayName: "县城公交枢纽站（TypeScript）",
      category: ProjectCategory.TRANSPORT,
      investmentType: InvestmentType.GOVERNMENT,
      township: "城关镇",
      department: "县交通运输局",
      totalInvestmentYuan: 380_000_000n,
    },
  });
  assert.equal(project.stage, ProjectStage.CONCEPT);
  assert.equal(project.totalInvestmentYuan, 380_000_000n);

  const baseline = day(60);
  const scheduled = await milestones.createMilestone({
    parent: project.name,
    milestoneId: "construction-start",
    milestone: { kind: MilestoneKind.CONSTRUCTION_START, baselineDate: baseline },
  });
  assert.equal(scheduled.name, `${project.name}/milestones/construction-start`);
  assert.equal(scheduled.light, AlertLight.GREEN);

  // Watch this project's slips from now on; the server says when the replay is caught up, and
  // from then on every slip arrives as it is committed. The stream is cancelled when the test is
  // done, or after 30 s: a slip that never arrives fails the test then.
  const abort = new AbortController();
  const deadline = setTimeout(() => abort.abort(new Error("no slip arrived within 30 s")), 30_000);
  const stream = events
    .watchEvents(
      { filter: { projects: [project.name], kinds: [EventKind.MILESTONE_SLIPPED] } },
      { signal: abort.signal },
    )
    [Symbol.asyncIterator]();
  try {
    assert.equal((await next(stream)).response.case, "caughtUp");

    // 40 days late: past the 30-day tolerance of the default light rules.
    const forecast = day(100);
    const slipped = await milestones.forecastMilestone({
      name: scheduled.name,
      forecastDate: forecast,
      reason: "征地拆迁延误",
      etag: scheduled.etag,
    });
    assert.equal(slipped.status, MilestoneStatus.SLIPPED);
    assert.equal(slipped.varianceDays, 40);
    assert.equal(slipped.slipCount, 1);
    assert.equal(slipped.daysSlipped, 40);

    const read = await milestones.getMilestone({ name: scheduled.name });
    assert.equal(read.light, AlertLight.RED);
    assert.equal(read.lightRuleSet, "lightRuleSets/default@1");
    assert.match(read.lightReason, /40 days late/);

    let message = await next(stream);
    while (message.response.case !== "batch") {
      message = await next(stream);
    }
    const [event] = message.response.value.events;
    assert.equal(message.response.value.events.length, 1);
    assert.equal(event.kind, EventKind.MILESTONE_SLIPPED);
    assert.equal(event.project, project.name);
    assert.equal(event.resource, scheduled.name);
    assert.ok(event.actor.length > 0);
    assert.equal(event.detail.case, "milestoneChange");
    const change = event.detail.value;
    assert.deepEqual(change.oldDate, baseline);
    assert.deepEqual(change.newDate, forecast);
    assert.equal(change.deltaDays, 40);
    assert.equal(change.varianceDays, 40);
    assert.equal(change.light, AlertLight.RED);
    assert.equal(change.reason, "征地拆迁延误");
    assert.ok(message.response.value.cursor.length > 0, "a batch carries the cursor to resume from");
  } finally {
    clearTimeout(deadline);
    abort.abort();
  }
});

test("errors carry ErrorInfo and BadRequest", async () => {
  // Moving a forecast later without a reason is refused, naming the field.
  const project = await projects.createProject({
    project: {
      displayName: "城南污水处理厂（TypeScript）",
      category: ProjectCategory.ECOLOGY,
      investmentType: InvestmentType.GOVERNMENT,
      township: "城关镇",
      department: "县住建局",
      totalInvestmentYuan: 90_000_000n,
    },
  });
  const milestone = await milestones.createMilestone({
    parent: project.name,
    milestone: { kind: MilestoneKind.CONSTRUCTION_START, baselineDate: day(30) },
  });
  const error = await milestones
    .forecastMilestone({ name: milestone.name, forecastDate: day(45) })
    .then(
      () => assert.fail("a slip without a reason was accepted"),
      (e: unknown) => ConnectError.from(e),
    );
  assert.equal(error.code, Code.InvalidArgument);
  const [info] = error.findDetails(ErrorInfoSchema);
  assert.equal(info?.reason, "INVALID_FIELDS");
  assert.equal(info?.domain, "pipeline.v1");
  const violations = error.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations);
  assert.deepEqual(
    violations.map((v) => v.field),
    ["reason"],
  );
  assert.match(violations[0].description, /required/);

  // A project with every required field missing lists each one in a single BadRequest.
  const invalid = await projects.createProject({ project: { totalInvestmentYuan: -1n } }).then(
    () => assert.fail("an invalid project was accepted"),
    (e: unknown) => ConnectError.from(e),
  );
  assert.equal(invalid.code, Code.InvalidArgument);
  const fields = invalid
    .findDetails(BadRequestSchema)
    .flatMap((b) => b.fieldViolations.map((v) => v.field));
  for (const field of [
    "project.display_name",
    "project.township",
    "project.total_investment_yuan",
  ]) {
    assert.ok(fields.includes(field), `${field} in ${fields}`);
  }

  // Without the token: UNAUTHENTICATED, with its reason.
  const anonymous = createClient(ProjectService, createGrpcTransport({ baseUrl: `http://${address}` }));
  const denied = await anonymous.getProject({ name: project.name }).then(
    () => assert.fail("a call without a token was served"),
    (e: unknown) => ConnectError.from(e),
  );
  assert.equal(denied.code, Code.Unauthenticated);
  assert.equal(denied.findDetails(ErrorInfoSchema)[0]?.reason, "UNAUTHENTICATED");
});
