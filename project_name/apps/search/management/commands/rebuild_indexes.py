from ..index_command import IndexCommand


class Command(IndexCommand):
    help = (
        "Index every searchable row into new indexes, then switch searches to them "
        "in one step; the old indexes serve until then."
    )
    operation = "rebuild_indexes"
