"""The README as a script: its shell blocks split into commands, its inline `taskplane ...`
commands, and its sample output (``taskplane inspect``) made comparable across runs.

``tests/deploy/test_readme.py`` runs them against a real `taskplane dev`; with
``TASKPLANE_TEST_UPDATE_README=1`` it writes the sample it produced into the README instead of
comparing (the sample is generated, never typed)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README_PATH = ROOT / "README.md"

SAMPLE_COMMAND = "taskplane inspect 1 --history 5"
SAMPLE_HEAD = f"```console\n$ {SAMPLE_COMMAND}\n"
PROCESS_COMMANDS = {"dev", "api", "worker", "scheduler", "migrate"}


def section(text: str, heading: str) -> str:
    """The text of ``## heading`` up to the next ``## ``."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def commands(block: str) -> list[str]:
    """A shell block's commands, each whole (continued lines and multi-line quotes joined),
    comments and blank lines left out."""
    found: list[str] = []
    current = ""
    for line in block.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line + "\n"
        if current.rstrip().endswith("\\"):
            continue
        try:
            shlex.split(current, comments=True)
        except ValueError:  # a quote still open: the command goes on
            continue
        found.append(current.strip())
        current = ""
    assert not current, f"unterminated command in a README block: {current}"
    return found


def is_assignment(command: str) -> bool:
    return re.match(r"^[A-Z_]+=", command) is not None and " curl " not in command


def inline_cli_commands(text: str) -> list[str]:
    """Every `taskplane ...` the README shows inline that talks to a running stack (not the
    process commands, which the stack itself runs)."""
    found = []
    for line in re.findall(r"`(taskplane [^`\n]+)`", text):
        argv = shlex.split(line)
        if len(argv) > 1 and argv[1] not in PROCESS_COMMANDS and line not in found:
            found.append(line)
    return found


def sample(text: str) -> str:
    """The README's `taskplane inspect` sample (its output lines, without the prompt)."""
    start = text.index(SAMPLE_HEAD) + len(SAMPLE_HEAD)
    return text[start : text.index("```", start)]


def with_sample(text: str, output: str) -> str:
    start = text.index(SAMPLE_HEAD) + len(SAMPLE_HEAD)
    return text[:start] + output + text[text.index("```", start) :]


SAMPLE_TAIL = (
    "...                                  (then the state, registration and history tables)\n"
)


def normalized(output: str, folder: Path, api_port: int) -> str:
    """The sample's part of an inspect output (through ``last error``, then SAMPLE_TAIL),
    with what differs between two runs of the same steps made the same: the folder, pids,
    ports and instants (each replaced by a value of the same width, so the tables keep their
    shape)."""
    last = output.index("\nlast error") + 1
    head = output[: output.index("\n", last) + 1]
    out = head.replace(str(folder), "/home/you/taskplane")
    out = out.replace(f"127.0.0.1:{api_port}", "127.0.0.1:8000")
    out = re.sub(r"redis://127\.0\.0\.1:\d+/0", "redis://127.0.0.1:40123/0", out)
    out = re.sub(r"\(pid \d+,", "(pid 4242,", out)
    out = re.sub(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}", _same_instant, out)
    out = re.sub(r"\b\d{2}:\d{2} UTC\b", "00:16 UTC", out)
    return "\n".join(line.rstrip() for line in out.splitlines()) + "\n" + SAMPLE_TAIL


def _same_instant(match: re.Match[str]) -> str:
    return f"2026-12-02{match.group(0)[10]}00:16:46"
