"""A loss-curve chart drawn with Pillow's ImageDraw (no plotting library): axes with ticks and labels,
one polyline with point markers per series, a legend. The model card embeds it as a PNG.

    plot = LossPlot.from_log_history(trainer.state.log_history)
    plot.render().save("loss_curves.png")
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
INK = (40, 40, 40)
GRID = (228, 228, 228)
COLORS = {"train loss": (31, 119, 180), "eval loss": (255, 127, 14)}
FALLBACK = [(44, 160, 44), (214, 39, 40), (148, 103, 189)]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def _label(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


@dataclass
class LossPlot:
    """Series of (step, value) points on shared axes.

    Args:
        series: name -> points, drawn in insertion order (later series on top).
        size: image (width, height) in pixels.
        title: drawn above the plot area.
    """

    series: dict[str, list[tuple[float, float]]]
    size: tuple[int, int] = (720, 420)
    title: str = "Loss"
    margins: tuple[int, int, int, int] = (64, 36, 24, 52)  # left, top, right, bottom
    _x: list[float] = field(init=False, repr=False)
    _y: list[float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        points = [p for pts in self.series.values() for p in pts]
        if not points:
            raise ValueError("Nothing to plot: the log history has no loss values")
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        self._x = nice_ticks(min(0.0, min(xs)), max(xs))
        self._y = nice_ticks(min(ys), max(ys))

    @classmethod
    def from_log_history(cls, log_history: list[dict], **options) -> LossPlot:
        """The ``loss`` and ``eval_loss`` entries of a ``TrainerState.log_history`` against ``step``."""
        train = [(e["step"], e["loss"]) for e in log_history if "loss" in e and "step" in e]
        evals = [(e["step"], e["eval_loss"]) for e in log_history if "eval_loss" in e and "step" in e]
        series = {name: pts for name, pts in (("train loss", train), ("eval loss", evals)) if pts}
        return cls(series, **options)

    def pixel(self, x: float, y: float) -> tuple[int, int]:
        """Where the data point (x, y) lands in the image."""
        left, top, right, bottom = self.margins
        width, height = self.size
        fx = (x - self._x[0]) / (self._x[-1] - self._x[0])
        fy = (y - self._y[0]) / (self._y[-1] - self._y[0])
        return (
            round(left + fx * (width - left - right)),
            round(height - bottom - fy * (height - top - bottom)),
        )

    def color(self, name: str) -> tuple[int, int, int]:
        others = [n for n in self.series if n not in COLORS]
        return COLORS.get(name) or FALLBACK[others.index(name) % len(FALLBACK)]

    def render(self) -> Image.Image:
        image = Image.new("RGB", self.size, BACKGROUND)
        draw = ImageDraw.Draw(image)
        font = ImageFont.load_default()
        left, top, right, bottom = self.margins
        width, height = self.size
        x0, y0, x1, y1 = left, height - bottom, width - right, top
        for value in self._y:  # horizontal grid lines and y tick labels
            _, y = self.pixel(self._x[0], value)
            draw.line([(x0, y), (x1, y)], fill=GRID)
            draw.line([(x0 - 5, y), (x0, y)], fill=INK)
            draw.text((x0 - 8, y), _label(value), fill=INK, font=font, anchor="rm")
        for value in self._x:
            x, _ = self.pixel(value, self._y[0])
            draw.line([(x, y0), (x, y0 + 5)], fill=INK)
            draw.text((x, y0 + 8), _label(value), fill=INK, font=font, anchor="mt")
        draw.line([(x0, y1), (x0, y0), (x1, y0)], fill=INK, width=1)
        draw.text(((x0 + x1) // 2, height - 6), "step", fill=INK, font=font, anchor="mb")
        draw.text((12, (y0 + y1) // 2), "loss", fill=INK, font=font, anchor="lm")
        draw.text(((x0 + x1) // 2, 8), self.title, fill=INK, font=font, anchor="mt")
        for name, points in self.series.items():
            color, pixels = self.color(name), [self.pixel(x, y) for x, y in sorted(points)]
            if len(pixels) > 1:
                draw.line(pixels, fill=color, width=2, joint="curve")
            for px, py in pixels:
                draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=color)
        for i, name in enumerate(self.series):  # legend, top right inside the axes
            y = y1 + 10 + 16 * i
            draw.line([(x1 - 110, y), (x1 - 86, y)], fill=self.color(name), width=3)
            draw.text((x1 - 80, y), name, fill=INK, font=font, anchor="lm")
        return image
