"""Which local files become which blobs, and how the summary keeps its shape."""

from __future__ import annotations

from pathlib import Path

from pipeline.ids import image_id_for
from pipeline.uploads import blob_for, local_files, shorten


def test_hidden_files_and_hidden_folders_are_skipped_alike_with_a_reason(tmp_path: Path):
    for name in ("a.jpg", ".b.jpg", ".cache/c.jpg", "sub/d.jpg", "new\nline.jpg", "back\\slash.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    chosen, skipped = local_files(tmp_path)
    assert [path.relative_to(tmp_path).as_posix() for path in chosen] == [
        "a.jpg",
        "back\\slash.jpg",
        "sub/d.jpg",
    ]
    reasons = {path.relative_to(tmp_path).as_posix(): reason for path, reason in skipped}
    assert reasons.keys() == {".b.jpg", ".cache/c.jpg", "new\nline.jpg"}
    assert "hidden" in reasons[".cache/c.jpg"] and "control character" in reasons["new\nline.jpg"]


def test_a_backslash_becomes_the_slash_storage_makes_of_it(tmp_path: Path):
    ref = blob_for(tmp_path, tmp_path / "back\\slash.jpg", "b")
    assert ref.name == "b/back/slash.jpg"
    assert image_id_for(ref) == image_id_for(blob_for(tmp_path, tmp_path / "back" / "slash.jpg", "b"))


def test_long_names_are_shortened_in_the_middle():
    name = "run/" + "x" * 240 + "-important-end.jpg"
    short = shorten(name)
    assert len(short) == 60 and short.startswith("run/xx") and short.endswith("important-end.jpg")
    assert shorten("short.jpg") == "short.jpg"
