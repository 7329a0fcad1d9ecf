"""The two workloads' computations, without Ray."""

import numpy as np
import torch
from PIL import Image

from workloads.hybrid_ray import image_transform as it
from workloads.hybrid_ray import param_server as ps
from workloads.hybrid_ray.datasets import StorageLayout


def test_photometric_ops():
    x = torch.rand(3, 16, 16)
    for name, op in it.OPS.items():
        for m in (0.0, 0.5, 1.0):
            y = op(x, m)
            assert y.shape == x.shape and bool(torch.isfinite(y).all()), name
    assert torch.equal(it.OPS["identity"](x, 0.3), x)
    assert torch.allclose(it.OPS["solarize"](x, 1.0), 1.0 - x)  # threshold 0: everything inverted
    auto = it.OPS["autocontrast"](x * 0.5 + 0.2, 0.0)
    assert float(auto.amin()) == 0.0 and float(auto.amax()) == 1.0
    assert len(torch.unique(it.OPS["posterize"](x, 0.0))) <= 4  # 2 bits


def test_transform_is_deterministic_and_makes_thumbnails():
    image = it.synthetic_image((200, 120), seed=3)
    a, op_a = it.transform_image(image, seed=7)
    b, op_b = it.transform_image(image, seed=7)
    assert op_a == op_b and np.array_equal(np.asarray(a), np.asarray(b))
    assert a.size == (64, 38)  # aspect ratio kept, longest side 64
    blurred = np.asarray(image.filter(it.ImageFilter.GaussianBlur(it.BLUR_RADIUS))).std()
    assert blurred < np.asarray(image).std()  # the blur removed the noise


def test_images_land_where_asked(tmp_path):
    layout = StorageLayout(tmp_path / "share", tmp_path / "scratch", tmp_path / "bucket")
    share = it.write_images_to_share(layout, 2, (64, 48))
    bucket = it.upload_images_to_bucket(layout, 2, (64, 48))
    node = it.write_images_to_node(layout, "node-1", 1, (64, 48), first=5)
    assert [d.name for d in share] == ["img-000", "img-001"] and share[0].nbytes > 0
    assert (layout.bucket_root / "images/img-001/img-001.png").is_file()
    assert bucket[0].nbytes == share[0].nbytes  # same image, same bytes
    assert (
        node[0].name == "img-005"
        and (layout.node_scratch("node-1") / "results/img-005/img-005.png").is_file()
    )
    summaries = it.transform_dataset(layout.share_root / "images/img-000")
    assert len(summaries) == 1 and summaries[0]["size"] == [64, 48]
    jobs = it.image_jobs(share, (64, 48))
    assert jobs[0].work == 64 * 48 and jobs[0].dataset is share[0]


def test_cnn_learns_the_striped_classes(tmp_path):
    layout = StorageLayout(tmp_path / "share", tmp_path / "scratch", tmp_path / "bucket")
    datasets = ps.write_batches_to_share(layout, 2, 32)
    x, y = ps.load_batch(layout.share_root / "batches" / datasets[0].name)
    assert x.shape == (32, 3, ps.IMAGE_SIZE, ps.IMAGE_SIZE) and sorted(set(y.tolist())) == [0, 1, 2, 3]
    x_test, y_test = ps.load_batch(layout.share_root / "batches" / datasets[1].name)
    torch.manual_seed(0)
    model = ps.SmallCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    with torch.no_grad():
        before = float(torch.nn.functional.cross_entropy(model(x_test), y_test))
    for _ in range(40):
        _, grads = ps.gradients(model, x, y)
        for p, g in zip(model.parameters(), grads, strict=True):
            p.grad = g
        opt.step()
    with torch.no_grad():
        after = float(torch.nn.functional.cross_entropy(model(x_test), y_test))
    assert after < 0.7 * before  # generalises to an unseen batch


def test_striped_images_encode_their_label():
    rng = np.random.default_rng(0)
    img = ps.striped_image(0, rng).astype(float).mean(axis=2)
    # Label 0: stripes vary along y only, so each row is nearly constant.
    assert img.std(axis=1).mean() < img.std(axis=0).mean()
    assert isinstance(Image.fromarray(ps.striped_image(3, rng)), Image.Image)
