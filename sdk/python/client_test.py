"""Calls a running `pipeline serve` through the Python client that `buf generate` writes to
sdk/python/gen (grpcio; see buf.gen.yaml), as an SDK user would.

Usage: python sdk/python/client_test.py HOST:PORT TOKEN_FILE

With the token in TOKEN_FILE it creates, lists and updates a project, moves its stage, schedules
a milestone and slips it past the tolerance, reads its light, receives the slip on WatchEvents,
checks that bad requests come back as INVALID_ARGUMENT with an ErrorInfo reason and a BadRequest
naming the bad fields, that a call without a token is UNAUTHENTICATED, and declares the project
into a funding window. Exits non-zero on any mismatch.
"""

import datetime
import os
import sys
import uuid

address, token_file = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402
from google.protobuf import field_mask_pb2  # noqa: E402
from google.rpc import error_details_pb2  # noqa: E402
from grpc_status import rpc_status  # noqa: E402
from pipeline.v1 import (  # noqa: E402
    common_pb2,
    event_pb2,
    event_pb2_grpc,
    funding_pb2,
    funding_pb2_grpc,
    milestone_pb2,
    milestone_pb2_grpc,
    project_pb2,
    project_pb2_grpc,
)


def day(offset: int) -> common_pb2.Date:
    """Today plus `offset` days (the UTC calendar; the offsets used are far from any edge)."""
    d = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=offset)
    return common_pb2.Date(year=d.year, month=d.month, day=d.day)


def error_details(err: grpc.RpcError) -> tuple[error_details_pb2.ErrorInfo, list[str]]:
    """The ErrorInfo of a failed call and the fields its BadRequest names, decoded from the
    google.rpc.Status the server sends in the `grpc-status-details-bin` trailer."""
    status = rpc_status.from_call(err)
    assert status is not None, f"no rich status on {err}"
    info = error_details_pb2.ErrorInfo()
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            fields.extend(v.field for v in bad_request.field_violations)
    return info, fields


def main() -> None:
    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=30)
    client = project_pb2_grpc.ProjectServiceStub(channel)
    # The token: the admin token the server wrote to its data directory on first start.
    with open(token_file, encoding="utf-8") as f:
        auth = (("authorization", "Bearer " + f.read().strip()),)
    project_id = "py-" + uuid.uuid4().hex[:12]

    request = project_pb2.CreateProjectRequest(
        project_id=project_id,
        request_id=str(uuid.uuid4()),
        project=project_pb2.Project(
            display_name="县水网（一期）工程",
            category=project_pb2.PROJECT_CATEGORY_WATER,
            investment_type=project_pb2.INVESTMENT_TYPE_GOVERNMENT,
            township="城关镇",
            department="县水利局",
            total_investment_yuan=1_200_000_000,
        ),
    )
    created = client.CreateProject(request, metadata=auth)
    assert created.name == f"projects/{project_id}", created.name
    assert created.stage == project_pb2.PROJECT_STAGE_CONCEPT
    again = client.CreateProject(request, metadata=auth)
    assert again == created, "a retry with the same request_id returns the first result"

    listed = client.ListProjects(
        project_pb2.ListProjectsRequest(filter='township = "城关镇" AND display_name : "水网"', page_size=10),
        metadata=auth,
    )
    assert created.name in [p.name for p in listed.projects], listed

    updated = client.UpdateProject(
        project_pb2.UpdateProjectRequest(
            project=project_pb2.Project(name=created.name, completed_investment_yuan=80_000_000, etag=created.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["completed_investment_yuan"]),
        ),
        metadata=auth,
    )
    assert updated.completed_investment_yuan == 80_000_000
    assert updated.etag != created.etag

    moved = client.ChangeProjectStage(
        project_pb2.ChangeProjectStageRequest(
            name=created.name, stage=project_pb2.PROJECT_STAGE_PREPARATION, reason="纳入前期工作"
        ),
        metadata=auth,
    )
    assert moved.stage == project_pb2.PROJECT_STAGE_PREPARATION

    try:
        client.CreateProject(
            project_pb2.CreateProjectRequest(project=project_pb2.Project(total_investment_yuan=-1)),
            metadata=auth,
        )
        raise AssertionError("an invalid project was accepted")
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
        info, fields = error_details(err)
        assert (info.reason, info.domain) == ("INVALID_FIELDS", "pipeline.v1"), info
        expected = {"project.display_name", "project.total_investment_yuan", "project.township"}
        assert expected <= set(fields), fields

    try:
        client.GetProject(project_pb2.GetProjectRequest(name=created.name))
        raise AssertionError("a call without a token was served")
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err
        assert error_details(err)[0].reason == "UNAUTHENTICATED", err

    slip_a_milestone(channel, auth, created.name)

    # 应报尽报: a window open now, the project undeclared, then declared.
    funding = funding_pb2_grpc.FundingServiceStub(channel)
    window = funding.CreateFundingWindow(
        funding_pb2.CreateFundingWindowRequest(
            funding_window_id="py-" + uuid.uuid4().hex[:12],
            funding_window=funding_pb2.FundingWindow(
                channel=funding_pb2.FUNDING_CHANNEL_SPECIAL_BOND,
                title="专项债 第三批",
                open_date=day(-2),
                close_date=day(10),
                target_count=1,
            ),
        ),
        metadata=auth,
    )
    sheet = funding.GetFundingCoverage(funding_pb2.GetFundingCoverageRequest(name=window.name), metadata=auth)
    assert created.name in [p.project for p in sheet.undeclared_projects], sheet
    application = funding.CreateFundingApplication(
        funding_pb2.CreateFundingApplicationRequest(
            parent=created.name,
            funding_application=funding_pb2.FundingApplication(
                funding_window=window.name, requested_amount_yuan=300_000_000
            ),
        ),
        metadata=auth,
    )
    submitted = funding.SubmitFundingApplication(
        funding_pb2.SubmitFundingApplicationRequest(name=application.name, request_id=str(uuid.uuid4())),
        metadata=auth,
    )
    assert submitted.state == funding_pb2.FUNDING_APPLICATION_STATE_SUBMITTED, submitted
    sheet = funding.GetFundingCoverage(funding_pb2.GetFundingCoverageRequest(name=window.name), metadata=auth)
    assert created.name not in [p.project for p in sheet.undeclared_projects], sheet
    assert sheet.declared_count == 1 and sheet.count_gap == 0, sheet

    print(
        f"python client: created, listed, updated and staged {created.name}; slipped its milestone to RED "
        f"and received the slip on WatchEvents; errors carry ErrorInfo and BadRequest; declared it into "
        f"{window.name} and the coverage sheet shows it"
    )


def slip_a_milestone(channel: grpc.Channel, auth, project: str) -> None:
    """Schedules a milestone, slips it 40 days (past the 30-day tolerance of the default light
    rules), reads its light, and receives the slip on a WatchEvents stream opened before it."""
    milestones = milestone_pb2_grpc.MilestoneServiceStub(channel)
    events = event_pb2_grpc.EventServiceStub(channel)
    baseline = day(60)
    scheduled = milestones.CreateMilestone(
        milestone_pb2.CreateMilestoneRequest(
            parent=project,
            milestone_id="construction-start",
            milestone=milestone_pb2.Milestone(
                kind=milestone_pb2.MILESTONE_KIND_CONSTRUCTION_START, baseline_date=baseline
            ),
        ),
        metadata=auth,
    )
    assert scheduled.light == milestone_pb2.ALERT_LIGHT_GREEN, scheduled

    # A slip needs its reason; the error names the field.
    try:
        milestones.ForecastMilestone(
            milestone_pb2.ForecastMilestoneRequest(name=scheduled.name, forecast_date=day(100)),
            metadata=auth,
        )
        raise AssertionError("a slip without a reason was accepted")
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
        info, fields = error_details(err)
        assert info.reason == "INVALID_FIELDS" and fields == ["reason"], (info, fields)

    # This project's slips from now on: the stream says when its replay is caught up, and from
    # then on each slip arrives as it is committed.
    stream = events.WatchEvents(
        event_pb2.WatchEventsRequest(
            filter=event_pb2.EventFilter(projects=[project], kinds=[event_pb2.EVENT_KIND_MILESTONE_SLIPPED])
        ),
        metadata=auth,
        timeout=30,
    )
    try:
        assert next(stream).WhichOneof("response") == "caught_up"
        forecast = day(100)
        slipped = milestones.ForecastMilestone(
            milestone_pb2.ForecastMilestoneRequest(
                name=scheduled.name, forecast_date=forecast, reason="征地拆迁延误", etag=scheduled.etag
            ),
            metadata=auth,
        )
        assert slipped.status == milestone_pb2.MILESTONE_STATUS_SLIPPED, slipped
        assert (slipped.variance_days, slipped.slip_count, slipped.days_slipped) == (40, 1, 40), slipped

        read = milestones.GetMilestone(milestone_pb2.GetMilestoneRequest(name=scheduled.name), metadata=auth)
        assert read.light == milestone_pb2.ALERT_LIGHT_RED, read
        assert "40 days late" in read.light_reason, read.light_reason

        message = next(stream)
        while message.WhichOneof("response") != "batch":
            message = next(stream)
        assert message.batch.cursor, message
        [event] = message.batch.events
        assert event.kind == event_pb2.EVENT_KIND_MILESTONE_SLIPPED, event
        assert (event.project, event.resource) == (project, scheduled.name), event
        change = event.milestone_change
        assert (change.old_date, change.new_date) == (baseline, forecast), change
        assert (change.delta_days, change.variance_days) == (40, 40), change
        assert change.light == milestone_pb2.ALERT_LIGHT_RED and change.reason == "征地拆迁延误", change
    finally:
        stream.cancel()


if __name__ == "__main__":
    main()
