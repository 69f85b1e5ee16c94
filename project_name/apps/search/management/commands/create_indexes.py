from ..index_command import IndexCommand


class Command(IndexCommand):
    help = "Create the search index of every searchable model that has none yet."
    operation = "create_indexes"
