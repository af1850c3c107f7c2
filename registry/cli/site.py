"""``visiondata cards site OUT`` and ``visiondata cards serve``: the catalogue as a website.

The builder is :mod:`visiondata.registry.site`; this module reads the arguments, gathers what
the health page shows (``cards stats`` and ``cards stats --unverified``, from
:mod:`.catalogue`) and, for ``serve``, the limits of ``cards query``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .args import OUTPUT_DIR, TEXT, add_command, count, input_dir

__all__ = ["build", "query_limits", "register_into"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cards-path",
        type=input_dir("a folder of card files", example="cards"),
        action="append",
        metavar="DIR",
        help="a card folder to add to the shipped cards, instead of VISIONDATA_CARDS_PATH "
        "(repeat it for several)",
    )
    p.add_argument(
        "--no-shipped", action="store_true", help="leave the shipped cards out (only --cards-path)"
    )
    p.add_argument(
        "--edit-url",
        type=TEXT,
        metavar="TEMPLATE",
        help="where 'edit this card' links go, with {id} or {file}, e.g. "
        "https://github.com/ORG/visiondata/edit/main/cards/{file} (default: the site's own "
        "contribute page)",
    )
    p.add_argument(
        "--jobs",
        type=count(1, "processes drawing charts"),
        default=None,
        metavar="N",
        help="processes drawing charts (default: the cores, at most 4)",
    )


def register_into(sub: Any) -> None:
    """Add ``site`` and ``serve`` to the ``cards`` group's subparsers."""
    p = add_command(
        sub,
        "site",
        "build a static website of every card, its figures drawn (works from file://)",
        cmd_site,
    )
    p.add_argument(
        "out", type=OUTPUT_DIR, help="the folder to write (new, empty, or a previous site)"
    )
    _common(p)
    p = add_command(
        sub, "serve", "serve the catalogue's website on 127.0.0.1, with a live SQL box", cmd_serve
    )
    p.add_argument(
        "--port",
        type=count(0, "a TCP port on 127.0.0.1, 0 for any free one"),
        default=8000,
        help="port on 127.0.0.1 (default 8000; 0: any free port)",
    )
    _common(p)


def query_limits() -> Any:
    """The limits of ``cards query``, which the SQL box applies too."""
    from ..query import DEFAULT_TIMEOUT
    from ..site.serve import QueryLimits
    from .catalogue import DEFAULT_MAX_ROWS

    # The one place the limits of `cards query` reach the server (see QueryRunner).
    return QueryLimits(timeout=DEFAULT_TIMEOUT, max_rows=DEFAULT_MAX_ROWS)


def build(
    out: Path,
    *,
    cards_path: Sequence[Path] | None = None,
    shipped: bool = True,
    edit_url: str | None = None,
    live: bool = False,
    jobs: int | None = None,
) -> tuple[Any, list[Any]]:
    """Build the site of the selected cards into ``out``: ``(report, cards)``."""
    from ..site import build_site, card_folders, load_cards
    from ..site.build import check_edit_url, check_out
    from ..site.draw import require_matplotlib
    from ..site.render import require_jinja
    from .catalogue import stats, unverified

    require_matplotlib()
    require_jinja()
    check_out(out)  # before the cards are read: a wrong folder is the first thing to hear about
    check_edit_url(edit_url)
    site_cards = load_cards(card_folders(cards_path, shipped=shipped))
    if not site_cards:
        raise UsageError("no cards to build a site of (--no-shipped without --cards-path?)")
    cards = [sc.card for sc in site_cards]
    report = build_site(
        out,
        site_cards,
        health=stats(cards),
        unverified=unverified(cards),
        edit_url=edit_url,
        live=live,
        limits=str(query_limits()) if live else "",
        jobs=jobs,
    )
    return report, cards


def cmd_site(args: argparse.Namespace) -> int:
    report, _ = build(
        args.out,
        cards_path=args.cards_path,
        shipped=not args.no_shipped,
        edit_url=args.edit_url,
        jobs=args.jobs,
    )
    print(report, file=sys.stderr)
    print((args.out / "index.html").resolve().as_uri())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ..site import QueryRunner, SiteServer

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: expected 0..65535 (0: any free port)")
    limits = query_limits()
    with tempfile.TemporaryDirectory(prefix="visiondata-site-") as tmp:
        out = Path(tmp) / "site"
        try:  # listen first: a port in use is the first thing to hear about, before a build
            server = SiteServer(out, QueryRunner([], limits), args.port, log=True)
        except OSError as exc:
            raise UsageError(
                f"--port {args.port}: cannot listen on 127.0.0.1 ({exc.strerror})"
            ) from None
        with server:
            report, cards = build(
                out,
                cards_path=args.cards_path,
                shipped=not args.no_shipped,
                edit_url=args.edit_url,
                live=True,
                jobs=args.jobs,
            )
            server.runner = QueryRunner(cards, limits)
            print(report, file=sys.stderr)
            # Ctrl-C and `kill` stop it the same way. The handler raises nothing: a signal can
            # land while the main thread runs a finaliser, where an exception is printed and
            # swallowed ("Exception ignored in ...") and the server would go on serving (a CI
            # run lost 30 s so). It asks serve_forever to return instead, from another thread
            # (shutdown() waits for the loop, so the loop's own thread cannot call it).
            stopping = threading.Event()

            def stop(signum: int, frame: object) -> None:
                if not stopping.is_set():
                    stopping.set()
                    threading.Thread(target=server.shutdown, daemon=True).start()

            previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                print(f"serving the catalogue at {server.url} (Ctrl-C to stop)", flush=True)
                server.serve_forever()
            finally:
                for s, handler in previous.items():
                    signal.signal(s, handler)
            print("stopped", file=sys.stderr)
    return 0
