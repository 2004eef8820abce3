"""`snap tag`: point a name at a snapshot, or delete it. Moves by compare-and-swap."""

from __future__ import annotations

import click

from snapkit.cli.common import json_option, open_store_from
from snapkit.cli.output import print_json, short


def register(cli: click.Group) -> None:
    cli.add_command(tag)


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="SNAPSHOT NAME | --delete NAME")
@click.option("-d", "--delete", is_flag=True, help="Delete the tag NAME.")
@json_option
@click.pass_context
def tag(ctx: click.Context, args: tuple[str, ...], delete: bool, as_json: bool) -> None:
    """Point tag NAME at SNAPSHOT (tag, id or id prefix), or delete a tag.

    \b
      snap tag raw-v1 prod/latest
      snap tag --delete prod/latest
    """
    if delete != (len(args) == 1) or len(args) > 2:
        raise click.UsageError("give SNAPSHOT NAME, or --delete NAME")
    with open_store_from(ctx) as store:
        if delete:
            store.untag(args[0])
            result = {"deleted": args[0]}
            text = f"deleted tag {args[0]}"
        else:
            sid = store.tag(args[0], args[1])
            result = {"tag": args[1], "snapshot": sid}
            text = f"{args[1]} -> {short(sid)}"
    if as_json:
        print_json(result)
    else:
        click.echo(text)
