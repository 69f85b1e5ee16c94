"""conf/deploy.map: what the build adds to a release besides the tracked files.

One entry per line; blank lines and lines starting with # are ignored:

    SOURCE -> DEST [MODE] [OWNER.GROUP]    copy SOURCE to DEST
    SOURCE => DEST [MODE] [OWNER.GROUP]    render SOURCE with Jinja2 into DEST
    DEST ~> TARGET                          make DEST a symbolic link to TARGET

SOURCE is relative to the project root, DEST to the release's root. MODE is
octal (default 0644), OWNER.GROUP names the owner on the server (default root).
"""

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

OPERATORS = {"->": "copy", "=>": "render", "~>": "link"}
LINE = re.compile(r"^(?P<left>\S+)\s+(?P<op>->|=>|~>)\s+(?P<right>\S+)(?P<rest>(\s+\S+)*)\s*$")
MODE = re.compile(r"^0?[0-7]{3}$")
OWNER = re.compile(r"^[a-z_][a-z0-9_-]*\.[a-z_][a-z0-9_-]*$")


class DeployMapError(Exception):
    """A line of deploy.map that cannot be understood; the message names it."""


@dataclass(frozen=True)
class Entry:
    action: str  # copy, render or link
    source: str  # for a link: its target
    dest: str
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"
    line: int = 0


def parse(text, filename="conf/deploy.map"):
    """The entries of a deploy.map; DeployMapError names the first bad line."""
    entries, seen = [], {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue

        def error(why, number=number, raw=raw):
            return DeployMapError(f"{filename}, line {number}: {why}: {raw.strip()!r}")

        match = LINE.match(line)
        if not match:
            raise error("expected 'SOURCE -> DEST', 'SOURCE => DEST' or 'DEST ~> TARGET'")
        action = OPERATORS[match["op"]]
        left, right, options = match["left"], match["right"], match["rest"].split()
        dest, source = (left, right) if action == "link" else (right, left)
        if PurePosixPath(dest).is_absolute() or ".." in PurePosixPath(dest).parts:
            raise error("the destination must be a path inside the release")
        if action != "link" and (PurePosixPath(source).is_absolute() or ".." in source):
            raise error("the source must be a path inside the project")
        mode, owner, group = (0o777 if action == "link" else 0o644), "root", "root"
        for option in options:
            if action == "link":
                raise error("a link takes no mode or owner")
            if MODE.match(option):
                mode = int(option, 8)
            elif OWNER.match(option):
                owner, group = option.split(".")
            else:
                raise error(f"{option!r} is neither an octal mode nor OWNER.GROUP")
        if dest in seen:
            raise error(f"{dest} is already produced by line {seen[dest]}")
        seen[dest] = number
        entries.append(Entry(action, source, dest, mode, owner, group, number))
    return entries
