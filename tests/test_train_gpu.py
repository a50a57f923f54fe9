"""The CUDA paths of the training engine: mixed precision, channels_last, pinned memory, NCCL.

These tests need a CUDA GPU (two for the NCCL test) and skip, saying so, without one: the
course's CI machines have none, so they run where a GPU is available (`make test` on a GPU
machine runs them with everything else). Each checks a property, not just that nothing crashes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from inception_lab import data, models, train
from inception_lab.train.precision import choose_amp

CUDA = torch.cuda.is_available()
pytestmark = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU (none on this machine)")
TWO_GPUS = CUDA and torch.cuda.device_count() >= 2


def shapes_loaders(batch_size=64, **kw):
    return data.make_loaders(
        "shapes", batch_size=batch_size, device="cuda", train_size=512, val_size=128, **kw
    )


def test_fp16_with_grad_scaler_trains_and_scales_the_loss():
    torch.manual_seed(0)
    model = models.mini_googlenet(num_classes=10, width=0.5)
    history = train.fit(model, shapes_loaders(), 2, amp="fp16", lr=0.02, progress=False)
    assert history.config["amp"] == "fp16" and history.diverged is None
    assert history.records[-1]["train_loss"] < history.records[0]["train_loss"]
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32


def test_bf16_autocast_is_chosen_on_gpus_that_have_it():
    native = torch.cuda.get_device_capability() >= (8, 0)
    choice = choose_amp("cuda", "auto")
    assert choice.name == ("bf16" if native else "fp16") and choice.use_scaler != native
    if not native:
        pytest.skip("this GPU has no native bfloat16 (compute capability < 8.0)")
    torch.manual_seed(0)
    model = models.mini_googlenet(num_classes=10, width=0.5).cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model.eval()(torch.randn(4, 3, 32, 32, device="cuda"))
    assert out.dtype == torch.bfloat16
    history = train.fit(model, shapes_loaders(), 1, progress=False)
    assert history.config["amp"] == "bf16" and history.diverged is None


def test_channels_last_on_cuda_keeps_weights_nhwc_and_matches_nchw():
    torch.manual_seed(0)
    model = models.mini_googlenet(num_classes=10, width=0.5)
    train.fit(model, shapes_loaders(), 1, amp="off", progress=False)
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(8, 3, 32, 32, device="cuda")
    with torch.no_grad():
        nhwc = model(x.contiguous(memory_format=torch.channels_last))
        nchw = model.to(memory_format=torch.contiguous_format)(x)
    torch.testing.assert_close(nhwc, nchw, rtol=1e-3, atol=1e-3)  # TF32 may be on


def test_loaders_keep_in_memory_data_on_the_gpu_and_pin_worker_batches(tmp_path):
    loaders = shapes_loaders()
    images, labels = next(iter(loaders.train))
    assert images.is_cuda and labels.is_cuda and images.dtype == torch.float32
    folder = tmp_path / "train" / "a"
    folder.mkdir(parents=True)
    from torchvision.io import write_png

    for i in range(4):
        write_png(torch.randint(0, 255, (3, 16, 16), dtype=torch.uint8), str(folder / f"{i}.png"))
    for split in ("val", "test"):
        (tmp_path / split / "a").mkdir(parents=True)
        write_png(torch.zeros(3, 16, 16, dtype=torch.uint8), str(tmp_path / split / "a" / "0.png"))
    folder_loaders = data.make_loaders("imagefolder", root=tmp_path, batch_size=2, device="cuda")
    assert folder_loaders.train.loader.pin_memory  # page-locked host memory: async copies
    images, _ = next(iter(folder_loaders.train))
    assert images.is_cuda


def test_deterministic_backends_give_identical_reruns():
    def run():
        torch.manual_seed(0)
        model = models.mini_googlenet(num_classes=10, width=0.5)
        train.fit(model, shapes_loaders(), 1, amp="off", deterministic=True, progress=False)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(run(), run())
    train.configure_backends(torch.device("cuda"))  # back to the fast defaults


@pytest.mark.skipif(not TWO_GPUS, reason="needs two CUDA GPUs for the NCCL test")
def test_torchrun_two_gpus_nccl_keeps_replicas_identical(tmp_path):
    """Each rank must train on cuda:LOCAL_RANK with NCCL, SyncBatchNorm on request, and end with
    identical weights (the command line checks that and prints it)."""
    cmd = [
        os.path.join(os.path.dirname(sys.executable), "torchrun"),
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "inception_lab.train",
        "--model",
        "mini_googlenet",
        "--model-arg",
        "width=0.5",
        "--train-size",
        "512",
        "--val-size",
        "128",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--sync-bn",
        "--device",
        "cuda",
        "--out",
        str(tmp_path / "h.json"),
    ]
    out = subprocess.run(
        cmd, check=False, capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "all 2 ranks hold identical weights" in out.stdout
    history = train.History.from_json(tmp_path / "h.json")
    assert history.config["world_size"] == 2 and history.config["sync_bn"] is True
