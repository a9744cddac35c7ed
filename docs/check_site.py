"""Check the built site as a reader's browser would load it: every link, image, stylesheet and
script of every page resolves to a file of the site, every ``#anchor`` exists on its page, and
nothing points outside the site (no other host, no path above its root).

    python docs/check_site.py [SITE]      # default: site/ (what `make docs` builds)

Needs only the standard library. Exit status 1, with one line per problem, when anything fails.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]

# (tag, attribute) pairs that make a browser load or go somewhere.
LINKING = {("a", "href"), ("img", "src"), ("link", "href"), ("script", "src"), ("source", "src"),
           ("iframe", "src"), ("video", "src"), ("audio", "src"), ("object", "data")}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.targets: list[tuple[str, str]] = []  # (tag, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("id", "name") and value and (name == "id" or tag == "a"):
                self.ids.add(value)
            if (tag, name) in LINKING and value is not None:
                self.targets.append((tag, value))
            if tag == "img" and name == "srcset" and value:
                self.targets += [(tag, part.split()[0]) for part in value.split(",") if part.strip()]


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def check_site(site: Path) -> tuple[list[str], int, int]:
    """Problems found, pages read, references checked."""
    site = site.resolve()
    # 404.html is the page a server sends for any missing path, so its links are absolute on
    # purpose; it is not reached by following the site's own links.
    pages = sorted(p for p in site.rglob("*.html") if p != site / "404.html")
    parsed = {path: _parse(path) for path in pages}
    problems: list[str] = []
    checked = 0
    for path, page in parsed.items():
        where = path.relative_to(site)
        for tag, url in page.targets:
            checked += 1
            parts = urlsplit(url)
            if parts.scheme in ("data", "mailto") or (tag == "a" and url.startswith("javascript:")):
                continue
            if parts.scheme or parts.netloc:
                problems.append(f"{where}: <{tag}> points outside the site: {url}")
                continue
            if parts.path.startswith("/"):
                problems.append(f"{where}: <{tag}> uses an absolute path, which breaks off a server "
                                f"root: {url}")
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if site not in target.parents and target != site:
                problems.append(f"{where}: <{tag}> leaves the site: {url}")
                continue
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append(f"{where}: <{tag}> {url}: no such file in the site")
                continue
            if tag == "img" and target.stat().st_size == 0:
                problems.append(f"{where}: <img> {url} is an empty file")
            fragment = unquote(parts.fragment)
            if fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if fragment not in ids:
                    problems.append(f"{where}: <{tag}> {url}: no id {fragment!r} on that page")
    return problems, len(pages), checked


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("site", nargs="?", type=Path, default=ROOT / "site")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"check_site: {args.site} holds no built site (run `make docs`)", file=sys.stderr)
        return 1
    problems, pages, checked = check_site(args.site)
    for problem in problems:
        print(f"check_site: {problem}", file=sys.stderr)
    print(f"check_site: {pages} pages, {checked} links and sources, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
