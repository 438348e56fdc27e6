"""Two-view augmentation that records each crop's box in original-image coordinates.

VICRegL-style global views (Bardes et al., 2022; LVM-Med Sec. 4 / method.md): random resized crop
to ``size`` px, horizontal flip (p = 0.5), colour jitter (p = 0.8; brightness 0.4, contrast 0.4,
saturation 0.2, hue 0.1), random grayscale (p = 0.2), Gaussian blur (p = 1.0 for view s, 0.1 for
view t; sigma in [0.1, 2.0]), ImageNet normalisation. Everything runs batched in torch on the
tensors' device (no torchvision).

Boxes are ``(x_left, y_top, x_right, y_bottom)`` in normalised coordinates of the original image
(``[0, 1]``), where x_left / x_right are the original-image x of the view's left / right border:
a flipped view has ``x_left > x_right`` (the box is mirrored), see ``graph_matching.affinities``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_LUMA = (0.299, 0.587, 0.114)


@dataclass
class ViewAugmentationConfig:
    """Parameters of :class:`TwoViewAugmentation`; probabilities are per image.

    ``blur_p`` and ``grayscale_p`` are given per view (s, t), following VICReg's asymmetric blur.
    """

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
        """Views for (mostly) grayscale medical images, ``size``-px views.

        Against the VICRegL / paper defaults: no hue or saturation jitter and no random grayscale
        (a grayscale image gains nothing from them, and colour is a real cue where it exists:
        fundus, Doppler ultrasound), brightness and contrast +-20% instead of +-40% (intensity
        statistics carry the modality; medical SSL recipes keep intensity changes mild), and the
        blur sigma (0.1-2 px at 224 px) scaled with the view side, so a 64-px view is not blurred
        3.5x harder. Measured in docs/downstream.md (the demo's ablation).
        """
        return cls(
            size=size,
            scale=(crop_scale_min, 1.0),
            brightness=0.2,
            contrast=0.2,
            saturation=0.0,
            hue=0.0,
            grayscale_p=(0.0, 0.0),
            blur_sigma=(0.1 * size / 224, 2.0 * size / 224),
        )

    @classmethod
    def deterministic(cls, size: int = 224) -> ViewAugmentationConfig:
        """No randomness: both views are the whole image, view s unchanged, view t in grayscale
        and blurred (sigma 1 px), so the two views still differ. For tests and debugging."""
        return cls(
            size=size,
            scale=(1.0, 1.0),
            ratio=(1.0, 1.0),
            flip_p=0.0,
            jitter_p=0.0,
            grayscale_p=(0.0, 1.0),
            blur_p=(0.0, 1.0),
            blur_sigma=(1.0, 1.0),
        )


def _uniform(shape, low, high, like, generator):
    return low + (high - low) * torch.rand(shape, dtype=like.dtype, device=like.device, generator=generator)


def sample_crop_boxes(
    sizes: torch.Tensor,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator=None,
    tries: int = 10,
) -> torch.Tensor:
    """Random-resized-crop boxes in pixels ``(B, 4)`` = (x0, y0, x1, y1) inside each image.

    ``sizes: (B, 2)`` (height, width). As torchvision: up to ``tries`` samples of area fraction and
    log-uniform aspect ratio; the first that fits is kept, otherwise the largest centred crop with
    an aspect ratio inside ``ratio``.
    """
    b = sizes.shape[0]
    h, w = sizes[:, 0].float(), sizes[:, 1].float()
    area = (h * w).unsqueeze(1)
    like = h
    target = area * _uniform((b, tries), scale[0], scale[1], like, generator)
    log_r = _uniform((b, tries), math.log(ratio[0]), math.log(ratio[1]), like, generator)
    r = log_r.exp()
    cw = (target * r).sqrt()
    ch = (target / r).sqrt()
    fits = (cw <= w.unsqueeze(1)) & (ch <= h.unsqueeze(1)) & (cw > 0) & (ch > 0)
    first = torch.where(fits.any(1), fits.float().argmax(1), torch.full_like(h, -1, dtype=torch.long))
    idx = first.clamp_min(0).unsqueeze(1)
    cw_s, ch_s = cw.gather(1, idx).squeeze(1), ch.gather(1, idx).squeeze(1)
    # fallback: centred crop with the aspect ratio clamped into range
    img_r = w / h
    fb_w = torch.where(img_r < ratio[0], w, torch.where(img_r > ratio[1], h * ratio[1], w))
    fb_h = torch.where(img_r < ratio[0], w / ratio[0], torch.where(img_r > ratio[1], h, h))
    ok = first >= 0
    cw_s, ch_s = torch.where(ok, cw_s, fb_w), torch.where(ok, ch_s, fb_h)
    x0 = torch.where(ok, (w - cw_s) * _uniform((b,), 0, 1, like, generator), (w - cw_s) / 2)
    y0 = torch.where(ok, (h - ch_s) * _uniform((b,), 0, 1, like, generator), (h - ch_s) / 2)
    return torch.stack([x0, y0, x0 + cw_s, y0 + ch_s], dim=1)


def crop_resize(
    images: torch.Tensor, sizes: torch.Tensor, boxes: torch.Tensor, out_size: int
) -> torch.Tensor:
    """Bilinear crop-and-resize of each image's normalised ``boxes`` (mirrored = flipped) to
    ``out_size`` px. ``images: (B, C, H, W)`` padded canvas whose top-left ``sizes[b]`` is real."""
    b, _, canvas_h, canvas_w = images.shape
    t = (torch.arange(out_size, device=images.device, dtype=images.dtype) + 0.5) / out_size
    h, w = sizes[:, 0].to(images.dtype), sizes[:, 1].to(images.dtype)
    x = boxes[:, 0:1] + t * (boxes[:, 2:3] - boxes[:, 0:1])  # (B, S) normalised to the image
    y = boxes[:, 1:2] + t * (boxes[:, 3:4] - boxes[:, 1:2])
    gx = x * w.unsqueeze(1) / canvas_w * 2 - 1
    gy = y * h.unsqueeze(1) / canvas_h * 2 - 1
    grid = torch.stack(
        [gx.unsqueeze(1).expand(b, out_size, out_size), gy.unsqueeze(2).expand(b, out_size, out_size)], dim=-1
    )
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _gray(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _rotate_hue(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Hue rotation by ``angle`` (radians, per image) in YIQ space (a linear approximation of the
    HSV hue shift)."""
    to_yiq = torch.tensor(
        [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
        dtype=x.dtype,
        device=x.device,
    )
    from_yiq = torch.linalg.inv(to_yiq)
    cos, sin = angle.cos(), angle.sin()
    rot = torch.zeros(x.shape[0], 3, 3, dtype=x.dtype, device=x.device)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = from_yiq @ rot @ to_yiq  # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", m, x)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Separable Gaussian blur with a per-image ``sigma`` (px), reflect padding."""
    b, c, h, w = x.shape
    half = kernel_size // 2
    t = torch.arange(-half, half + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma.view(-1, 1)) ** 2)
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B*C, K)
    y = x.reshape(1, b * c, h, w)
    y = F.conv2d(F.pad(y, (half, half, 0, 0), mode="reflect"), k.view(b * c, 1, 1, -1), groups=b * c)
    y = F.conv2d(F.pad(y, (0, 0, half, half), mode="reflect"), k.view(b * c, 1, -1, 1), groups=b * c)
    return y.view(b, c, h, w)


class TwoViewAugmentation:
    """Make views s and t of a batch and record their crop boxes.

    ``__call__(images, sizes=None, generator=None)``: ``images (B, 1 or 3, H, W)`` float in
    ``[0, 1]`` (a padded canvas; ``sizes (B, 2)`` gives each image's real height and width, default
    the full canvas). Returns a dict with ``pixel_values_s``, ``pixel_values_t``
    ``(B, 3, size, size)`` normalised, and ``boxes_s``, ``boxes_t`` ``(B, 4)``.
    """

    def __init__(self, config: ViewAugmentationConfig | None = None) -> None:
        self.config = config or ViewAugmentationConfig()

    def view(self, images: torch.Tensor, sizes: torch.Tensor, which: int, generator=None):
        cfg = self.config
        b = images.shape[0]
        pixel = sample_crop_boxes(sizes, cfg.scale, cfg.ratio, generator)
        h, w = sizes[:, 0].to(pixel.dtype), sizes[:, 1].to(pixel.dtype)
        boxes = pixel / torch.stack([w, h, w, h], dim=1)
        flip = torch.rand(b, device=images.device, generator=generator) < cfg.flip_p
        boxes = torch.where(flip.unsqueeze(1), boxes[:, [2, 1, 0, 3]], boxes)
        x = crop_resize(images, sizes, boxes.to(images.dtype), cfg.size)
        x = self._photometric(x, which, generator)
        mean = torch.tensor(cfg.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(cfg.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std, boxes

    def _photometric(self, x: torch.Tensor, which: int, generator=None) -> torch.Tensor:
        cfg = self.config
        b = x.shape[0]

        def coin(p):
            return (torch.rand(b, device=x.device, generator=generator) < p).view(b, 1, 1, 1)

        def factor(amount):
            return _uniform((b,), max(0.0, 1 - amount), 1 + amount, x, generator).view(b, 1, 1, 1)

        if cfg.jitter_p > 0:
            jitter = coin(cfg.jitter_p)
            y = (x * factor(cfg.brightness)).clamp(0, 1)
            m = _gray(y).mean((2, 3), keepdim=True)
            y = ((y - m) * factor(cfg.contrast) + m).clamp(0, 1)
            g = _gray(y)
            y = ((y - g) * factor(cfg.saturation) + g).clamp(0, 1)
            angle = _uniform((b,), -cfg.hue, cfg.hue, x, generator) * 2 * math.pi
            y = _rotate_hue(y, angle).clamp(0, 1)
            x = torch.where(jitter, y, x)
        if cfg.grayscale_p[which] > 0:
            x = torch.where(coin(cfg.grayscale_p[which]), _gray(x).expand_as(x), x)
        if cfg.blur_p[which] > 0:
            blur = coin(cfg.blur_p[which])
            sigma = _uniform((b,), cfg.blur_sigma[0], cfg.blur_sigma[1], x, generator)
            kernel = max(3, int(cfg.size * 0.1) // 2 * 2 + 1)  # about 10 % of the view, odd (23 at 224 px)
            kernel = min(kernel, 2 * (cfg.size // 2) - 1)
            x = torch.where(blur, gaussian_blur(x, sigma, kernel), x)
        return x

    def __call__(self, images: torch.Tensor, sizes: torch.Tensor | None = None, generator=None) -> dict:
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"images must be (B, 1 or 3, H, W), got {tuple(images.shape)}")
        if not images.is_floating_point():
            raise ValueError(f"images must be float in [0, 1] (convert 8/16-bit first), got {images.dtype}")
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        if sizes is None:
            sizes = torch.tensor(images.shape[2:], device=images.device).expand(images.shape[0], 2)
        sizes = sizes.to(images.device)
        xs, bs = self.view(images, sizes, 0, generator)
        xt, bt = self.view(images, sizes, 1, generator)
        return {"pixel_values_s": xs, "pixel_values_t": xt, "boxes_s": bs, "boxes_t": bt}
