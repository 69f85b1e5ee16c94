from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """The project's user.

    A model of the project's own from the first migration on, so fields can be
    added here later; swapping the user model of a live database is not
    something Django supports.
    """
