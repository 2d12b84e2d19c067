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

Names are resolved lazily (PEP 562), so ``runnotary --help`` (which adds the client's subcommands)
loads neither pydantic nor confluent-kafka.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runnotary.exports import lazy_exports

if TYPE_CHECKING:
    from runnotary.client.dataset import hash_dataset
    from runnotary.client.environment import current_environment, git_code
    from runnotary.client.errors import (
        ClientError, InvalidMeeting, InvalidRun, ProvenanceError, SpoolError, UnsafeDatasetPath,
    )
    from runnotary.client.meeting import request_meeting
    from runnotary.client.mlflow_run import publish_active_run
    from runnotary.client.publisher import Published, flush, job_source
    from runnotary.client.run import Artifact, Metric, build_run_event, publish_run
    from runnotary.client.settings import ClientSettings
    from runnotary.client.spool import Spool, SpooledEvent

#: What users, other packages and tests import; everything else is imported from its module.
__all__, __getattr__, __dir__ = lazy_exports(globals(), {
    "dataset": ("hash_dataset",),
    "environment": ("current_environment", "git_code"),
    "errors": ("ClientError", "InvalidMeeting", "InvalidRun", "ProvenanceError", "SpoolError", "UnsafeDatasetPath"),
    "meeting": ("request_meeting",),
    "mlflow_run": ("publish_active_run",),
    "publisher": ("Published", "flush", "job_source"),
    "run": ("Artifact", "Metric", "build_run_event", "publish_run"),
    "settings": ("ClientSettings",),
    "spool": ("Spool", "SpooledEvent"),
})
