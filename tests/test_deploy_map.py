import pytest

from deploy.deploymap import DeployMapError, Entry, parse


def test_the_three_operators_with_modes_and_owners():
    entries = parse(
        "# a comment\n"
        "\n"
        "conf/a.conf -> etc/a.conf\n"
        "conf/run.j2 => server/run 0755 app.www-data\n"
        "logs ~> ../../shared/logs\n"
    )
    assert entries == [
        Entry("copy", "conf/a.conf", "etc/a.conf", 0o644, "root", "root", 3),
        Entry("render", "conf/run.j2", "server/run", 0o755, "app", "www-data", 4),
        Entry("link", "../../shared/logs", "logs", 0o777, "root", "root", 5),
    ]


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("conf/a.conf to etc/a.conf", "expected 'SOURCE -> DEST'"),
        ("conf/a.conf -> /etc/a.conf", "the destination must be a path inside the release"),
        ("conf/a.conf -> ../a.conf", "the destination must be a path inside the release"),
        ("../secret -> a.conf", "the source must be a path inside the project"),
        ("conf/a.conf -> a.conf 0999", "'0999' is neither an octal mode nor OWNER.GROUP"),
        ("conf/a.conf -> a.conf root", "'root' is neither an octal mode nor OWNER.GROUP"),
        ("logs ~> ../logs 0755", "a link takes no mode or owner"),
    ],
)
def test_a_bad_line_is_named_with_its_number(line, complaint):
    with pytest.raises(DeployMapError) as error:
        parse(f"# first\n{line}\n")
    assert str(error.value).startswith(f"conf/deploy.map, line 2: {complaint}")
    assert line in str(error.value)


def test_two_entries_for_one_destination_are_refused():
    with pytest.raises(DeployMapError, match="line 2: a.conf is already produced by line 1"):
        parse("x.conf -> a.conf\ny.conf => a.conf\n")


def test_the_projects_own_deploy_map_parses():
    from deploy.build import PROJECT_ROOT

    entries = parse((PROJECT_ROOT / "conf" / "deploy.map").read_text())
    assert {entry.dest for entry in entries} >= {"server/run", "logs"}
