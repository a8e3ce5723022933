"""The hebbian optimizer on a NoProp block with a trainable feature layer: the rules find principal directions."""
import pytest
import torch

from optsuite.errors import UserError
from optsuite.budget import Budget
from optsuite.registry import OPTIMIZERS, PROBLEMS
from optsuite.run import run


@pytest.fixture(scope="module")
def block():
    return PROBLEMS.create("noprop-block", block="learned-features", T=3, t=1, hidden=3)


def principal_directions(problem):
    """Eigenvectors ``[in, in]`` (columns, leading first) of the layer inputs' second moment."""
    layer = problem.feature_layer()
    rows = torch.cat([layer.rows(problem.draw(s, 0))[0] for s in range(100)]).double()
    _, vectors = torch.linalg.eigh(rows.T @ rows / len(rows))
    return vectors.flip(1)


def learned_projection(problem, rule):
    result = run(problem, OPTIMIZERS.create("hebbian", rule=rule, hebbian_steps=1000), Budget(steps=1000))
    assert result.status == "ok"
    return problem.feature_layer().projection(result.best).double()


def test_sanger_rule_learns_the_leading_principal_subspace_in_order(block):
    pcs = principal_directions(block)
    r = learned_projection(block, "sanger")
    assert torch.allclose(r.norm(dim=0), torch.ones(3, dtype=torch.float64), atol=0.02)
    unit = r / r.norm(dim=0)
    assert float((pcs[:, 0] @ unit[:, 0]).abs()) > 0.98
    captured = (pcs[:, :3].T @ unit).pow(2).sum() / 3  # 1 when the columns span the top-3 subspace
    assert float(captured) > 0.97


def test_oja_rule_sends_every_column_to_the_leading_direction(block):
    pcs = principal_directions(block)
    r = learned_projection(block, "oja")
    assert torch.all((pcs[:, 0] @ (r / r.norm(dim=0))).abs() > 0.98)


def test_readout_phase_solves_least_squares_exactly_on_the_rows_seen(block):
    """After the rule, the readout is the exact ridge solution on the rows of the readout steps."""
    result = run(block, OPTIMIZERS.create("hebbian", hebbian_steps=2), Budget(steps=5))
    layer = block.feature_layer()
    rows = [layer.rows(block.draw(step, 0)) for step in (2, 3, 4)]
    phi = torch.cat([layer.features(result.best, x) for x, _ in rows]).double()
    phi = torch.cat([phi, torch.ones(len(phi), 1, dtype=torch.float64)], 1)
    u = torch.cat([t for _, t in rows]).double()
    w = torch.linalg.lstsq(phi, u).solution
    assert torch.allclose(layer.with_readout(result.best, w), result.best, atol=1e-4)


def test_problems_without_a_feature_layer_and_bad_settings_are_refused():
    for problem in (PROBLEMS.create("sphere"), PROBLEMS.create("noprop-block", block="random-features", T=3)):
        with pytest.raises(UserError, match="needs a problem with a trainable feature layer"):
            run(problem, OPTIMIZERS.create("hebbian"))
    with pytest.raises(UserError, match="rule 'anti' unknown"):
        OPTIMIZERS.create("hebbian", rule="anti")
