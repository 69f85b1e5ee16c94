"""The LOGGING dictionary, built the same way for every environment."""

PLAIN_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"


def logging_settings(*, json_lines, level):
    """Log everything at ``level`` or above to standard output.

    With ``json_lines`` each record is one JSON object on one line, which log
    shippers parse without guessing; otherwise it is plain text for people.
    """
    if json_lines:
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    else:
        formatter = {"format": PLAIN_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "default"},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's default config gives this logger a console handler of
            # its own; dropping it stops every record from printing twice.
            "django": {"handlers": [], "level": level, "propagate": True},
            # SQL at DEBUG is a flood; ask for it explicitly when needed.
            "django.db.backends": {"level": "INFO"},
        },
    }
