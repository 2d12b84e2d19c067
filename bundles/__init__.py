"""Gates and evidence: compare candidates with baselines, evaluate gates, write meeting bundles."""

from runnotary.bundles.arms import arm_of, compare_arms
from runnotary.bundles.comparison import Comparison, ComparisonSettings, compare
from runnotary.bundles.evidence import closing_line, log_bundle, write_bundle
from runnotary.bundles.gates import evaluate, gate_alerts, status_dict
from runnotary.bundles.hygiene import meeting_flags
from runnotary.bundles.policy import DEFAULT_POLICY, GatePolicy, GateRule, GateSpec, PolicyError, load_policy
from runnotary.bundles.tables import CandidateEvidence

#: What other packages, users and tests import; everything else is imported from its module.
__all__ = [
    "CandidateEvidence",
    "Comparison",
    "ComparisonSettings",
    "DEFAULT_POLICY",
    "GatePolicy",
    "GateRule",
    "GateSpec",
    "PolicyError",
    "arm_of",
    "closing_line",
    "compare",
    "compare_arms",
    "evaluate",
    "gate_alerts",
    "load_policy",
    "log_bundle",
    "meeting_flags",
    "status_dict",
    "write_bundle",
]
