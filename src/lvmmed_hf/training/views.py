"""Two-view augmentation (VICRegL-style, LVM-Med Sec. 4) recording each crop's box in original-image
coordinates (see ``graph_matching.affinities``), batched in torch on the tensors' device: the same
draws for the same generator state in DataLoader workers and on the training device (no host read)."""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from ..constants import IMAGENET_MEAN, IMAGENET_STD
from ..intensity import to_unit_range

_LUMA = (0.299, 0.587, 0.114)
_RGB_TO_YIQ = (_LUMA, (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


@dataclasses.dataclass
class ViewAugmentationConfig:
    """Parameters of :class:`TwoViewAugmentation`; probabilities are per image, ``blur_p`` and
    ``grayscale_p`` per view (s, t), following VICReg's asymmetric blur."""

    size: int = 224
    scale: tuple[float, float] = (0.2, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale_p: tuple[float, float] = (0.2, 0.2)
    blur_p: tuple[float, float] = (1.0, 0.1)
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @classmethod
    def medical(cls, size: int = 224, crop_scale_min: float = 0.2) -> ViewAugmentationConfig:
        """For (mostly) gray medical images: no hue, saturation or grayscale (colour is a real cue),
        brightness and contrast +-20% (intensity carries the modality), blur scaled with the view side."""
        no_colour = dict(saturation=0.0, hue=0.0, grayscale_p=(0.0, 0.0))
        sigma = (0.1 * size / 224, 2.0 * size / 224)
        return cls(
            size=size,
            scale=(crop_scale_min, 1.0),
            brightness=0.2,
            contrast=0.2,
            blur_sigma=sigma,
            **no_colour,
        )

    @classmethod
    def deterministic(cls, size: int = 224) -> ViewAugmentationConfig:
        """No randomness: :meth:`identity` with view t gray and blurred (sigma 1 px); for tests."""
        return dataclasses.replace(
            cls.identity(size), grayscale_p=(0.0, 1.0), blur_p=(0.0, 1.0), blur_sigma=(1.0, 1.0)
        )

    @classmethod
    def identity(cls, size: int = 224) -> ViewAugmentationConfig:
        """No random transform: both views are the whole image resized to ``size`` and normalised."""
        off = dict(flip_p=0.0, jitter_p=0.0, grayscale_p=(0.0, 0.0), blur_p=(0.0, 0.0))
        return cls(size=size, scale=(1.0, 1.0), ratio=(1e-6, 1e6), **off)  # any ratio: the whole image


def _batched(batched: bool | None, x: torch.Tensor) -> bool:
    """``None``: the batched path everywhere but on the CPU."""
    return x.device.type != "cpu" if batched is None else batched


def _uniform(shape, low, high, like, generator):
    return low + (high - low) * torch.rand(shape, dtype=like.dtype, device=like.device, generator=generator)


def sample_crop_boxes(
    sizes: torch.Tensor,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator=None,
    tries: int = 10,
) -> torch.Tensor:
    """Random-resized-crop boxes ``(B, 4)`` in pixels (x0, y0, x1, y1) for image ``sizes (B, 2)``, as
    torchvision: the first of ``tries`` samples that fits, else the largest centred crop within ``ratio``."""
    b = sizes.shape[0]
    h, w = sizes[:, 0].float(), sizes[:, 1].float()
    like = h
    target = (h * w).unsqueeze(1) * _uniform((b, tries), scale[0], scale[1], like, generator)
    r = _uniform((b, tries), math.log(ratio[0]), math.log(ratio[1]), like, generator).exp()
    cw = (target * r).sqrt()
    ch = (target / r).sqrt()
    fits = (cw <= w.unsqueeze(1)) & (ch <= h.unsqueeze(1)) & (cw > 0) & (ch > 0)
    first = torch.where(fits.any(1), fits.float().argmax(1), torch.full_like(h, -1, dtype=torch.long))
    idx = first.clamp_min(0).unsqueeze(1)
    cw_s, ch_s = cw.gather(1, idx).squeeze(1), ch.gather(1, idx).squeeze(1)
    # fallback: centred crop with the aspect ratio clamped into range
    img_r = w / h
    fb_w = torch.where(img_r < ratio[0], w, torch.where(img_r > ratio[1], h * ratio[1], w))
    fb_h = torch.where(img_r < ratio[0], w / ratio[0], h)
    ok = first >= 0
    cw_s, ch_s = torch.where(ok, cw_s, fb_w), torch.where(ok, ch_s, fb_h)
    x0 = torch.where(ok, (w - cw_s) * _uniform((b,), 0, 1, like, generator), (w - cw_s) / 2)
    y0 = torch.where(ok, (h - ch_s) * _uniform((b,), 0, 1, like, generator), (h - ch_s) / 2)
    return torch.stack([x0, y0, x0 + cw_s, y0 + ch_s], dim=1)


def crop_resize(
    images: torch.Tensor,
    sizes: torch.Tensor,
    boxes: torch.Tensor,
    out_size: int,
    batched: bool | None = None,
    regions: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Bilinear crop-and-resize of normalised ``boxes`` (mirrored = flipped) of a padded canvas whose real
    part is the top-left ``sizes[b]`` (padding never sampled): whole canvas if ``batched``, else by region."""
    b, _, canvas_h, canvas_w = images.shape
    dtype = images.dtype if images.is_floating_point() else torch.float32
    t = (torch.arange(out_size, device=images.device, dtype=dtype) + 0.5) / out_size
    h, w = sizes[:, 0].to(dtype).unsqueeze(1), sizes[:, 1].to(dtype).unsqueeze(1)
    boxes = boxes.to(dtype)
    x = boxes[:, 0:1] + t * (boxes[:, 2:3] - boxes[:, 0:1])  # (B, S) normalised to the image
    y = boxes[:, 1:2] + t * (boxes[:, 3:4] - boxes[:, 1:2])
    x = torch.minimum(torch.maximum(x, 0.5 / w), 1 - 0.5 / w)
    y = torch.minimum(torch.maximum(y, 0.5 / h), 1 - 0.5 / h)

    def grid(gx, gy):
        shape = (gx.shape[0], out_size, out_size)
        return torch.stack([gx.unsqueeze(1).expand(shape), gy.unsqueeze(2).expand(shape)], dim=-1)

    sample = dict(mode="bilinear", padding_mode="border", align_corners=False)
    if _batched(batched, images):
        canvas = images if images.is_floating_point() else to_unit_range(images)
        return F.grid_sample(canvas, grid(x * w / canvas_w * 2 - 1, y * h / canvas_h * 2 - 1), **sample)
    if regions is None:
        regions = image_regions(images, sizes)
    out = torch.empty(b, images.shape[1], out_size, out_size, dtype=dtype, device=images.device)
    g = grid(x * 2 - 1, y * 2 - 1)
    for i, region in enumerate(regions):
        out[i] = F.grid_sample(region[None], g[i : i + 1], **sample)[0]
    return out


def image_regions(images: torch.Tensor, sizes: torch.Tensor) -> list[torch.Tensor]:
    """Each image's real region of a padded canvas, as floats in [0, 1] (only real pixels converted)."""
    regions = [images[i, :, :h, :w] for i, (h, w) in enumerate(sizes.tolist())]
    return [region if region.is_floating_point() else to_unit_range(region) for region in regions]


def _gray(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _rotate_hue(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Hue rotation by ``angle`` (radians, per image) in YIQ space (linear approximation of HSV hue)."""
    to_yiq = torch.tensor(_RGB_TO_YIQ, dtype=x.dtype, device=x.device)
    from_yiq = torch.linalg.inv(to_yiq)
    cos, sin = angle.cos(), angle.sin()
    rot = torch.zeros(x.shape[0], 3, 3, dtype=x.dtype, device=x.device)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = from_yiq @ rot @ to_yiq  # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", m, x)


def _blur_matrix(weights: torch.Tensor, n: int) -> torch.Tensor:
    """``(B, n, n)`` matrices ``M`` with ``(x @ M)[j] = sum_k w[k] x[reflect(j + k - half)]``: a 1-D
    convolution with reflect padding as one matrix product per image."""
    b, k = weights.shape
    half = k // 2
    if half >= n:
        raise ValueError(f"blur kernel of {k} taps is too large for a side of {n} px (reflect padding)")
    pos = torch.arange(n, device=weights.device).unsqueeze(1) + torch.arange(k, device=weights.device) - half
    pos = torch.where(pos < 0, -pos, torch.where(pos > n - 1, 2 * (n - 1) - pos, pos))  # (n, k)
    flat = (pos * n + torch.arange(n, device=weights.device).unsqueeze(1)).reshape(1, -1).expand(b, -1)
    values = weights.unsqueeze(1).expand(b, n, k).reshape(b, -1)
    return weights.new_zeros(b, n * n).scatter_add_(1, flat, values).view(b, n, n)


def gaussian_blur(
    x: torch.Tensor, sigma: torch.Tensor, kernel_size: int, batched: bool | None = None
) -> torch.Tensor:
    """Separable Gaussian blur, per-image ``sigma`` (px), reflect padding: banded matrix products if
    ``batched`` (default off the CPU), else depthwise 1-D convolutions; the same sums either way."""
    b, c, h, w = x.shape
    half = kernel_size // 2
    if half >= min(h, w):
        raise ValueError(f"blur kernel of {kernel_size} taps is too large for an image of {h} x {w} px")
    t = torch.arange(-half, half + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma.view(-1, 1)) ** 2)
    k = k / k.sum(1, keepdim=True)  # (B, K)
    if _batched(batched, x):
        y = torch.matmul(x, _blur_matrix(k, w).unsqueeze(1))
        return torch.matmul(_blur_matrix(k, h).transpose(1, 2).unsqueeze(1), y)

    def rows_pass(z: torch.Tensor) -> torch.Tensor:  # (B, C, R, L): blur along L
        r, length = z.shape[2], z.shape[3]
        padded = F.pad(z.reshape(1, b * c * r, length), (half, half), mode="reflect")
        weights = k.repeat_interleave(c * r, 0).unsqueeze(1)  # (B * C * R, 1, K)
        return F.conv1d(padded, weights, groups=b * c * r).view(b, c, r, length)

    y = rows_pass(x)
    return rows_pass(y.transpose(2, 3).contiguous()).transpose(2, 3).contiguous()


def _where_selected(x: torch.Tensor, selected: torch.Tensor, op, batched: bool | None = None) -> torch.Tensor:
    """``op(x[i], i)`` where ``selected[i]``, else ``x[i]`` (batched: all computed, ``torch.where``)."""
    if _batched(batched, x):
        return torch.where(selected.view(-1, 1, 1, 1), op(x, slice(None)), x)
    index = selected.nonzero().squeeze(1)
    if index.numel() == 0:
        return x
    if index.numel() == x.shape[0]:
        return op(x, slice(None))
    return x.index_copy(0, index, op(x.index_select(0, index), index))


class TwoViewAugmentation:
    """Views s and t with their crop boxes: ``images (B, 1 or 3, H, W)`` (float or uint8 / uint16 codes,
    real sizes ``sizes (B, 2)``) -> ``pixel_values_s/t (B, 3, size, size)`` and ``boxes_s/t (B, 4)``."""

    def __init__(self, config: ViewAugmentationConfig | None = None, batched: bool | None = None) -> None:
        self.config = config or ViewAugmentationConfig()
        self.batched = batched

    def view(self, images: torch.Tensor, sizes: torch.Tensor, which: int, generator=None, regions=None):
        cfg = self.config
        b = images.shape[0]
        pixel = sample_crop_boxes(sizes, cfg.scale, cfg.ratio, generator)
        h, w = sizes[:, 0].to(pixel.dtype), sizes[:, 1].to(pixel.dtype)
        boxes = pixel / torch.stack([w, h, w, h], dim=1)
        flip = torch.rand(b, device=images.device, generator=generator) < cfg.flip_p
        boxes = torch.where(flip.unsqueeze(1), boxes[:, [2, 1, 0, 3]], boxes)
        x = crop_resize(
            images, sizes, boxes, cfg.size, batched=_batched(self.batched, images), regions=regions
        )
        x = self._photometric(x, which, generator)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        mean = torch.tensor(cfg.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(cfg.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std, boxes

    def _photometric(self, x: torch.Tensor, which: int, generator=None) -> torch.Tensor:
        """Colour jitter, random grayscale, blur; random draws in a fixed order whatever is computed.
        A one-channel batch skips saturation, hue and grayscale (identities on gray images)."""
        cfg = self.config
        b = x.shape[0]
        gray_batch = x.shape[1] == 1
        batched = _batched(self.batched, x)

        def coin(p):
            return torch.rand(b, device=x.device, generator=generator) < p

        def factor(amount):
            return _uniform((b,), max(0.0, 1 - amount), 1 + amount, x, generator).view(b, 1, 1, 1)

        if cfg.jitter_p > 0:
            jitter = coin(cfg.jitter_p)
            bright, contrast = factor(cfg.brightness), factor(cfg.contrast)
            saturation = factor(cfg.saturation)
            angle = _uniform((b,), -cfg.hue, cfg.hue, x, generator) * 2 * math.pi

            def jitter_op(y, i):
                y = (y * bright[i]).clamp_(0, 1)
                m = (y if gray_batch else _gray(y)).mean((2, 3), keepdim=True)
                y = y.sub_(m).mul_(contrast[i]).add_(m).clamp_(0, 1)
                if gray_batch:
                    return y
                if cfg.saturation > 0:
                    g = _gray(y)
                    y = y.sub_(g).mul_(saturation[i]).add_(g).clamp_(0, 1)
                if cfg.hue > 0:
                    y = _rotate_hue(y, angle[i]).clamp_(0, 1)
                return y

            x = _where_selected(x, jitter, jitter_op, batched)
        if cfg.grayscale_p[which] > 0:
            to_gray = coin(cfg.grayscale_p[which])
            if not gray_batch:
                x = _where_selected(x, to_gray, lambda y, i: _gray(y).expand_as(y).contiguous(), batched)
        if cfg.blur_p[which] > 0:
            blur = coin(cfg.blur_p[which])
            sigma = _uniform((b,), cfg.blur_sigma[0], cfg.blur_sigma[1], x, generator)
            # about 10 % of the view, odd (23 at 224 px), at most the view's odd size
            kernel = min(max(3, int(cfg.size * 0.1) // 2 * 2 + 1), 2 * (cfg.size // 2) - 1)
            x = _where_selected(x, blur, lambda y, i: gaussian_blur(y, sigma[i], kernel, batched), batched)
        return x

    def __call__(self, images: torch.Tensor, sizes: torch.Tensor | None = None, generator=None) -> dict:
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"images must be (B, 1 or 3, H, W), got {tuple(images.shape)}")
        if not images.is_floating_point() and images.dtype not in (torch.uint8, torch.uint16):
            raise ValueError(f"images must be float in [0, 1] or uint8 / uint16 codes, got {images.dtype}")
        if sizes is None:
            sizes = torch.tensor(images.shape[2:], device=images.device).expand(images.shape[0], 2)
        sizes = sizes.to(images.device)
        regions = None if _batched(self.batched, images) else image_regions(images, sizes)
        xs, bs = self.view(images, sizes, 0, generator, regions)
        xt, bt = self.view(images, sizes, 1, generator, regions)
        return {"pixel_values_s": xs, "pixel_values_t": xt, "boxes_s": bs, "boxes_t": bt}
