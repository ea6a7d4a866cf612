"""Calls a running `pipeline serve` through a Python client generated from proto/.

Usage: python client_smoke.py HOST:PORT GENERATED_DIR TOKEN_FILE

With the token in TOKEN_FILE it creates, lists and updates a project, moves its stage, checks
that a bad request comes back as INVALID_ARGUMENT with a BadRequest naming the bad fields, that
a call without a token is UNAUTHENTICATED, and declares the project into a funding window.
Exits non-zero on any mismatch.
"""

import datetime
import sys
import uuid

address, generated, token_file = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, generated)

import grpc  # noqa: E402
from google.protobuf import field_mask_pb2  # noqa: E402
from google.rpc import error_details_pb2  # noqa: E402
from grpc_status import rpc_status  # noqa: E402
from pipeline.v1 import common_pb2, funding_pb2, funding_pb2_grpc, project_pb2, project_pb2_grpc  # noqa: E402


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
        status = rpc_status.from_call(err)
        fields = set()
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad_request = error_details_pb2.BadRequest()
                detail.Unpack(bad_request)
                fields.update(v.field for v in bad_request.field_violations)
        expected = {"project.display_name", "project.total_investment_yuan", "project.township"}
        assert expected <= fields, fields

    try:
        client.GetProject(project_pb2.GetProjectRequest(name=created.name))
        raise AssertionError("a call without a token was served")
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err

    # 应报尽报: a window open now, the project undeclared, then declared.
    funding = funding_pb2_grpc.FundingServiceStub(channel)

    def day(offset: int) -> common_pb2.Date:
        d = datetime.date.today() + datetime.timedelta(days=offset)
        return common_pb2.Date(year=d.year, month=d.month, day=d.day)

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
        f"python client: created, listed, updated and staged {created.name}; errors carry BadRequest; "
        f"declared it into {window.name} and the coverage sheet shows it"
    )


if __name__ == "__main__":
    main()
