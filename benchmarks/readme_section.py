"""Each benchmark script owns one marked section of benchmarks/README.md and rewrites only that."""

from pathlib import Path

README = Path(__file__).with_name("README.md")


def write_section(name: str, text: str, readme: Path = README) -> None:
    """Replace the section between `<!-- name:begin -->` and `<!-- name:end -->` of `readme`, or append it."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    current = readme.read_text() if readme.exists() else "# Benchmarks\n\nFigures written by the scripts here.\n"
    section = f"{begin}\n{text.strip()}\n{end}"
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        current = head + section + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + section + "\n"
    readme.write_text(current)
