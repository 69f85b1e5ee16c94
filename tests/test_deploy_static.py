"""A new release keeps the previous one's fingerprinted static files (deploy/keep_static.py)."""

import json

from deploy import keep_static


def release(root, files, manifest):
    root.mkdir()
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "staticfiles.json").write_text(json.dumps({"paths": manifest, "version": "1.1"}))
    return root


def test_the_previous_releases_hashed_files_are_linked_and_the_new_ones_kept(tmp_path):
    old = release(
        tmp_path / "old",
        {
            "app/site.css": "old",
            "app/site.0123456789ab.css": "old",
            "app/logo.aaaaaaaaaaaa.png": "logo",
            "app/gone.bbbbbbbbbbbb.js": "gone",
        },
        {
            "app/site.css": "app/site.0123456789ab.css",
            "app/logo.png": "app/logo.aaaaaaaaaaaa.png",
            "app/gone.js": "app/gone.bbbbbbbbbbbb.js",
        },
    )
    new = release(
        tmp_path / "new",
        {
            "app/site.css": "new",
            "app/site.ba9876543210.css": "new",
            "app/logo.aaaaaaaaaaaa.png": "logo",
        },
        {"app/site.css": "app/site.ba9876543210.css", "app/logo.png": "app/logo.aaaaaaaaaaaa.png"},
    )
    manifest = (new / "staticfiles.json").read_text()
    assert keep_static.carry(str(old), str(new)) == [
        "app/gone.bbbbbbbbbbbb.js",
        "app/site.0123456789ab.css",
    ]
    assert (new / "app/site.0123456789ab.css").stat().st_ino == (
        old / "app/site.0123456789ab.css"
    ).stat().st_ino
    # What the new release has stays its own: plain names and its manifest too.
    assert (new / "app/site.css").read_text() == "new"
    assert (new / "staticfiles.json").read_text() == manifest
    assert keep_static.carry(str(old), str(new)) == []


def test_names_leading_out_of_the_folder_and_links_are_not_followed(tmp_path):
    (tmp_path / "secret").write_text("not static")
    old = release(
        tmp_path / "old", {}, {"a": "../secret", "b": "/etc/passwd", "c": "c.cccccccccccc.css"}
    )
    (old / "c.cccccccccccc.css").symlink_to(tmp_path / "secret")
    new = release(tmp_path / "new", {}, {})
    assert keep_static.carry(str(old), str(new)) == []
    assert sorted(path.name for path in new.iterdir()) == ["staticfiles.json"]


def test_a_previous_release_without_a_manifest_carries_nothing(tmp_path):
    (tmp_path / "old").mkdir()
    new = release(tmp_path / "new", {}, {})
    assert keep_static.carry(str(tmp_path / "old"), str(new)) == []
