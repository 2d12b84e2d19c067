"""Gates and evidence: compare candidates with baselines, evaluate gates, write meeting bundles."""

from runnotary.bundles.comparison import Comparison, ComparisonSettings, compare
from runnotary.bundles.evidence import Bundle, closing_line, write_bundle
from runnotary.bundles.gates import GATES, Gate, evaluate
from runnotary.bundles.tables import CandidateEvidence, render_tables

__all__ = [
    "Bundle",
    "CandidateEvidence",
    "Comparison",
    "ComparisonSettings",
    "GATES",
    "Gate",
    "closing_line",
    "compare",
    "evaluate",
    "render_tables",
    "write_bundle",
]
