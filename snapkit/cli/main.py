"""Entry point of `snap`: global options, error → exit code mapping, command registration."""

from __future__ import annotations

import os
import sys
import traceback

import click

from snapkit import __version__
from snapkit.cli import care, diff, parity, pipelines, snapshots, tags, validate
from snapkit.errors import EXIT_CODES, SnapError
from snapkit.procenv import limit_blas_threads

EPILOG = (
    "Exit codes: "
    + ", ".join(f"{code} {name}" for name, code in sorted(EXIT_CODES.items(), key=lambda kv: kv[1]))
    + ". The store is --store, else $SNAP_STORE, else [tool.snapkit] store in pyproject.toml,"
    " else .snap/ at the project root."
)


class SnapGroup(click.Group):
    """Turns snapkit errors into one clear line and a distinct exit code (traceback: --debug)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SnapError as exc:
            _fail(ctx, exc, exc.exit_code, exc.hint)
        except KeyboardInterrupt:
            click.echo("snap: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:  # `snap runs | head -1`: the reader left, nothing to report
            sys.stderr.close()
            os._exit(0)
        except OSError as exc:
            from snapkit.errors import from_os_error

            err = from_os_error(exc, "snap")
            _fail(ctx, err, err.exit_code, err.hint, original=exc)
        return None


def _fail(
    ctx: click.Context,
    exc: BaseException,
    code: int,
    hint: str | None,
    original: BaseException | None = None,
) -> None:
    debug = (ctx.obj or {}).get("debug", False)
    if debug:
        traceback.print_exception(original or exc)
    click.echo(f"snap: error: {exc}", err=True)
    if hint:
        click.echo(f"snap: hint: {hint}", err=True)
    sys.exit(code)


@click.group(cls=SnapGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store",
    envvar="SNAP_STORE",
    metavar="URL",
    help="Store URL: a folder, s3://bucket/prefix, or any fsspec URL.",
)
@click.option(
    "--lock-wait",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="Wait up to SECONDS for a conflicting store lock instead of failing.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="snap")
@click.pass_context
def cli(ctx: click.Context, store: str | None, lock_wait: float, debug: bool) -> None:
    """snapkit: immutable, deduplicated snapshots of data and pipeline steps.

    \b
      snap take data/raw -m "emails november" --tag raw-v1
      snap log
      snap restore raw-v1 restored/raw
    """
    ctx.ensure_object(dict)
    ctx.obj.update(store=store, debug=debug, lock_wait=lock_wait)


snapshots.register(cli)
tags.register(cli)
care.register(cli)
diff.register(cli)
pipelines.register(cli)
parity.register(cli)
validate.register(cli)


def main() -> None:
    limit_blas_threads()
    cli(prog_name="snap")


if __name__ == "__main__":
    main()
