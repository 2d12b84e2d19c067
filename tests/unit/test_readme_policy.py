"""The policy the README's worked example states is a valid policy, and it judges that example by the
latency and nDCG gates only (the default policy would fail it on two gates it has no claim for)."""

from __future__ import annotations

import re
from pathlib import Path

from runnotary.bundles import DEFAULT_POLICY, load_policy

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_worked_examples_policy_loads_and_keeps_only_the_gates_it_can_judge(tmp_path: Path) -> None:
    text = README.read_text()
    example = text[text.index("### Worked example"):text.index("### What the client computes")]
    [block] = re.findall(r"```yaml\n(# retrieval-policy.yaml.*?)```", example, re.S)
    path = tmp_path / "retrieval-policy.yaml"
    path.write_text(block)
    policy = load_policy(path)
    experiment = re.search(r'experiment="([^"]+)"', example).group(1)  # type: ignore[union-attr]
    assert [g.name for g in policy.gates_for(experiment, "quality")] == ["latency_p95_ms", "ndcg10_ci95_lower"]
    # Elsewhere the file keeps the seed's defaults, rule for rule.
    assert policy.gates_for("/Shared/other", "quality") == DEFAULT_POLICY.gates_for("/Shared/other", "quality")
