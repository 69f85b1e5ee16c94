"""Link the previous release's fingerprinted static files into a new release.

Pages the previous release served just before the switch ask for their
static files just after it, from the new release's folder: those files are
named by their content's hash (ManifestStaticFilesStorage), so the new
release can hold both sets with no name meaning two contents. Run on the
server by the deploy, with the system's python3, after collectstatic:

    python3 keep_static.py PREVIOUS_STATIC_ROOT NEW_STATIC_ROOT

Only the files the previous release's own manifest names are carried, so a
release holds its own files and its predecessor's, never more. A file the
new release has is never replaced. Hard links: nothing is copied.
"""

import json
import os
import sys


def fingerprinted(manifest: dict) -> list[str]:
    """The hashed names a manifest (staticfiles.json) maps to; none leading out of its folder."""
    names = manifest.get("paths", {}).values() if isinstance(manifest, dict) else ()
    return sorted(
        name
        for name in set(names)
        if isinstance(name, str) and not name.startswith("/") and ".." not in name.split("/")
    )


def carry(previous: str, new: str) -> list[str]:
    """Hard-link into ``new`` what ``previous``'s manifest names and ``new`` lacks; those names."""
    try:
        with open(os.path.join(previous, "staticfiles.json"), encoding="utf-8") as file:
            manifest = json.load(file)
    except FileNotFoundError:
        return []  # the previous release predates fingerprints: nothing links such names
    carried = []
    for name in fingerprinted(manifest):
        source, target = os.path.join(previous, name), os.path.join(new, name)
        if os.path.islink(source) or not os.path.isfile(source) or os.path.lexists(target):
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.link(source, target)
        carried.append(name)
    return carried


if __name__ == "__main__":
    print(f"kept {len(carry(sys.argv[1], sys.argv[2]))} static files of the previous release")
