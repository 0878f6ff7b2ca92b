"""Packed training on a GPU (skipped without one): what the engine's CUDA kernels promise.

On CUDA a pack runs grouped convolutions, batched matrix products and fused Adam
(`Kernels.for_device`), so a member matches its lone training only up to rounding:
its forward must equal the separate forwards closely, and after training it must
agree with the model trained alone on nearly every test image.
"""
import pytest
import torch
from test_pack import build, task

from zoo.archs import list_archs
from zoo.fit import fit_many, predict_logits
from zoo.pack import PackedNet

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def gpu_digits():
    from zoo.data import DataBundle

    return DataBundle.load("digits", None, "cuda")


@pytest.mark.parametrize("arch", list_archs())
def test_packed_forward_on_cuda_equals_separate_forwards(arch, gpu_digits):
    models = [build(arch, seed, gpu_digits).cuda().eval() for seed in range(4)]
    packed = PackedNet(models).cuda().eval()
    x = gpu_digits.x("test")[:32]
    with torch.no_grad():
        together = packed(x.expand(4, *x.shape).contiguous())
        alone = torch.stack([m(x) for m in models])
    torch.testing.assert_close(together, alone, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("arch", ["cnn", "resnet"])
def test_a_member_trained_on_cuda_agrees_with_its_lone_training(arch, gpu_digits):
    def fresh(seed):
        t = task(arch, seed, gpu_digits, epochs=8)
        t.model.cuda()
        return t

    alone = fit_many([fresh(0)])[0]
    packed = fit_many([fresh(seed) for seed in (0, 1, 2, 3)])[0]
    x = gpu_digits.x("test")
    agree = (predict_logits(alone, x).argmax(1) == predict_logits(packed, x).argmax(1)).float().mean().item()
    assert agree >= 0.99
