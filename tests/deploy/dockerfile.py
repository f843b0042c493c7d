"""Read a Dockerfile into its stages of instructions (enough for the tests of this one)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def instructions(path: Path) -> list[Instruction]:
    """Instructions in order; continuation lines joined, comments and blank lines dropped."""
    result: list[Instruction] = []
    pending = ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        keyword, _, arguments = (pending + line.strip()).partition(" ")
        result.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    return result


def stages(path: Path) -> list[list[Instruction]]:
    """One list per FROM, starting with that FROM; the ARGs before the first are left out."""
    result: list[list[Instruction]] = []
    for instruction in instructions(path):
        if instruction.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result
