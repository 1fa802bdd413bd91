"""Subcommands of the ``nnpdistill`` CLI: each module here defines ``register(subparsers)``."""


def add_device_argument(parser, stage: str) -> None:
    """``--device`` of a command whose stage can run on a GPU (:mod:`nnpdistill.device`)."""
    parser.add_argument(
        "--device", default=None, metavar="DEVICE",
        help=f"cpu, cuda, cuda:K or auto (default: ${{NNPDISTILL_DEVICE_{stage.upper()}}} as the workflow "
        "sets it from device." + stage + ", else cpu); a GPU that torch does not see is an error")
