"""A flame graph (SVG) from a profile's collapsed stacks (``bench.profile.Samples``): each
frame a box as wide as its share of the samples, its callees stacked above it; hover a box
for its function, file and share. Self-contained: no script, no fonts to fetch."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from html import escape

from bench.profile import Samples

WIDTH = 1200
ROW = 16
MARGIN = 10
HEADER = 36
MIN_WIDTH = 0.5  # px: thinner boxes are left out (their share is still in their caller's box)
CHAR = 6.6  # px per character at font-size 11


@dataclass
class Node:
    name: str
    count: int = 0
    children: dict[str, Node] = field(default_factory=dict)


def tree(samples: Samples) -> Node:
    root = Node("all")
    for stack, count in samples.stacks.items():
        root.count += count
        node = root
        for frame in stack:
            node = node.children.setdefault(frame, Node(frame))
            node.count += count
    return root


def _depth(node: Node) -> int:
    return 1 + max((_depth(c) for c in node.children.values()), default=0)


def _color(name: str) -> str:
    h = zlib.crc32(name.encode())
    return f"rgb({205 + h % 50},{(h >> 8) % 200 + 30},{(h >> 16) % 55})"


def render(samples: Samples, title: str) -> str:
    root = tree(samples)
    total = max(root.count, 1)
    height = HEADER + _depth(root) * ROW + MARGIN
    scale = (WIDTH - 2 * MARGIN) / total
    boxes: list[str] = []

    def draw(node: Node, x: float, level: int) -> None:
        w = node.count * scale
        if w < MIN_WIDTH:
            return
        y = height - MARGIN - (level + 1) * ROW
        share = node.count / total
        label = escape(node.name)
        chars = int((w - 4) / CHAR)
        text = ""
        if chars >= 3:
            shown = node.name if len(node.name) <= chars else node.name[: chars - 2] + ".."
            text = f'<text x="{x + 2:.1f}" y="{y + ROW - 4}">{escape(shown)}</text>'
        boxes.append(
            f"<g><title>{label} ({node.count:,} samples, {share:.2%})</title>"
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW - 1}" '
            f'fill="{_color(node.name)}" rx="2"/>{text}</g>'
        )
        child_x = x
        for child in sorted(node.children.values(), key=lambda c: c.name):
            draw(child, child_x, level + 1)
            child_x += child.count * scale

    draw(root, MARGIN, 0)
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="11">',
            f'<rect width="{WIDTH}" height="{height}" fill="#fdfdf6"/>',
            f'<text x="{WIDTH / 2}" y="20" font-size="14" text-anchor="middle">'
            f"{escape(title)}</text>",
            f'<text x="{MARGIN}" y="{HEADER - 6}" fill="#666">{total:,} samples; start-up imports '
            "left out; hover a box for its share</text>",
            *boxes,
            "</svg>",
            "",
        ]
    )
