"""The training-job side: publish a run with its provenance, even when Kafka is down.

Installs without the service (``pip install runnotary``; the service is ``runnotary[service]``)
and imports pydantic and confluent-kafka only::

    from runnotary.client import publish_run

    published = publish_run(experiment="/Shared/retrieval", run_name="eval_1", candidate_id="retrieval-a",
                            role="candidate", owners=["ml@example.org"], dataset="data/queries", seed=42,
                            seed_family="retrieval-v1", tags={...}, artifacts=[...], metrics=[...])
    print(published.event_id, published.status)

Inside ``with mlflow.start_run():``, ``publish_active_run(...)`` does the same for the active run;
``request_meeting(meeting_id, candidate_ids)`` asks the service for a meeting's evidence bundle.
"""

from __future__ import annotations

from runnotary.client.dataset import DatasetDigest, hash_dataset
from runnotary.client.environment import current_environment, git_code
from runnotary.client.errors import ClientError, InvalidMeeting, InvalidRun, ProvenanceError, SpoolError, UnsafeDatasetPath
from runnotary.client.meeting import build_meeting_request, request_meeting
from runnotary.client.mlflow_run import publish_active_run
from runnotary.client.publisher import FlushResult, Published, flush, job_source, publish_event
from runnotary.client.run import Artifact, Metric, build_run_event, publish_run
from runnotary.client.settings import ClientSettings
from runnotary.client.spool import Spool, SpooledEvent, default_spool_dir

__all__ = [
    "Artifact",
    "ClientError",
    "ClientSettings",
    "DatasetDigest",
    "FlushResult",
    "InvalidMeeting",
    "InvalidRun",
    "Metric",
    "ProvenanceError",
    "Published",
    "Spool",
    "SpoolError",
    "SpooledEvent",
    "UnsafeDatasetPath",
    "build_meeting_request",
    "build_run_event",
    "current_environment",
    "default_spool_dir",
    "flush",
    "git_code",
    "hash_dataset",
    "job_source",
    "publish_active_run",
    "publish_event",
    "publish_run",
    "request_meeting",
]
