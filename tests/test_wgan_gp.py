"""WGAN-GP: the gradient penalty against closed forms, Mullery & Whelan's critic schedule, and one
objective step (update counts, finite values, determinism, resume state)."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from gannorm.data.store import StoreWriter
from gannorm.models.heads import OutputHead
from gannorm.train.objective import store_data
from gannorm.train.wgan_gp import CriticSchedule, WGANGPObjective, gradient_penalty


class LinearCritic(nn.Module):
    """D(x) = <w, x> + b: its gradient is w at every point."""

    def __init__(self, w, b=0.3):
        super().__init__()
        self.w = nn.Parameter(torch.as_tensor(w, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(b, dtype=torch.float64))

    def forward(self, x):
        return x.flatten(1) @ self.w.flatten() + self.b


class DistanceCritic(nn.Module):
    """D(x) = ||x - c||_2: non-linear, gradient norm 1 everywhere except at c."""

    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, x):
        return (x - self.c).flatten(1).norm(dim=1)


class HalfSquareCritic(nn.Module):
    """D(x) = ||x||^2 / 2: gradient x, so the penalty reveals where x_hat lies."""

    def forward(self, x):
        return 0.5 * x.flatten(1).pow(2).sum(1)


@pytest.mark.parametrize("scale", [0.0, 0.25, 1.0, 3.0])
def test_gradient_penalty_of_a_linear_critic_is_closed_form(scale):
    gen = torch.Generator().manual_seed(0)
    direction = torch.randn(2, 3, 4, generator=gen, dtype=torch.float64)
    w = scale * direction / direction.norm() if scale else torch.zeros(2, 3, 4, dtype=torch.float64)
    critic = LinearCritic(w)
    real = torch.randn(5, 2, 3, 4, generator=gen, dtype=torch.float64)
    fake = torch.randn(5, 2, 3, 4, generator=gen, dtype=torch.float64)
    gp = gradient_penalty(critic, real, fake, rng=gen)
    assert gp.dim() == 0
    assert gp.item() == pytest.approx((scale - 1.0) ** 2, abs=1e-12)
    if scale:  # create_graph: the penalty is differentiable in the critic's weights
        gp.backward()
        expected = 2 * (scale - 1.0) * critic.w / scale
        torch.testing.assert_close(critic.w.grad, expected.detach())


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    gen = torch.Generator().manual_seed(1)
    real = torch.randn(16, 3, 8, 8, generator=gen, dtype=torch.float64)
    fake = torch.randn(16, 3, 8, 8, generator=gen, dtype=torch.float64)
    c = torch.full((3, 8, 8), 5.0, dtype=torch.float64)  # far from every interpolate
    assert gradient_penalty(DistanceCritic(c), real, fake, rng=gen).item() < 1e-24
    assert gradient_penalty(LinearCritic(torch.ones(3, 8, 8, dtype=torch.float64) / math.sqrt(192)),
                            real, fake).item() == pytest.approx(0.0, abs=1e-24)


def test_gradient_penalty_interpolates_real_and_fake_per_sample():
    real = torch.stack([torch.full((1, 2, 2), 1.0), torch.full((1, 2, 2), 2.0)]).double()
    fake = torch.stack([torch.full((1, 2, 2), 3.0), torch.full((1, 2, 2), -2.0)]).double()
    alpha = torch.tensor([0.25, 0.5])
    # x_hat = alpha real + (1 - alpha) fake = 2.5 and 0.0 per pixel; ||grad|| = ||x_hat|| = 2 * value
    expected = ((2 * 2.5 - 1) ** 2 + (0.0 - 1) ** 2) / 2
    assert gradient_penalty(HalfSquareCritic(), real, fake, alpha=alpha).item() == pytest.approx(expected)
    # alpha drawn from the rng: the same generator state gives the same penalty
    gp = [gradient_penalty(HalfSquareCritic(), real, fake, rng=torch.Generator().manual_seed(7)) for _ in range(2)]
    assert gp[0].item() == gp[1].item()
    with pytest.raises(ValueError):
        gradient_penalty(HalfSquareCritic(), real, fake[:1])


def test_critic_schedule_of_mullery_and_whelan():
    schedule = CriticSchedule()
    counts = [schedule(i) for i in range(1, 1001)]
    assert counts[:25] == [50] * 25
    assert counts[25] == 5 and counts[498] == 5 and counts[499] == 50 and counts[500] == 5
    assert sorted(set(counts)) == [5, 50] and counts.count(50) == 26
    assert schedule.total(1000) == sum(counts) == 25 * 50 + 50 + 974 * 5
    assert schedule.total(25) == 25 * 50 and schedule.total(0) == 0
    gulrajani = CriticSchedule(5, 5, 0, ())
    assert gulrajani.total(1000) == 5000 and gulrajani(1) == 5
    from_cfg = CriticSchedule.from_config({"critic_iterations": 2, "critic_warmup_iterations": 7,
                                           "critic_warmup_generator_iterations": 3, "critic_extra_at": [10, 2]})
    assert [from_cfg(i) for i in range(1, 12)] == [7, 7, 7, 2, 2, 2, 2, 2, 2, 7, 2]
    assert from_cfg.total(11) == sum(from_cfg(i) for i in range(1, 12))
    with pytest.raises(ValueError):
        schedule(0)


# --- the objective, with tiny stand-in models on a tiny RGB store ---------------------------------


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is fastest, and immune to other processes on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def rgb_store(tmp_path_factory):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(48, 3, 8, 8)).astype(np.uint8)
    images[:, 0] //= 2  # a channel with another mean, for the bn_clip head
    writer = StoreWriter(tmp_path_factory.mktemp("rgb") / "store", capacity=48, image_shape=(3, 8, 8))
    writer.add(images)
    return writer.finish(dataset="rgb", source={"name": "test"}, test_count=8)


class TinyGenerator(nn.Module):
    def __init__(self, data, latent=6, head="bn_clip"):
        super().__init__()
        self.latent, c, s = latent, data["channels"], data["size"]
        self.shape = (c, s, s)
        self.body = nn.Linear(latent, c * s * s)
        self.head = OutputHead(head, c, data["mean_pm1"], data["std_pm1"])
        self.output_range = self.head.output_range

    def forward(self, z):
        return self.head(self.body(z).view(-1, *self.shape))


class TinyCritic(nn.Module):
    def __init__(self, data):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(data["channels"] * data["size"] ** 2, 16),
                                 nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x).view(-1)


SPEC = {"architecture": "stand-in", "model": {},
        "train": {"iterations": 600, "batch_size": 8, "lr": 1e-3, "adam_betas": [0.9, 0.99], "gp_weight": 10,
                  "eval_images": 4, "eval_steps": 3, "eval_lr": 0.01, "samples": 4, "histogram_bins": 64}}


def _objective(store, seed=0, spec=SPEC, head="bn_clip"):
    torch.manual_seed(seed)  # the harness seeds model initialisation
    data = store_data(store)
    models = (TinyGenerator(data, head=head), TinyCritic(data), {"architecture": "stand-in", "variant": head})
    return WGANGPObjective(store, copy.deepcopy(spec), head, seed, torch.device("cpu"),
                           torch.Generator().manual_seed(seed), models=models)


def _count_steps(objective):
    counts = {"opt_g": 0, "opt_d": 0}
    for name, opt in objective.optimizers().items():
        opt.register_step_post_hook(lambda *_, name=name: counts.__setitem__(name, counts[name] + 1))
    return counts


@pytest.mark.parametrize("iteration", [1, 26, 500])
def test_one_step_runs_the_scheduled_critic_updates(rgb_store, iteration):
    objective = _objective(rgb_store)
    counts = _count_steps(objective)
    critic_before = [p.detach().clone() for p in objective.critic.parameters()]
    values = objective.step(iteration)
    assert counts == {"opt_d": objective.schedule(iteration), "opt_g": 1}
    assert counts["opt_d"] == (50 if iteration in (1, 500) else 5)
    assert set(values) == set(WGANGPObjective.columns)
    assert all(isinstance(v, float) and math.isfinite(v) for v in values.values())
    assert values["critic_iterations"] == counts["opt_d"] and values["gradient_penalty"] >= 0
    assert any(not torch.equal(a, b) for a, b in zip(critic_before, objective.critic.parameters()))


def test_objective_is_deterministic_and_seed_dependent(rgb_store):
    def run(seed):
        objective = _objective(rgb_store, seed)
        rows = [objective.step(i) for i in range(25, 28)]  # 50, 5, 5 critic updates
        return rows, {k: v.clone() for k, v in objective.generator.state_dict().items()}

    (rows_a, g_a), (rows_b, g_b), (rows_c, _) = run(3), run(3), run(4)
    assert rows_a == rows_b
    assert all(torch.equal(g_a[k], g_b[k]) for k in g_a)
    assert rows_a != rows_c


def test_resume_state_continues_bit_identically(rgb_store):
    a = _objective(rgb_store, 5)
    for i in range(25, 27):
        a.step(i)
    saved = {"modules": {k: copy.deepcopy(m.state_dict()) for k, m in a.modules().items()},
             "optimizers": {k: copy.deepcopy(o.state_dict()) for k, o in a.optimizers().items()},
             "rng": a.rng.get_state(), "extra": copy.deepcopy(a.state_dict())}
    b = _objective(rgb_store, 99)
    for k, m in b.modules().items():
        m.load_state_dict(saved["modules"][k])
    for k, o in b.optimizers().items():
        o.load_state_dict(saved["optimizers"][k])
    b.rng.set_state(saved["rng"])
    b.load_state_dict(saved["extra"])
    assert a.step(27) == b.step(27)


def test_linear_lr_decay_reaches_zero_at_the_last_iteration(rgb_store):
    spec = copy.deepcopy(SPEC)
    spec["train"].update(lr_decay="linear", iterations=100, critic_warmup_generator_iterations=0,
                         critic_extra_at=[])
    objective = _objective(rgb_store, spec=spec)
    assert objective.lr_at(1) == pytest.approx(1e-3) and objective.lr_at(51) == pytest.approx(5e-4)
    assert objective.lr_at(100) == pytest.approx(1e-5) and objective.lr_at(101) == 0.0
    objective.step(51)
    assert all(g["lr"] == pytest.approx(5e-4) for o in objective.optimizers().values() for g in o.param_groups)
    spec["train"]["lr_decay"] = "cosine"
    with pytest.raises(ValueError, match="lr_decay"):
        _objective(rgb_store, spec=spec)


def test_samples_running_eval_and_snapshot(rgb_store):
    objective = _objective(rgb_store)
    objective.step(30)
    samples = objective.samples()
    assert samples.shape == (4, 3, 8, 8) and float(samples.min()) >= 0.0 and float(samples.max()) <= 1.0
    assert torch.equal(samples, objective.samples())  # fixed z
    assert objective.generator.training  # eval mode only for the samples
    recon = objective.running_eval()
    assert math.isfinite(recon) and 0.0 <= recon <= 1.0 and objective.generator.training
    snap = objective.snapshot(30)
    assert snap["histogram"].shape == snap["data_histogram"].shape == (3, 64)
    assert snap["w1"].shape == (3,) and np.all((snap["w1"] >= 0) & (snap["w1"] <= 1))
    assert snap["images"].shape == (16, 3, 8, 8) and int(snap["iteration"]) == 30
    assert objective.model_meta == {"architecture": "stand-in", "variant": "bn_clip"}


def test_bn_clip_head_starts_at_the_data_statistics(rgb_store):
    objective = _objective(rgb_store)
    data = store_data(rgb_store)
    norm = objective.generator.head.norm
    np.testing.assert_allclose(norm.bias.detach().numpy(), data["mean_pm1"], rtol=1e-6)
    np.testing.assert_allclose(norm.weight.detach().numpy(), data["std_pm1"], rtol=1e-6)
    assert data["mean_pm1"][0] < data["mean_pm1"][1] - 0.3  # channel 0 was halved


@pytest.fixture(scope="module")
def cifar_like_store(tmp_path_factory):
    writer = StoreWriter(tmp_path_factory.mktemp("cifar_like") / "store", capacity=24, image_shape=(3, 32, 32))
    writer.add(np.random.default_rng(1).integers(0, 256, size=(24, 3, 32, 32)).astype(np.uint8))
    return writer.finish(dataset="cifar_like", source={"name": "test"}, test_count=4)


REAL_SPEC = {"model": {"width": 8}, "train": {"batch_size": 4, "eval_images": 2, "eval_steps": 1, "samples": 2}}


@pytest.mark.parametrize("architecture,variant", [("iwgan", "bn_clip"), ("iwgan", "tanh"),
                                                  ("wgan_resnet", "critic_gn4")])
def test_one_step_with_the_real_models(cifar_like_store, architecture, variant):
    module = pytest.importorskip(f"gannorm.models.{architecture}")
    data = store_data(cifar_like_store)
    torch.manual_seed(0)
    generator, critic = module.build(variant, REAL_SPEC["model"], data)
    meta = {"architecture": architecture, "variant": variant, "model": REAL_SPEC["model"], "data": data}
    objective = WGANGPObjective(cifar_like_store, {"architecture": architecture, **copy.deepcopy(REAL_SPEC)},
                                variant, 0, torch.device("cpu"), torch.Generator().manual_seed(0),
                                models=(generator, critic, meta))
    counts = _count_steps(objective)
    values = objective.step(26)
    assert counts == {"opt_d": 5, "opt_g": 1}
    assert all(math.isfinite(v) for v in values.values())
    assert objective.samples().shape == (2, 3, 32, 32)


def test_models_come_from_build_models(cifar_like_store):
    models = pytest.importorskip("gannorm.models")
    if not hasattr(models, "build_models"):
        pytest.skip("gannorm.models.build_models not there yet")
    spec = {"architecture": "iwgan", **copy.deepcopy(REAL_SPEC)}
    torch.manual_seed(0)
    objective = WGANGPObjective(cifar_like_store, spec, "bn_clip", 0, torch.device("cpu"),
                                torch.Generator().manual_seed(0))
    assert objective.model_meta["architecture"] == "iwgan" and objective.model_meta["variant"] == "bn_clip"
    assert objective.model_meta["data"] == store_data(cifar_like_store)
    assert all(math.isfinite(v) for v in objective.step(26).values())


def test_generator_batch_size_sets_the_generator_update_batch(rgb_store):
    spec = copy.deepcopy(SPEC)
    spec["train"]["generator_batch_size"] = 16  # Gulrajani's ResNet: twice the critic batch
    objective = _objective(rgb_store, spec=spec)
    seen = []
    objective.critic.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[0]))
    objective.step(30)
    # each critic update: D(fake), D(real), D(x_hat) on 8 images; then D(G(z)) on 16
    assert seen == [8] * (3 * objective.schedule(30)) + [16]


def test_train_run_writes_wgan_metrics_and_snapshots(cifar_like_store, tmp_path):
    import csv

    from gannorm.metrics.histograms import read_snapshot
    from gannorm.train.loop import train_run

    spec = {"dataset": "cifar_like", "architecture": "iwgan", "model": {"width": 8},
            "train": {"iterations": 4, "batch_size": 4, "lr": 1e-4, "log_every": 1, "eval_every": 2,
                      "eval_images": 2, "eval_steps": 1, "eval_lr": 0.01, "sample_every": 2, "samples": 4,
                      "critic_warmup_iterations": 3, "critic_warmup_generator_iterations": 1,
                      "critic_extra_at": [3], "snapshot_at": [0, 3], "histogram_bins": 32}}
    result = train_run(cifar_like_store, spec, study="s", variant="bn_clip", seed=0, out_dir=tmp_path,
                       device=torch.device("cpu"), progress=False)
    assert result.outcome == "completed"
    with open(tmp_path / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["iteration"]) for r in rows] == [0, 1, 2, 3, 4]
    assert [float(r["critic_iterations"]) for r in rows[1:]] == [3, 5, 3, 5]
    assert all(math.isfinite(float(r[k])) for r in rows[1:] for k in WGANGPObjective.columns)
    snap = read_snapshot(tmp_path / "snapshots" / "iter0000003.npz")
    assert snap["iteration"] == 3 and snap["histogram"].shape == (3, 32) and snap["w1"].shape == (3,)
    assert (tmp_path / "snapshots" / "iter0000000.npz").is_file()


def test_missing_or_null_keys_take_mullery_and_whelans_defaults(rgb_store):
    spec = copy.deepcopy(SPEC)
    spec["train"] = {"batch_size": 8, "eval_images": 4, "optimizer": None, "adam_betas": None, "lr": None,
                     "critic_extra_at": None}
    objective = _objective(rgb_store, spec=spec)
    for opt in objective.optimizers().values():
        assert isinstance(opt, torch.optim.Adam)
        assert opt.param_groups[0]["betas"] == (0.9, 0.99) and opt.param_groups[0]["lr"] == 1e-4
    assert objective.schedule == CriticSchedule(5, 50, 25, (500,)) and objective.gp_weight == 10.0
    spec["train"]["optimizer"] = "sgd"
    with pytest.raises(ValueError, match="optimizer"):
        _objective(rgb_store, spec=spec)
